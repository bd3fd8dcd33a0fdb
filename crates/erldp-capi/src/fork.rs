//! Handles across `fork()` (pre-forking servers start their workers so). A
//! node's threads and sockets stay in the process that started it; in a
//! forked child its handle, its mailboxes' and its served names' are the
//! parent's, sharing its sockets. A call there would wait for threads that
//! do not exist, and closing would shut the parent's connections down (or
//! wait on a lock a parent's thread held at the fork). So each such handle
//! remembers its process: in another, calls on it fail with
//! `ERLDP_ERR_CLOSED` and a last error that says to start a node in the
//! child, and its `*_close` does nothing (the handle stays the parent's).
//! `ffi::handle` and `ffi::release` apply this to each handle that gives its
//! owner. (The core keeps its process-wide locks safe across `fork`.)

use erldp::Error;

use crate::status::{Context, Outcome};

pub(crate) use erldp::fork::Owner;

/// `ERLDP_ERR_CLOSED` when the handle (a `what`) is used in a forked child.
pub(crate) fn check(owner: Owner, what: &str) -> Outcome {
    if !owner.forked() {
        return Ok(());
    }
    Err(Error::Closed).context(owner.refusal(what, "erldp_node_start"))
}
