//! Blocking without holding Ruby's global VM lock.
//!
//! Every wait for the network (a message, an rpc answer, a connection)
//! happens inside `rb_thread_call_without_gvl`, so other Ruby threads run
//! meanwhile. Ruby calls the unblock function given there when it wants the
//! thread back — `Thread#raise`, `Thread#kill`, a signal such as Ctrl-C (and
//! so `Timeout.timeout`, which is `Thread#raise` from a timer thread); ours
//! wakes the Rust wait, which returns early. The loop around it then lets
//! Ruby run the pending interrupt, which raises, or waits again when the
//! interrupt was handled without an exception (a `trap` handler).
//!
//! No Ruby object is touched while the lock is released: the work closures
//! only see Rust values.

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use erldp::sync::{Condvar, Mutex};
use erldp::{Atom, Cancel};
use magnus::{Error, Ruby};

use crate::errors;

/// Something an unblock function can wake: it makes the wait running
/// without the GVL return promptly.
pub(crate) trait Wake: Sync {
    fn wake(&self);
}

impl Wake for Cancel {
    fn wake(&self) {
        self.cancel();
    }
}

/// Runs `work` with the GVL released; Ruby interrupts call `waker.wake()`.
///
/// Errs when Ruby raised on the way in or out (a pending interrupt, whose
/// exception the caller should let propagate) or when `work` panicked.
pub(crate) fn without_gvl<W: Wake, R>(
    ruby: &Ruby,
    waker: &W,
    work: impl FnOnce() -> R,
) -> Result<R, Error> {
    // SAFETY: `unblock::<W>` reads its argument as a `&W`, and `waker`
    // outlives the call (Ruby never calls the unblock function after
    // `rb_thread_call_without_gvl` has returned).
    unsafe {
        call_without_gvl(
            ruby,
            Some(unblock::<W>),
            ptr::from_ref(waker).cast_mut().cast(),
            work,
        )
    }
}

/// Runs `work` with the GVL released for the time it takes: for work that
/// is bounded but may still take a while (writing a large message to a
/// slow peer), so that other Ruby threads are not held up. Interrupts are
/// handled when it returns.
pub(crate) fn without_gvl_uninterruptible<R>(
    ruby: &Ruby,
    work: impl FnOnce() -> R,
) -> Result<R, Error> {
    // SAFETY: there is no unblock function, hence nothing to keep alive.
    unsafe { call_without_gvl(ruby, None, ptr::null_mut(), work) }
}

/// Waits with the GVL released until `wait` produces a value or `deadline`
/// passes (`None`: no deadline). `wait(remaining, cancel)` must return
/// `None` early once `cancel` fires, as the core's cancellable waits do.
/// `Ok(None)` means the deadline passed.
pub(crate) fn wait<T>(
    ruby: &Ruby,
    deadline: Option<Instant>,
    mut wait: impl FnMut(Duration, &Cancel) -> Option<T>,
) -> Result<Option<T>, Error> {
    loop {
        // The core treats a duration too long to add to `now` as no deadline.
        let remaining = deadline.map_or(Duration::MAX, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        // A token stays cancelled once fired: one per wait.
        let cancel = Cancel::new();
        if let Some(value) = without_gvl(ruby, &cancel, || wait(remaining, &cancel))? {
            return Ok(Some(value));
        }
        ruby.thread_check_ints()?;
        let expired = deadline.is_some_and(|deadline| Instant::now() >= deadline);
        if !cancel.is_cancelled() || expired {
            return Ok(None);
        }
    }
}

/// Runs `work` on a thread of its own and waits for it with the GVL
/// released (or through the fiber scheduler). For the few operations the core cannot cancel (starting a
/// node, setting up a connection): an interrupt ends the wait at once, while
/// the work runs on to its own timeout and its result is dropped — for a
/// started node or a pending rpc, dropping closes or abandons it.
pub(crate) fn off_thread<T: Send + 'static>(
    ruby: &Ruby,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    wait_off_thread(ruby, None, work).map(|done| done.expect("no deadline to pass"))
}

/// [`off_thread`] that also stops waiting at `deadline` (`Ok(None)`), the
/// work running on.
///
/// The work is one sender's, towards `peer` (see [`Trail`]): it starts once
/// the work that sender left running towards that peer is over (`Ok(None)`
/// when that is not before `deadline`), and if this wait ends before the
/// work does, the sender's next work towards the peer waits for it in turn.
pub(crate) fn off_thread_until<T: Send + 'static>(
    ruby: &Ruby,
    deadline: Option<Instant>,
    (trail, peer): (&Trail, Atom),
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, Error> {
    if !trail.follow(ruby, peer, deadline)? {
        return Ok(None);
    }
    let finished = Arc::new(Finished::default());
    let done = Finishing(Arc::clone(&finished));
    let work = move || {
        let _done = done;
        work()
    };
    let waited = wait_off_thread(ruby, deadline, work);
    if !finished.is_done() {
        trail.leave(peer, finished);
    }
    waited
}

