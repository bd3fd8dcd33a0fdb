//! What the command line spells as text: `Module:Function(Args...)` calls,
//! argument lists, node names and durations.

use std::time::Duration;

use erldp::{Error, Term};

/// A function call read from the command line.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub module: String,
    pub function: String,
    pub args: Vec<Term>,
}

/// Reads `Module:Function(Arg, ...)` where the module and function are
/// atoms (quoted when they must be, as in `'Elixir.Enum':sum([1,2])`) and
/// the arguments are Erlang terms. The module may also be written as Elixir
/// writes it, `Enum` or `MyApp.Api` (which in Erlang syntax would be a
/// variable), for `'Elixir.Enum'`. A trailing `.` is allowed, as `erl`
/// users tend to type one.
pub fn parse_call(text: &str) -> Result<Call, String> {
    let shape = || {
        format!(
            "{text:?} is not a call Module:Function(Args...), e.g. 'lists:sum([1,2,3])'; \
             expressions other than one call go to `erldp eval`"
        )
    };
    let text_start = text.trim_start();
    let (module, rest) = take_alias(text_start)
        .or_else(|| take_atom(text_start))
        .ok_or_else(shape)?;
    let rest = rest.trim_start().strip_prefix(':').ok_or_else(shape)?;
    let (function, rest) = take_atom(rest.trim_start()).ok_or_else(shape)?;
    let rest = rest.trim_start().strip_prefix('(').ok_or_else(shape)?;
    let body = rest.trim_end();
    let body = body.strip_suffix('.').unwrap_or(body).trim_end();
    let inner = body.strip_suffix(')').ok_or_else(shape)?;
    let inner_offset = text.len() - rest.len();
    let args = parse_list(&format!("[{inner}]"), |err| match err {
        // The offset is into "[inner]"; report it in the text as typed.
        Error::Parse { offset, reason } => format!(
            "syntax error in the arguments of {module}:{function} at byte {}: {reason}",
            (offset + inner_offset).saturating_sub(1)
        ),
        other => format!("the arguments of {module}:{function}: {other}"),
    })?;
    Ok(Call {
        module,
        function,
        args,
    })
}

/// Reads an argument list such as `[[1,2,3]]` or `[]`.
pub fn parse_args(text: &str) -> Result<Vec<Term>, String> {
    parse_list(text, |err| format!("arguments {text:?}: {err}"))
}

/// Reads a list term, `describe` turning a syntax error into the message.
fn parse_list(text: &str, describe: impl FnOnce(Error) -> String) -> Result<Vec<Term>, String> {
    match text.parse::<Term>().map_err(describe)? {
        Term::List(items) => Ok(items),
        other => Err(format!(
            "the arguments must be a list such as [[1,2,3]]; {other} is not one"
        )),
    }
}

/// Reads one Erlang term, naming what it was for in the error.
pub fn parse_term(text: &str, what: &str) -> Result<Term, String> {
    text.parse::<Term>()
        .map_err(|err| format!("{what} {text:?}: {err}"))
}

/// Splits an Elixir module alias (`MyApp.Api`, `Elixir.MyApp.Api`) off the
/// front of `text`, as its module atom's text.
fn take_alias(text: &str) -> Option<(String, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let module = erldp::elixir::module(&text[..end]);
    erldp::elixir::alias(&module).map(|_| (module.clone(), &text[end..]))
}

/// Splits an atom token (bare, or quoted with escapes) off the front of
/// `text`; `None` when `text` does not start with one.
fn take_atom(text: &str) -> Option<(String, &str)> {
    let end = if text.starts_with('\'') {
        let mut escaped = false;
        let close = text.char_indices().skip(1).find(|&(_, c)| {
            let closes = c == '\'' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        })?;
        close.0 + 1
    } else {
        text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '@'))
            .unwrap_or(text.len())
    };
    // The term parser decides what an atom is (a bare word must start with
    // a lower-case letter and must not be a keyword).
    match text[..end].parse::<Term>() {
        Ok(Term::Atom(atom)) => Some((atom.as_str().to_string(), &text[end..])),
        _ => None,
    }
}

/// A registered name as typed: as it is (`Elixir.MyApp.Counter`, `inbox`),
/// quoted as an Erlang atom (`'Elixir.MyApp.Counter'`), as Erlang code
/// would write it, or as an Elixir alias (`MyApp.Counter`, which Erlang
/// would read as a variable) for the Elixir module's atom, as Elixir's
/// `send(MyApp.Counter, msg)` and `rpc`'s modules read it.
pub fn registered_name(text: &str) -> Result<String, String> {
    if !text.starts_with('\'') {
        if text.is_empty() {
            return Err("the registered name must not be empty".into());
        }
        let module = erldp::elixir::module(text);
        return Ok(if erldp::elixir::alias(&module).is_some() {
            module
        } else {
            text.to_string()
        });
    }
    match text.parse::<Term>() {
        Ok(Term::Atom(atom)) if !atom.as_str().is_empty() => Ok(atom.as_str().to_string()),
        _ => Err(format!(
            "{text:?} is not a registered name: give it as it is, or as a quoted atom ('Elixir.MyApp.Counter')"
        )),
    }
}

