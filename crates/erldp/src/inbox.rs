//! The message queue of a process of ours, and the batched wake-ups of
//! the threads that wait on it.
//!
//! Receivers block on it (with a timeout, or cancellably) or leave a
//! callback that takes the next message, or one that learns that a message
//! is there; readers of connections push into it. It may have a limit,
//! past which messages are dropped (see
//! [`Mailbox::set_queue_limit`](crate::Mailbox::set_queue_limit)). The
//! processes the node runs itself (a served name, an rpc worker, global's
//! and pg's) have a forwarding queue instead: every message goes straight
//! to the code that runs them, with the node whose connection carried it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use crate::message::{Message, MessageKind};
use crate::pending::{Cancel, Timer};
use crate::term::Atom;
use crate::{Error, Result};

type Receiver = Box<dyn FnOnce(Result<Option<Message>>) + Send>;
type Watcher = Box<dyn FnOnce(Result<bool>) + Send>;

/// A callback waiting on the queue (see [`Inbox::wait_async`]).
pub(crate) enum Waiting {
    /// Takes the next message.
    Receive(Receiver),
    /// Learns that a message is queued, which stays queued for whoever
    /// takes it: for waiting through something other than a thread (a file
    /// descriptor an event loop watches), then taking the message where the
    /// waiting ended. A message that a receive callback takes is not
    /// queued, and no watcher hears of it; one that is queued, every
    /// watcher hears of (and a blocked receive may take it first): the
    /// first to take it has it.
    Watch(Watcher),
}

impl Waiting {
    /// The wait ended without a message: its timeout passed or it was
    /// cancelled.
    fn give_up(self) {
        match self {
            Waiting::Receive(receiver) => receiver(Ok(None)),
            Waiting::Watch(watcher) => watcher(Ok(false)),
        }
    }

    fn closed(self) {
        match self {
            Waiting::Receive(receiver) => receiver(Err(Error::Closed)),
            Waiting::Watch(watcher) => watcher(Err(Error::Closed)),
        }
    }
}

/// The callbacks waiting on an empty queue, each under its id. Receivers
/// and watchers wait apart: a message a receiver takes is never queued, so
/// a watcher told of it would find nothing, whatever their order.
#[derive(Default)]
struct Waiters {
    receivers: VecDeque<(u64, Receiver)>,
    watchers: Vec<(u64, Watcher)>,
    next_id: u64,
    /// The timer entry of each wait with a timeout, dropped when the wait
    /// ends otherwise: a loop receiving with a timeout would leave one on
    /// the node's timer per message, for as long as the timeout.
    timeouts: HashMap<u64, (Arc<Timer>, u64)>,
}

impl Waiters {
    fn add(&mut self, waiting: Waiting) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        match waiting {
            Waiting::Receive(receiver) => self.receivers.push_back((id, receiver)),
            Waiting::Watch(watcher) => self.watchers.push((id, watcher)),
        }
        id
    }

    /// Whether callback `id` still waits.
    fn waits(&self, id: u64) -> bool {
        self.receivers.iter().any(|(r, _)| *r == id) || self.watchers.iter().any(|(w, _)| *w == id)
    }

    /// Takes callback `id` off, if it still waits.
    fn remove(&mut self, id: u64) -> Option<Waiting> {
        if let Some(at) = self.receivers.iter().position(|(r, _)| *r == id) {
            return self.receivers.remove(at).map(|(_, r)| Waiting::Receive(r));
        }
        let at = self.watchers.iter().position(|(w, _)| *w == id)?;
        Some(Waiting::Watch(self.watchers.remove(at).1))
    }

    fn drain(&mut self) -> Vec<Waiting> {
        let receivers = self.receivers.drain(..).map(|(_, r)| Waiting::Receive(r));
        let watchers = self.watchers.drain(..).map(|(_, w)| Waiting::Watch(w));
        receivers.chain(watchers).collect()
    }

    /// The timer entries of the waits `ids`, which have ended: for
    /// [`cancel_timeouts`], once the queue's lock is released.
    fn ended(&mut self, ids: impl IntoIterator<Item = u64>) -> Vec<(Arc<Timer>, u64)> {
        if self.timeouts.is_empty() {
            return Vec::new();
        }
        ids.into_iter()
            .filter_map(|id| self.timeouts.remove(&id))
            .collect()
    }
}

fn cancel_timeouts(timeouts: Vec<(Arc<Timer>, u64)>) {
    for (timer, entry) in timeouts {
        timer.cancel(entry);
    }
}