/// `work` on a thread of its own, waited for with the GVL released (or
/// through the fiber scheduler) until `deadline` (`Ok(None)` then).
fn wait_off_thread<T: Send + 'static>(
    ruby: &Ruby,
    deadline: Option<Instant>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, Error> {
    if crate::fiber::active() {
        return crate::fiber::off_thread_until(ruby, deadline, work);
    }
    let handoff = spawned(ruby, work)?;
    loop {
        if let Some(outcome) = without_gvl(ruby, &*handoff, || handoff.take(deadline))? {
            return outcome
                .map(Some)
                .map_err(|payload| errors::panicked(ruby, payload));
        }
        ruby.thread_check_ints()?;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(None);
        }
    }
}

/// What one sender (a node's or a mailbox's Ruby object) left running on
/// threads of their own when an interrupt or a deadline ended the wait for
/// it (a send to a peer that reads nothing goes on until the send timeout),
/// by the peer it was for. The sender's next operation towards that peer
/// waits for it first: Erlang keeps the messages from one process to
/// another in order, so a later send must not overtake it; and a loop that
/// interrupts its sends to a stalled peer over and over holds one thread,
/// not one per send. Operations towards other peers, or our own node, do
/// not wait for it.
#[derive(Default)]
pub(crate) struct Trail {
    /// By peer, what still runs, oldest first (several when threads sharing
    /// the sender were interrupted at once).
    left: Mutex<HashMap<Atom, Vec<Arc<Finished>>>>,
    /// Whether `left` may hold something: every send reads this, and only a
    /// send after an interrupt needs the lock.
    any: AtomicBool,
}

