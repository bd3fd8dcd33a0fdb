//! A host program's exception, and the Erlang terms that carry it to BEAM.
//!
//! A handler in Rust, C, Ruby or JavaScript fails with a class and a message
//! (`ArgumentError`, "bad x") and perhaps a backtrace. BEAM code sees the
//! pair as the reason `{Class, Message}` — an atom and a binary, which
//! `inspect` and `~p` print readably — and the backtrace as a stack trace of
//! frames `{Class, Method, Arity, [{file, File}, {line, Line}]}`, the shape
//! of [`erlang:raise/3`](https://www.erlang.org/doc/apps/erts/erlang.html#raise/3)'s
//! stack traces, so that `erl_error` and Elixir's `Exception` format it like
//! any other.

use std::fmt;

use crate::term::{Atom, Term, MAX_ATOM_CHARS};

/// The class of [`Exception::undef`].
const UNDEF: &str = "undef";

/// An exception raised by a handler: its class (`"ArgumentError"`), message
/// and backtrace, innermost frame first.
///
/// ```
/// use erldp::serve::{Exception, Frame};
///
/// let raised = Exception::new("ArgumentError", "bad x")
///     .with_frame(Frame::new("Calc", "div", 2).at("calc.rb", 12));
/// assert_eq!(raised.reason().to_string(), "{'ArgumentError',<<\"bad x\">>}");
/// assert_eq!(
///     raised.stacktrace().to_string(),
///     "[{'Calc','div',2,[{file,\"calc.rb\"},{line,12}]}]"
/// );
/// assert_eq!(raised.to_string(), "ArgumentError: bad x");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// The exception's class, as the host language names it.
    pub class: String,
    /// Its message.
    pub message: String,
    /// The backtrace, innermost frame first; may be empty.
    pub frames: Vec<Frame>,
}

/// One frame of a host backtrace.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The class or module the method belongs to (`""` when the host
    /// language has none).
    pub class: String,
    /// The method or function.
    pub method: String,
    /// How many arguments it takes, or the arguments themselves.
    pub arity: Arity,
    /// The source file, when known.
    pub file: Option<String>,
    /// The line in it, when known.
    pub line: Option<u32>,
}

/// The third element of a stack frame: an arity, or the arguments (as BEAM
/// writes for the frame of the function that was called).
#[derive(Clone, Debug, PartialEq)]
pub enum Arity {
    /// The number of arguments.
    Count(u32),
    /// The arguments.
    Args(Vec<Term>),
}

impl Exception {
    /// An exception of `class` with `message` and no backtrace.
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> Exception {
        Exception {
            class: class.into(),
            message: message.into(),
            frames: Vec::new(),
        }
    }

    /// What an exposed module's handler raises for a function it does not
    /// have (or an arity it does not take): the caller gets what BEAM gives
    /// for a call to a function that does not exist, `undef` with the call
    /// as its stack (`{badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}}` from
    /// `rpc:call`, `error:{exception, undef, [...]}` from `erpc`, Elixir's
    /// `UndefinedFunctionError`). Any exception of class `undef` counts as
    /// this, whatever its message (C: `erldp_request_raise(request, "undef",
    /// "")`).
    ///
    /// ```
    /// use erldp::serve::Exception;
    ///
    /// assert!(Exception::undef().is_undef());
    /// assert!(!Exception::new("ArgumentError", "undef").is_undef());
    /// ```
    pub fn undef() -> Exception {
        Exception::new(UNDEF, "")
    }

    /// Whether this is [`undef`](Self::undef): its class is `undef`.
    pub fn is_undef(&self) -> bool {
        self.class == UNDEF
    }

    /// Adds `frame` below the frames already there.
    pub fn with_frame(mut self, frame: Frame) -> Exception {
        self.frames.push(frame);
        self
    }

    /// `{Class, Message}`: the reason BEAM code sees.
    pub fn reason(&self) -> Term {
        Term::Tuple(vec![
            Term::Atom(atom(&self.class)),
            Term::from(self.message.as_str()),
        ])
    }

    /// The backtrace as a BEAM stack trace.
    pub fn stacktrace(&self) -> Term {
        Term::List(self.frames.iter().map(Frame::to_term).collect())
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for Exception {}

impl Frame {
    /// A frame of `class`'s `method`, which takes `arity` arguments.
    pub fn new(class: impl Into<String>, method: impl Into<String>, arity: u32) -> Frame {
        Frame {
            class: class.into(),
            method: method.into(),
            arity: Arity::Count(arity),
            file: None,
            line: None,
        }
    }

    /// The same frame at `line` of `file`.
    pub fn at(mut self, file: impl Into<String>, line: u32) -> Frame {
        self.file = Some(file.into());
        self.line = Some(line);
        self
    }

    /// `{Class, Method, Arity, Location}`, the location holding what is known
    /// of `{file, File}` (a charlist, as BEAM writes it) and `{line, Line}`.
    fn to_term(&self) -> Term {
        let arity = match &self.arity {
            Arity::Count(n) => Term::from(*n),
            Arity::Args(args) => Term::List(args.clone()),
        };
        let mut location = Vec::new();
        if let Some(file) = &self.file {
            location.push(Term::Tuple(vec![
                Term::Atom(crate::atom!("file")),
                Term::charlist(file),
            ]));
        }
        if let Some(line) = self.line {
            location.push(Term::Tuple(vec![
                Term::Atom(crate::atom!("line")),
                Term::from(line),
            ]));
        }
        Term::Tuple(vec![
            Term::Atom(atom(&self.class)),
            Term::Atom(atom(&self.method)),
            arity,
            Term::List(location),
        ])
    }
}

/// `text` as an atom, cut to the 255 characters an atom may hold: a host
/// name that long still gives a frame BEAM can read.
fn atom(text: &str) -> Atom {
    match text.char_indices().nth(MAX_ATOM_CHARS) {
        Some((end, _)) => Atom::new(&text[..end]),
        None => Atom::new(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_what_is_known_and_long_names_are_cut() {
        let long = "m".repeat(300);
        let raised = Exception::new("RuntimeError", "boom")
            .with_frame(Frame::new("", &long, 0))
            .with_frame(Frame {
                class: "Object".into(),
                method: "call".into(),
                arity: Arity::Args(vec![Term::from(1)]),
                file: None,
                line: Some(3),
            });
        let Term::List(frames) = raised.stacktrace() else {
            panic!("a list");
        };
        let first = frames[0].as_tuple().expect("a frame");
        assert_eq!(
            first[1].as_atom().expect("method").char_len(),
            MAX_ATOM_CHARS
        );
        assert_eq!(first[3], Term::nil());
        assert_eq!(frames[1].to_string(), "{'Object',call,[1],[{line,3}]}");
        assert!(crate::term::encode(&raised.stacktrace()).is_ok());
    }
}
