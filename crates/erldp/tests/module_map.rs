//! README's map of the core's modules ("How it is built") stays true: it names every
//! top-level module of `crates/erldp/src`, and each uses only modules above it in the map,
//! save `term` and `error`, which the map says use each other. Read as text: a path
//! `crate::name`, or a `use crate::{...}` group, outside comments, literals, items under
//! `#[cfg(test)]` and the files of modules declared under it. Paths through `super::` and the
//! order of a folder's own files (the map's indented lines) are not checked.

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

/// The code of a module's files: comments, literals and test code left out.
fn code(module: &str) -> String {
    let path = src().join(module);
    let mut files = if path.is_dir() {
        vec![path.join("mod.rs")]
    } else {
        vec![path.with_extension("rs")]
    };
    let mut code = String::new();
    while let Some(file) = files.pop() {
        let text = fs::read_to_string(&file).expect("source");
        let (kept, test_modules) = without_tests(&text);
        code.push_str(&kept);
        // The files of the modules it declares, save those declared under #[cfg(test)].
        let dir = if file.file_name().is_some_and(|name| name == "mod.rs") {
            file.parent().expect("a folder").to_path_buf()
        } else {
            file.with_extension("")
        };
        for name in declared_modules(&kept) {
            if test_modules.contains(&name) {
                continue;
            }
            let flat = dir.join(format!("{name}.rs"));
            files.push(if flat.exists() {
                flat
            } else {
                dir.join(&name).join("mod.rs")
            });
        }
    }
    code
}

/// The names of `mod name;` declarations in `code`.
fn declared_modules(code: &str) -> Vec<String> {
    code.split(';')
        .filter_map(|statement| {
            let words: Vec<&str> = statement.split_whitespace().collect();
            match words.as_slice() {
                [.., "mod", name] => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// `text` without comments, without the contents of string and character literals, and
/// without each item marked `#[cfg(test)]`; and the names of the modules so marked that
/// live in files of their own (`#[cfg(test)] mod name;`).
fn without_tests(text: &str) -> (String, BTreeSet<String>) {
    const MARK: &str = "#[cfg(test)]";
    let chars: Vec<char> = text.chars().collect();
    let mut kept = String::new();
    let mut test_modules = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = skip_literal_or_comment(&chars, i) {
            kept.push(' ');
            i = end;
        } else if chars[i..].starts_with(&MARK.chars().collect::<Vec<_>>()) {
            let start = i + MARK.len();
            let end = item_end(&chars, start);
            let item: String = chars[start..end].iter().collect();
            if let Some(name) = declared_modules(&item).pop() {
                test_modules.insert(name);
            }
            i = end;
        } else {
            kept.push(chars[i]);
            i += 1;
        }
    }
    (kept, test_modules)
}

/// Where the item that starts at `i` ends: after its `;`, or after the `}` that closes its
/// first `{`, whichever comes first (attributes before it are part of it).
fn item_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    let mut in_attribute = 0usize;
    while i < chars.len() {
        if let Some(end) = skip_literal_or_comment(chars, i) {
            i = end;
            continue;
        }
        match chars[i] {
            '[' => in_attribute += 1,
            ']' => in_attribute = in_attribute.saturating_sub(1),
            ';' if depth == 0 && in_attribute == 0 => return i + 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Where the comment or literal that starts at `i` ends, if one does: `//` and `/* */`
/// comments, strings (raw ones too) and character literals (not lifetimes).
fn skip_literal_or_comment(chars: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| chars.get(k).copied();
    let find = |from: usize, pattern: &[char]| {
        (from..chars.len())
            .find(|&k| chars[k..].starts_with(pattern))
            .map_or(chars.len(), |k| k + pattern.len())
    };
    match (at(i)?, at(i + 1), at(i + 2)) {
        ('/', Some('/'), _) => Some(find(i, &['\n'])),
        ('/', Some('*'), _) => Some(find(i + 2, &['*', '/'])),
        ('"', _, _) => {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != '"' {
                k += if chars[k] == '\\' { 2 } else { 1 };
            }
            Some(k + 1)
        }
        ('r', Some('"' | '#'), _)
            if i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') =>
        {
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if at(i + 1 + hashes) != Some('"') {
                return None;
            }
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            Some(find(i + 2 + hashes, &close))
        }
        ('\'', Some('\\'), _) => Some(find(i + 3, &['\''])),
        ('\'', Some(_), Some('\'')) => Some(i + 3),
        _ => None,
    }
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
fn test_code_comments_and_literals_are_left_out() {
    let text = r##"
use crate::a;
// crate::comment
#[cfg(test)]
fn only_tested() { let s = "}"; crate::b::f(); }
#[cfg(test)]
#[allow(dead_code)]
mod tests;
fn g() -> char { let _ = r#"crate::raw"#; let _: &'static str = "crate::s"; '{' }
/* crate::block */ use crate::c;
"##;
    let (kept, test_modules) = without_tests(text);
    assert_eq!(
        used(&kept),
        ["a", "c"].map(String::from).into_iter().collect()
    );
    assert_eq!(test_modules, ["tests".to_string()].into_iter().collect());
    assert!(kept.contains("fn g()"), "{kept}");
}

#[test]
fn the_reading_of_uses_sees_paths_and_groups() {
    let names = used("use crate::{a::{b, c}, d};\nlet x = crate::e::f();\n");
    assert_eq!(
        names,
        ["a", "d", "e"].map(String::from).into_iter().collect()
    );
}