impl Trail {
    /// Whether work left behind towards `peer` is still running: the
    /// sender's next operation there must then go through
    /// [`off_thread_until`], even one that would not wait by itself.
    pub(crate) fn busy(&self, peer: Atom) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let mut left = self.left.lock();
        left.retain(|_, running| {
            running.retain(|work| !work.is_done());
            !running.is_empty()
        });
        if left.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        left.contains_key(&peer)
    }

    /// Waits, with the GVL released (or through the fiber scheduler) and
    /// interruptibly, for the work left behind towards `peer` to end; false
    /// when `deadline` passed first.
    fn follow(&self, ruby: &Ruby, peer: Atom, deadline: Option<Instant>) -> Result<bool, Error> {
        if !self.busy(peer) {
            return Ok(true);
        }
        let running = self.left.lock().get(&peer).cloned().unwrap_or_default();
        for work in running {
            let done = if crate::fiber::active() {
                let waiting = Arc::clone(&work);
                crate::fiber::off_thread_until(ruby, deadline, move || {
                    waiting.wait_done(deadline, None)
                })?
                .flatten()
                .is_some()
            } else {
                wait(ruby, deadline, |remaining, cancel| {
                    work.wait_done(Instant::now().checked_add(remaining), Some(cancel))
                })?
                .is_some()
            };
            if !done {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// [`follow`](Self::follow) for every peer: what the sender left
    /// running anywhere is over (or, without a deadline, a Ruby interrupt
    /// raised).
    pub(crate) fn follow_all(&self, ruby: &Ruby) -> Result<(), Error> {
        if !self.any.load(Ordering::Acquire) {
            return Ok(());
        }
        let peers: Vec<Atom> = self.left.lock().keys().copied().collect();
        for peer in peers {
            self.follow(ruby, peer, None)?;
        }
        Ok(())
    }

    fn leave(&self, peer: Atom, running: Arc<Finished>) {
        self.left.lock().entry(peer).or_default().push(running);
        self.any.store(true, Ordering::Release);
    }
}

/// Set when work left behind is over.
#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    changed: Condvar,
}

/// How often a wait for work left behind looks at its cancel token: such
/// waits are rare (a sender that was interrupted while a peer read
/// nothing), so they poll rather than register a waker.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

impl Finished {
    fn is_done(&self) -> bool {
        *self.done.lock()
    }

    /// `Some` once done; `None` when `cancel` fired or `deadline` passed
    /// first.
    fn wait_done(&self, deadline: Option<Instant>, cancel: Option<&Cancel>) -> Option<()> {
        let mut done = self.done.lock();
        while !*done {
            let now = Instant::now();
            if cancel.is_some_and(Cancel::is_cancelled) || deadline.is_some_and(|end| now >= end) {
                return None;
            }
            let poll = now + FOLLOW_POLL;
            let until = deadline.map_or(poll, |end| end.min(poll));
            self.changed.wait_until(&mut done, until);
        }
        Some(())
    }
}

/// Marks its work finished when dropped: when the work returns or panics.
struct Finishing(Arc<Finished>);

impl Drop for Finishing {
    fn drop(&mut self) {
        *self.0.done.lock() = true;
        self.0.changed.notify_all();
    }
}

/// `work` started on a thread of its own, its outcome to come through the
/// handoff.
fn spawned<T: Send + 'static>(
    ruby: &Ruby,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Arc<Handoff<thread::Result<T>>>, Error> {
    let handoff = Arc::new(Handoff::new());
    let producer = Arc::clone(&handoff);
    thread::Builder::new()
        .name("erldp-ruby-call".into())
        .spawn(move || producer.put(panic::catch_unwind(AssertUnwindSafe(work))))
        .map_err(|err| errors::raise(ruby, erldp::Error::Io(err)))?;
    Ok(handoff)
}

/// Hands one value from a helper thread to a waiting Ruby thread.
struct Handoff<T> {
    state: Mutex<HandoffState<T>>,
    changed: Condvar,
}

struct HandoffState<T> {
    value: Option<T>,
    woken: bool,
}

impl<T> Handoff<T> {
    fn new() -> Handoff<T> {
        Handoff {
            state: Mutex::new(HandoffState {
                value: None,
                woken: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn put(&self, value: T) {
        self.state.lock().value = Some(value);
        self.changed.notify_all();
    }

    /// The value once it is there; `None` when woken first or at `deadline`.
    fn take(&self, deadline: Option<Instant>) -> Option<T> {
        let mut state = self.state.lock();
        loop {
            if let Some(value) = state.value.take() {
                return Some(value);
            }
            if std::mem::take(&mut state.woken) {
                return None;
            }
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        return state.value.take();
                    }
                }
                None => self.changed.wait(&mut state),
            }
        }
    }
}

impl<T: Send> Wake for Handoff<T> {
    fn wake(&self) {
        self.state.lock().woken = true;
        self.changed.notify_all();
    }
}

struct Call<F, R> {
    work: Option<F>,
    result: Option<thread::Result<R>>,
}

/// # Safety
///
/// `ubf_data` must stay valid for what `ubf` does with it until this
/// returns.
unsafe fn call_without_gvl<F: FnOnce() -> R, R>(
    ruby: &Ruby,
    ubf: rb_sys::rb_unblock_function_t,
    ubf_data: *mut c_void,
    work: F,
) -> Result<R, Error> {
    let mut call = Call {
        work: Some(work),
        result: None,
    };
    let data: *mut c_void = ptr::from_mut(&mut call).cast();
    // Ruby may raise a pending interrupt before or after running `run`, by
    // a longjmp that `protect` catches. Nothing between here and the C call
    // owns anything that needs dropping, so skipping those frames is sound.
    magnus::rb_sys::protect(|| {
        // SAFETY: `run::<F, R>` reads `data` as the `Call` above, which
        // lives until after this returns; the caller vouches for `ubf_data`.
        unsafe { rb_sys::rb_thread_call_without_gvl(Some(run::<F, R>), data, ubf, ubf_data) };
        rb_sys::Qnil as rb_sys::VALUE
    })?;
    match call.result {
        Some(Ok(value)) => Ok(value),
        Some(Err(payload)) => Err(errors::panicked(ruby, payload)),
        None => unreachable!("rb_thread_call_without_gvl runs its function unless it raises"),
    }
}

unsafe extern "C" fn run<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` of `call_without_gvl`, alive and used by
    // no one else while this runs.
    let call = unsafe { &mut *data.cast::<Call<F, R>>() };
    if let Some(work) = call.work.take() {
        // A panic must not unwind into Ruby's C frames.
        call.result = Some(panic::catch_unwind(AssertUnwindSafe(work)));
    }
    ptr::null_mut()
}

unsafe extern "C" fn unblock<W: Wake>(data: *mut c_void) {
    // SAFETY: `without_gvl` passes a `&W` that outlives the blocking call.
    let waker = unsafe { &*data.cast::<W>() };
    // Waking only takes a lock and notifies; should it ever panic, the
    // panic must still not unwind into Ruby, and the wait then simply runs
    // to its deadline.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
}
