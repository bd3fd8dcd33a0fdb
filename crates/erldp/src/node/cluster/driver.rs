//! The thread that drives the cluster state machines: it owns
//! [`Global`] and every pg [`Scope`], feeds them what their processes
//! receive and what connections do, and carries out what they ask for.
//!
//! Nothing here waits for the network: sends go out only on connections that
//! are up (as Erlang's `noconnect`), connecting or calling `rpc` runs
//! elsewhere and comes back as an event, and so does the connect that
//! global's casts, calls and monitors of a node it meets, not connected yet,
//! wait for (its volatile sends are `noconnect`, as in `global.erl`). So one
//! slow peer never holds up global or pg for the others.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Backlog, ClusterLimits, Event, Target};
use crate::cluster::global::{self, Global, Proc};
use crate::cluster::pg::{self, Left, Scope};
use crate::dest::Dest;
use crate::message::{Message, MessageKind};
use crate::node::signals::Process;
use crate::node::{NodeInner, LOG};
use crate::protocol::{requests, Control};
use crate::term::{Atom, Pid, Ref, Term};
use crate::threads;
use crate::{Error, Result};

/// How long `rpc:call(Node, global, resolve_it, ...)` may take; global's own
/// call has no timeout, and a lost connection ends it sooner.
const RESOLVE_RPC_TIMEOUT: Duration = Duration::from_secs(3600);

/// global's three processes and what the driver keeps for them.
struct GlobalProcs {
    machine: Global,
    server: Arc<Process>,
    locker: Arc<Process>,
    registrar: Arc<Process>,
    /// The monitor of each of the server's `Action::Monitor`s, by its id.
    monitors: HashMap<u64, Ref>,
    /// What global's casts, calls and monitors wait for, by node: see
    /// [`Waiting`].
    awaiting: HashMap<Atom, Waiting>,
    /// The node and place in its queue of each waiting monitor, by id, so
    /// that a demonitor takes it out.
    awaiting_monitors: HashMap<u64, (Atom, u64)>,
    /// The place of the next action queued.
    next_waiting: u64,
    /// Requests made through the API, answered by `Action::Done`.
    requests: HashMap<u64, SyncSender<Term>>,
}

/// global's casts, calls and monitors of a node it knows or is meeting, not
/// connected yet. As `gen_server:cast`, `gen_server:call` and
/// `erlang:monitor/2` connect first, each waits for a connect to its node,
/// goes out in order once the node is up, and fails with `noconnection` (a
/// cast is lost) only if the connect fails: a peer's `new_nodes` names
/// processes of nodes we meet in the same breath, and failing at once
/// dropped their names here while every BEAM node kept them. Of other nodes
/// (a pid a peer named, of a node global does not know) they fail at once,
/// so that no peer chooses what we connect to.
#[derive(Default)]
struct Waiting {
    actions: BTreeMap<u64, global::Action>,
    /// Casts in `actions`: at most [`CASTS_WAITING_PER_NODE`]; one more is
    /// lost. Calls wait one at a time, and monitors only for the names the
    /// table holds.
    casts: usize,
}

/// See [`Waiting::casts`].
const CASTS_WAITING_PER_NODE: usize = 256;

impl GlobalProcs {
    fn process(&self, proc: Proc) -> &Arc<Process> {
        match proc {
            Proc::Server => &self.server,
            Proc::Locker => &self.locker,
            Proc::Registrar => &self.registrar,
        }
    }
}

/// One pg scope: its state machine, its process, and the monitor of each
/// local member.
struct ScopeProc {
    machine: Scope,
    process: Arc<Process>,
    members: HashMap<Pid, Ref>,
}

/// What a monitor of a cluster process is for.
enum Watch {
    /// global's `Action::Monitor` with this id.
    Monitor(u64),
    /// The server of a `gen_server` call global makes (the monitor's
    /// reference is also the call's tag).
    Call { id: u64, from: Proc },
    /// The scope process of a peer of the scope whose process monitors it.
    Peer(Pid),
    /// A local member of the scope whose process monitors it.
    Member(Pid),
}

