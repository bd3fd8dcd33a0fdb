//! Mailboxes: the processes of our node.
//!
//! A mailbox has a pid, optionally a registered name, a queue of incoming
//! messages, links and monitors — what jinterface calls `OtpMbox`. Exit
//! signals never kill a mailbox; they arrive as messages of kind
//! [`MessageKind::Exit`], as for an Erlang process that traps exits.
//! Link bookkeeping follows the [link
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#link_protocol)
//! with unlink ids.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::dist::ProcRef;
use crate::node::{Node, NodeInner};
use crate::pending::{Cancel, Timer};
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

/// What a [`Message`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An ordinary message sent to the mailbox.
    Message,
    /// An exit signal: a linked process ended, or someone called `exit/2`.
    Exit,
    /// A monitored process ended (or could not be monitored).
    Down,
    /// The connection to a monitored node went down.
    NodeDown,
}

impl MessageKind {
    /// `message`, `exit`, `down` or `node_down`, as the bindings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Message => "message",
            MessageKind::Exit => "exit",
            MessageKind::Down => "down",
            MessageKind::NodeDown => "node_down",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a mailbox receives.
///
/// `term` is always what an Erlang process trapping exits would find in its
/// mailbox: the message itself, `{'EXIT', From, Reason}`,
/// `{'DOWN', Ref, process, Pid | {Name, Node}, Reason}` or
/// `{nodedown, Node}`. The other fields pick the parts out.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Message or signal.
    pub kind: MessageKind,
    /// The term as an Erlang process would receive it.
    pub term: Term,
    /// The sender, when known (always for signals from a process).
    pub from: Option<Pid>,
    /// The exit reason of an exit or down signal; `noconnection` when the
    /// connection was lost.
    pub reason: Option<Term>,
    /// The monitor reference of a down signal.
    pub reference: Option<Ref>,
    /// The node of a node_down signal.
    pub node: Option<Atom>,
}

impl Message {
    pub(crate) fn plain(from: Option<Pid>, term: Term) -> Message {
        Message {
            kind: MessageKind::Message,
            term,
            from,
            reason: None,
            reference: None,
            node: None,
        }
    }

    pub(crate) fn exit(from: Pid, reason: Term) -> Message {
        Message {
            kind: MessageKind::Exit,
            term: Term::Tuple(vec![
                Term::Atom(crate::atom!("EXIT")),
                Term::Pid(from),
                reason.clone(),
            ]),
            from: Some(from),
            reason: Some(reason),
            reference: None,
            node: None,
        }
    }

    pub(crate) fn down(reference: Ref, target: &Monitored, reason: Term) -> Message {
        let (who, from) = match target.process {
            ProcRef::Pid(pid) => (Term::Pid(pid), Some(pid)),
            ProcRef::Name(name) => (
                Term::Tuple(vec![Term::Atom(name), Term::Atom(target.node)]),
                None,
            ),
        };
        Message {
            kind: MessageKind::Down,
            term: Term::Tuple(vec![
                Term::Atom(crate::atom!("DOWN")),
                Term::Ref(reference),
                Term::Atom(crate::atom!("process")),
                who,
                reason.clone(),
            ]),
            from,
            reason: Some(reason),
            reference: Some(reference),
            node: None,
        }
    }

    pub(crate) fn node_down(node: Atom) -> Message {
        Message {
            kind: MessageKind::NodeDown,
            term: Term::Tuple(vec![Term::Atom(crate::atom!("nodedown")), Term::Atom(node)]),
            from: None,
            reason: Some(Term::Atom(crate::atom!("noconnection"))),
            reference: None,
            node: Some(node),
        }
    }
}

type Receiver = Box<dyn FnOnce(Result<Option<Message>>) + Send>;

/// The message queue of one process.
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    arrived: Condvar,
}

struct QueueState {
    messages: VecDeque<Message>,
    closed: bool,
    receivers: VecDeque<(u64, Receiver)>,
    next_receiver: u64,
}

impl Queue {
    fn new() -> Arc<Queue> {
        Arc::new(Queue {
            state: Mutex::new(QueueState {
                messages: VecDeque::new(),
                closed: false,
                receivers: VecDeque::new(),
                next_receiver: 0,
            }),
            arrived: Condvar::new(),
        })
    }

