//! The locks ErlDP and its bindings use: the standard library's, which on
//! Linux are a futex word inside the lock, without poisoning (a node catches
//! a handler's panic and goes on, so a lock held across one must stay
//! usable), in the shape of `parking_lot`'s (a condition variable waits on
//! `&mut` guard).
//!
//! Not `parking_lot` itself, because of `fork` ([`crate::fork`]): it parks
//! waiting threads in one process-wide table whose entries live in each
//! thread's own memory. A child keeps the table but not the threads; the
//! parent's idle node threads stay queued in it, and the child's new threads
//! reuse their stacks, so the child's first contended lock could walk
//! entries it had overwritten, or a bucket lock a parent thread held at the
//! fork (parking_lot issue 515). A standard lock is only its own word: a
//! child waits only on what its own threads hold, and the process-wide locks
//! of the core are held across the fork by [`crate::fork`].

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{self as std_sync, PoisonError};
use std::time::{Duration, Instant};

/// How often [`Mutex::lock`] tries before it sleeps.
const SPINS: u32 = 10;

/// A mutual exclusion lock (`std::sync::Mutex` without poisoning).
#[derive(Default)]
pub struct Mutex<T: ?Sized>(std_sync::Mutex<T>);

impl<T> Mutex<T> {
    /// A lock holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std_sync::Mutex::new(value))
    }

    /// The value, the lock gone.
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and takes it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A node's locks are held for a few instructions: trying again a
        // little, then letting the holder run (a machine may have fewer
        // cores than busy threads), takes most of them without the system
        // call the standard lock makes once it sleeps, and the one its
        // holder then makes to wake it (as parking_lot's spinning does).
        for attempt in 0..SPINS {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            if attempt < 3 {
                for _ in 0..(2 << attempt) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Takes the lock if no one holds it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(MutexGuard(Some(guard))),
            Err(std_sync::TryLockError::Poisoned(poisoned)) => {
                Some(MutexGuard(Some(poisoned.into_inner())))
            }
            Err(std_sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The value, through the lock's exclusive borrow.
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_tuple("Mutex").field(&&*guard).finish(),
            None => f.write_str("Mutex(<locked>)"),
        }
    }
}

/// A held [`Mutex`]; dropping it unlocks.
// Always `Some` outside `Condvar`'s waits, which take the standard guard
// out and put it back.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized>(Option<std_sync::MutexGuard<'a, T>>);

impl<T: ?Sized> MutexGuard<'_, T> {
    fn held(&self) -> &T {
        self.0
            .as_ref()
            .expect("a guard outside a wait holds its lock")
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.held()
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0
            .as_mut()
            .expect("a guard outside a wait holds its lock")
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.held(), f)
    }
}

/// Whether a timed wait ended at its time rather than by a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// The wait reached its time.
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable (`std::sync::Condvar`). As with any condition
/// variable a wait may end with no notification: waiters check their
/// condition in a loop. A notification with nobody waiting costs no system
/// call, as with `parking_lot`: the standard one always makes one, and
/// queues notify on every message.
#[derive(Default)]
pub struct Condvar {
    inner: std_sync::Condvar,
    /// Threads in a wait. Counted under the lock they wait with: a notifier
    /// that changed the state under that lock sees every waiter that saw
    /// the old state.
    waiters: AtomicUsize,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Condvar {
        Condvar {
            inner: std_sync::Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Unlocks `guard`'s lock, waits for a notification, and locks it again.
    pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        self.waiting(guard, |held| {
            let held = self
                .inner
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
            (held, WaitTimeoutResult(false))
        });
    }

    /// [`wait`](Self::wait), for `timeout` at the most.
    pub fn wait_for<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.waiting(guard, |held| {
            let (held, result) = self
                .inner
                .wait_timeout(held, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            (held, WaitTimeoutResult(result.timed_out()))
        })
    }

    /// [`wait`](Self::wait), until `deadline` at the latest.
    pub fn wait_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.wait_for(guard, timeout)
    }

    fn waiting<'a, T>(
        &self,
        guard: &mut MutexGuard<'a, T>,
        wait: impl FnOnce(
            std_sync::MutexGuard<'a, T>,
        ) -> (std_sync::MutexGuard<'a, T>, WaitTimeoutResult),
    ) -> WaitTimeoutResult {
        let held = guard
            .0
            .take()
            .expect("a guard outside a wait holds its lock");
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let (held, result) = wait(held);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard.0 = Some(held);
        result
    }

    /// Wakes one waiting thread, if any.
    pub fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.inner.notify_one();
        }
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.inner.notify_all();
        }
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condvar { .. }")
    }
}

/// A reader-writer lock (`std::sync::RwLock` without poisoning).
#[derive(Default)]
pub struct RwLock<T: ?Sized>(std_sync::RwLock<T>);

/// A [`RwLock`] held for reading.
pub type RwLockReadGuard<'a, T> = std_sync::RwLockReadGuard<'a, T>;
/// A [`RwLock`] held for writing.
pub type RwLockWriteGuard<'a, T> = std_sync::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    /// A lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock(std_sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits until no writer holds the lock, and holds it for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until nobody holds the lock, and holds it for writing.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_notification_reaches_a_waiter_and_none_is_lost_to_the_count() {
        let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let (lock, cv) = &*shared;
                    let mut seen = lock.lock();
                    while *seen < 1000 {
                        cv.wait(&mut seen);
                    }
                })
            })
            .collect();
        for _ in 0..1000 {
            *shared.0.lock() += 1;
            shared.1.notify_all();
        }
        for waiter in waiters {
            waiter.join().expect("waiter");
        }
        assert_eq!(shared.1.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_timed_wait_says_it_timed_out_and_keeps_the_lock() {
        let (lock, cv) = (Mutex::new(1), Condvar::new());
        let mut guard = lock.lock();
        assert!(cv
            .wait_for(&mut guard, Duration::from_millis(1))
            .timed_out());
        assert!(cv.wait_until(&mut guard, Instant::now()).timed_out());
        *guard += 1;
        assert!(lock.try_lock().is_none(), "the guard still holds the lock");
        drop(guard);
        assert_eq!(*lock.lock(), 2);
    }

    #[test]
    fn a_panic_under_the_lock_leaves_it_usable() {
        let lock = Arc::new(Mutex::new(vec![1]));
        let held = Arc::clone(&lock);
        let panicked = thread::spawn(move || {
            let _guard = held.lock();
            panic!("a handler's panic");
        })
        .join();
        assert!(panicked.is_err());
        lock.lock().push(2);
        assert_eq!(*lock.lock(), vec![1, 2]);
        let rw = Arc::new(RwLock::new(0));
        let held = Arc::clone(&rw);
        let _ = thread::spawn(move || {
            let _guard = held.write();
            panic!("again");
        })
        .join();
        *rw.write() += 1;
        assert_eq!(*rw.read(), 1);
    }
}