/// The state the driver thread owns.
pub(super) struct Driver {
    inner: Arc<NodeInner>,
    /// For connect and rpc outcomes, which come back as events.
    events: Sender<Event>,
    /// What peers queued for us, for the scopes started later.
    backlog: Arc<Backlog>,
    global: Option<GlobalProcs>,
    scopes: HashMap<Atom, ScopeProc>,
    limits: ClusterLimits,
    /// The connected nodes, and whether each connection is visible.
    connected: HashMap<Atom, bool>,
    watches: HashMap<Ref, Watch>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Timers in `timers` that global cancelled: skipped when they run out, and swept out
    /// once they are half the heap, so that the heap stays within twice the live timers.
    cancelled: HashSet<u64>,
    /// global's connects under way, and those waiting for one of them to end: a peer's
    /// `new_nodes` may name thousands of nodes, and each connect takes a thread for up to
    /// the setup time, so at most `max_pending_handshakes` run at once.
    connects_under_way: usize,
    connects_waiting: VecDeque<Atom>,
}

impl Driver {
    pub(super) fn new(
        inner: Arc<NodeInner>,
        events: Sender<Event>,
        backlog: Arc<Backlog>,
        global: Option<(Global, [Arc<Process>; 3])>,
        limits: ClusterLimits,
    ) -> Driver {
        let global = global.map(|(machine, [server, locker, registrar])| GlobalProcs {
            machine,
            server,
            locker,
            registrar,
            monitors: HashMap::new(),
            awaiting: HashMap::new(),
            awaiting_monitors: HashMap::new(),
            next_waiting: 0,
            requests: HashMap::new(),
        });
        Driver {
            inner,
            events,
            backlog,
            global,
            scopes: HashMap::new(),
            limits,
            connected: HashMap::new(),
            watches: HashMap::new(),
            timers: BinaryHeap::new(),
            cancelled: HashSet::new(),
            connects_under_way: 0,
            connects_waiting: VecDeque::new(),
        }
    }

