//! How Elixir spells what Erlang sees: module names and exceptions.
//!
//! Elixir's modules are atoms with an `Elixir.` prefix that Elixir code
//! never writes: `MyApp.Api` is the atom `'Elixir.MyApp.Api'` (see [Elixir's
//! alias documentation]). An Elixir exception is a struct — a map with
//! `__struct__` (the module) and `__exception__ => true` — and Elixir shows
//! it as `** (MyApp.NotFound) user 7 not found`: the module as Elixir writes
//! it and the exception's message ([`Exception.message/1`]).
//!
//! ```
//! use erldp::elixir::{self, Exception};
//! use erldp::Term;
//!
//! assert_eq!(elixir::module("MyApp.Api"), "Elixir.MyApp.Api");
//! assert_eq!(elixir::module("lists"), "lists");
//! assert_eq!(elixir::alias("Elixir.MyApp.Api"), Some("MyApp.Api"));
//!
//! let raised: Term = "#{'__exception__' => true, '__struct__' => 'Elixir.MyApp.NotFound',
//!                      id => 7, message => <<\"user 7 not found\">>}".parse()?;
//! let exception = Exception::from_term(&raised).expect("an exception");
//! assert_eq!(exception.module(), "MyApp.NotFound");
//! assert_eq!(exception.to_string(), "** (MyApp.NotFound) user 7 not found");
//! # Ok::<(), erldp::Error>(())
//! ```
//!
//! [Elixir's alias documentation]: https://hexdocs.pm/elixir/alias-require-and-import.html#alias
//! [`Exception.message/1`]: https://hexdocs.pm/elixir/Exception.html#c:message/1

use std::fmt;

use crate::term::{Atom, Term};

/// The prefix of every Elixir module's atom.
pub const PREFIX: &str = "Elixir.";

/// Whether `text` is an Elixir alias without its prefix: dot-separated
/// segments, each an ASCII capital letter followed by ASCII letters, digits
/// and underscores (`MyApp.Api`, `URI`).
fn is_alias(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|segment| {
            let mut chars = segment.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// The module atom's text for a module named as Elixir code names it:
/// `MyApp.Api` becomes `Elixir.MyApp.Api`. Anything else — an Erlang
/// module such as `lists`, a name that already has the prefix — is returned
/// as it is.
pub fn module(name: &str) -> String {
    // Elixir reads `Elixir.MyApp.Api` as the same module as `MyApp.Api`.
    if is_alias(name) && alias(name).is_none() {
        format!("{PREFIX}{name}")
    } else {
        name.to_string()
    }
}

/// The Elixir alias of a module atom's text (`Elixir.MyApp.Api` →
/// `MyApp.Api`), or `None` for an atom that is not an Elixir module.
pub fn alias(module: &str) -> Option<&str> {
    module.strip_prefix(PREFIX).filter(|rest| is_alias(rest))
}

/// The module of an Elixir struct (`%MyApp.User{}` → `Elixir.MyApp.User`):
/// the atom under its `__struct__` key.
pub fn struct_module(term: &Term) -> Option<Atom> {
    match term {
        Term::Map(_) => term.map_get(&Term::atom("__struct__"))?.as_atom(),
        _ => None,
    }
}

/// An Elixir exception seen in a term.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception<'a> {
    module: Atom,
    message: Option<&'a str>,
    term: &'a Term,
}

impl<'a> Exception<'a> {
    /// The exception in `term`, when it is an exception struct: a map with
    /// `__exception__ => true` and a module atom under `__struct__`.
    pub fn from_term(term: &'a Term) -> Option<Exception<'a>> {
        if !term.map_get(&Term::atom("__exception__"))?.is_atom("true") {
            return None;
        }
        let module = struct_module(term)?;
        let message = term
            .map_get(&Term::atom("message"))
            .and_then(Term::as_binary)
            .and_then(|bytes| std::str::from_utf8(bytes).ok());
        Some(Exception {
            module,
            message,
            term,
        })
    }

    /// The module as Elixir writes it: `MyApp.NotFound` (an Erlang-named
    /// module keeps its name).
    pub fn module(&self) -> &str {
        let text = self.module.as_str();
        alias(text).unwrap_or(text)
    }

    /// The module's atom, `Elixir.MyApp.NotFound`.
    pub fn module_atom(&self) -> Atom {
        self.module
    }

    /// The struct's `message` field, when it is text. Exceptions that
    /// compute their message have none: ask the node that raised it,
    /// `'Elixir.Exception':message(Exception)`.
    pub fn message(&self) -> Option<&'a str> {
        self.message
    }

    /// The exception struct itself.
    pub fn term(&self) -> &'a Term {
        self.term
    }

    /// `** (Module) message`, as Elixir shows a raised exception, with
    /// `message` in place of the struct's own (the one its node computed).
    pub fn banner(&self, message: &str) -> String {
        format!("** ({}) {message}", self.module())
    }
}

