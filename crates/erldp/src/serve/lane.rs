//! One served name's or exposed module's requests: the order they start
//! in, how many run at once, what is done with each answer.
//!
//! A lane starts requests in arrival order, at most `concurrency` at a time,
//! and counts them done when their [`Responder`] is completed — by whatever
//! thread completes it: a pool thread for Rust and C handlers, a Ruby
//! thread, Node's event loop. Handing a request over is the lane's
//! `dispatch`, which must return quickly: it runs on the thread that
//! brought the request (a connection's reader, or the thread of ours that
//! sent it) or finished the one before.
//! Requests beyond `concurrency` wait, up to `max_queue`; one whose caller
//! gave up while it waited is skipped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::sync::Mutex;

use super::{Exception, Reply, Responder};
use crate::fast_map::FastMap;
use crate::term::Ref;

/// What became of a request.
pub(crate) enum Answer {
    /// The handler answered.
    Done(Result<Reply, Exception>),
    /// It never ran.
    Refused(Refusal),
}

/// Why a request never ran.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    /// The name or module stopped being served.
    Closed,
    /// `max_queue` requests were already waiting.
    Full { limit: usize },
    /// Its caller gave up while it waited.
    Cancelled,
}

/// Acts on a request's answer: replies, fires a monitor, ends a process.
pub(crate) type Finish = Box<dyn FnOnce(Answer) + Send>;

/// Hands a request and its responder to the handler.
pub(crate) type Dispatch<W> = Box<dyn Fn(W, Responder) + Send + Sync>;

/// Whether a request is still wanted.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    cancelled: AtomicBool,
    /// The caller's monitor reference, by which a demonitor cancels it.
    key: Option<Ref>,
}

impl Ticket {
    pub(crate) fn new(key: Option<Ref>) -> Arc<Ticket> {
        Arc::new(Ticket {
            cancelled: AtomicBool::new(false),
            key,
        })
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// A request on its way through a lane.
pub(crate) struct Job<W> {
    pub(crate) work: W,
    pub(crate) finish: Finish,
    pub(crate) ticket: Arc<Ticket>,
}

/// What a [`Responder`] tells its lane when it is completed.
pub(crate) trait Done: Send + Sync {
    fn done(&self, ticket: &Ticket);
}

pub(crate) struct Lane<W> {
    me: Weak<Lane<W>>,
    /// What the lane serves, for messages: `calculator`, `module rust_math`.
    what: String,
    concurrency: usize,
    max_queue: usize,
    state: Mutex<State<W>>,
    dispatch: Dispatch<W>,
}

struct State<W> {
    queue: VecDeque<Job<W>>,
    /// Tickets with a key, of requests waiting or running.
    keyed: FastMap<Ref, Arc<Ticket>>,
    running: usize,
    closed: bool,
    /// What runs once the lane is closed and nothing runs any more.
    when_idle: Vec<Box<dyn FnOnce() + Send>>,
}

impl<W: Send + 'static> Lane<W> {
    pub(crate) fn new(
        what: String,
        concurrency: usize,
        max_queue: usize,
        dispatch: Dispatch<W>,
    ) -> Arc<Lane<W>> {
        Arc::new_cyclic(|me| Lane {
            me: me.clone(),
            what,
            concurrency: concurrency.max(1),
            max_queue,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                keyed: FastMap::default(),
                running: 0,
                closed: false,
                when_idle: Vec::new(),
            }),
            dispatch,
        })
    }

    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// Starts `job` now if the lane has room, else queues it; a closed or
    /// full lane refuses it.
    pub(crate) fn submit(&self, job: Job<W>) {
        let mut state = self.state.lock();
        let refusal = if state.closed {
            Refusal::Closed
        } else if state.running < self.concurrency && state.queue.is_empty() {
            state.running += 1;
            if let Some(key) = job.ticket.key {
                state.keyed.insert(key, Arc::clone(&job.ticket));
            }
            drop(state);
            self.start(job, false);
            return;
        } else if state.queue.len() >= self.max_queue {
            Refusal::Full {
                limit: self.max_queue,
            }
        } else {
            if let Some(key) = job.ticket.key {
                state.keyed.insert(key, Arc::clone(&job.ticket));
            }
            state.queue.push_back(job);
            return;
        };
        drop(state);
        (job.finish)(Answer::Refused(refusal));
    }

    /// The caller whose monitor is `key` gave up: its request is skipped if
    /// it still waits, and reads as cancelled if it runs.
    pub(crate) fn cancel(&self, key: Ref) {
        if let Some(ticket) = self.state.lock().keyed.remove(&key) {
            ticket.cancel();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Refuses what waits and whatever comes later; running requests
    /// finish.
    pub(crate) fn close(&self) {
        self.close_then(Box::new(|| {}));
    }

    /// [`close`](Self::close), then `idle` once the running requests have
    /// finished (their answers given): at once when none runs. Each such
    /// closure runs once, in the order given.
    pub(crate) fn close_then(&self, idle: Box<dyn FnOnce() + Send>) {
        let (waiting, idle) = {
            let mut state = self.state.lock();
            state.closed = true;
            state.keyed.clear();
            let waiting = std::mem::take(&mut state.queue);
            if state.running == 0 {
                (waiting, Some(idle))
            } else {
                state.when_idle.push(idle);
                (waiting, None)
            }
        };
        for job in waiting {
            (job.finish)(Answer::Refused(Refusal::Closed));
        }
        if let Some(idle) = idle {
            idle();
        }
    }

    /// Dispatches `job`; `waited` when it was queued, so that the thread
    /// starting it is not the one that brought it (see [`handed_on`]).
    fn start(&self, job: Job<W>, waited: bool) {
        let Some(lane) = self.me.upgrade() else {
            return;
        };
        let Job {
            work,
            finish,
            ticket,
        } = job;
        let responder = Responder::new(finish, lane.clone(), ticket);
        trampoline(Box::new(move || {
            let before = HANDED_ON.with(|flag| flag.replace(waited));
            (lane.dispatch)(work, responder);
            HANDED_ON.with(|flag| flag.set(before));
        }));
    }
}

impl<W: Send + 'static> Done for Lane<W> {
    fn done(&self, ticket: &Ticket) {
        let mut skipped = Vec::new();
        let mut idle = Vec::new();
        let next = {
            let mut state = self.state.lock();
            if let Some(key) = ticket.key {
                state.keyed.remove(&key);
            }
            state.running = state.running.saturating_sub(1);
            if state.running == 0 {
                idle = std::mem::take(&mut state.when_idle);
            }
            loop {
                match state.queue.pop_front() {
                    Some(job) if job.ticket.is_cancelled() => skipped.push(job),
                    Some(job) => {
                        state.running += 1;
                        break Some(job);
                    }
                    None => break None,
                }
            }
        };
        for job in skipped {
            (job.finish)(Answer::Refused(Refusal::Cancelled));
        }
        if let Some(job) = next {
            self.start(job, true);
        }
        for idle in idle {
            idle();
        }
    }
}