    /// Handles events until the node closes. Once it has, nothing more is
    /// handled: a node that is closing must not report the connections it
    /// drops as lost to the nodes it still reaches (BEAM turns
    /// `prevent_overlapping_partitions` off at shutdown for the same reason).
    pub(super) fn run(mut self, events: Receiver<Event>) {
        loop {
            let event = match self.timers.peek() {
                Some(Reverse((at, _))) => {
                    match events.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                None => match events.recv() {
                    Ok(event) => Some(event),
                    Err(_) => return,
                },
            };
            if self.inner.is_closed() {
                return;
            }
            match event {
                Some(Event::Stop) => return,
                Some(event) => self.handle(event),
                None => self.fire_timers(),
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            // `_queued` uncounts the message once it has been handled.
            Event::Received {
                to,
                message,
                via,
                queued: _queued,
            } => match to {
                Target::Global(proc) => self.global_received(proc, message, via),
                Target::Scope(scope) => self.scope_received(scope, message, via),
            },
            Event::Up { node, visible } => self.node_up(node, visible),
            Event::Down { node } => self.node_down(node),
            Event::Connected { node, ok } => {
                self.connects_under_way -= 1;
                if let Some(next) = self.connects_waiting.pop_front() {
                    self.connect(next);
                }
                self.settle_awaiting(node, ok);
                if let Some(global) = &mut self.global {
                    let actions = global.machine.connect_done(node, ok);
                    self.run_global(actions);
                }
            }
            Event::Resolved { id, result } => {
                if let Some(global) = &mut self.global {
                    let actions = global.machine.rpc_done(id, result);
                    self.run_global(actions);
                }
            }
            Event::Run(job) => job(self),
            Event::Stop => {}
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.cancelled.remove(&id) {
                continue;
            }
            if let Some(global) = &mut self.global {
                let actions = global.machine.timer(id);
                self.run_global(actions);
            }
        }
    }

    fn node_up(&mut self, node: Atom, visible: bool) {
        self.connected.insert(node, visible);
        self.settle_awaiting(node, true);
        if visible {
            if let Some(global) = &mut self.global {
                let actions = global.machine.node_up(node);
                self.run_global(actions);
            }
        }
        let scopes: Vec<Atom> = self.scopes.keys().copied().collect();
        for scope in scopes {
            if let Some(s) = self.scopes.get_mut(&scope) {
                let actions = s.machine.connected(node);
                self.run_scope(scope, actions);
            }
        }
    }

    fn node_down(&mut self, node: Atom) {
        self.backlog.forget(node);
        let visible = self.connected.remove(&node).unwrap_or(false);
        if visible {
            if let Some(global) = &mut self.global {
                let actions = global.machine.node_down(node);
                self.run_global(actions);
            }
        }
        for scope in self.scopes.values_mut() {
            scope.machine.disconnected(node);
        }
    }

    /// A peer sent one of our processes what its protocol forbids: it loses
    /// its connection, the node and the other connections go on.
    fn violation(&self, node: Atom, what: &str) {
        if node == self.inner.name() {
            log::warn!(target: LOG, "{what} (sent by a process of this node; ignored)");
            return;
        }
        log::warn!(target: LOG, "{what}: closing the connection to {node}");
        self.inner.disconnect(node);
    }

    // ---- global ----------------------------------------------------------

    fn global_received(&mut self, proc: Proc, message: Message, via: Option<Atom>) {
        let Some(global) = &mut self.global else {
            return;
        };
        let actions = match message.kind {
            MessageKind::Message => {
                let reply = requests::call_reply(&message.term)
                    .filter(|(tag, _)| matches!(self.watches.get(tag), Some(Watch::Call { .. })));
                if let Some((tag, reply)) = reply {
                    let Some(Watch::Call { id, from }) = self.watches.remove(&tag) else {
                        return;
                    };
                    let _ = self.inner.demonitor(global.process(from), tag);
                    global.machine.call_done(id, Some(reply.clone()))
                } else if let Some(node) = via {
                    match global.machine.message(proc, node, &message.term) {
                        Ok(actions) => actions,
                        Err(global::Violation(what)) => return self.violation(node, &what),
                    }
                } else {
                    return;
                }
            }
            MessageKind::Down => {
                let Some(reference) = message.reference else {
                    return;
                };
                match self.watches.remove(&reference) {
                    Some(Watch::Monitor(id)) => {
                        global.monitors.remove(&id);
                        global.machine.down(id)
                    }
                    Some(Watch::Call { id, .. }) => global.machine.call_done(id, None),
                    Some(other) => {
                        self.watches.insert(reference, other);
                        return;
                    }
                    None => return,
                }
            }
            // Links and exit signals do not end our processes; global's
            // own have none that matter.
            _ => return,
        };
        self.run_global(actions);
    }

    fn run_global(&mut self, actions: Vec<global::Action>) {
        for action in actions {
            self.global_action(action);
        }
    }

    fn global_action(&mut self, action: global::Action) {
        let target = match &action {
            global::Action::Call { node, .. } => Some(*node),
            global::Action::Monitor { pid, .. } => Some(pid.node),
            global::Action::Cast { to, .. } => Some(to.node()),
            _ => None,
        };
        match target {
            Some(node) if node != self.inner.name() && !self.connected.contains_key(&node) => {
                self.await_connect(node, action);
            }
            _ => self.global_action_now(action),
        }
    }

    fn global_action_now(&mut self, action: global::Action) {
        let Some(global) = &mut self.global else {
            return;
        };
        let inner = &self.inner;
        match action {
            global::Action::Send { from, to, msg } => {
                inner.send_noconnect_from(global.process(from).pid(), &to, msg);
            }
            global::Action::Cast { from, to, msg } => {
                let msg = Arc::unwrap_or_clone(msg);
                inner.send_noconnect_from(global.process(from).pid(), &to, msg);
            }
            global::Action::Call {
                id,
                from,
                node,
                request,
            } => {
                let process = global.process(from);
                let server = Dest::Name {
                    name: super::server_name(),
                    node,
                };
                // A server on a node that went down again is gone at once:
                // the monitor fires `noconnection`, the call ends.
                let Ok(tag) = inner.monitor_noconnect(process, &server) else {
                    return;
                };
                self.watches.insert(tag, Watch::Call { id, from });
                let call = requests::call_request_to_pid(process.pid(), tag, request);
                inner.send_noconnect_from(process.pid(), &server, call);
            }
            global::Action::Reply { from, reply } => match requests::reply(&from, reply) {
                Ok((to, message)) => inner.send_noconnect_from(global.server.pid(), &to, message),
                Err(err) => log::debug!(target: LOG, "global: no reply sent: {err}"),
            },
            global::Action::Monitor { id, pid } => {
                if let Ok(reference) = inner.monitor_noconnect(&global.server, &Dest::Pid(pid)) {
                    global.monitors.insert(id, reference);
                    self.watches.insert(reference, Watch::Monitor(id));
                }
            }
            global::Action::Demonitor { id } => {
                if let Some((node, place)) = global.awaiting_monitors.remove(&id) {
                    if let Some(waiting) = global.awaiting.get_mut(&node) {
                        waiting.actions.remove(&place);
                    }
                }
                if let Some(reference) = global.monitors.remove(&id) {
                    self.watches.remove(&reference);
                    let _ = inner.demonitor(&global.server, reference);
                }
            }
            global::Action::Connect { node } => self.connect(node),
            global::Action::Disconnect { node } => {
                inner.disconnect(node);
            }
            global::Action::Timer { id, after } => {
                self.timers.push(Reverse((Instant::now() + after, id)));
            }
            global::Action::CancelTimer { id } => {
                self.cancelled.insert(id);
                if self.cancelled.len() * 2 > self.timers.len() {
                    let cancelled = std::mem::take(&mut self.cancelled);
                    self.timers
                        .retain(|Reverse((_, id))| !cancelled.contains(id));
                }
            }
            global::Action::Exit { pid, reason } => {
                let from = global.server.pid();
                self.exit(from, pid, reason);
            }
            global::Action::ResolveRpc { id, node, args } => self.resolve_rpc(id, node, args),
            global::Action::Done { request, result } => {
                if let Some(reply) = global.requests.remove(&request) {
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Queues a cast, call or monitor of `node`, not connected, until a
    /// connect to it ends (see [`Waiting`]); the first starts the connect.
    fn await_connect(&mut self, node: Atom, action: global::Action) {
        let Some(global) = &mut self.global else {
            return;
        };
        if !global.machine.meets(node) {
            return self.global_action_now(action);
        }
        let new = !global.awaiting.contains_key(&node);
        let waiting = global.awaiting.entry(node).or_default();
        let place = global.next_waiting;
        match action {
            global::Action::Cast { .. } if waiting.casts >= CASTS_WAITING_PER_NODE => return,
            global::Action::Cast { .. } => waiting.casts += 1,
            global::Action::Monitor { id, .. } => {
                global.awaiting_monitors.insert(id, (node, place));
            }
            _ => {}
        }
        global.next_waiting += 1;
        waiting.actions.insert(place, action);
        if new {
            self.connect(node);
        }
    }

    /// A connect to `node` ended, or its connection came up: what waited for
    /// it goes out, or fails with `noconnection` (a cast is lost) when the
    /// connect failed. A connect that succeeded for a connection already gone
    /// again fails them too (`global_action_now` sends `noconnect`), as if
    /// that connection had dropped just after they went out.
    fn settle_awaiting(&mut self, node: Atom, connected: bool) {
        let Some(waiting) = self.global.as_mut().and_then(|g| g.awaiting.remove(&node)) else {
            return;
        };
        for action in waiting.actions.into_values() {
            let Some(global) = &mut self.global else {
                return;
            };
            if let global::Action::Monitor { id, .. } = action {
                global.awaiting_monitors.remove(&id);
            }
            if connected {
                self.global_action_now(action);
                continue;
            }
            let actions = match action {
                global::Action::Monitor { id, .. } => global.machine.down(id),
                global::Action::Call { id, .. } => global.machine.call_done(id, None),
                _ => Vec::new(),
            };
            self.run_global(actions);
        }
    }

    /// `sync_other/2`'s connect: the outcome comes back as an event.
    fn connect(&mut self, node: Atom) {
        if self.connects_under_way >= self.inner.max_pending_handshakes.max(1) {
            self.connects_waiting.push_back(node);
            return;
        }
        self.connects_under_way += 1;
        let events = self.events.clone();
        let done = move |ok| {
            let _ = events.send(Event::Connected { node, ok });
        };
        match self.inner.connect_start(node) {
            Ok(pending) => {
                pending.on_complete(self.inner.setup_timeout.saturating_mul(2), move |outcome| {
                    if let Err(err) = &outcome {
                        log::debug!(target: LOG, "global: connecting to {node} failed: {err}");
                    }
                    done(outcome.is_ok());
                })
            }
            Err(err) => {
                log::debug!(target: LOG, "global: cannot connect to {node}: {err}");
                done(false);
            }
        }
    }

    /// `rpc:call(Node, global, resolve_it, Args)`, on a thread of its own:
    /// it may have to connect first.
    fn resolve_rpc(&self, id: u64, node: Atom, args: Vec<Term>) {
        let (inner, events) = (Arc::clone(&self.inner), self.events.clone());
        // Joined by close, as every thread of the node is.
        let spawned = self
            .inner
            .threads
            .spawn("erldp-global-rpc".into(), move || {
                let outcome = inner
                    .rpc_start(
                        node,
                        crate::atom!("global"),
                        crate::atom!("resolve_it"),
                        args,
                    )
                    .and_then(|pending| pending.wait(RESOLVE_RPC_TIMEOUT));
                let result = outcome.unwrap_or_else(|err| badrpc(&err));
                let _ = events.send(Event::Resolved { id, result });
            });
        if let Err(failed) = spawned {
            let _ = self.events.send(Event::Resolved {
                id,
                result: badrpc(&failed),
            });
        }
    }

    /// An exit signal from one of our cluster processes: a process of ours
    /// named by a lost name clash is closed (`kill` closes it as `killed`);
    /// the node's own processes are never ended this way.
    fn exit(&self, from: Pid, pid: Pid, reason: Term) {
        let inner = &self.inner;
        if pid.node != inner.name() {
            let exit = Control::Exit2 {
                from,
                to: pid,
                reason,
            };
            // exit/2 connects, and a clash resolved for another node (its
            // global:resolve_it/4) may end a process on a node we have not
            // met yet: the connect runs on a thread of its own.
            if let Err(err) = inner.send_connecting(pid.node, exit, false) {
                log::debug!(target: LOG, "global: exit signal to {pid:?} not sent: {err}");
            }
            return;
        }
        if self.owns(pid) || inner.builtins.owns(pid) {
            log::warn!(target: LOG, "global: exit signal {reason} to the node's own process {pid:?} ignored");
            return;
        }
        if let Some(process) = inner.process(pid) {
            let reason = if reason.is_atom("kill") {
                Term::atom("killed")
            } else {
                reason
            };
            inner.close_process(&process, reason);
        }
    }

    /// Whether `pid` is one of the cluster processes.
    fn owns(&self, pid: Pid) -> bool {
        let global = self.global.as_ref().is_some_and(|g| {
            [&g.server, &g.locker, &g.registrar]
                .iter()
                .any(|p| p.pid() == pid)
        });
        global || self.scopes.values().any(|s| s.process.pid() == pid)
    }

    /// The global machinery of a visible node, or why there is none.
    fn global(&mut self) -> Result<&mut GlobalProcs> {
        self.global.as_mut().ok_or_else(|| {
            Error::invalid(
                "this node is hidden: global names are registered by visible nodes \
                 (start it with hidden false), as hidden BEAM nodes take no part in global",
            )
        })
    }

    /// The global machinery for a request that takes global's locks on every
    /// visible peer, asked for on the thread that reads `reading`'s
    /// connection, if it is a reader: refused when that peer is visible, as
    /// its answers could then never be read.
    fn global_round(&mut self, what: &str, reading: Option<Atom>) -> Result<&mut GlobalProcs> {
        if let Some(peer) = reading.filter(|peer| self.connected.get(peer) == Some(&true)) {
            self.global()?;
            return Err(threads::waits_for_its_reader(what, peer));
        }
        self.global()
    }

    /// `global:register_name/2` for `pid`: `yes` or `no` arrives on the
    /// returned channel once the registrar is done.
    pub(super) fn register(
        &mut self,
        name: Term,
        pid: Pid,
        reading: Option<Atom>,
    ) -> Result<Receiver<Term>> {
        let global = self.global_round(&format!("registering the global name {name}"), reading)?;
        let (request, actions) = global.machine.register(name, pid);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        global.requests.insert(request, reply);
        self.run_global(actions);
        Ok(answer)
    }

    /// `global:unregister_name/1`: `ok` arrives on the returned channel.
    pub(super) fn unregister(
        &mut self,
        name: Term,
        reading: Option<Atom>,
    ) -> Result<Receiver<Term>> {
        // A name that is not registered is unregistered without locks.
        let global = if self.global()?.machine.whereis(&name).is_some() {
            self.global_round(&format!("unregistering the global name {name}"), reading)?
        } else {
            self.global()?
        };
        let (request, actions) = global.machine.unregister(name);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        global.requests.insert(request, reply);
        self.run_global(actions);
        Ok(answer)
    }

    /// `global:resolve_it/4`, which a BEAM node resolving a clash calls on the node of its
    /// entry's holder, one of our processes: the value for the caller. `None` where global
    /// does not run (a hidden node), which the caller takes for `undef`.
    pub(super) fn resolve_it(&mut self, args: &[Term]) -> Option<Term> {
        let global = self.global.as_mut()?;
        let (result, actions) = global.machine.resolve_it(args);
        self.run_global(actions);
        Some(result)
    }

    /// `global:whereis_name/1` from our own table; `None` from a hidden
    /// node, which has none.
    pub(super) fn whereis(&self, name: &Term) -> Option<Option<Pid>> {
        let global = self.global.as_ref()?;
        // As `global:whereis_name/1` does, a local process that has ended is
        // no longer the name's even before its DOWN is handled.
        Some(
            global
                .machine
                .whereis(name)
                .filter(|&pid| pid.node != self.inner.name() || self.inner.process(pid).is_some()),
        )
    }

    /// The connected nodes, sorted.
    pub(super) fn connected_nodes(&self) -> Vec<Atom> {
        let mut nodes: Vec<Atom> = self.connected.keys().copied().collect();
        nodes.sort();
        nodes
    }

    /// `global:registered_names/0`.
    pub(super) fn registered_names(&mut self) -> Result<Vec<Term>> {
        Ok(self.global()?.machine.registered_names())
    }

    // ---- pg --------------------------------------------------------------

    fn scope_received(&mut self, scope: Atom, message: Message, via: Option<Atom>) {
        let Some(s) = self.scopes.get_mut(&scope) else {
            return;
        };
        let actions = match message.kind {
            MessageKind::Message => {
                let Some(node) = via else { return };
                match s.machine.handle(node, &message.term) {
                    Ok(actions) => actions,
                    Err(pg::Violation(what)) => return self.violation(node, &what),
                }
            }
            MessageKind::Down => {
                let Some(reference) = message.reference else {
                    return;
                };
                match self.watches.remove(&reference) {
                    Some(Watch::Peer(pid)) => {
                        s.machine.peer_down(pid);
                        return;
                    }
                    Some(Watch::Member(pid)) => {
                        s.members.remove(&pid);
                        s.machine.member_down(pid)
                    }
                    Some(other) => {
                        self.watches.insert(reference, other);
                        return;
                    }
                    None => return,
                }
            }
            _ => return,
        };
        self.run_scope(scope, actions);
    }

    fn run_scope(&mut self, scope: Atom, actions: Vec<pg::Action>) {
        let Some(s) = self.scopes.get(&scope) else {
            return;
        };
        for action in actions {
            match action {
                pg::Action::Send { to, msg } => {
                    self.inner.send_noconnect_from(s.process.pid(), &to, msg);
                }
                pg::Action::Monitor(pid) => {
                    if let Ok(reference) = self.inner.monitor_noconnect(&s.process, &Dest::Pid(pid))
                    {
                        self.watches.insert(reference, Watch::Peer(pid));
                    }
                }
            }
        }
    }

    /// The scope `name`, started on its first use: its process registers
    /// the scope's name and discovers the scope on every connected node.
    fn scope(&mut self, name: Atom) -> Result<&mut ScopeProc> {
        if !self.scopes.contains_key(&name) {
            let process = self
                .inner
                .spawn_cluster_process(
                    Some(name),
                    super::forward(
                        self.events.clone(),
                        Arc::clone(&self.backlog),
                        Target::Scope(name),
                    ),
                )
                .map_err(|err| match err {
                    Error::InvalidArgument(why) => {
                        Error::invalid(format!("the pg scope {name} cannot start: {why}"))
                    }
                    other => other,
                })?;
            let limits = pg::Limits {
                max_peer_members: self.limits.max_group_members_per_peer,
            };
            let mut machine = Scope::new(name, process.pid(), limits);
            let mut actions = Vec::new();
            for &node in self.connected.keys() {
                actions.extend(machine.connected(node));
            }
            self.scopes.insert(
                name,
                ScopeProc {
                    machine,
                    process,
                    members: HashMap::new(),
                },
            );
            self.run_scope(name, actions);
        }
        Ok(self.scopes.get_mut(&name).expect("started above"))
    }

    /// `pg:join(Scope, Group, Pid)` for a process of ours, which the scope
    /// then monitors, as pg does: when it ends, it leaves every group.
    pub(super) fn join(&mut self, scope: Atom, group: Term, pid: Pid) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let s = self.scope(scope)?;
        let watch = if s.members.contains_key(&pid) {
            None
        } else {
            let reference = inner.monitor_noconnect(&s.process, &Dest::Pid(pid))?;
            s.members.insert(pid, reference);
            Some(reference)
        };
        let actions = s.machine.join(group, &[pid]);
        if let Some(reference) = watch {
            self.watches.insert(reference, Watch::Member(pid));
        }
        self.run_scope(scope, actions);
        Ok(())
    }

    /// `pg:leave(Scope, Group, Pid)`: false when the process was not in the
    /// group (`not_joined`).
    pub(super) fn leave(&mut self, scope: Atom, group: &Term, pid: Pid) -> Result<bool> {
        let inner = Arc::clone(&self.inner);
        let s = self.scope(scope)?;
        let (left, actions) = s.machine.leave(group, &[pid]);
        let unwatched = if s.machine.is_member(pid) {
            None
        } else {
            s.members.remove(&pid)
        };
        if let Some(reference) = unwatched {
            let _ = inner.demonitor(&s.process, reference);
            self.watches.remove(&reference);
        }
        self.run_scope(scope, actions);
        Ok(left == Left::Ok)
    }

    /// `pg:get_members(Scope, Group)`.
    pub(super) fn members(&mut self, scope: Atom, group: &Term) -> Result<Vec<Pid>> {
        Ok(self.scope(scope)?.machine.members(group))
    }

    /// `pg:get_local_members(Scope, Group)`.
    pub(super) fn local_members(&mut self, scope: Atom, group: &Term) -> Result<Vec<Pid>> {
        Ok(self.scope(scope)?.machine.local_members(group))
    }

    /// `pg:which_groups(Scope)`.
    pub(super) fn groups(&mut self, scope: Atom) -> Result<Vec<Term>> {
        Ok(self.scope(scope)?.machine.which_groups())
    }
}

/// What `rpc:call/4` returns when the call failed.
fn badrpc(err: &Error) -> Term {
    let reason = match err {
        Error::Connection { .. } | Error::NodeNotFound { .. } => Term::atom("nodedown"),
        Error::Timeout { .. } => Term::atom("timeout"),
        _ => Term::tuple(vec![
            Term::atom("EXIT"),
            err.rpc_term()
                .unwrap_or_else(|| Term::binary(err.to_string().into_bytes())),
        ]),
    };
    Term::tuple(vec![Term::atom("badrpc"), reason])
}