/// A node name as typed: `name@host` as is, a bare `name` on this host
/// (`name@<short host name>`, as `erl -sname name` would be).
pub fn node_name(text: &str) -> Result<String, String> {
    let full = if text.contains('@') {
        text.to_string()
    } else {
        format!("{text}@{}", erldp::short_hostname())
    };
    match full.split_once('@') {
        Some((alive, host)) if !alive.is_empty() && !host.is_empty() && !host.contains('@') => {
            Ok(full)
        }
        _ => Err(format!(
            "{text:?} is not a node name: use name@host, or name for a node on this host"
        )),
    }
}

/// Reads a duration: a number of seconds (`5`, `2.5`) or a number with a
/// unit `ms`, `s`, `m` or `h` (`500ms`, `1m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let not_a_duration = || format!("{text:?} is not a duration such as 5, 2.5s or 500ms");
    if number.is_empty() {
        return Err(not_a_duration());
    }
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: the unit must be ms, s, m or h (e.g. 500ms, 5s, 5)"
            ))
        }
    };
    let value: f64 = number.parse().map_err(|_| not_a_duration())?;
    // A year is far beyond any useful wait, and keeps deadline arithmetic
    // (Instant + Duration) clear of overflow.
    const MAX_SECS: f64 = 365.0 * 86_400.0;
    let secs = value * scale;
    if secs > MAX_SECS {
        return Err(format!("{text:?} is longer than a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str) -> Term {
        text.parse().expect("term")
    }

    #[test]
    fn calls_parse() {
        let call = parse_call("lists:sum([1,2,3])").expect("call");
        assert_eq!(
            call,
            Call {
                module: "lists".into(),
                function: "sum".into(),
                args: vec![term("[1,2,3]")]
            }
        );
        let call = parse_call("  erlang : node ( ) . ").expect("call");
        assert_eq!(
            (
                call.module.as_str(),
                call.function.as_str(),
                call.args.len()
            ),
            ("erlang", "node", 0)
        );
        let call = parse_call("'Elixir.Enum':sum([1, 2])").expect("quoted module");
        assert_eq!(call.module, "Elixir.Enum");
        for elixir in [
            "Enum:sum([1, 2])",
            "Elixir.Enum:sum([1, 2])",
            "  Enum : sum([1, 2]).",
        ] {
            let call = parse_call(elixir).expect(elixir);
            assert_eq!(
                (call.module.as_str(), call.function.as_str()),
                ("Elixir.Enum", "sum"),
                "{elixir}"
            );
        }
        let call = parse_call("MyApp.Api:user()").expect("an Elixir alias");
        assert_eq!(call.module, "Elixir.MyApp.Api");
        // A capitalised word is an Elixir alias, not an Erlang variable.
        let call = parse_call("Lists:sum([1])").expect("an Elixir alias");
        assert_eq!(call.module, "Elixir.Lists");
        let call =
            parse_call(r#"'it\'s':'f(x)'(")", {a, <<1>>})"#).expect("escapes and parentheses");
        assert_eq!(
            (call.module.as_str(), call.function.as_str()),
            ("it's", "f(x)")
        );
        assert_eq!(call.args, vec![term(r#"")""#), term("{a, <<1>>}")]);
    }

    #[test]
    fn bad_calls_say_what_is_expected() {
        for text in [
            "1 + 1",
            "lists",
            "lists:sum",
            "lists:sum(1",
            "lists:sum[1]",
            "'open:f()",
            "MyApp.api:f()",
            "MyApp.:f()",
        ] {
            let err = parse_call(text).expect_err(text);
            assert!(err.contains("Module:Function(Args...)"), "{text}: {err}");
        }
        let err = parse_call("lists:sum([1,2,)").expect_err("bad argument");
        assert!(
            err.starts_with("syntax error in the arguments of lists:sum at byte "),
            "{err}"
        );
        let err = parse_call("m:f(X)").expect_err("variable");
        assert!(err.contains("m:f"), "{err}");
    }

    #[test]
    fn argument_lists_must_be_lists() {
        assert_eq!(
            parse_args("[[1,2,3]]").expect("list"),
            vec![term("[1,2,3]")]
        );
        assert_eq!(parse_args("[]").expect("empty"), vec![]);
        assert!(parse_args("{1}")
            .expect_err("tuple")
            .contains("must be a list"));
    }

    #[test]
    fn registered_names_are_taken_as_they_are_as_quoted_atoms_or_as_elixir_aliases() {
        for (typed, name) in [
            ("inbox", "inbox"),
            ("Elixir.MyApp.Counter", "Elixir.MyApp.Counter"),
            ("MyApp.Counter", "Elixir.MyApp.Counter"),
            ("Counter", "Elixir.Counter"),
            ("'Counter'", "Counter"),
            ("my_proc@x", "my_proc@x"),
            ("'Elixir.MyApp.Counter'", "Elixir.MyApp.Counter"),
            ("'it\\'s'", "it's"),
        ] {
            assert_eq!(registered_name(typed).expect(typed), name);
        }
        for bad in ["", "''", "'open", "'a' 'b'"] {
            assert!(registered_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names_get_this_host() {
        assert_eq!(node_name("a@b").expect("full"), "a@b");
        assert_eq!(
            node_name("a").expect("short"),
            format!("a@{}", erldp::short_hostname())
        );
        for bad in ["@b", "a@", "a@b@c", ""] {
            assert!(node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "-1", "5x", "fast", "1e3", "400d", "9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