    /// Delivers a message; dropped silently if the mailbox is closed, as a
    /// message to a dead Erlang process is.
    pub(crate) fn push(self: &Arc<Self>, message: Message) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        if let Some((_, receiver)) = state.receivers.pop_front() {
            drop(state);
            receiver(Ok(Some(message)));
            return;
        }
        state.messages.push_back(message);
        drop(state);
        if !wakeups::defer(self) {
            self.arrived.notify_one();
        }
    }

    fn wake(&self) {
        self.arrived.notify_one();
    }

    fn close(&self) {
        let receivers: Vec<Receiver> = {
            let mut state = self.state.lock();
            state.closed = true;
            state
                .receivers
                .drain(..)
                .map(|(_, receiver)| receiver)
                .collect()
        };
        self.arrived.notify_all();
        for receiver in receivers {
            receiver(Err(Error::Closed));
        }
    }

    fn recv(
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

    fn recv_async(self: &Arc<Self>, timeout: Duration, timer: &Arc<Timer>, receiver: Receiver) {
        let mut state = self.state.lock();
        if let Some(message) = state.messages.pop_front() {
            drop(state);
            receiver(Ok(Some(message)));
            return;
        }
        if state.closed {
            drop(state);
            receiver(Err(Error::Closed));
            return;
        }
        state.next_receiver += 1;
        let id = state.next_receiver;
        state.receivers.push_back((id, receiver));
        drop(state);
        if let Some(deadline) = Instant::now().checked_add(timeout) {
            let queue = Arc::downgrade(self);
            timer.schedule(deadline, move || {
                let Some(queue) = queue.upgrade() else { return };
                let mut state = queue.state.lock();
                let position = state
                    .receivers
                    .iter()
                    .position(|(waiting, _)| *waiting == id);
                if let Some(position) = position {
                    let (_, receiver) =
                        state.receivers.remove(position).expect("position is valid");
                    drop(state);
                    receiver(Ok(None));
                }
            });
        }
    }

    fn len(&self) -> usize {
        self.state.lock().messages.len()
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

    use super::Queue;

    thread_local! {
        static DEFERRED: RefCell<Option<Vec<Arc<Queue>>>> = const { RefCell::new(None) };
    }

    /// Turns deferral on for the calling thread, for the rest of its life.
    pub(crate) fn enable() {
        DEFERRED.with(|deferred| *deferred.borrow_mut() = Some(Vec::new()));
    }

    /// Notes `queue` for the next flush; false when deferral is off.
    pub(super) fn defer(queue: &Arc<Queue>) -> bool {
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
}

/// The state of one link, from this side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Active,
    /// We sent `UNLINK_ID` with this id and wait for its acknowledgement.
    Unlinking(u64),
}

/// A monitor this process holds on another.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Monitored {
    pub process: ProcRef,
    pub node: Atom,
}

/// A monitor another process holds on this one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watcher {
    pub pid: Pid,
    /// How it named us: by pid or by registered name (echoed in the DOWN).
    pub how: ProcRef,
}

#[derive(Default)]
pub(crate) struct Relations {
    pub links: HashMap<Pid, Link>,
    pub monitors: HashMap<Ref, Monitored>,
    pub watchers: HashMap<Ref, Watcher>,
    pub node_monitors: HashMap<Atom, usize>,
    pub next_unlink_id: u64,
    pub closed: bool,
}

/// A process of our node, as the node's tables hold it.
pub(crate) struct Process {
    pub pid: Pid,
    pub name: Mutex<Option<Atom>>,
    pub queue: Arc<Queue>,
    pub relations: Mutex<Relations>,
}

impl Process {
    pub(crate) fn new(pid: Pid) -> Arc<Process> {
        Arc::new(Process {
            pid,
            name: Mutex::new(None),
            queue: Queue::new(),
            relations: Mutex::new(Relations::default()),
        })
    }

    pub(crate) fn close_queue(&self) {
        self.queue.close();
    }
}

