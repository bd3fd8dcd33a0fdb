//! Waiting for an answer without an async runtime.
//!
//! A reply (to an rpc, a `gen_server` call, a ping) completes a one-shot
//! [`Pending`]. The caller can block on it with a timeout, block in a way
//! another thread can [`Cancel`] (what the Ruby binding's unblock function
//! needs), or hand it a callback that runs on completion or timeout (what the
//! Node.js binding needs, so no thread is parked per outstanding call).
//! Timeouts of callbacks are driven by one [`Timer`] thread per node.

use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use crate::dest::Dest;
use crate::term::Atom;
use crate::threads::{self, Threads};
use crate::{Error, Result};

type Waker = Arc<dyn Fn() + Send + Sync>;

/// A flag that stops a blocking wait from another thread.
///
/// Set it with [`Cancel::cancel`]; a wait that was given this token (for
/// example [`Mailbox::recv_cancellable`](crate::Mailbox::recv_cancellable))
/// returns promptly, as if it had timed out. A token stays cancelled; make a
/// new one per wait.
///
/// ```
/// use std::time::{Duration, Instant};
/// use erldp::{Cancel, EpmdMode, Node};
///
/// let node = Node::builder("cancel@localhost").cookie("secret").epmd(EpmdMode::None).start()?;
/// let mailbox = node.mailbox(None)?;
/// let cancel = Cancel::new();
/// let canceller = cancel.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(50));
///     canceller.cancel();
/// });
/// let started = Instant::now();
/// assert_eq!(mailbox.recv_cancellable(Duration::from_secs(60), &cancel)?, None);
/// assert!(cancel.is_cancelled() && started.elapsed() < Duration::from_secs(60));
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Cancel {
    /// A fresh, uncancelled token.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels: wakes the wait using this token, now or when it starts.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let waker = self.0.waker.lock().clone();
        if let Some(wake) = waker {
            wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Registers how to wake the current wait; cleared by the returned guard.
    pub(crate) fn arm(&self, wake: Waker) -> CancelGuard<'_> {
        *self.0.waker.lock() = Some(wake);
        CancelGuard(self)
    }

    /// Registers how to stop a wait that runs on without a waiting thread
    /// (a callback's): `stop` runs when the token is cancelled, at once if
    /// it already is. It may run twice when cancelling races with this, so
    /// it must do its work once.
    pub(crate) fn arm_async(&self, stop: Waker) {
        *self.0.waker.lock() = Some(Arc::clone(&stop));
        if self.is_cancelled() {
            stop();
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

pub(crate) struct CancelGuard<'a>(&'a Cancel);

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        *self.0 .0.waker.lock() = None;
    }
}

type Callback<T> = Box<dyn FnOnce(T) + Send>;

enum SlotState<T> {
    Empty,
    Ready(T),
    Callback(Callback<T>),
    Taken,
}

/// A one-shot value slot: completed once, taken once.
pub(crate) struct Slot<T> {
    state: Mutex<SlotInner<T>>,
    ready: Condvar,
}

struct SlotInner<T> {
    state: SlotState<T>,
    /// What a wait that gives up takes instead of nothing, while the value
    /// itself is still on its way (see [`Slot::provide_fallback`]).
    fallback: Option<T>,
}

