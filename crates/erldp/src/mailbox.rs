//! Mailboxes: the processes of our node that the host program holds.
//!
//! A mailbox has a pid, optionally a registered name, a queue of incoming
//! [`Message`]s, links and monitors — what jinterface calls `OtpMbox`. Exit
//! signals never kill a mailbox; they arrive as messages of kind
//! [`MessageKind::Exit`](crate::MessageKind::Exit), as for an Erlang
//! process that traps exits.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dest::Dest;
use crate::inbox::{Inbox, Waiting};
use crate::message::Message;
use crate::node::{Node, Process};
use crate::pending::Cancel;
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

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
            .close_process(&self.process, Term::Atom(crate::atom!("normal")));
    }
}

impl Node {
    /// A new mailbox, registered under `name` if given;
    /// [`Error::NameTaken`] when a mailbox of this node has that name.
    pub fn mailbox(&self, name: Option<&str>) -> Result<Mailbox> {
        let process = self.spawn_process(name)?;
        Ok(Mailbox {
            handle: Arc::new(MailboxHandle {
                node: self.clone(),
                process,
            }),
        })
    }
}

impl Mailbox {
    fn process(&self) -> &Arc<Process> {
        &self.handle.process
    }

    fn inbox(&self) -> &Arc<Inbox> {
        self.handle.process.inbox()
    }

    /// The mailbox's pid.
    pub fn pid(&self) -> Pid {
        self.handle.process.pid()
    }

    /// The registered name, if any.
    pub fn name(&self) -> Option<Atom> {
        self.handle.process.name()
    }

    /// The node this mailbox belongs to.
    pub fn node(&self) -> &Node {
        &self.handle.node
    }

    /// Registers `name` for this mailbox (it may have one name, like an
    /// Erlang process).
    pub fn register(&self, name: &str) -> Result<()> {
        self.node().register(self.process(), name)
    }

    /// `erlang:unregister/1` for this mailbox's name, if it has one: the
    /// name may be registered again at once, the mailbox lives on.
    pub fn unregister(&self) {
        self.node().unregister(self.process());
    }

    /// Sends `message` from this mailbox. Connects to the destination's node
    /// first if needed. Like Erlang's `!`, succeeding means the message was
    /// queued for the connection, not that the receiver exists.
    /// [`Error::Closed`] once this mailbox is closed.
    pub fn send(&self, dest: &Dest, message: Term) -> Result<()> {
        self.check_open()?;
        self.node().send_from(self.pid(), dest, message)
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
        self.node().send_encoded_from(self.pid(), dest, etf)
    }

    /// Takes the next message, waiting as long as it takes.
    /// [`Error::Closed`] once the mailbox is closed and empty.
    pub fn recv(&self) -> Result<Message> {
        match self.inbox().recv(None, None)? {
            Some(message) => Ok(message),
            None => Err(Error::Closed),
        }
    }

