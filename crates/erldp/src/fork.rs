//! `fork` in a process that runs nodes, as Puma, Unicorn and Resque fork
//! their workers.
//!
//! `fork` copies only the thread that calls it. A lock that another thread
//! (a connection's reader interning an atom, a logger) held at that moment
//! stays held in the child for good, and the child's first node would wait
//! on it for ever. So the process-wide state that node threads lock — the
//! atom table, the log sink, the list of embedded EPMD servers — is locked
//! by `pthread_atfork` handlers before the fork, while no other thread holds
//! it, and unlocked after it in parent and child; so is one lock of a
//! binding's own that node threads reach ([`lock_also`]). A log sink must not
//! call `fork`: the handlers take the lock it runs under. The other locks are
//! each a node's, which the child never touches, and none of them keeps its
//! waiters in a table that the child's own locks share ([`crate::sync`]).
//!
//! Nodes themselves are not carried over: their threads stay in the parent.
//! A node started before the fork belongs to the parent; the child starts
//! its own. The bindings refuse the parent's handles in the child, each
//! remembering its [`Owner`].

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Once, OnceLock};

/// A binding's lock, taken after the core's (see [`lock_also`]).
static ALSO: OnceLock<fn() -> Box<dyn Any>> = OnceLock::new();

thread_local! {
    /// The guards `prepare` took, held by the thread that calls `fork` across it.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Has `lock` called before every `fork`, once the core's own locks are
/// held, and what it returns dropped after the fork, before them, in parent
/// and child: for state of a binding's that its own threads lock and that
/// node threads reach while they hold one of the core's, as a log sink's
/// queue, which the sink fills under the sink's lock (taking the binding's
/// first could wait for a node thread that waits for the fork's). One per
/// process: `false`, and `lock` unused, when one is set already. The fork
/// handlers are installed from then on (else at the first node's start).
pub fn lock_also(lock: fn() -> Box<dyn Any>) -> bool {
    guard_forks();
    ALSO.set(lock).is_ok()
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
    let also = ALSO.get().map(|lock| lock());
    HELD.with(|held| held.borrow_mut().extend(guards.into_iter().chain(also)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Mutex;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// A binding's lock that another thread holds when `fork` is called is
    /// free in the child: the fork waited for it. Without the handler the
    /// child would wait for it for ever (the alarm ends it).
    #[test]
    fn a_bindings_lock_held_by_another_thread_at_the_fork_is_free_in_the_child() {
        static QUEUE: Mutex<u32> = Mutex::new(0);
        assert!(lock_also(|| Box::new(QUEUE.lock())));
        assert!(!lock_also(|| Box::new(())), "one per process");
        let (taken, was_taken) = mpsc::channel();
        let holder = thread::spawn(move || {
            let mut queue = QUEUE.lock();
            *queue += 1;
            taken.send(()).expect("the test waits");
            thread::sleep(Duration::from_millis(300));
        });
        was_taken.recv().expect("the holder took the lock");
        // SAFETY: the child only takes a lock and exits, without unwinding.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child, unwinding nothing, after 10 s at the most.
            unsafe {
                libc::alarm(10);
                libc::_exit(if *QUEUE.lock() == 1 { 0 } else { 1 });
            }
        }
        assert!(pid > 0, "fork failed");
        holder.join().expect("holder");
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child could not take the lock (wait status {status})"
        );
    }
}
