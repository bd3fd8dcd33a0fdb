//! Nodes and mailboxes across `fork` (Puma, Unicorn and Resque fork their
//! workers). A node's threads stay in the process that started it; in a
//! forked child its handle and its mailboxes' are the parent's, sharing its
//! sockets. Using one there would time out with no word why, and closing one
//! would shut the parent's connections down. So each handle remembers its
//! process: in another, every call raises an `ErlDP::Error` that says to
//! start a node in the child, while `close` and the GC leave the handle alone
//! (an `at_exit { node.close }` of the parent's runs in every child too).
//! (The core keeps its process-wide locks safe across `fork`.)

use magnus::{Error, Ruby};

use crate::errors;

pub(crate) use erldp::fork::Owner;

/// Refusing a parent's handle in a forked child, as a Ruby error.
pub(crate) trait Refuse {
    /// An `ErlDP::Error` when the handle (a `what`) is used in a forked
    /// child.
    fn check(self, ruby: &Ruby, what: &str) -> Result<(), Error>;
}

impl Refuse for Owner {
    fn check(self, ruby: &Ruby, what: &str) -> Result<(), Error> {
        if !self.forked() {
            return Ok(());
        }
        Err(Error::new(
            ruby.get_inner(errors::classes().error),
            self.refusal(what, "ErlDP::Node.new"),
        ))
    }
}
