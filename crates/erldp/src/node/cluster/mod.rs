//! Cluster membership on our node: the processes of
//! [`global`](https://www.erlang.org/doc/apps/kernel/global.html) and of each
//! [`pg`](https://www.erlang.org/doc/apps/kernel/pg.html) scope, wired to the
//! state machines of [`crate::cluster`], and the API on top.
//!
//! The processes are ordinary processes of ours (pids that BEAM links to and
//! monitors, registered names), whose messages and signals all go to one
//! thread ([`driver`]) with the node whose connection carried each: the
//! state machines check every message against its sender. Connections
//! report their start and end to the same thread ([`super::events`]), in
//! order with their traffic.
//!
//! A visible node runs global as a BEAM node does: `global_name_server`, its
//! locker and its registrar. A hidden node takes no part in global, as a
//! hidden BEAM node takes none: it registers no names and asks a connected
//! peer where a name is. pg scopes run on hidden and visible nodes alike,
//! each started when a mailbox of ours first uses it.
//!
//! global has no timeouts: a call to a server that never answers waits as
//! long as it does on BEAM. A peer that stops answering altogether is
//! declared down after `net_ticktime`, which ends its calls.

mod driver;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::sync::{Mutex, RwLock};

use self::driver::Driver;
use super::signals::Process;
use super::{Node, NodeInner};
use crate::cluster::global::{self, Global, Proc};
use crate::dest::Dest;
use crate::inbox::Forward;
use crate::message::{Message, MessageKind};
use crate::protocol::requests;
use crate::term::{Atom, Pid, Term};
use crate::threads;
use crate::{random, Error, Result};

/// The pg scope that BEAM runs with `-kernel start_pg true`, and that
/// `pg:join/2` and `pg:get_members/1` use.
pub const DEFAULT_SCOPE: &str = "pg";

/// global's server, registered on every node that takes part in global.
fn server_name() -> Atom {
    crate::atom!("global_name_server")
}

/// How long a hidden node waits for a peer to say where a global name is;
/// global answers at once unless a registration holds its lock.
const WHEREIS_TIMEOUT: Duration = Duration::from_secs(15);

/// The default of [`ClusterLimits::max_queued_per_peer`]. What a BEAM node
/// sends at nodeup is one message per scope and a few for global (its
/// names and pg's groups travel in one message each); after that a busy pg
/// sends one message per join or leave, which the driver handles about as
/// fast as the reader decodes them. 65,536 messages behind is far more than
/// such a burst leaves, and the same bound a peer has on its links and
/// monitors (`max_monitors_per_peer`).
const DEFAULT_MAX_QUEUED_PER_PEER: usize = 1 << 16;

/// Bounds on what peers may make our node's global and pg keep. A BEAM node
/// trusts its peers with all of it; a peer of ours that goes past one of
/// these loses its connection (past the global names or locks, a call to
/// register or lock costs the node whose processes hold the most of them
/// its connection instead, when that is not the caller's). Set with
/// [`NodeBuilder::cluster_limits`](super::NodeBuilder::cluster_limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterLimits {
    /// Global names our node holds, and names one message may carry
    /// (default 1,048,576).
    pub max_global_names: usize,
    /// Locks held through global on our node, counted by holder: a resource
    /// and a process holding it (default 65,536).
    pub max_global_locks: usize,
    /// Nodes global knows, and nodes one message may name (default 4096).
    pub max_global_nodes: usize,
    /// Group memberships one peer's pg scope may hold on our node, a process
    /// counted once per group it joined (default 1,048,576).
    pub max_group_members_per_peer: usize,
    /// Messages one peer has sent to global's and pg's processes that our
    /// node has not handled yet (default 65,536). They are handled one at a
    /// time; a peer that sends them faster than that loses its connection
    /// when one more would go past this, and that message is dropped.
    pub max_queued_per_peer: usize,
}

impl Default for ClusterLimits {
    fn default() -> Self {
        let global = global::Limits::default();
        ClusterLimits {
            max_global_names: global.max_names,
            max_global_locks: global.max_locks,
            max_global_nodes: global.max_nodes,
            max_group_members_per_peer: crate::cluster::pg::DEFAULT_MAX_PEER_MEMBERS,
            max_queued_per_peer: DEFAULT_MAX_QUEUED_PER_PEER,
        }
    }
}

