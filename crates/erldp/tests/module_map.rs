//! README's map of the core's modules ("How it is built") stays true: it names every module
//! of `crates/erldp/src`, and each module uses only modules above it in the map, save `term`
//! and `error`, which the map says use each other. Read as text: a path `crate::name`, or a
//! `use crate::{...}` group, outside comments and `#[cfg(test)]` code.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules in the map's order.
fn map() -> Vec<String> {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md");
    let from = readme
        .find("The core's modules (`crates/erldp/src`)")
        .expect("README has the module map");
    let block = &readme[from..];
    let block = &block[block.find("```text").expect("the map's block") + "```text".len()..];
    let block = &block[..block.find("```").expect("the map's end")];
    block
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with(' '))
        .map(|line| {
            let name = line.split_whitespace().next().expect("a name");
            name.trim_end_matches('/')
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect()
}

/// The modules `src` has (lib.rs aside).
fn modules() -> BTreeSet<String> {
    fs::read_dir(src())
        .expect("src")
        .map(|entry| {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8");
            name.trim_end_matches(".rs").to_string()
        })
        .filter(|name| name != "lib")
        .collect()
}

/// The code of a module's files: comment lines and what follows `#[cfg(test)]` left out.
fn code(module: &str) -> String {
    let path = src().join(module);
    let mut files = Vec::new();
    if path.is_dir() {
        let mut dirs = vec![path];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(dir).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(path);
                }
            }
        }
    } else {
        files.push(path.with_extension("rs"));
    }
    files
        .iter()
        .map(|file| {
            let text = fs::read_to_string(file).expect("source");
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            text.lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// The first path segment of each `crate::` path in `code`, and of each member of a
/// `use crate::{...}` group.
fn used(code: &str) -> BTreeSet<String> {
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.insert(ident(group[start..i].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(ident(group[start..i].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names
}

#[test]
fn readme_maps_every_module_and_each_uses_only_those_above_it() {
    let map = map();
    let listed: BTreeSet<String> = map.iter().cloned().collect();
    assert_eq!(listed, modules(), "README's map and src differ");
    let mut wrong = Vec::new();
    for (i, module) in map.iter().enumerate() {
        let above: BTreeSet<&str> = map[..i].iter().map(String::as_str).collect();
        for name in used(&code(module)) {
            let allowed = name == *module
                || above.contains(name.as_str())
                || !listed.contains(&name)
                || (module == "term" && name == "error");
            if !allowed {
                wrong.push(format!("{module} uses {name}, which the map puts below it"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_reading_of_uses_sees_paths_and_groups() {
    let names = used("use crate::{a::{b, c}, d};\nlet x = crate::e::f();\n");
    assert_eq!(
        names,
        ["a", "d", "e"].map(String::from).into_iter().collect()
    );
}