impl<T: Send + 'static> Slot<T> {
    pub(crate) fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            state: Mutex::new(SlotInner {
                state: SlotState::Empty,
                fallback: None,
            }),
            ready: Condvar::new(),
        })
    }

    /// Stores the value, or hands it to the waiting callback. Returns false
    /// (dropping `value`) when the slot was already completed or abandoned.
    pub(crate) fn complete(&self, value: T) -> bool {
        let mut inner = self.state.lock();
        inner.fallback = None;
        match std::mem::replace(&mut inner.state, SlotState::Taken) {
            SlotState::Empty => {
                inner.state = SlotState::Ready(value);
                drop(inner);
                self.ready.notify_all();
                true
            }
            SlotState::Callback(callback) => {
                drop(inner);
                callback(value);
                true
            }
            previous @ (SlotState::Ready(_) | SlotState::Taken) => {
                inner.state = previous;
                false
            }
        }
    }

    /// A value for a wait that gives up (its deadline passes) before the
    /// slot is completed: the answer is known, and a better one is being
    /// worked out (an rpc error whose message the node is asked for).
    pub(crate) fn provide_fallback(&self, value: T) {
        let mut inner = self.state.lock();
        if matches!(inner.state, SlotState::Empty | SlotState::Callback(_)) {
            inner.fallback = Some(value);
        }
    }

    /// Marks the slot as no longer wanted: a later `complete` is dropped.
    /// Returns the fallback, if one was provided.
    pub(crate) fn abandon(&self) -> Option<T> {
        let mut inner = self.state.lock();
        inner.state = SlotState::Taken;
        inner.fallback.take()
    }

    fn is_settled(&self) -> bool {
        !matches!(
            self.state.lock().state,
            SlotState::Empty | SlotState::Callback(_)
        )
    }

    /// Waits until completed, the deadline passes (then the fallback, if
    /// any, is taken instead), or `cancel` fires.
    fn wait(self: &Arc<Self>, deadline: Option<Instant>, cancel: Option<&Cancel>) -> Option<T> {
        let _armed = cancel.map(|token| {
            let slot = Arc::downgrade(self);
            token.arm(Arc::new(move || {
                if let Some(slot) = Weak::upgrade(&slot) {
                    let _state = slot.state.lock();
                    slot.ready.notify_all();
                }
            }))
        });
        let mut inner = self.state.lock();
        loop {
            if let SlotState::Ready(_) = inner.state {
                match std::mem::replace(&mut inner.state, SlotState::Taken) {
                    SlotState::Ready(value) => return Some(value),
                    _ => unreachable!("matched Ready above"),
                }
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                return None;
            }
            match deadline {
                Some(deadline) => {
                    if self.ready.wait_until(&mut inner, deadline).timed_out() {
                        if let SlotState::Ready(_) = inner.state {
                            continue;
                        }
                        let fallback = inner.fallback.take();
                        if fallback.is_some() {
                            inner.state = SlotState::Taken;
                        }
                        return fallback;
                    }
                }
                None => self.ready.wait(&mut inner),
            }
        }
    }

    /// Runs `callback` with the value when it arrives (at once if it has).
    fn on_complete(&self, callback: Callback<T>) {
        let mut inner = self.state.lock();
        match std::mem::replace(&mut inner.state, SlotState::Taken) {
            SlotState::Ready(value) => {
                drop(inner);
                callback(value);
            }
            SlotState::Empty => inner.state = SlotState::Callback(callback),
            other => inner.state = other,
        }
    }
}

/// What to do when a caller stops waiting before the answer came: forget
/// the request and undo its effects on the peer.
pub(crate) type Abandon = Box<dyn FnOnce() + Send>;

/// What a [`Pending`] waits for. Kept as parts and put into words only when
/// a timeout reports it: formatting a description for every call cost about
/// a tenth of an rpc's instructions.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operation {
    Rpc {
        module: Atom,
        function: Atom,
        arity: usize,
        node: Atom,
    },
    Call(Dest),
    Connect(Atom),
}

impl Operation {
    /// The node whose answer completes the operation.
    fn node(&self) -> Option<Atom> {
        match self {
            Operation::Rpc { node, .. } => Some(*node),
            Operation::Call(dest) => Some(dest.node()),
            Operation::Connect(_) => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Rpc {
                module,
                function,
                arity,
                node,
            } => {
                write!(
                    f,
                    "rpc {}:{}/{arity} on {}",
                    module.as_str(),
                    function.as_str(),
                    node.as_str()
                )
            }
            Operation::Call(dest) => write!(f, "gen_server call to {dest}"),
            Operation::Connect(node) => write!(f, "connecting to {}", node.as_str()),
        }
    }
}

/// An answer that is on its way: an rpc result, a `gen_server` reply.
///
/// Dropping a `Pending` before it completes abandons the request (for an
/// rpc: the remote worker process is killed), so nothing stale is left on
/// either side.
#[must_use = "dropping a Pending abandons the request"]
pub struct Pending<T: Send + 'static> {
    slot: Arc<Slot<Result<T>>>,
    abandon: Option<Abandon>,
    operation: Operation,
    timer: Arc<Timer>,
}

