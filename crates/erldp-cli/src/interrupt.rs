//! Ctrl-C during a one-shot command. The first `SIGINT` ends the client's
//! wait under way, as its deadline would (the remote worker of an rpc or
//! `eval` is killed, not left running), and the command then ends by
//! `SIGINT` (status 130 in the shell); the handler is the default again
//! from the first, so a second Ctrl-C ends the command at once. Before the connection is up, Ctrl-C is the default: nothing
//! runs on the peer yet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use erldp::Interrupter;

static INTERRUPTER: OnceLock<Interrupter> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Async-signal-safe: an atomic load and two atomic stores.
extern "C" fn on_sigint(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    if let Some(interrupter) = INTERRUPTER.get() {
        interrupter.interrupt();
    }
}

/// Makes Ctrl-C end the waits of the client `interrupter` belongs to.
pub fn arm(interrupter: Interrupter) {
    if INTERRUPTER.set(interrupter).is_err() {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid one to fill; the handler only
    // does what a signal handler may. No SA_RESTART: the read the wait is
    // blocked in returns (EINTR), and the wait sees the flag.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Whether Ctrl-C came since [`arm`].
pub fn happened() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Ends the process by `SIGINT` with its default action, once the command
/// has cleaned up, so that a shell loop running it stops too.
pub fn die() {
    // SAFETY: restoring the default action and raising a signal at
    // ourselves; nothing is borrowed.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}