/// How the node runs global (see [`NodeBuilder`](super::NodeBuilder)).
#[derive(Clone, Copy, Debug)]
pub(super) struct ClusterOptions {
    pub(super) prevent_overlapping_partitions: bool,
    pub(super) limits: ClusterLimits,
}

/// The way to the driver thread.
#[derive(Default)]
pub(super) struct Cluster {
    events: Mutex<Option<Sender<Event>>>,
}

/// What the driver thread is told.
enum Event {
    /// A message or signal reached one of the cluster processes, over the
    /// connection of `via` (or from our own node).
    Received {
        to: Target,
        message: Message,
        via: Option<Atom>,
        /// Counts the message against its peer's backlog until the event
        /// is dropped, after it was handled; `None` for our own node's.
        queued: Option<Queued>,
    },
    /// A connection came up, before any of its traffic.
    Up {
        node: Atom,
        visible: bool,
    },
    /// A connection went down, after all of its traffic.
    Down {
        node: Atom,
    },
    /// How a connect global asked for ended.
    Connected {
        node: Atom,
        ok: bool,
    },
    /// The answer to global's `resolve_it` rpc.
    Resolved {
        id: u64,
        result: Term,
    },
    /// Work for the driver's state, from the API.
    Run(Box<dyn FnOnce(&mut Driver) + Send>),
    Stop,
}

/// Which cluster process a message is for.
#[derive(Clone, Copy, Debug)]
enum Target {
    Global(Proc),
    /// The process of the pg scope of this name.
    Scope(Atom),
}

/// The messages each peer has sent to the cluster processes that the
/// driver has not handled yet, bounded by
/// [`ClusterLimits::max_queued_per_peer`]. Counted on the reader's thread:
/// a peer's counter is found under a read lock that only a peer's first
/// message and its nodedown write.
struct Backlog {
    max: usize,
    /// Our own node, whose messages are not counted.
    us: Atom,
    node: Weak<NodeInner>,
    peers: RwLock<HashMap<Atom, Arc<AtomicUsize>>>,
}

/// One message counted in its peer's backlog, until it is dropped.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Backlog {
    /// Counts a message from `peer`; past the bound, `None`, and the peer's
    /// connection is aborted.
    fn admit(&self, peer: Atom) -> Option<Queued> {
        let count = self.counter(peer);
        if count.fetch_add(1, Ordering::AcqRel) < self.max {
            return Some(Queued(count));
        }
        count.fetch_sub(1, Ordering::AcqRel);
        if let Some(conn) = self.node.upgrade().and_then(|n| n.live_connection(peer)) {
            conn.abort(&format!(
                "the peer sent more than {} messages to global and pg that were \
                 not handled yet (max_queued_per_peer)",
                self.max
            ));
        }
        None
    }

    fn counter(&self, peer: Atom) -> Arc<AtomicUsize> {
        if let Some(count) = self.peers.read().get(&peer) {
            return Arc::clone(count);
        }
        Arc::clone(self.peers.write().entry(peer).or_default())
    }

    /// The connection to `peer` went down after all of its traffic: a new
    /// one starts from nothing (a message still queued keeps its counter).
    fn forget(&self, peer: Atom) {
        self.peers.write().remove(&peer);
    }
}

/// The forwarding of a cluster process's messages to the driver.
fn forward(events: Sender<Event>, backlog: Arc<Backlog>, to: Target) -> Forward {
    Box::new(move |message, via| {
        let queued = match via {
            Some(peer) if peer != backlog.us => match backlog.admit(peer) {
                Some(queued) => Some(queued),
                None => return,
            },
            _ => None,
        };
        let _ = events.send(Event::Received {
            to,
            message,
            via,
            queued,
        });
    })
}