impl<T: Send + 'static> Pending<T> {
    pub(crate) fn new(
        slot: Arc<Slot<Result<T>>>,
        abandon: Abandon,
        operation: Operation,
        timer: Arc<Timer>,
    ) -> Pending<T> {
        Pending {
            slot,
            abandon: Some(abandon),
            operation,
            timer,
        }
    }

    /// Blocks until the answer arrives or `timeout` passes. On timeout the
    /// request is abandoned and [`Error::Timeout`] returned. On the thread
    /// that reads the connection the answer must come through (a handler
    /// run there, see [`ServeOptions::on_reader`](crate::ServeOptions::on_reader)),
    /// it fails at once with [`Error::InvalidArgument`]: it could only time
    /// out.
    pub fn wait(self, timeout: Duration) -> Result<T> {
        self.wait_since(Instant::now(), timeout)
    }

    /// [`wait`](Self::wait) for what is left of `timeout` since `started`
    /// (the caller spent the rest connecting); a timeout error names the
    /// whole `timeout`, the one the caller gave.
    pub(crate) fn wait_since(mut self, started: Instant, timeout: Duration) -> Result<T> {
        self.answer_can_come()?;
        let deadline = started.checked_add(timeout);
        match self.slot.wait(deadline, None) {
            Some(result) => {
                self.abandon = None;
                result
            }
            None => Err(self.timed_out(timeout)),
        }
    }

    /// Blocks until the answer arrives, `timeout` passes or `cancel` fires.
    /// Returns `None` in the last two cases without abandoning the request,
    /// so the caller can wait again (or drop it to abandon). An answer that
    /// is known but still being completed (an rpc error whose message its
    /// node is asked for) is returned as it stands when `timeout` passes.
    pub fn wait_cancellable(&mut self, timeout: Duration, cancel: &Cancel) -> Option<Result<T>> {
        if let Err(err) = self.answer_can_come() {
            return Some(Err(err));
        }
        let deadline = Instant::now().checked_add(timeout);
        let result = self.slot.wait(deadline, Some(cancel));
        if result.is_some() {
            self.abandon = None;
        }
        result
    }

    /// Fails when the answer could only come through this thread: it reads
    /// the connection to the node asked (see
    /// [`ServeOptions::on_reader`](crate::ServeOptions::on_reader)).
    fn answer_can_come(&self) -> Result<()> {
        // The thread-local first: the slot's lock only in the rare case.
        match self.operation.node().map(threads::not_from_its_reader) {
            Some(Err(err)) if !self.slot.is_settled() => Err(err),
            _ => Ok(()),
        }
    }

    /// Calls `callback` exactly once: with the answer, or with
    /// [`Error::Timeout`] after `timeout` (abandoning the request). The
    /// callback runs on an internal thread and must not block for long.
    pub fn on_complete(self, timeout: Duration, callback: impl FnOnce(Result<T>) + Send + 'static) {
        self.settle(timeout, None, callback);
    }

    /// [`on_complete`](Self::on_complete) that `cancel` stops where it
    /// runs: the request is abandoned at once, as on timeout (an rpc's
    /// remote worker is killed, a call's monitor removed), and the callback
    /// gets an [`Error::Timeout`] that says it was cancelled — unless the
    /// answer came first, in which case the callback has it.
    pub fn on_complete_cancellable(
        self,
        timeout: Duration,
        cancel: &Cancel,
        callback: impl FnOnce(Result<T>) + Send + 'static,
    ) {
        self.settle(timeout, Some(cancel), callback);
    }

    fn settle(
        mut self,
        timeout: Duration,
        cancel: Option<&Cancel>,
        callback: impl FnOnce(Result<T>) + Send + 'static,
    ) {
        let settling = Arc::new(Settling {
            fired: AtomicBool::new(false),
            callback: Mutex::new(Some(Box::new(callback))),
            abandon: Mutex::new(self.abandon.take()),
            timer_id: AtomicU64::new(0),
            slot: Arc::clone(&self.slot),
            timer: Arc::clone(&self.timer),
        });
        {
            let settling = Arc::clone(&settling);
            self.slot
                .on_complete(Box::new(move |result| settling.finish(result)));
        }
        let operation = self.operation;
        if let Some(cancel) = cancel {
            let settling = Arc::downgrade(&settling);
            cancel.arm_async(Arc::new(move || {
                if let Some(settling) = settling.upgrade() {
                    settling.give_up(|| Error::timeout(format!("{operation}: cancelled")));
                }
            }));
        }
        if settling.fired.load(Ordering::SeqCst) {
            return;
        }
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // A timeout too large to represent means no timeout: the request
            // stays until it completes.
            return;
        };
        let id = {
            let settling = Arc::clone(&settling);
            self.timer.schedule(deadline, move || {
                settling.give_up(|| timeout_error(&operation, timeout));
            })
        };
        settling.timer_id.store(id, Ordering::SeqCst);
    }

    /// Whether the answer has arrived (a `wait` would not block).
    pub fn is_ready(&self) -> bool {
        self.slot.is_settled()
    }

    fn timed_out(&mut self, timeout: Duration) -> Error {
        timeout_error(&self.operation, timeout)
    }
}