/// A dispatch waiting for the one running on this thread to return.
type Deferred = Box<dyn FnOnce()>;

thread_local! {
    /// Dispatches asked for while this thread is already dispatching.
    static PENDING: RefCell<Option<VecDeque<Deferred>>> = const { RefCell::new(None) };
    /// Set while a dispatch runs for a request that was handed on (see
    /// [`handed_on`]).
    static HANDED_ON: Cell<bool> = const { Cell::new(false) };
}

/// Whether the request being dispatched on this thread was handed on to
/// it rather than brought by it: it waited in its lane's queue (the thread
/// is the one that finished the request before it). (A request that a
/// handler running [`inline`] sends is told apart by the reader flag, which
/// the handler runs without: `connection::as_handler`.)
pub(crate) fn handed_on() -> bool {
    HANDED_ON.with(Cell::get)
}

/// Runs `f`, a handler run inside a dispatch and its answer, as if no
/// dispatch were under way on this thread: what it starts (a request to
/// another name, or to its own with room) is dispatched at once rather
/// than after it returns, which it may be waiting for.
pub(crate) fn inline<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<VecDeque<Deferred>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let pending = self.0.take();
            PENDING.with(|slot| *slot.borrow_mut() = pending);
        }
    }
    let _restore = Restore(PENDING.with(|slot| slot.borrow_mut().take()));
    f()
}

