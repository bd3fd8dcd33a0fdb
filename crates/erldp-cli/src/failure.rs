//! Why a command failed, and the exit status that tells scripts.

use std::fmt::Write as _;
use std::process::ExitCode;

use erldp::{Error, ErrorKind, Term};

use crate::json;

/// The classes of failure, each with its own exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The remote code raised, or the rpc could not run there (`badrpc`).
    Rpc,
    /// A bad command line: an option, a term or a call that does not parse.
    Usage,
    /// The node is not registered in EPMD, no EPMD answers on its host, or
    /// the host is unknown.
    NotFound,
    /// TCP connect failed, the handshake was refused, or the connection was
    /// lost.
    Connection,
    /// The cookies did not match.
    Auth,
    /// The node did not answer in time.
    Timeout,
    /// Anything else on this side (I/O, a name already taken, ...).
    Local,
    /// Ctrl-C ended the command (`interrupt.rs`).
    Interrupted,
}

impl Kind {
    /// The process exit status; 0 is success.
    pub fn exit_status(self) -> u8 {
        match self {
            Kind::Rpc => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Connection => 4,
            Kind::Auth => 5,
            Kind::Timeout => 6,
            Kind::Local => 7,
            Kind::Interrupted => 130,
        }
    }

    /// The name `--json` gives the class.
    fn name(self) -> &'static str {
        match self {
            Kind::Rpc => "rpc",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Connection => "connection",
            Kind::Auth => "auth",
            Kind::Timeout => "timeout",
            Kind::Local => "local",
            Kind::Interrupted => "interrupted",
        }
    }
}

/// A failed command: its class, a message naming the cause, and for
/// remote exceptions the exception itself.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// Boxed: most failures have none, and `Result<_, Failure>` stays small.
    remote: Option<Box<Remote>>,
}

#[derive(Debug)]
struct Remote {
    class: String,
    reason: Term,
    stacktrace: Term,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            remote: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_status())
    }

    /// `{"error": {...}}`: the class, its exit status and the message, and
    /// for remote exceptions `class`, `reason` and `stacktrace` as terms.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"error\":{\"kind\":");
        json::string(&mut out, self.kind.name());
        let _ = write!(
            out,
            ",\"exit_status\":{},\"message\":",
            self.kind.exit_status()
        );
        json::string(&mut out, &self.message);
        if let Some(remote) = &self.remote {
            out.push_str(",\"class\":");
            json::string(&mut out, &remote.class);
            let _ = write!(
                out,
                ",\"reason\":{},\"stacktrace\":{}",
                json::term(&remote.reason),
                json::term(&remote.stacktrace)
            );
        }
        out.push_str("}}");
        out
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let kind = match err.kind() {
            ErrorKind::Rpc => Kind::Rpc,
            ErrorKind::InvalidArgument
            | ErrorKind::NameTaken
            | ErrorKind::Parse
            | ErrorKind::Encode => Kind::Usage,
            ErrorKind::NodeNotFound => Kind::NotFound,
            ErrorKind::Connection => Kind::Connection,
            ErrorKind::Auth => Kind::Auth,
            ErrorKind::Timeout => Kind::Timeout,
            ErrorKind::Decode | ErrorKind::Closed | ErrorKind::Io => Kind::Local,
        };
        let remote = match &err {
            Error::Rpc {
                class,
                reason,
                stacktrace,
                ..
            } => Some(Box::new(Remote {
                class: class.as_str().to_string(),
                reason: (**reason).clone(),
                stacktrace: (**stacktrace).clone(),
            })),
            _ => None,
        };
        Failure {
            kind,
            message: err.to_string(),
            remote,
        }
    }
}