/// Where a forwarding queue hands each message: with the node whose
/// connection carried it (`None` for signals the node itself delivers).
/// Called on the pushing thread; it must not block.
pub(crate) type Forward = Box<dyn Fn(Message, Option<Atom>) + Send + Sync>;

/// The message queue of one process.
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    arrived: Condvar,
    /// Where messages go instead of the queue.
    forward: Option<Forward>,
}

struct InboxState {
    messages: VecDeque<Message>,
    /// Messages (not signals) beyond this many queued are dropped.
    limit: Option<usize>,
    /// How many were.
    dropped: u64,
    closed: bool,
    waiters: Waiters,
}

impl Inbox {
    pub(crate) fn new() -> Arc<Inbox> {
        Inbox::with(None)
    }

    /// A queue that keeps nothing: what is pushed goes to `forward` until
    /// it is closed.
    pub(crate) fn forwarding(forward: Forward) -> Arc<Inbox> {
        Inbox::with(Some(forward))
    }

    fn with(forward: Option<Forward>) -> Arc<Inbox> {
        Arc::new(Inbox {
            state: Mutex::new(InboxState {
                messages: VecDeque::new(),
                limit: None,
                dropped: 0,
                closed: false,
                waiters: Waiters::default(),
            }),
            arrived: Condvar::new(),
            forward,
        })
    }

    /// Delivers a message; dropped silently if the mailbox is closed, as a
    /// message to a dead Erlang process is, and counted as dropped when the
    /// queue is at its limit. Signals always go in: the process asked for
    /// them by linking and monitoring, and a lost `DOWN` would leave it
    /// waiting for good.
    pub(crate) fn push(self: &Arc<Self>, message: Message) {
        self.push_from(message, None);
    }

    /// [`push`](Self::push) of a message that the connection to `via`
    /// carried (or our own node sent), which a forwarding queue passes on.
    pub(crate) fn push_via(self: &Arc<Self>, message: Message, via: Atom) {
        self.push_from(message, Some(via));
    }

    /// [`push_via`](Self::push_via) of an exit signal sent with `exit/2`,
    /// which the process did not ask for as it asked for those of its links
    /// and monitors (and whose number nothing else bounds): it counts
    /// against the queue limit as a message does.
    pub(crate) fn push_unasked(self: &Arc<Self>, message: Message, via: Atom) {
        self.push_bounded(message, Some(via), true);
    }

    fn push_from(self: &Arc<Self>, message: Message, via: Option<Atom>) {
        let bounded = message.kind == MessageKind::Message;
        self.push_bounded(message, via, bounded);
    }