    /// Takes the next message, waiting up to `timeout`; `Ok(None)` on
    /// timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>> {
        self.inbox().recv(Instant::now().checked_add(timeout), None)
    }

    /// Like [`recv_timeout`](Self::recv_timeout), but also returns `Ok(None)`
    /// early when `cancel` fires (check [`Cancel::is_cancelled`] to tell).
    pub fn recv_cancellable(&self, timeout: Duration, cancel: &Cancel) -> Result<Option<Message>> {
        self.inbox()
            .recv(Instant::now().checked_add(timeout), Some(cancel))
    }

    /// Calls `callback` once with the next message, `Ok(None)` after
    /// `timeout`, or `Err(Closed)`, without blocking the caller. The callback
    /// runs on an internal thread and must not block for long; on the
    /// thread that read a message from a peer, a send it makes does not
    /// wait for room (see
    /// [`send_queue_limit`](crate::NodeBuilder::send_queue_limit)).
    pub fn recv_async(
        &self,
        timeout: Duration,
        callback: impl FnOnce(Result<Option<Message>>) + Send + 'static,
    ) {
        let waiting = Waiting::Receive(Box::new(callback));
        self.inbox()
            .wait_async(waiting, timeout, self.node().timer(), None);
    }

    /// [`recv_async`](Self::recv_async) that `cancel` stops where it runs:
    /// the callback is taken off the mailbox and called with `Ok(None)`, as
    /// on timeout. A message that came first has been given to the
    /// callback; none is lost either way.
    pub fn recv_async_cancellable(
        &self,
        timeout: Duration,
        cancel: &Cancel,
        callback: impl FnOnce(Result<Option<Message>>) + Send + 'static,
    ) {
        let waiting = Waiting::Receive(Box::new(callback));
        self.inbox()
            .wait_async(waiting, timeout, self.node().timer(), Some(cancel));
    }

    /// Calls `callback` once a message is queued (`Ok(true)`, at once if
    /// one is), without taking it: the message stays for
    /// [`try_recv`](Self::try_recv) or any receive. `Ok(false)` after
    /// `timeout` or when `cancel` fires, `Err(Closed)` when the mailbox
    /// closes. For programs that wait in an event loop (a file descriptor
    /// the callback makes readable) and take the message on their own
    /// thread, so that a wait given up never holds a message. Runs on an
    /// internal thread, as [`recv_async`](Self::recv_async)'s callback does.
    pub fn when_ready(
        &self,
        timeout: Duration,
        cancel: &Cancel,
        callback: impl FnOnce(Result<bool>) + Send + 'static,
    ) {
        let waiting = Waiting::Watch(Box::new(callback));
        self.inbox()
            .wait_async(waiting, timeout, self.node().timer(), Some(cancel));
    }

    /// Takes the next message if one is queued.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        self.inbox().recv(Some(Instant::now()), None)
    }

    /// Number of queued messages (and signals), like Erlang's
    /// `process_info(Pid, message_queue_len)`.
    pub fn len(&self) -> usize {
        self.inbox().len()
    }

    /// Bounds the queue: while it holds `limit` entries, a further message
    /// is dropped, as one sent to a process that no longer exists is, and
    /// counted in [`dropped`](Self::dropped). Signals (exits, `DOWN`s,
    /// `node_down`s, [`MessageKind`](crate::MessageKind) other than
    /// `Message`) are always queued: they come from links and monitors the
    /// mailbox made; but an exit signal sent with `exit/2`, which no link
    /// asked for, counts as a message. `None` (the default, unless
    /// [`NodeBuilder::mailbox_queue_limit`](crate::NodeBuilder::mailbox_queue_limit)
    /// says otherwise) queues everything, as BEAM does. Lowering the limit
    /// drops nothing already queued.
    pub fn set_queue_limit(&self, limit: Option<usize>) {
        self.inbox().set_limit(limit);
    }

    /// The queue limit ([`set_queue_limit`](Self::set_queue_limit)).
    pub fn queue_limit(&self) -> Option<usize> {
        self.inbox().limit()
    }

    /// How many messages arrived while the queue was at its limit, and
    /// were dropped.
    pub fn dropped(&self) -> u64 {
        self.inbox().dropped()
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
        self.node().link(self.process(), pid)
    }

    /// Removes a link to `pid`.
    pub fn unlink(&self, pid: Pid) -> Result<()> {
        self.node().unlink(self.process(), pid)
    }

    /// Monitors a process given by pid or `{Name, Node}`; a `down` message
    /// with the returned reference arrives when it ends (at once, with
    /// reason `noproc`, if it does not exist).
    pub fn monitor(&self, target: &Dest) -> Result<Ref> {
        self.node().monitor(self.process(), target)
    }

    /// Removes a monitor; a `down` message for it will not arrive afterwards.
    pub fn demonitor(&self, reference: Ref) -> Result<()> {
        self.node().demonitor(self.process(), reference)
    }

    /// Monitors a node: a `node_down` message arrives when the connection to
    /// it goes down. Connects first if not connected.
    pub fn monitor_node(&self, node: &str) -> Result<()> {
        self.node().monitor_node(self.process(), node)
    }

    /// Stops monitoring a node (once per `monitor_node` call).
    pub fn demonitor_node(&self, node: &str) -> Result<()> {
        self.node().demonitor_node(self.process(), node);
        Ok(())
    }

    /// `pg:join(Scope, Group, self())`: the mailbox joins `group` of the pg
    /// `scope` ([`DEFAULT_SCOPE`](crate::DEFAULT_SCOPE), `pg`, is the one BEAM
    /// starts with `-kernel start_pg true`), once more each call. Every
    /// connected peer that runs the scope, hidden or visible, lists it in
    /// `pg:get_members(Scope, Group)`; the membership ends with
    /// [`leave`](Self::leave) or when the mailbox closes. Joining a scope
    /// that no peer runs is no error: the scope starts on our node at its
    /// first use and is discovered by every node that connects later.
    pub fn join(&self, scope: &str, group: Term) -> Result<()> {
        self.check_open()?;
        self.node().pg_join(self.pid(), scope, group)
    }

    /// `pg:leave(Scope, Group, self())`: leaves `group` once; false when the
    /// mailbox was not in it.
    pub fn leave(&self, scope: &str, group: &Term) -> Result<bool> {
        self.check_open()?;
        self.node().pg_leave(self.pid(), scope, group)
    }

    /// `net_kernel:monitor_nodes(true)` for every kind of peer: a message of
    /// kind [`NodeUp`](crate::MessageKind::NodeUp) (`{nodeup, Node}`) when a
    /// node connects and [`NodeDown`](crate::MessageKind::NodeDown)
    /// (`{nodedown, Node}`) when its connection goes, for hidden and visible
    /// peers alike (a node of ours is hidden by default, and all of its
    /// connections with it). Called twice, each message comes twice.
    pub fn monitor_nodes(&self) -> Result<()> {
        self.check_open()?;
        self.node().monitor_nodes(self.pid());
        Ok(())
    }

    /// Undoes one [`monitor_nodes`](Self::monitor_nodes).
    pub fn demonitor_nodes(&self) -> Result<()> {
        self.node().demonitor_nodes(self.pid());
        Ok(())
    }

    /// Closes the mailbox: linked processes get an exit signal and
    /// monitoring processes a `DOWN` with `reason`; blocked receivers wake
    /// up with [`Error::Closed`].
    pub fn close(&self, reason: Term) {
        self.node().close_process(self.process(), reason);
    }

    /// Whether the mailbox is closed.
    pub fn is_closed(&self) -> bool {
        self.process().is_closed()
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