/// Where to send: a pid, a registered name on a node, or a process alias.
///
/// ```
/// use erldp::{Dest, Term};
///
/// let dest = Dest::name("inbox", "peer@host");
/// assert_eq!(dest.node().as_str(), "peer@host");
/// assert_eq!(dest.to_string(), "{inbox,peer@host}");
///
/// // Bindings pass destinations as terms: {Name, Node}, [Name, Node], a pid or a reference.
/// assert_eq!(Dest::from_term(&"[inbox, 'peer@host']".parse::<Term>()?)?, dest);
/// assert!(Dest::from_term(&Term::from(42)).is_err());
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// A process identifier.
    Pid(Pid),
    /// A registered name on a node (`{Name, Node} ! Msg`).
    Name {
        /// The registered name.
        name: Atom,
        /// The node it is registered on.
        node: Atom,
    },
    /// A process alias (a reference made an alias by its owner).
    Alias(Ref),
}

impl Dest {
    /// The registered `name` on `node`.
    pub fn name(name: impl AsRef<str>, node: impl AsRef<str>) -> Dest {
        Dest::Name {
            name: Atom::new(name.as_ref()),
            node: Atom::new(node.as_ref()),
        }
    }

    /// The node this destination lives on.
    pub fn node(&self) -> Atom {
        match self {
            Dest::Pid(pid) => pid.node,
            Dest::Name { node, .. } => *node,
            Dest::Alias(alias) => alias.node,
        }
    }

    /// Reads a destination from a term: a pid, a reference (alias), or a
    /// `{Name, Node}` tuple / `[Name, Node]` list of atoms.
    pub fn from_term(term: &Term) -> Result<Dest> {
        match term {
            Term::Pid(pid) => Ok(Dest::Pid(*pid)),
            Term::Ref(alias) => Ok(Dest::Alias(*alias)),
            Term::Tuple(pair) | Term::List(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                (Term::Atom(name), Term::Atom(node)) => Ok(Dest::Name {
                    name: *name,
                    node: *node,
                }),
                _ => Err(Error::invalid(format!(
                    "destination {term} must be [Name, Node] with two atoms"
                ))),
            },
            _ => Err(Error::invalid(format!(
                "destination {term} is not a pid, an alias or a [Name, Node] pair"
            ))),
        }
    }

    /// The destination as a term: the pid, the reference, or `{Name, Node}`.
    pub fn to_term(&self) -> Term {
        match self {
            Dest::Pid(pid) => Term::Pid(*pid),
            Dest::Alias(alias) => Term::Ref(*alias),
            Dest::Name { name, node } => Term::Tuple(vec![Term::Atom(*name), Term::Atom(*node)]),
        }
    }
}

impl From<Pid> for Dest {
    fn from(pid: Pid) -> Dest {
        Dest::Pid(pid)
    }
}

impl From<Ref> for Dest {
    fn from(alias: Ref) -> Dest {
        Dest::Alias(alias)
    }
}

impl From<(&str, &str)> for Dest {
    fn from((name, node): (&str, &str)) -> Dest {
        Dest::name(name, node)
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_term())
    }
}

/// A process of our node that Erlang code can send to, link to and
/// monitor. Cheap to clone; the mailbox closes (with reason `normal`) when
/// the last clone is dropped, or explicitly with [`Mailbox::close`].
#[derive(Clone)]
pub struct Mailbox {
    handle: Arc<MailboxHandle>,
}

struct MailboxHandle {
    node: Node,
    process: Arc<Process>,
}

impl Drop for MailboxHandle {
    fn drop(&mut self) {
        self.node
            .inner()
            .close_process(&self.process, Term::Atom(crate::atom!("normal")));
    }
}

impl Mailbox {
    pub(crate) fn new(node: Node, process: Arc<Process>) -> Mailbox {
        Mailbox {
            handle: Arc::new(MailboxHandle { node, process }),
        }
    }

    fn inner(&self) -> &Arc<NodeInner> {
        self.handle.node.inner()
    }

    fn process(&self) -> &Arc<Process> {
        &self.handle.process
    }

    /// The mailbox's pid.
    pub fn pid(&self) -> Pid {
        self.handle.process.pid
    }

    /// The registered name, if any.
    pub fn name(&self) -> Option<Atom> {
        *self.handle.process.name.lock()
    }

    /// The node this mailbox belongs to.
    pub fn node(&self) -> &Node {
        &self.handle.node
    }

    /// Registers `name` for this mailbox (it may have one name, like an
    /// Erlang process).
    pub fn register(&self, name: &str) -> Result<()> {
        self.inner().register(self.process(), name)
    }

