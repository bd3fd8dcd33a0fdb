//! The `--json` rendering of terms.
//!
//! Types JSON has are written as themselves; every other type is an object
//! with one key naming the type, so that no two terms render alike:
//!
//! | Erlang | JSON |
//! |---|---|
//! | integer (any size) | number, all digits kept |
//! | float | number (always with `.` or an exponent) |
//! | `true`, `false` | `true`, `false` |
//! | any other atom | `{"atom": "ok"}` |
//! | binary that is UTF-8 | string |
//! | other binary | `{"binary": [1, 255]}` (the bytes) |
//! | bitstring | `{"bitstring": [255, 128], "bits": 9}` |
//! | list (strings are lists of integers) | array |
//! | improper list | `{"improper_list": [1], "tail": {"atom": "t"}}` |
//! | tuple | `{"tuple": [...]}` |
//! | map | `{"map": [[Key, Value], ...]}` |
//! | pid, port, reference, fun | `{"pid": "#Pid<'a@h'.90.0.3>"}`, `{"port": ...}`, `{"ref": ...}`, `{"fun": ...}` (the text `erldp` reads back) |

use std::fmt::Write as _;

use erldp::Term;

/// The JSON text of `term`, on one line.
pub fn term(term: &Term) -> String {
    let mut out = String::new();
    write_term(&mut out, term);
    out
}

fn write_term(out: &mut String, term: &Term) {
    match term {
        Term::Int(_) | Term::BigInt(_) | Term::Float(_) => {
            // Erlang syntax for numbers is JSON syntax: digits, an optional
            // sign, and floats like 1.0, -0.0 or 1.0e300.
            let _ = write!(out, "{term}");
        }
        Term::Atom(atom) => match atom.as_str() {
            "true" | "false" => out.push_str(atom.as_str()),
            name => tagged(out, "atom", |out| string(out, name)),
        },
        Term::Binary(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => string(out, text),
            Err(_) => tagged(out, "binary", |out| write_bytes(out, bytes)),
        },
        Term::Bitstring(bits) => {
            out.push_str("{\"bitstring\":");
            write_bytes(out, &bits.bytes);
            let _ = write!(
                out,
                ",\"bits\":{}}}",
                (bits.bytes.len() - 1) * 8 + usize::from(bits.bits)
            );
        }
        Term::List(items) => array(out, items, write_term),
        Term::ImproperList(items, tail) => {
            out.push_str("{\"improper_list\":");
            array(out, items, write_term);
            out.push_str(",\"tail\":");
            write_term(out, tail);
            out.push('}');
        }
        Term::Tuple(items) => tagged(out, "tuple", |out| array(out, items, write_term)),
        Term::Map(pairs) => tagged(out, "map", |out| {
            array(out, pairs, |out, (key, value)| {
                array(out, [key, value], write_term)
            })
        }),
        Term::Pid(_) => tagged(out, "pid", |out| string(out, &term.to_string())),
        Term::Port(_) => tagged(out, "port", |out| string(out, &term.to_string())),
        Term::Ref(_) => tagged(out, "ref", |out| string(out, &term.to_string())),
        Term::Fun(_) => tagged(out, "fun", |out| string(out, &term.to_string())),
    }
}

/// `{"key": value}`, the value written by `value`.
fn tagged(out: &mut String, key: &str, value: impl FnOnce(&mut String)) {
    out.push('{');
    string(out, key);
    out.push(':');
    value(out);
    out.push('}');
}

fn write_bytes(out: &mut String, bytes: &[u8]) {
    array(out, bytes, |out, byte| {
        let _ = write!(out, "{byte}");
    });
}

/// `[a,b,...]`, each item written by `write`.
fn array<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(']');
}

/// Appends `text` as a JSON string literal.
pub fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `text` as a JSON string literal.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    string(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        term(&text.parse().expect("term"))
    }

    #[test]
    fn native_types_stay_native() {
        assert_eq!(
            json("[1, -2, 1.5, -0.0, true, false]"),
            "[1,-2,1.5,-0.0,true,false]"
        );
        assert_eq!(
            json("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(json("1.0e300"), "1.0e300");
        assert_eq!(
            json("<<\"héllo \\\"q\\\"\\n\\e\"/utf8>>"),
            "\"héllo \\\"q\\\"\\n\\u001b\""
        );
        assert_eq!(json("\"abc\""), "[97,98,99]");
    }

    #[test]
    fn other_types_are_tagged() {
        assert_eq!(
            json("{ok, nil, 'Elixir.Foo'}"),
            r#"{"tuple":[{"atom":"ok"},{"atom":"nil"},{"atom":"Elixir.Foo"}]}"#
        );
        assert_eq!(json("<<255, 0>>"), r#"{"binary":[255,0]}"#);
        assert_eq!(json("<<255, 1:1>>"), r#"{"bitstring":[255,128],"bits":9}"#);
        assert_eq!(
            json("[1 | t]"),
            r#"{"improper_list":[1],"tail":{"atom":"t"}}"#
        );
        assert_eq!(
            json("#{a => 1, <<\"b\">> => [2]}"),
            r#"{"map":[[{"atom":"a"},1],["b",[2]]]}"#
        );
        assert_eq!(
            json("#Pid<'a@h'.90.0.3>"),
            r##"{"pid":"#Pid<'a@h'.90.0.3>"}"##
        );
        assert_eq!(
            json("#Ref<'a@h'.1.2.3.4>"),
            r##"{"ref":"#Ref<'a@h'.1.2.3.4>"}"##
        );
    }
}