impl NodeInner {
    /// Starts the driver thread, and global's processes on a visible node.
    pub(super) fn start_cluster(self: &Arc<Self>, options: ClusterOptions) -> Result<()> {
        let (events, received) = mpsc::channel();
        let limits = options.limits;
        let backlog = Arc::new(Backlog {
            max: limits.max_queued_per_peer,
            us: self.name(),
            node: Arc::downgrade(self),
            peers: RwLock::default(),
        });
        let global = if self.hidden {
            None
        } else {
            let spawn = |name: Option<Atom>, proc| {
                let forward = forward(events.clone(), Arc::clone(&backlog), Target::Global(proc));
                self.spawn_cluster_process(name, forward)
            };
            let server = spawn(Some(server_name()), Proc::Server)?;
            let locker = spawn(None, Proc::Locker)?;
            let registrar = spawn(None, Proc::Registrar)?;
            let config = global::Config {
                node: self.name(),
                host: self.host.clone(),
                creation: self.identity.creation(),
                locker: locker.pid(),
                registrar: registrar.pid(),
                prevent_overlapping_partitions: options.prevent_overlapping_partitions,
                seed: u64::from(random::u32()) << 32 | u64::from(random::u32()),
                limits: global::Limits {
                    max_names: limits.max_global_names,
                    max_locks: limits.max_global_locks,
                    max_nodes: limits.max_global_nodes,
                },
            };
            Some((Global::new(config), [server, locker, registrar]))
        };
        let driver = Driver::new(Arc::clone(self), events.clone(), backlog, global, limits);
        self.threads
            .spawn("erldp-cluster".into(), move || driver.run(received))?;
        *self.cluster.events.lock() = Some(events);
        Ok(())
    }

    /// Stops the driver: the node is closing, and what its connections do
    /// from now on is no news for global (see [`Driver::run`]).
    pub(super) fn stop_cluster(&self) {
        if let Some(events) = self.cluster.events.lock().take() {
            let _ = events.send(Event::Stop);
        }
    }

    fn tell_cluster(&self, event: Event) -> Result<()> {
        match &*self.cluster.events.lock() {
            Some(events) => events.send(event).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    /// A connection to `node` came up (see [`super::events`]).
    pub(super) fn cluster_node_up(&self, node: Atom, visible: bool) {
        let _ = self.tell_cluster(Event::Up { node, visible });
    }

    /// The connection to `node` went down.
    pub(super) fn cluster_node_down(&self, node: Atom) {
        let _ = self.tell_cluster(Event::Down { node });
    }

    /// Returns once the driver has handled every event told to it before.
    pub(super) fn cluster_caught_up(&self) {
        let _ = self.ask(|_| ());
    }

    /// Runs `job` on the driver thread and returns what it returns.
    fn ask<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Driver) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tell_cluster(Event::Run(Box::new(move |driver| {
            let _ = reply.send(job(driver));
        })))?;
        answer.recv().map_err(|_| Error::Closed)
    }

    /// Runs `global:resolve_it(Args)` on the cluster's thread, which owns global's state, and
    /// gives `done` its value (`None`: global does not run here). Once the node is closing
    /// `done` never runs: closing ends every process, the caller's worker among them.
    pub(super) fn global_resolve_it(
        &self,
        args: Vec<Term>,
        done: impl FnOnce(Option<Term>) + Send + 'static,
    ) {
        let _ = self.tell_cluster(Event::Run(Box::new(move |driver| {
            done(driver.resolve_it(&args))
        })));
    }

