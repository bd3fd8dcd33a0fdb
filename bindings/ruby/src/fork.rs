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

/// The process a node or mailbox handle was made in.
#[derive(Clone, Copy)]
pub(crate) struct Owner(u32);

impl Owner {
    pub(crate) fn current() -> Owner {
        Owner(std::process::id())
    }

    /// Whether this is another process than the one the handle was made in.
    pub(crate) fn forked(self) -> bool {
        self.0 != std::process::id()
    }

    /// An `ErlDP::Error` when the handle is used in a forked child.
    pub(crate) fn check(self, ruby: &Ruby, what: &str) -> Result<(), Error> {
        if !self.forked() {
            return Ok(());
        }
        Err(Error::new(
            ruby.get_inner(errors::classes().error),
            format!(
                "this {what} belongs to process {}, which forked this one ({}): its threads and \
                 connections stayed there; start a node in this process (ErlDP::Node.new)",
                self.0,
                std::process::id()
            ),
        ))
    }
}
