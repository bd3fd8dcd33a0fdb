//! The one error type of the crate. Every binding maps these variants once
//! (C status codes, Ruby exception classes, Node `code` strings).

use std::fmt;
use std::io;

use crate::elixir::{write_bounded, Exception};
use crate::term::{Atom, Term};

/// How many bytes of a term's text an error message shows (see [`Term`]'s
/// `Display` with a precision); the whole term stays available, as
/// [`Error::rpc_term`] gives it.
pub const TERM_TEXT_IN_ERRORS: usize = 1000;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an Erlang node.
///
/// `Display` names the cause (never the cookie) and shows at most
/// [`TERM_TEXT_IN_ERRORS`] bytes of any term in it; a remote exception keeps
/// its class, reason and stack trace as terms:
///
/// ```
/// use erldp::{Error, ErrorKind, Term};
///
/// let err = Error::rpc(erldp::atom!("error"), "{badmatch, 2}".parse()?, Term::nil());
/// assert_eq!(err.to_string(), "remote error: {badmatch,2}");
/// assert_eq!(err.kind(), ErrorKind::Rpc);
/// assert_eq!(err.rpc_term(), Some("{error, {badmatch, 2}, []}".parse()?));
///
/// let err = Error::Auth { node: "peer@host".into() };
/// assert_eq!(err.to_string(), "authentication with peer@host failed: the cookie did not match");
/// assert_eq!(err.rpc_term(), None);
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A TCP connection could not be made, the handshake failed for a reason
    /// other than the cookie, or an established connection was lost.
    Connection {
        /// The peer node (or address) concerned.
        node: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The handshake failed because the cookies did not match.
    /// The cookie itself is never part of the message.
    Auth {
        /// The peer node concerned.
        node: String,
    },
    /// The node is not registered in EPMD on its host (or the name is unknown).
    NodeNotFound {
        /// The node that was looked up.
        node: String,
        /// Detail: which EPMD was asked and what it said.
        reason: String,
    },
    /// A blocking operation did not complete in time.
    Timeout {
        /// The operation that timed out, e.g. `rpc lists:sum/1 on a@b`.
        operation: String,
    },
    /// The remote function raised an exception, or the remote call could not
    /// be carried out (`badrpc`). `class` is `error`, `exit`, `throw` or
    /// `badrpc`; `stacktrace` is `[]` when the remote side gives none.
    ///
    /// The message reads as the remote side would put it: an Elixir
    /// exception as Elixir shows it (`remote error: ** (MyApp.NotFound) user
    /// 7 not found`), anything else as the class and the reason in Erlang
    /// syntax, with `detail` and the stack trace after it.
    ///
    /// The terms are boxed so that every `Result` of the crate stays small.
    Rpc {
        /// `error`, `exit`, `throw` or `badrpc`.
        class: Atom,
        /// The exception reason (the remote error term).
        reason: Box<Term>,
        /// The remote stack trace, as Erlang reports it.
        stacktrace: Box<Term>,
        /// What the terms leave unsaid, in words: the message an Elixir
        /// exception's node computed for it (`Exception.message/1`) when
        /// the struct has no `message` field; which module exists when an
        /// `undef` module has an Elixir namesake; the destination of a
        /// failed `gen_server` call. `None` when the terms say it all.
        detail: Option<Box<str>>,
    },
    /// Bytes that should hold an Erlang term (or a protocol message) do not.
    Decode {
        /// Byte offset in the input where decoding failed.
        offset: usize,
        /// What was wrong at that offset.
        reason: String,
    },
    /// A value cannot be encoded in the external term format.
    Encode {
        /// Path to the offending value inside the term, e.g. `[2][opts]`.
        path: String,
        /// Why it cannot be encoded.
        reason: String,
    },
    /// Erlang term text (see [`Term`]'s `FromStr`) could not be parsed.
    Parse {
        /// Byte offset in the text where parsing failed.
        offset: usize,
        /// What was expected there.
        reason: String,
    },
    /// An argument is invalid: a malformed node name, an atom that is too
    /// long, a destination of the wrong kind, and the like.
    InvalidArgument(String),
    /// A name that must be unique is already in use: a node name EPMD has
    /// registered, a registered name a mailbox of this node has.
    NameTaken {
        /// The name asked for.
        name: String,
        /// Who has it.
        reason: String,
    },
    /// The node or mailbox has been closed.
    Closed,
    /// An operating-system I/O error outside any connection (binding the
    /// listen port, reading the cookie file, ...).
    Io(io::Error),
}

/// The class of an [`Error`], one per variant: what the bindings map to a C
/// status, a Ruby exception class or a JavaScript `code`, each in one
/// exhaustive `match`. A new kind is a breaking change on purpose: every
/// binding must then say what it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::Connection`].
    Connection,
    /// [`Error::Auth`].
    Auth,
    /// [`Error::NodeNotFound`].
    NodeNotFound,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Rpc`].
    Rpc,
    /// [`Error::Decode`].
    Decode,
    /// [`Error::Encode`].
    Encode,
    /// [`Error::Parse`].
    Parse,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// [`Error::NameTaken`].
    NameTaken,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::Io`].
    Io,
}

impl Error {
    /// A remote exception or a failed remote call (see [`Error::Rpc`]).
    pub fn rpc(class: Atom, reason: Term, stacktrace: Term) -> Error {
        Error::Rpc {
            class,
            reason: Box::new(reason),
            stacktrace: Box::new(stacktrace),
            detail: None,
        }
    }

    /// This error with `detail` added, for an [`Error::Rpc`]; other errors
    /// are returned as they are.
    pub(crate) fn with_detail(mut self, text: impl Into<Box<str>>) -> Error {
        if let Error::Rpc { detail, .. } = &mut self {
            *detail = Some(text.into());
        }
        self
    }