    /// A new process whose messages go to the driver, registered under
    /// `name` if given.
    fn spawn_cluster_process(&self, name: Option<Atom>, forward: Forward) -> Result<Arc<Process>> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let process = Process::forwarding(self.registry.next_pid(&self.identity), forward);
        self.registry.add(&process);
        if let Some(name) = name {
            if let Err(err) = self.registry.register(&process, name.as_str()) {
                self.registry.remove(&process);
                return Err(err);
            }
        }
        Ok(process)
    }

    /// Sends from one of our processes without connecting, as Erlang's
    /// `erlang:send(Dest, Msg, [noconnect])`: to a node we are not connected
    /// to, nothing is sent.
    fn send_noconnect_from(self: &Arc<Self>, from: Pid, dest: &Dest, message: Term) {
        if dest.node() == self.name() {
            let _ = self.send_from(from, dest, message);
            return;
        }
        if let Ok(control) = requests::send(from, dest, message) {
            self.send_noconnect(dest.node(), &control);
        }
    }

    /// `global:send/2`.
    pub(super) fn send_global(
        self: &Arc<Self>,
        from: Pid,
        name: Atom,
        message: Term,
    ) -> Result<()> {
        let pid = self.global_pid(name)?;
        self.send_from(from, &Dest::Pid(pid), message)
    }

    /// The pid holding the global `name`, or an error naming it.
    pub(super) fn global_pid(self: &Arc<Self>, name: Atom) -> Result<Pid> {
        self.whereis_global_atom(name)?
            .ok_or_else(|| Error::invalid(format!("no process is registered globally as {name}")))
    }

    /// The pid holding the global `name`, for a `gen_server` call: when there
    /// is none, the call exits `noproc` as `gen_server:call({global, Name},
    /// ...)` does.
    pub(super) fn global_call_pid(self: &Arc<Self>, name: Atom) -> Result<Pid> {
        self.whereis_global_atom(name)?.ok_or_else(|| {
            Error::rpc(crate::atom!("exit"), Term::atom("noproc"), Term::nil())
                .with_detail(format!("no process {} to call", Dest::Global(name)))
        })
    }

    pub(super) fn whereis_global_atom(self: &Arc<Self>, name: Atom) -> Result<Option<Pid>> {
        self.whereis_global(Term::Atom(name))
    }

    /// `global:whereis_name/1`: a visible node reads its own table; a hidden
    /// one asks its peers.
    fn whereis_global(self: &Arc<Self>, name: Term) -> Result<Option<Pid>> {
        let asked = name.clone();
        match self.ask(move |driver| driver.whereis(&asked))? {
            Some(found) => Ok(found),
            None => self.whereis_on_peers(&name),
        }
    }

    /// Asks the global servers of our peers, one after the other, where
    /// `name` is (`{whereis, Name, From}`, which global answers on every
    /// release); the first that runs global answers for the cluster. On the
    /// reader of a peer's connection that peer is not asked (only this thread
    /// could read its answer); when no other peer runs global, that fails.
    fn whereis_on_peers(self: &Arc<Self>, name: &Term) -> Result<Option<Pid>> {
        let reading = threads::reading();
        let peers = self.ask(|driver| driver.connected_nodes())?;
        for peer in peers.iter().copied().filter(|&peer| Some(peer) != reading) {
            let process = self.spawn_process(None)?;
            let answer = self.ask_whereis(&process, peer, name);
            self.close_process(&process, Term::atom("normal"));
            if let Some(found) = answer? {
                return Ok(found);
            }
        }
        match reading.filter(|peer| peers.contains(peer)) {
            Some(peer) => Err(threads::waits_for_its_reader(
                &format!("asking {peer} where the global name {name} is"),
                peer,
            )),
            None => Ok(None),
        }
    }

    /// `Some(answer)` from `peer`'s global server, `None` when it runs none.
    fn ask_whereis(
        self: &Arc<Self>,
        process: &Arc<Process>,
        peer: Atom,
        name: &Term,
    ) -> Result<Option<Option<Pid>>> {
        let server = Dest::Name {
            name: server_name(),
            node: peer,
        };
        let tag = self.monitor_noconnect(process, &server)?;
        let from = Term::tuple(vec![process.pid().into(), tag.into()]);
        let request = Term::tuple(vec![Term::atom("whereis"), name.clone(), from]);
        self.send_noconnect_from(process.pid(), &server, request);
        let deadline = Instant::now() + WHEREIS_TIMEOUT;
        loop {
            let Some(message) = process.inbox().recv(Some(deadline), None)? else {
                return Err(Error::timeout(format!(
                    "asking {peer} where the global name {name} is"
                )));
            };
            match message.kind {
                MessageKind::Down if message.reference == Some(tag) => return Ok(None),
                MessageKind::Message => {
                    if let Some((reply_tag, reply)) = requests::call_reply(&message.term) {
                        if reply_tag == tag {
                            let _ = self.demonitor(process, tag);
                            return Ok(Some(reply.as_pid()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Global names (`global`): registered by visible nodes, known everywhere.
impl Node {
    /// `global:register_name(Name, Pid)` for `pid`, a process of this node
    /// (a [`Mailbox`](crate::Mailbox)'s): true once every node of the
    /// cluster holds the name, false when it was taken (or the process
    /// already has a global name). The name goes when the process ends.
    /// Waits as long as global's locks take, as on BEAM. A hidden node cannot
    /// register names: [`Error::InvalidArgument`] says so.
    pub fn register_global(&self, name: &Term, pid: Pid) -> Result<bool> {
        match self.inner.process(pid) {
            Some(process) if !process.is_closed() => {}
            Some(_) => return Err(Error::Closed),
            None => {
                return Err(Error::invalid(format!(
                    "{pid} is not a live process of {}",
                    self.name()
                )))
            }
        }
        let (name, reading) = (name.clone(), threads::reading());
        let answer = self
            .inner
            .ask(move |driver| driver.register(name, pid, reading))??;
        let reply = answer.recv().map_err(|_| Error::Closed)?;
        Ok(reply.is_atom("yes"))
    }

    /// `global:unregister_name(Name)` on every node of the cluster (a name
    /// not registered is no error). Needs a visible node.
    pub fn unregister_global(&self, name: &Term) -> Result<()> {
        let (name, reading) = (name.clone(), threads::reading());
        let answer = self
            .inner
            .ask(move |driver| driver.unregister(name, reading))??;
        answer.recv().map_err(|_| Error::Closed)?;
        Ok(())
    }

    /// `global:whereis_name(Name)`: the pid registered globally as `name`. A
    /// visible node answers from its own copy of the names, as BEAM does; a
    /// hidden node asks its connected peers' global servers in turn.
    pub fn whereis_global(&self, name: &Term) -> Result<Option<Pid>> {
        self.inner.whereis_global(name.clone())
    }

    /// `global:registered_names()`, sorted. Needs a visible node.
    pub fn global_names(&self) -> Result<Vec<Term>> {
        self.inner.ask(|driver| driver.registered_names())?
    }

    /// `dest` as it is sent to now: a [`Dest::Global`] becomes the pid its
    /// name is registered to (an error when it is not); the others are
    /// returned as they are.
    pub fn resolve(&self, dest: &Dest) -> Result<Dest> {
        match *dest {
            Dest::Global(name) => Ok(Dest::Pid(self.inner.global_pid(name)?)),
            _ => Ok(*dest),
        }
    }
}

/// Process groups (`pg`).
impl Node {
    /// `pg:get_members(Scope, Group)`: the members of `group` in `scope`, ours
    /// and our peers', a pid once per join, in no particular order. The
    /// first use of a scope starts it on our node (see
    /// [`Mailbox::join`](crate::Mailbox::join));
    /// peers' members then arrive as they answer.
    pub fn members(&self, scope: &str, group: &Term) -> Result<Vec<Pid>> {
        let (scope, group) = (scope_atom(scope)?, group.clone());
        self.inner
            .ask(move |driver| driver.members(scope, &group))?
    }

    /// `pg:get_local_members(Scope, Group)`: the members of `group` in
    /// `scope` that are processes of our node.
    pub fn local_members(&self, scope: &str, group: &Term) -> Result<Vec<Pid>> {
        let (scope, group) = (scope_atom(scope)?, group.clone());
        self.inner
            .ask(move |driver| driver.local_members(scope, &group))?
    }

    /// `pg:which_groups(Scope)`: every group of `scope` with a member, sorted.
    pub fn groups(&self, scope: &str) -> Result<Vec<Term>> {
        let scope = scope_atom(scope)?;
        self.inner.ask(move |driver| driver.groups(scope))?
    }

    /// `pg:join(Scope, Group, Pid)` for the process `pid` of ours.
    pub(crate) fn pg_join(&self, pid: Pid, scope: &str, group: Term) -> Result<()> {
        let scope = scope_atom(scope)?;
        self.inner
            .ask(move |driver| driver.join(scope, group, pid))?
    }

    /// `pg:leave(Scope, Group, Pid)`: false when `pid` was not in the group.
    pub(crate) fn pg_leave(&self, pid: Pid, scope: &str, group: &Term) -> Result<bool> {
        let (scope, group) = (scope_atom(scope)?, group.clone());
        self.inner
            .ask(move |driver| driver.leave(scope, &group, pid))?
    }
}

/// Node events (`net_kernel:monitor_nodes/1`).
impl Node {
    /// Sends `pid` a `node_up` or `node_down` message whenever a peer
    /// connects or goes, until [`demonitor_nodes`](Self::demonitor_nodes).
    pub(crate) fn monitor_nodes(&self, pid: Pid) {
        self.inner.monitor_nodes(pid);
    }

    pub(crate) fn demonitor_nodes(&self, pid: Pid) {
        self.inner.demonitor_nodes(pid);
    }

    /// `erlang:disconnect_node(Node)`: closes the connection to `peer` as
    /// lost (links and monitors over it fire with `noconnection`). False
    /// when there was none.
    pub fn disconnect(&self, peer: &str) -> bool {
        Atom::existing(peer).is_some_and(|peer| self.inner.disconnect(peer))
    }
}

/// A scope name: an atom, as pg's.
fn scope_atom(scope: &str) -> Result<Atom> {
    Atom::named(scope, "pg scope name")
}
