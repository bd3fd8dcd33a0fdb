//! Handles across `fork()` (pre-forking servers start their workers so). A
//! node's threads and sockets stay in the process that started it; in a
//! forked child its handle, its mailboxes' and its served names' are the
//! parent's, sharing its sockets. A call there would wait for threads that
//! do not exist, and closing would shut the parent's connections down (or
//! wait on a lock a parent's thread held at the fork). So each such handle
//! remembers its process: in another, calls on it fail with
//! `ERLDP_ERR_CLOSED` and a last error that says to start a node in the
//! child, and its `*_close` does nothing (the handle stays the parent's). (The core's
//! process-wide locks are kept safe across `fork` by the core itself.)

use erldp::Error;

use crate::ffi;
use crate::status::{Context, Outcome};

/// The process a handle was made in.
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

    /// `ERLDP_ERR_CLOSED` when the handle (a `what`) is used in a forked
    /// child.
    pub(crate) fn check(self, what: &str) -> Outcome {
        if !self.forked() {
            return Ok(());
        }
        Err(Error::Closed).context(format!(
            "this {what} belongs to process {}, which forked this one ({}): its threads and \
             connections stayed there; start a node in this process (erldp_node_start)",
            self.0,
            std::process::id()
        ))
    }
}

/// `ffi::release` for a handle that holds a node's threads or sockets (its
/// `owner`); in a forked child the handle is the parent's and is left as
/// it is.
pub(crate) unsafe fn release<T>(ptr: *mut T, owner: fn(&T) -> Owner, end: impl FnOnce(T)) {
    // SAFETY: NULL or a live handle (the pointer contract); reading its
    // owner cannot panic.
    if unsafe { ptr.as_ref() }.is_some_and(|handle| owner(handle).forked()) {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { ffi::release(ptr, end) }
}