    /// The error's class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::NodeNotFound { .. } => ErrorKind::NodeNotFound,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Rpc { .. } => ErrorKind::Rpc,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Encode { .. } => ErrorKind::Encode,
            Error::Parse { .. } => ErrorKind::Parse,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NameTaken { .. } => ErrorKind::NameTaken,
            Error::Closed => ErrorKind::Closed,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    pub(crate) fn connection(node: impl fmt::Display, reason: impl fmt::Display) -> Error {
        Error::Connection {
            node: node.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn decode(offset: usize, reason: impl Into<String>) -> Error {
        Error::Decode {
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn timeout(operation: impl Into<String>) -> Error {
        Error::Timeout {
            operation: operation.into(),
        }
    }

    /// An [`Error::Io`] that keeps `err`'s kind and says what was being done.
    pub(crate) fn io(doing: impl fmt::Display, err: &io::Error) -> Error {
        Error::Io(io::Error::new(err.kind(), format!("{doing}: {err}")))
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument(reason.into())
    }

    /// The remote error term as `{Class, Reason, Stacktrace}` for an
    /// [`Error::Rpc`]; `None` for the other variants.
    pub fn rpc_term(&self) -> Option<Term> {
        match self {
            Error::Rpc {
                class,
                reason,
                stacktrace,
                ..
            } => Some(Term::Tuple(vec![
                Term::Atom(*class),
                (**reason).clone(),
                (**stacktrace).clone(),
            ])),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connection { node, reason } => write!(f, "connection to {node}: {reason}"),
            Error::Auth { node } => write!(
                f,
                "authentication with {node} failed: the cookie did not match"
            ),
            Error::NodeNotFound { node, reason } => write!(f, "node {node} not found: {reason}"),
            Error::Timeout { operation } => write!(f, "timeout: {operation}"),
            Error::Rpc {
                class,
                reason,
                stacktrace,
                detail,
            } => {
                const MAX: usize = TERM_TEXT_IN_ERRORS;
                if let Some(exception) = Exception::from_term(reason) {
                    // As Elixir shows it; the stack trace stays in the term.
                    return match (exception.message(), detail) {
                        (None, Some(message)) => {
                            write!(f, "remote {class}: ** ({}) ", exception.module())?;
                            write_bounded(f, message, MAX)
                        }
                        _ => write!(f, "remote {class}: {exception:.MAX$}"),
                    };
                }
                write!(f, "remote {class}: {reason:.MAX$}")?;
                if let Some(detail) = detail {
                    f.write_str(" (")?;
                    write_bounded(f, detail, MAX)?;
                    f.write_str(")")?;
                }
                if !matches!(&**stacktrace, Term::List(items) if items.is_empty()) {
                    write!(f, "; stacktrace: {stacktrace:.MAX$}")?;
                }
                Ok(())
            }
            Error::Decode { offset, reason } => {
                write!(f, "malformed term at byte {offset}: {reason}")
            }
            Error::Encode { path, reason } => {
                if path.is_empty() {
                    write!(f, "cannot encode term: {reason}")
                } else {
                    write!(f, "cannot encode value at {path}: {reason}")
                }
            }
            Error::Parse { offset, reason } => write!(f, "syntax error at byte {offset}: {reason}"),
            Error::InvalidArgument(reason) => write!(f, "invalid argument: {reason}"),
            Error::NameTaken { name, reason } => write!(f, "the name {name} is taken: {reason}"),
            Error::Closed => write!(f, "closed"),
            Error::Io(err) => write!(f, "I/O error: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// What a caught panic said: the text `panic!` was given, when it was given
/// one (a literal or a formatted message). The core's served names and every
/// binding's boundary turn caught panics into errors with it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl Clone for Error {
    /// I/O errors are cloned by kind and message (`io::Error` is not `Clone`).
    fn clone(&self) -> Error {
        match self {
            Error::Connection { node, reason } => Error::Connection {
                node: node.clone(),
                reason: reason.clone(),
            },
            Error::Auth { node } => Error::Auth { node: node.clone() },
            Error::NodeNotFound { node, reason } => Error::NodeNotFound {
                node: node.clone(),
                reason: reason.clone(),
            },
            Error::Timeout { operation } => Error::Timeout {
                operation: operation.clone(),
            },
            Error::Rpc {
                class,
                reason,
                stacktrace,
                detail,
            } => Error::Rpc {
                class: *class,
                reason: reason.clone(),
                stacktrace: stacktrace.clone(),
                detail: detail.clone(),
            },
            Error::Decode { offset, reason } => Error::Decode {
                offset: *offset,
                reason: reason.clone(),
            },
            Error::Encode { path, reason } => Error::Encode {
                path: path.clone(),
                reason: reason.clone(),
            },
            Error::Parse { offset, reason } => Error::Parse {
                offset: *offset,
                reason: reason.clone(),
            },
            Error::InvalidArgument(reason) => Error::InvalidArgument(reason.clone()),
            Error::NameTaken { name, reason } => Error::NameTaken {
                name: name.clone(),
                reason: reason.clone(),
            },
            Error::Closed => Error::Closed,
            Error::Io(err) => Error::Io(io::Error::new(err.kind(), err.to_string())),
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_says_what_it_was_given() {
        let caught = |body: fn()| std::panic::catch_unwind(body).unwrap_err();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let literal = caught(|| panic!("a literal"));
        let formatted = caught(|| panic!("formatted {}", 42));
        let other = caught(|| std::panic::panic_any(7_u8));
        std::panic::set_hook(hook);
        assert_eq!(panic_message(&*literal), Some("a literal"));
        assert_eq!(panic_message(&*formatted), Some("formatted 42"));
        assert_eq!(panic_message(&*other), None);
    }
}