    fn push_bounded(self: &Arc<Self>, message: Message, via: Option<Atom>, bounded: bool) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        if let Some(forward) = &self.forward {
            drop(state);
            forward(message, via);
            return;
        }
        if bounded
            && state
                .limit
                .is_some_and(|limit| state.messages.len() >= limit)
        {
            state.dropped += 1;
            return;
        }
        if let Some((id, receiver)) = state.waiters.receivers.pop_front() {
            let timeouts = state.waiters.ended([id]);
            drop(state);
            cancel_timeouts(timeouts);
            receiver(Ok(Some(message)));
            return;
        }
        state.messages.push_back(message);
        let watchers = std::mem::take(&mut state.waiters.watchers);
        let timeouts = state.waiters.ended(watchers.iter().map(|(id, _)| *id));
        drop(state);
        cancel_timeouts(timeouts);
        for (_, watcher) in watchers {
            watcher(Ok(true));
        }
        if !wakeups::defer(self) {
            self.arrived.notify_one();
        }
    }

    fn wake(&self) {
        self.arrived.notify_one();
    }

    pub(crate) fn close(&self) {
        let (waiting, timeouts) = {
            let mut state = self.state.lock();
            state.closed = true;
            let timeouts = std::mem::take(&mut state.waiters.timeouts);
            (state.waiters.drain(), timeouts.into_values().collect())
        };
        cancel_timeouts(timeouts);
        self.arrived.notify_all();
        for waiting in waiting {
            waiting.closed();
        }
    }

    pub(crate) fn recv(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> Result<Option<Message>> {
        let _armed = cancel.map(|token| {
            let queue = Arc::downgrade(self);
            token.arm(Arc::new(move || {
                if let Some(queue) = queue.upgrade() {
                    let _state = queue.state.lock();
                    queue.arrived.notify_all();
                }
            }))
        });
        let mut state = self.state.lock();
        loop {
            if let Some(message) = state.messages.pop_front() {
                return Ok(Some(message));
            }
            if state.closed {
                return Err(Error::Closed);
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                return Ok(None);
            }
            match deadline {
                Some(deadline) => {
                    if self.arrived.wait_until(&mut state, deadline).timed_out()
                        && state.messages.is_empty()
                    {
                        return if state.closed {
                            Err(Error::Closed)
                        } else {
                            Ok(None)
                        };
                    }
                }
                None => self.arrived.wait(&mut state),
            }
        }
    }

    /// Gives `waiting` what it waits for once a message is queued (at once
    /// if one is): a receiver takes it, a watcher gets `Ok(true)` and leaves
    /// it queued. After `timeout` or when `cancel` fires, a receiver gets
    /// `Ok(None)` and a watcher `Ok(false)`; when the queue is closed, both
    /// get `Err(Closed)`.
    pub(crate) fn wait_async(
        self: &Arc<Self>,
        waiting: Waiting,
        timeout: Duration,
        timer: &Arc<Timer>,
        cancel: Option<&Cancel>,
    ) {
        let mut state = self.state.lock();
        if !state.messages.is_empty() {
            match waiting {
                Waiting::Receive(receiver) => {
                    let message = state.messages.pop_front();
                    drop(state);
                    receiver(Ok(message));
                }
                Waiting::Watch(watcher) => {
                    drop(state);
                    watcher(Ok(true));
                }
            }
            return;
        }
        if state.closed {
            drop(state);
            waiting.closed();
            return;
        }
        let id = state.waiters.add(waiting);
        drop(state);
        // The timer and the token hold the queue weakly: a dropped
        // mailbox is not kept alive by a wait nobody can end any more.
        let queue = Arc::downgrade(self);
        let give_up = move || {
            if let Some(queue) = queue.upgrade() {
                queue.give_up(id);
            }
        };
        if let Some(deadline) = Instant::now().checked_add(timeout) {
            let entry = timer.schedule(deadline, give_up.clone());
            let mut state = self.state.lock();
            if state.waiters.waits(id) {
                state
                    .waiters
                    .timeouts
                    .insert(id, (Arc::clone(timer), entry));
            } else {
                // Ended already, before its timeout was known.
                drop(state);
                timer.cancel(entry);
            }
        }
        if let Some(cancel) = cancel {
            cancel.arm_async(Arc::new(give_up));
        }
    }

    /// Ends the wait of callback `id`, if it still waits.
    fn give_up(&self, id: u64) {
        let (waiting, timeouts) = {
            let mut state = self.state.lock();
            let waiting = state.waiters.remove(id);
            (waiting, state.waiters.ended([id]))
        };
        cancel_timeouts(timeouts);
        if let Some(waiting) = waiting {
            waiting.give_up();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.state.lock().messages.len()
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.state.lock().limit = limit;
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        self.state.lock().limit
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.state.lock().dropped
    }
}

/// Batched wake-ups for reader threads.
///
/// A reader that dispatches a burst of frames would otherwise wake a
/// blocked receiver once per message, paying a futex call and a context
/// switch each time. While deferral is on for the current thread, pushes
/// only note the queue; [`flush`](wakeups::flush) wakes each noted queue
/// once — before the reader blocks on the socket, and every few dozen
/// frames to bound the delay.
pub(crate) mod wakeups {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::Inbox;

    thread_local! {
        static DEFERRED: RefCell<Option<Vec<Arc<Inbox>>>> = const { RefCell::new(None) };
    }

    /// Turns deferral on for the calling thread, for the rest of its life.
    pub(crate) fn enable() {
        DEFERRED.with(|deferred| *deferred.borrow_mut() = Some(Vec::new()));
    }

    /// Notes `queue` for the next flush; false when deferral is off.
    pub(super) fn defer(queue: &Arc<Inbox>) -> bool {
        DEFERRED.with(|deferred| match deferred.borrow_mut().as_mut() {
            Some(noted) => {
                if !noted.iter().any(|q| Arc::ptr_eq(q, queue)) {
                    noted.push(Arc::clone(queue));
                }
                true
            }
            None => false,
        })
    }

    /// Wakes the receivers of every queue noted since the last flush.
    pub(crate) fn flush() {
        let noted = DEFERRED.with(|deferred| deferred.borrow_mut().as_mut().map(std::mem::take));
        for queue in noted.into_iter().flatten() {
            queue.wake();
        }
    }

    /// Runs `f` with deferral off, after a flush: code that may wait for
    /// a thread it sent to (a handler run on the reader) must wake it.
    pub(crate) fn suspended<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Vec<Arc<Inbox>>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let noted = self.0.take();
                DEFERRED.with(|deferred| *deferred.borrow_mut() = noted);
            }
        }
        flush();
        let _restore = Restore(DEFERRED.with(|deferred| deferred.borrow_mut().take()));
        f()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::term::Term;

    fn message(n: i64) -> Message {
        Message::plain(None, Term::from(n))
    }

    /// A receiver that sends on `tx` the term it is given, or its error.
    fn receiver(tx: &mpsc::Sender<Result<Option<Term>, String>>) -> Waiting {
        let tx = tx.clone();
        Waiting::Receive(Box::new(move |r| {
            tx.send(r.map(|m| m.map(|m| m.term)).map_err(|e| e.to_string()))
                .expect("send")
        }))
    }

    /// A watcher that sends on `tx` what it learns, or its error.
    fn watcher(tx: &mpsc::Sender<Result<bool, String>>) -> Waiting {
        let tx = tx.clone();
        Waiting::Watch(Box::new(move |r| {
            tx.send(r.map_err(|e| e.to_string())).expect("send")
        }))
    }

    /// A receive loop with a timeout leaves nothing on the node's timer for
    /// the messages that ended its waits: before, each wait's entry stayed
    /// for its whole timeout.
    #[test]
    fn waits_that_messages_end_leave_nothing_on_the_timer() {
        let (inbox, timer) = (Inbox::new(), Timer::new());
        let (tx, rx) = mpsc::channel();
        let (watched, seen) = mpsc::channel();
        for n in 0..1000 {
            inbox.wait_async(receiver(&tx), Duration::from_secs(3600), &timer, None);
            inbox.push(message(n));
            assert_eq!(rx.recv().expect("received"), Ok(Some(Term::from(n))));
            inbox.wait_async(watcher(&watched), Duration::from_secs(3600), &timer, None);
            inbox.push(message(n));
            assert_eq!(seen.recv().expect("told"), Ok(true));
            inbox.recv(Some(Instant::now()), None).expect("taken");
        }
        let (actions, heap) = timer.held();
        assert_eq!(actions, 0, "timeouts of waits that ended");
        assert!(heap <= 64, "{heap} heap entries of dropped timeouts");
    }

    #[test]
    fn a_cancelled_receive_is_taken_off_the_queue() {
        let (inbox, timer) = (Inbox::new(), Timer::new());
        let (tx, rx) = mpsc::channel();
        let cancel = Cancel::new();
        inbox.wait_async(receiver(&tx), Duration::MAX, &timer, Some(&cancel));
        cancel.cancel();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).expect("called"),
            Ok(None)
        );
        inbox.push(message(1));
        assert_eq!(inbox.len(), 1, "the message stays for the next receive");
        inbox.wait_async(receiver(&tx), Duration::MAX, &timer, None);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).expect("called"),
            Ok(Some(Term::from(1)))
        );
    }

    #[test]
    fn watchers_learn_of_a_message_and_leave_it_queued() {
        let (inbox, timer) = (Inbox::new(), Timer::new());
        let (tx, rx) = mpsc::channel();
        for _ in 0..2 {
            inbox.wait_async(watcher(&tx), Duration::MAX, &timer, None);
        }
        assert!(rx.try_recv().is_err(), "nothing queued yet");
        inbox.push(message(2));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(Ok(true)));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(Ok(true)));
        assert_eq!(inbox.len(), 1);

        inbox.wait_async(watcher(&tx), Duration::MAX, &timer, None);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(Ok(true)),
            "at once"
        );

        let empty = Inbox::new();
        let cancel = Cancel::new();
        empty.wait_async(watcher(&tx), Duration::MAX, &timer, Some(&cancel));
        cancel.cancel();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(Ok(false)));
        empty.wait_async(watcher(&tx), Duration::MAX, &timer, None);
        empty.close();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(Err("closed".into()))
        );
    }

    /// Callbacks run on the pushing thread, before `push` returns: what a
    /// push did not call has not been called.
    #[test]
    fn a_watcher_is_not_told_of_a_message_a_receiver_takes() {
        let (inbox, timer) = (Inbox::new(), Timer::new());
        let (watched, watch) = mpsc::channel();
        let (received, receive) = mpsc::channel();
        inbox.wait_async(watcher(&watched), Duration::MAX, &timer, None);
        inbox.wait_async(receiver(&received), Duration::MAX, &timer, None);
        inbox.push(message(3));
        assert_eq!(receive.try_recv(), Ok(Ok(Some(Term::from(3)))));
        assert_eq!(inbox.len(), 0, "taken by the receiver");
        assert!(
            watch.try_recv().is_err(),
            "the watcher queued first was told of a message it cannot take"
        );
        inbox.push(message(4));
        assert_eq!(watch.try_recv(), Ok(Ok(true)));
        assert_eq!(inbox.len(), 1, "left for whoever takes it");
    }
}