/// A callback waiting for a [`Pending`]'s answer, and what stops it
/// waiting: its timer, a [`Cancel`].
struct Settling<T: Send + 'static> {
    fired: AtomicBool,
    callback: Mutex<Option<Callback<Result<T>>>>,
    abandon: Mutex<Option<Abandon>>,
    timer_id: AtomicU64,
    slot: Arc<Slot<Result<T>>>,
    timer: Arc<Timer>,
}

impl<T: Send + 'static> Settling<T> {
    fn finish(&self, result: Result<T>) {
        if !self.fired.swap(true, Ordering::SeqCst) {
            self.timer.cancel(self.timer_id.load(Ordering::SeqCst));
            if let Some(callback) = self.callback.lock().take() {
                callback(result);
            }
        }
    }

    /// Stops waiting: the slot's fallback, if it has one, is the answer;
    /// otherwise the request is abandoned and the callback gets `error`.
    fn give_up(&self, error: impl FnOnce() -> Error) {
        if self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        self.timer.cancel(self.timer_id.load(Ordering::SeqCst));
        let result = match self.slot.abandon() {
            Some(fallback) => fallback,
            None => {
                if let Some(abandon) = self.abandon.lock().take() {
                    abandon();
                }
                Err(error())
            }
        };
        if let Some(callback) = self.callback.lock().take() {
            callback(result);
        }
    }
}

fn timeout_error(operation: &Operation, timeout: Duration) -> Error {
    Error::timeout(format!(
        "{operation}: no answer within {} ms",
        timeout.as_millis()
    ))
}

impl<T: Send + 'static> Drop for Pending<T> {
    fn drop(&mut self) {
        if let Some(abandon) = self.abandon.take() {
            if self.slot.abandon().is_none() {
                abandon();
            }
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("operation", &self.operation.to_string())
            .finish()
    }
}

type TimerAction = Box<dyn FnOnce() + Send>;

/// Runs actions at deadlines, on one lazily started thread.
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    wake: Condvar,
    /// Its thread, for [`Timer::join`].
    thread: Threads,
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    actions: HashMap<u64, TimerAction>,
    next_id: u64,
    running: bool,
    stopped: bool,
}

impl Timer {
    pub(crate) fn new() -> Arc<Timer> {
        Arc::new(Timer {
            state: Mutex::new(TimerState::default()),
            wake: Condvar::new(),
            thread: Threads::default(),
        })
    }

    /// Schedules `action` at `deadline`; returns an id for [`cancel`](Self::cancel).
    pub(crate) fn schedule(
        self: &Arc<Self>,
        deadline: Instant,
        action: impl FnOnce() + Send + 'static,
    ) -> u64 {
        let mut state = self.state.lock();
        state.next_id += 1;
        let id = state.next_id;
        if state.stopped {
            drop(state);
            action();
            return id;
        }
        state.heap.push(std::cmp::Reverse((deadline, id)));
        state.actions.insert(id, Box::new(action));
        if !state.running {
            state.running = true;
            let timer = Arc::downgrade(self);
            if self
                .thread
                .spawn("erldp-timer".into(), move || Timer::run(timer))
                .is_err()
            {
                state.running = false;
            }
        }
        drop(state);
        self.wake.notify_one();
        id
    }