/// Runs `dispatch`, unless this thread is inside a dispatch already: then
/// it runs when that one returns. A handler that answers within its
/// dispatch starts the next request from inside it; the trampoline keeps
/// a long queue of such requests from growing the stack.
///
/// A dispatch that panics fails its own request alone: its responder,
/// dropped as the panic unwinds, answers with the exception `erldp`, and
/// the trampoline goes on with the dispatches behind it (a panic escaping
/// here would have them dropped unanswered, or run during the unwind).
fn trampoline(dispatch: Deferred) {
    let first = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push_back(dispatch);
            None
        }
        None => Some(dispatch),
    });
    let Some(first) = first else { return };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let left = PENDING.with(|pending| pending.borrow_mut().take());
            debug_assert!(left.is_none_or(|left| left.is_empty()));
        }
    }
    PENDING.with(|pending| *pending.borrow_mut() = Some(VecDeque::new()));
    let _reset = Reset;
    let mut next = Some(first);
    while let Some(dispatch) = next {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(dispatch)) {
            let text = crate::error::panic_message(&*payload).unwrap_or("a panic");
            log::error!("a request's dispatch panicked: {text}");
        }
        next = PENDING.with(|pending| pending.borrow_mut().as_mut().and_then(VecDeque::pop_front));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, Term};
    use std::sync::mpsc;

    type Log = Arc<Mutex<Vec<String>>>;

    /// A lane whose dispatch keeps the responders, so the test answers.
    fn lane(
        concurrency: usize,
        max_queue: usize,
    ) -> (Arc<Lane<u32>>, mpsc::Receiver<(u32, Responder)>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let lane = Lane::new(
            "test".into(),
            concurrency,
            max_queue,
            Box::new(move |work, responder| tx.lock().send((work, responder)).expect("send")),
        );
        (lane, rx)
    }

    fn job(work: u32, key: Option<Ref>, log: &Log) -> Job<u32> {
        let log = Arc::clone(log);
        Job {
            work,
            ticket: Ticket::new(key),
            finish: Box::new(move |answer| {
                let what = match answer {
                    Answer::Done(Ok(Reply::Value(v))) => format!("{work}={v}"),
                    Answer::Done(Ok(Reply::NoReply)) => format!("{work} noreply"),
                    Answer::Done(Err(e)) => format!("{work} raised {}", e.class),
                    Answer::Refused(r) => format!("{work} refused {r:?}"),
                };
                log.lock().push(what);
            }),
        }
    }

    fn reference(n: u32) -> Ref {
        Ref::new(Atom::new("a@b"), 1, &[n, 0, 0]).expect("ref")
    }

    /// A dispatch that panics with requests waiting behind it fails its
    /// own request alone: the requests behind it are dispatched in turn.
    /// Before, the waiting responders were dropped while the trampoline's
    /// queue was still borrowed, and the dispatch their answer started
    /// panicked again during the unwind, which aborts the process.
    #[test]
    fn a_panicking_dispatch_fails_its_request_alone() {
        let me: Arc<std::sync::OnceLock<Weak<Lane<u32>>>> = Arc::default();
        let log: Log = Arc::default();
        let lane = {
            let (me, log) = (Arc::clone(&me), Arc::clone(&log));
            Lane::new(
                "panicky".into(),
                1,
                8,
                Box::new(move |work, responder: Responder| {
                    log.lock().push(format!("dispatch {work}"));
                    if work == 1 {
                        let lane = me.get().and_then(Weak::upgrade).expect("the lane");
                        lane.submit(job(2, None, &log));
                        lane.submit(job(3, None, &log));
                    }
                    if work < 3 {
                        panic!("the dispatch of {work} panics");
                    }
                    responder.reply(Term::from(work));
                }),
            )
        };
        me.set(Arc::downgrade(&lane)).expect("set once");
        lane.submit(job(1, None, &log));
        assert_eq!(
            *log.lock(),
            [
                "dispatch 1",
                "1 raised erldp",
                "dispatch 2",
                "2 raised erldp",
                "dispatch 3",
                "3=3"
            ]
        );
    }

    #[test]
    fn one_at_a_time_in_order_and_a_cancelled_request_is_skipped() {
        let (lane, started) = lane(1, 2);
        let log: Log = Arc::default();
        lane.submit(job(1, None, &log));
        lane.submit(job(2, Some(reference(2)), &log));
        lane.submit(job(3, None, &log));
        lane.submit(job(4, None, &log));
        assert_eq!(*log.lock(), ["4 refused Full { limit: 2 }"]);
        let (first, responder) = started.try_recv().expect("the first started");
        assert_eq!(first, 1);
        assert!(started.try_recv().is_err(), "only one at a time");
        lane.cancel(reference(2));
        responder.reply(Term::from(10));
        let (third, responder) = started.try_recv().expect("the third started");
        assert_eq!(third, 3);
        responder.no_reply();
        lane.close();
        lane.submit(job(5, None, &log));
        assert_eq!(
            *log.lock(),
            [
                "4 refused Full { limit: 2 }",
                "1=10",
                "2 refused Cancelled",
                "3 noreply",
                "5 refused Closed"
            ]
        );
    }

    #[test]
    fn a_closed_lane_is_idle_once_its_running_requests_have_answered() {
        let (busy, started) = lane(2, 4);
        let log: Log = Arc::default();
        let idle = |log: &Log| {
            let log = Arc::clone(log);
            Box::new(move || log.lock().push("idle".to_string())) as Box<dyn FnOnce() + Send>
        };
        for work in 1..=3 {
            busy.submit(job(work, None, &log));
        }
        let (_, first) = started.try_recv().expect("the first started");
        let (_, second) = started.try_recv().expect("the second started");
        busy.close_then(idle(&log));
        assert_eq!(*log.lock(), ["3 refused Closed"]);
        first.reply(Term::from(1));
        second.reply(Term::from(2));
        assert_eq!(*log.lock(), ["3 refused Closed", "1=1", "2=2", "idle"]);

        let (quiet, _) = lane(1, 1);
        let log: Log = Arc::default();
        quiet.close_then(idle(&log));
        assert_eq!(*log.lock(), ["idle"], "with nothing running, at once");
    }

    #[test]
    fn a_dropped_responder_counts_and_answers_inline_do_not_nest() {
        let log: Log = Arc::default();
        let lane = Lane::new(
            "inline".into(),
            1,
            100,
            Box::new(|work: u32, responder: Responder| {
                if work.is_multiple_of(2) {
                    responder.reply(Term::from(work));
                }
            }),
        );
        lane.submit(job(1, None, &log));
        for work in 2..=4 {
            lane.submit(job(work, None, &log));
        }
        let log = log.lock();
        assert_eq!(log[0], "1 raised erldp");
        assert_eq!(log[1..], ["2=2", "3 raised erldp", "4=4"]);
    }
}
