//! `fork` in a process that runs nodes, as Puma, Unicorn and Resque fork
//! their workers.
//!
//! `fork` copies only the thread that calls it. A lock that another thread
//! (a connection's reader interning an atom, a logger) held at that moment
//! stays held in the child for good, and the child's first node would wait
//! on it for ever. So the process-wide state that node threads lock — the
//! atom table, the log sink, the list of embedded EPMD servers — is locked
//! by `pthread_atfork` handlers before the fork, while no other thread holds
//! it, and unlocked after it in parent and child. A log sink must not call
//! `fork`: the handlers take the lock it runs under.
//!
//! Nodes themselves are not carried over: their threads stay in the parent.
//! A node started before the fork belongs to the parent; the child starts
//! its own. The bindings refuse the parent's handles in the child, each
//! remembering its [`Owner`].

use std::any::Any;
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// The guards `prepare` took, held by the thread that calls `fork` across it.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Installs the handlers, once per process: before the first node starts.
pub(crate) fn guard_forks() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that live as long
        // as the process; pthread_atfork only records them.
        let failed = unsafe { libc::pthread_atfork(Some(prepare), Some(resume), Some(resume)) };
        if failed != 0 {
            log::warn!("cannot install the fork handlers (error {failed}): a forked child may wait for good on a lock");
        }
    });
}

extern "C" fn prepare() {
    let guards: [Box<dyn Any>; 3] = [
        Box::new(crate::epmd::lock_for_fork()),
        Box::new(crate::term::atom::lock_for_fork()),
        Box::new(crate::logging::lock_for_fork()),
    ];
    HELD.with(|held| held.borrow_mut().extend(guards));
}

/// After the fork, in the parent and in the child, by the thread that
/// called `fork` (which holds the locks in both).
extern "C" fn resume() {
    let mut guards = HELD.with(|held| std::mem::take(&mut *held.borrow_mut()));
    // Given back in the reverse order of their taking.
    while guards.pop().is_some() {}
}

/// The process a handle (a node, a mailbox) was made in, for bindings that
/// refuse to use a parent's handle in a forked child: its threads and
/// sockets stayed in the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner(u32);

impl Owner {
    /// The calling process.
    pub fn current() -> Owner {
        Owner(std::process::id())
    }

    /// Whether this is another process than the one the handle was made in.
    pub fn forked(self) -> bool {
        self.0 != std::process::id()
    }

    /// Why a handle (a `what`) cannot be used in this forked child, naming
    /// how the child starts a node of its own (`start`).
    pub fn refusal(self, what: &str, start: &str) -> String {
        format!(
            "this {what} belongs to process {}, which forked this one ({}): its threads and \
             connections stayed there; start a node in this process ({start})",
            self.0,
            std::process::id()
        )
    }
}