    /// Drops a scheduled action that has not run yet.
    pub(crate) fn cancel(&self, id: u64) {
        let mut state = self.state.lock();
        if state.actions.remove(&id).is_some() {
            // The heap keeps the entries of dropped actions until they are
            // due: when they are most of it, it is rebuilt without them, so
            // that many short waits with long timeouts do not pile up.
            let TimerState { heap, actions, .. } = &mut *state;
            if heap.len() > 64 && heap.len() > 2 * actions.len() {
                heap.retain(|std::cmp::Reverse((_, id))| actions.contains_key(id));
            }
        }
    }

    /// How many actions wait, and how many entries the heap holds.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.actions.len(), state.heap.len())
    }

    /// Runs every pending action now and refuses new delays: used when the
    /// node closes, so callbacks waiting on timeouts still fire.
    pub(crate) fn stop(&self) {
        let actions: Vec<TimerAction> = {
            let mut state = self.state.lock();
            state.stopped = true;
            state.heap.clear();
            state.actions.drain().map(|(_, action)| action).collect()
        };
        self.wake.notify_all();
        for action in actions {
            action();
        }
    }

    /// Waits for the thread of a [`stop`](Self::stop)ped timer to end (see
    /// [`Threads::join_all`]).
    pub(crate) fn join(&self) {
        self.thread.join_all();
    }

    fn run(timer: Weak<Timer>) {
        loop {
            let Some(timer) = timer.upgrade() else { return };
            let mut state = timer.state.lock();
            if state.stopped {
                state.running = false;
                return;
            }
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(std::cmp::Reverse((deadline, id))) = state.heap.peek().copied() {
                if deadline > now {
                    break;
                }
                state.heap.pop();
                if let Some(action) = state.actions.remove(&id) {
                    due.push(action);
                }
            }
            if !due.is_empty() {
                drop(state);
                for action in due {
                    action();
                }
                continue;
            }
            let next = state
                .heap
                .peek()
                .map(|std::cmp::Reverse((deadline, _))| *deadline);
            match next {
                Some(deadline) => {
                    timer.wake.wait_until(&mut state, deadline);
                }
                None => {
                    // Idle: wake now and then so a dropped node's timer
                    // thread notices and exits.
                    timer.wake.wait_for(&mut state, Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    fn pending(timer: &Arc<Timer>) -> (Arc<Slot<Result<u32>>>, Pending<u32>, Arc<AtomicBool>) {
        let slot = Slot::new();
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&abandoned);
        let pending = Pending::new(
            Arc::clone(&slot),
            Box::new(move || flag.store(true, Ordering::SeqCst)),
            Operation::Call(Dest::name("test_server", "a@b")),
            Arc::clone(timer),
        );
        (slot, pending, abandoned)
    }

    #[test]
    fn wait_gets_value() {
        let timer = Timer::new();
        let (slot, pending, abandoned) = pending(&timer);
        let completer = thread::spawn(move || slot.complete(Ok(7)));
        assert_eq!(pending.wait(Duration::from_secs(5)).expect("value"), 7);
        assert!(completer.join().expect("joined"));
        assert!(!abandoned.load(Ordering::SeqCst));
    }

    #[test]
    fn wait_times_out_and_abandons() {
        let timer = Timer::new();
        let (slot, pending, abandoned) = pending(&timer);
        let err = pending
            .wait(Duration::from_millis(20))
            .expect_err("timeout");
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("gen_server call to {test_server,a@b}"),
            "{err}"
        );
        assert!(abandoned.load(Ordering::SeqCst));
        assert!(!slot.complete(Ok(1)), "late answers are dropped");
    }

    #[test]
    fn cancel_wakes_a_wait_without_abandoning() {
        let timer = Timer::new();
        let (slot, mut pending, abandoned) = pending(&timer);
        let cancel = Cancel::new();
        let canceller = {
            let cancel = cancel.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(30));
                cancel.cancel();
            })
        };
        assert!(pending
            .wait_cancellable(Duration::from_secs(30), &cancel)
            .is_none());
        canceller.join().expect("joined");
        assert!(!abandoned.load(Ordering::SeqCst));
        slot.complete(Ok(3));
        assert_eq!(pending.wait(Duration::from_secs(1)).expect("value"), 3);
    }

    #[test]
    fn cancel_before_wait_still_counts() {
        let timer = Timer::new();
        let (_slot, mut pending, _) = pending(&timer);
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(pending
            .wait_cancellable(Duration::from_secs(30), &cancel)
            .is_none());
    }

    #[test]
    fn callback_gets_value_or_timeout_once() {
        let timer = Timer::new();
        let (slot, pending_ok, _) = pending(&timer);
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        pending_ok.on_complete(Duration::from_secs(5), move |r| {
            tx.send(r.map_err(|e| e.to_string())).expect("send")
        });
        slot.complete(Ok(9));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(1)).expect("called"),
            Ok(9)
        );

        let (_slot2, pending_late, abandoned) = pending(&timer);
        pending_late.on_complete(Duration::from_millis(20), move |r| {
            tx2.send(r.map_err(|e| e.to_string())).expect("send")
        });
        let timed_out = rx.recv_timeout(Duration::from_secs(2)).expect("called");
        assert!(timed_out.expect_err("timeout").contains("timeout"));
        assert!(abandoned.load(Ordering::SeqCst));
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "called once"
        );
    }

    #[test]
    fn a_wait_that_gives_up_takes_the_fallback() {
        let timer = Timer::new();
        let (slot, waiting, abandoned) = pending(&timer);
        slot.provide_fallback(Ok(1));
        assert_eq!(
            waiting
                .wait(Duration::from_millis(20))
                .expect("the fallback"),
            1
        );
        assert!(!abandoned.load(Ordering::SeqCst), "nothing left to abandon");
        assert!(!slot.complete(Ok(2)), "taken");

        let (slot, waiting, abandoned) = pending(&timer);
        slot.provide_fallback(Ok(3));
        let (tx, rx) = mpsc::channel();
        waiting.on_complete(Duration::from_millis(20), move |r| {
            tx.send(r.map_err(|e| e.to_string())).expect("send")
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).expect("called"),
            Ok(3)
        );
        assert!(!abandoned.load(Ordering::SeqCst));

        let (slot, mut waiting, _) = pending(&timer);
        slot.provide_fallback(Ok(4));
        slot.complete(Ok(5));
        assert_eq!(
            waiting
                .wait_cancellable(Duration::from_secs(5), &Cancel::new())
                .map(|r| r.map_err(|e| e.to_string())),
            Some(Ok(5)),
            "the completed value wins"
        );
    }

    #[test]
    fn cancel_stops_a_callback_wait_where_it_runs() {
        let timer = Timer::new();
        let (slot, waiting, abandoned) = pending(&timer);
        let cancel = Cancel::new();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        waiting.on_complete_cancellable(Duration::MAX, &cancel, move |r| {
            tx.send(r.map_err(|e| e.to_string())).expect("send")
        });
        cancel.cancel();
        let err = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("called")
            .expect_err("cancelled");
        assert!(err.contains("cancelled"), "{err}");
        assert!(abandoned.load(Ordering::SeqCst), "the request is abandoned");
        assert!(!slot.complete(Ok(1)), "a late answer is dropped");
        cancel.cancel();
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "called once"
        );

        let (_slot, waiting, abandoned) = pending(&timer);
        let early = Cancel::new();
        early.cancel();
        waiting.on_complete_cancellable(Duration::MAX, &early, move |r| {
            tx2.send(r.map_err(|e| e.to_string())).expect("send")
        });
        assert!(rx
            .recv_timeout(Duration::from_secs(5))
            .expect("called")
            .is_err());
        assert!(abandoned.load(Ordering::SeqCst));

        let (slot, waiting, abandoned) = pending(&timer);
        let late = Cancel::new();
        let (tx, rx) = mpsc::channel();
        waiting.on_complete_cancellable(Duration::MAX, &late, move |r| {
            tx.send(r.map_err(|e| e.to_string())).expect("send")
        });
        slot.complete(Ok(6));
        late.cancel();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).expect("called"),
            Ok(6)
        );
        assert!(
            !abandoned.load(Ordering::SeqCst),
            "completed: nothing to abandon"
        );
    }

    #[test]
    fn drop_abandons() {
        let timer = Timer::new();
        let (_slot, pending, abandoned) = pending(&timer);
        drop(pending);
        assert!(abandoned.load(Ordering::SeqCst));
    }
}
