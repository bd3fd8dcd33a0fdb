//! Putting a failed rpc into words when the words must come from the node
//! that failed it: the message of an Elixir exception whose struct has no
//! `message` field (the exception's module computes it, and only that node
//! has the module), and, for an `undef`, whether the module exists under
//! its Elixir name (`MyApp.Api` called where only `'Elixir.MyApp.Api'`
//! exists).
//!
//! The question is one more rpc, asked by whoever made the first: [`Node`]
//! while the caller waits (the caller gets the error as it stands should
//! its timeout pass first), [`Client`] in the time left. What the answer
//! adds goes into the error's `detail` ([`Error::Rpc`]); the error's terms
//! stay as the node sent them. See [`Exception.message/1`] and
//! [`code:which/1`].
//!
//! [`Node`]: crate::Node
//! [`Client`]: crate::Client
//! [`Exception.message/1`]: https://hexdocs.pm/elixir/Exception.html#message/1
//! [`code:which/1`]: https://www.erlang.org/doc/apps/kernel/code.html#which/1

use std::time::Duration;

use crate::elixir::{self, Exception};
use crate::term::{Atom, Term};
use crate::{Error, Result};

/// How long a node gets to answer the question when the caller waits
/// longer (or for ever): past it, the error is reported as it stands.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What to ask the node about an rpc error.
#[derive(Debug)]
pub(crate) enum Question {
    /// `'Elixir.Exception':message(Exception)`.
    Message(Term),
    /// `code:which(Elixir)`: whether the Elixir namesake of the undefined
    /// module `called` exists.
    ElixirModule { called: Atom, elixir: Atom },
}

impl Question {
    /// The question that `err` needs answered, if any.
    pub(crate) fn about(err: &Error) -> Option<Question> {
        let Error::Rpc {
            class,
            reason,
            stacktrace,
            detail: None,
        } = err
        else {
            return None;
        };
        if let Some(exception) = Exception::from_term(reason) {
            return exception
                .message()
                .is_none()
                .then(|| Question::Message((**reason).clone()));
        }
        if *class != "error" || !reason.is_atom("undef") {
            return None;
        }
        // erpc reports an undefined function with its call on top:
        // [{Module, Function, Args, Location} | ...].
        let called = match &**stacktrace {
            Term::List(frames) => match frames.first().and_then(Term::as_tuple) {
                Some([Term::Atom(module), _, _, _]) => *module,
                _ => return None,
            },
            _ => return None,
        };
        let named = elixir::module(called.as_str());
        (named != called.as_str()).then(|| Question::ElixirModule {
            called,
            elixir: Atom::new(&named),
        })
    }

    /// The rpc that asks it: module, function, arguments.
    pub(crate) fn rpc(&self) -> (Atom, Atom, Vec<Term>) {
        match self {
            Question::Message(exception) => (
                Atom::new("Elixir.Exception"),
                crate::atom!("message"),
                vec![exception.clone()],
            ),
            Question::ElixirModule { elixir, .. } => (
                crate::atom!("code"),
                crate::atom!("which"),
                vec![Term::Atom(*elixir)],
            ),
        }
    }

    /// `err` with what `answer` tells added; `err` as it was when the
    /// answer tells nothing (the question failed, the module does not
    /// exist either).
    pub(crate) fn explain(self, err: Error, answer: Result<Term>) -> Error {
        let Ok(answer) = answer else { return err };
        match self {
            Question::Message(_) => match answer.as_binary().map(std::str::from_utf8) {
                Some(Ok(message)) => err.with_detail(message),
                _ => err,
            },
            Question::ElixirModule { called, elixir } => {
                if answer.is_atom("non_existing") {
                    return err;
                }
                let alias = elixir::alias(elixir.as_str()).unwrap_or(elixir.as_str());
                err.with_detail(format!(
                    "no module {} there, but Elixir's {alias} is {}",
                    Term::Atom(called),
                    Term::Atom(elixir)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_error(reason: &str, stacktrace: &str) -> Error {
        Error::rpc(
            crate::atom!("error"),
            reason.parse().expect("reason"),
            stacktrace.parse().expect("stacktrace"),
        )
    }

    #[test]
    fn an_exception_without_a_message_asks_for_it() {
        let err = rpc_error(
            "#{'__exception__' => true, '__struct__' => 'Elixir.KeyError', key => k}",
            "[]",
        );
        let question = Question::about(&err).expect("a question");
        let (module, function, args) = question.rpc();
        assert_eq!(
            (module.as_str(), function.as_str()),
            ("Elixir.Exception", "message")
        );
        assert_eq!(args.len(), 1);
        let explained =
            question.explain(err.clone(), Ok(Term::binary(b"key :k not found".to_vec())));
        assert_eq!(
            explained.to_string(),
            "remote error: ** (KeyError) key :k not found"
        );
        assert_eq!(explained.rpc_term(), err.rpc_term(), "the terms stay");

        let question = Question::about(&err).expect("a question");
        let unanswered = question.explain(err.clone(), Err(Error::Closed));
        assert!(
            unanswered
                .to_string()
                .starts_with("remote error: ** (KeyError) #{"),
            "{unanswered}"
        );
        assert!(Question::about(&explained).is_none(), "asked once");

        let with_message = rpc_error(
            "#{'__exception__' => true, '__struct__' => 'Elixir.ArgumentError', \
             message => <<\"bad x\">>}",
            "[]",
        );
        assert!(Question::about(&with_message).is_none());
        assert_eq!(
            with_message.to_string(),
            "remote error: ** (ArgumentError) bad x"
        );
    }

    #[test]
    fn an_undefined_alias_asks_for_its_elixir_namesake() {
        let err = rpc_error("undef", "[{'MyApp.Api', user, [7], []}]");
        let question = Question::about(&err).expect("a question");
        let (module, function, args) = question.rpc();
        assert_eq!((module.as_str(), function.as_str()), ("code", "which"));
        assert_eq!(args, vec![Term::atom("Elixir.MyApp.Api")]);
        let explained = question.explain(err.clone(), Ok(Term::charlist("/app/ebin/x.beam")));
        assert_eq!(
            explained.to_string(),
            "remote error: undef (no module 'MyApp.Api' there, but Elixir's MyApp.Api is \
             'Elixir.MyApp.Api'); stacktrace: [{'MyApp.Api',user,[7],[]}]"
        );
        let question = Question::about(&err).expect("a question");
        let absent = question.explain(err.clone(), Ok(Term::atom("non_existing")));
        assert_eq!(absent.to_string(), err.to_string());

        for unasked in [
            rpc_error("undef", "[{lists, nope, [], []}]"),
            rpc_error("undef", "[{'Elixir.MyApp.Api', nope, [], []}]"),
            rpc_error("undef", "[]"),
            rpc_error("badarg", "[{'MyApp.Api', user, [7], []}]"),
            Error::rpc(crate::atom!("exit"), Term::atom("undef"), Term::nil()),
            Error::Closed,
        ] {
            assert!(Question::about(&unasked).is_none(), "{unasked}");
        }
    }
}