impl fmt::Display for Exception<'_> {
    /// `** (MyApp.NotFound) user 7 not found`; without a `message` field,
    /// the struct in Erlang syntax. A precision bounds the message or the
    /// struct's text to that many bytes, as it bounds a [`Term`]'s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "** ({}) ", self.module())?;
        match (self.message, f.precision()) {
            (Some(message), max) => write_bounded(f, message, max.unwrap_or(usize::MAX)),
            (None, Some(max)) => write!(f, "{:.max$}", self.term),
            (None, None) => write!(f, "{}", self.term),
        }
    }
}

/// Writes `text`, or its first `max` bytes (cut at a character boundary)
/// and `...` when it is longer.
pub(crate) fn write_bounded(f: &mut fmt::Formatter<'_>, text: &str, max: usize) -> fmt::Result {
    if text.len() <= max {
        return f.write_str(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    write!(f, "{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_gain_and_lose_the_prefix() {
        assert_eq!(module("MyApp.Api"), "Elixir.MyApp.Api");
        assert_eq!(module("URI"), "Elixir.URI");
        assert_eq!(module("A.B_2.C3"), "Elixir.A.B_2.C3");
        for unchanged in [
            "lists",
            "Elixir.MyApp.Api",
            "MyApp.api",
            "MyApp..Api",
            ".MyApp",
            "MyApp.",
            "",
            "Ünïcode",
            "My App",
        ] {
            assert_eq!(module(unchanged), unchanged);
        }
        assert_eq!(alias("Elixir.MyApp.Api"), Some("MyApp.Api"));
        assert_eq!(alias("Elixir.Elixir"), Some("Elixir"));
        assert_eq!(alias("lists"), None);
        assert_eq!(alias("Elixir."), None);
        assert_eq!(alias("Elixir.lower"), None);
    }

    #[test]
    fn exceptions_are_found_and_shown_as_elixir_shows_them() {
        let raised: Term = "#{'__exception__' => true, '__struct__' => 'Elixir.ArgumentError', \
                            message => <<\"bad x\">>}"
            .parse()
            .expect("term");
        let exception = Exception::from_term(&raised).expect("exception");
        assert_eq!(exception.module(), "ArgumentError");
        assert_eq!(exception.module_atom(), Atom::new("Elixir.ArgumentError"));
        assert_eq!(exception.message(), Some("bad x"));
        assert_eq!(exception.to_string(), "** (ArgumentError) bad x");
        assert_eq!(exception.term(), &raised);

        let computed: Term =
            "#{'__exception__' => true, '__struct__' => 'Elixir.KeyError', key => k}"
                .parse()
                .expect("term");
        let exception = Exception::from_term(&computed).expect("exception");
        assert_eq!(exception.message(), None);
        assert!(
            exception.to_string().starts_with("** (KeyError) #{"),
            "{exception}"
        );
        assert_eq!(
            exception.banner("key :k not found"),
            "** (KeyError) key :k not found"
        );

        for not_one in [
            "#{'__struct__' => 'Elixir.MyApp.User', name => <<\"x\">>}",
            "#{'__exception__' => false, '__struct__' => 'Elixir.E'}",
            "#{'__exception__' => true}",
            "{error, badarg}",
        ] {
            let term: Term = not_one.parse().expect("term");
            assert_eq!(Exception::from_term(&term), None, "{not_one}");
        }
        let user: Term = "#{'__struct__' => 'Elixir.MyApp.User'}"
            .parse()
            .expect("term");
        assert_eq!(struct_module(&user), Some(Atom::new("Elixir.MyApp.User")));
        assert_eq!(struct_module(&Term::nil()), None);
    }
}