    /// Sends `message` from this mailbox. Connects to the destination's node
    /// first if needed. Like Erlang's `!`, succeeding means the message was
    /// queued for the connection, not that the receiver exists.
    /// [`Error::Closed`] once this mailbox is closed.
    pub fn send(&self, dest: &Dest, message: Term) -> Result<()> {
        self.check_open()?;
        self.inner().send_from(self.pid(), dest, message)
    }

    /// A closed mailbox is a dead process: it sends nothing, as a pid that
    /// no longer exists could not.
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Sends a message given as External Term Format bytes; see
    /// [`Node::send_encoded`].
    pub fn send_encoded(&self, dest: &Dest, etf: &[u8]) -> Result<()> {
        self.check_open()?;
        self.inner().send_encoded_from(self.pid(), dest, etf)
    }

    /// Takes the next message, waiting as long as it takes.
    /// [`Error::Closed`] once the mailbox is closed and empty.
    pub fn recv(&self) -> Result<Message> {
        match self.process().queue.recv(None, None)? {
            Some(message) => Ok(message),
            None => Err(Error::Closed),
        }
    }

    /// Takes the next message, waiting up to `timeout`; `Ok(None)` on
    /// timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>> {
        self.process()
            .queue
            .recv(Instant::now().checked_add(timeout), None)
    }

    /// Like [`recv_timeout`](Self::recv_timeout), but also returns `Ok(None)`
    /// early when `cancel` fires (check [`Cancel::is_cancelled`] to tell).
    pub fn recv_cancellable(&self, timeout: Duration, cancel: &Cancel) -> Result<Option<Message>> {
        self.process()
            .queue
            .recv(Instant::now().checked_add(timeout), Some(cancel))
    }

    /// Calls `callback` once with the next message, `Ok(None)` after
    /// `timeout`, or `Err(Closed)`, without blocking the caller. The callback
    /// runs on an internal thread and must not block for long.
    pub fn recv_async(
        &self,
        timeout: Duration,
        callback: impl FnOnce(Result<Option<Message>>) + Send + 'static,
    ) {
        self.process()
            .queue
            .recv_async(timeout, &self.inner().timer, Box::new(callback));
    }

    /// Takes the next message if one is queued.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        self.process().queue.recv(Some(Instant::now()), None)
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.process().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An iterator over incoming messages that blocks for each and ends
    /// when the mailbox is closed.
    pub fn messages(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// Links to `pid`: when either side ends, the other gets an exit signal.
    pub fn link(&self, pid: Pid) -> Result<()> {
        self.inner().link(self.process(), pid)
    }

    /// Removes a link to `pid`.
    pub fn unlink(&self, pid: Pid) -> Result<()> {
        self.inner().unlink(self.process(), pid)
    }

    /// Monitors a process given by pid or `{Name, Node}`; a `down` message
    /// with the returned reference arrives when it ends (at once, with
    /// reason `noproc`, if it does not exist).
    pub fn monitor(&self, target: &Dest) -> Result<Ref> {
        self.inner().monitor(self.process(), target)
    }

    /// Removes a monitor; a `down` message for it will not arrive afterwards.
    pub fn demonitor(&self, reference: Ref) -> Result<()> {
        self.inner().demonitor(self.process(), reference)
    }

    /// Monitors a node: a `node_down` message arrives when the connection to
    /// it goes down. Connects first if not connected.
    pub fn monitor_node(&self, node: &str) -> Result<()> {
        self.inner().monitor_node(self.process(), node)
    }

    /// Stops monitoring a node (once per `monitor_node` call).
    pub fn demonitor_node(&self, node: &str) -> Result<()> {
        self.inner().demonitor_node(self.process(), node)
    }

    /// Closes the mailbox: linked processes get an exit signal and
    /// monitoring processes a `DOWN` with `reason`; blocked receivers wake
    /// up with [`Error::Closed`].
    pub fn close(&self, reason: Term) {
        self.inner().close_process(self.process(), reason);
    }

    /// Whether the mailbox is closed.
    pub fn is_closed(&self) -> bool {
        self.process().relations.lock().closed
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("pid", &self.pid())
            .field("name", &self.name())
            .finish()
    }
}
