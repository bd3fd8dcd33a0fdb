//! [`global`](https://www.erlang.org/doc/apps/kernel/global.html) on our node: the
//! `global_name_server` of a visible node, its locker and its registrar, as one state machine
//! without sockets, threads or clocks.
//!
//! OTP documents global's functions, not its protocol; this follows `global.erl` (protocol
//! version 8, the same in OTP 25, 27 and 29), checked against transcripts of real nodes.
//! When two visible nodes connect, each server casts `init_connect` to the other; their lockers
//! take the lock `{global, [LockerA, LockerB]}` on every node of both partitions; the servers
//! then exchange their name tables (`exchange`), resolve clashes, apply the result (`resolved`),
//! tell the rest of their partition about the new nodes (`new_nodes`), and connect to the nodes
//! they learnt of (`in_sync`). Names and locks are then kept everywhere by `gen_server` calls
//! (`set_lock`, `register`, `unregister`, `del_lock`) that every registration makes on every
//! node, each entry watched by a monitor. With `prevent_overlapping_partitions`, a lost
//! connection is reported to all (`lost_connection`) and the nodes that still see the lost one
//! drop it (`remove_connection`).
//!
//! A mistake here is costly: `global_name_server` is a permanent child of kernel's one-for-all
//! supervisor, so a message it cannot digest halts the BEAM node. Everything sent is built in one
//! place per message, with the shapes seen on the wire.

mod locker;
mod registrar;
#[cfg(test)]
mod sim;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use self::locker::{Ctx, Him, LockIsSet, Locker, Msg, NewNodes};
use self::registrar::{Cx, Registrar};
use self::table::{Inserter, NewName, Table};
use crate::term::{Atom, Fun, Pid, Term};
use crate::Dest;

/// global's protocol version (OTP 25 to 29).
const VSN: i64 = 8;
/// From this version on, nodes report lost connections and tell each other their versions.
const POP_VSN: i64 = 7;
/// How long a `lost_connection` report is remembered (`global.erl`: one hour).
const LOST_CONNECTION_MEMORY: Duration = Duration::from_secs(60 * 60);
/// `-(1 bsl 59)`, which `global.erl` subtracts when it reports its creation.
const MIN_SMALL: i64 = -(1 << 59);
const SERVER: &str = "global_name_server";

/// Defaults for [`Limits`].
pub(crate) const DEFAULT_MAX_NAMES: usize = 1 << 20;

/// Bounds on what peers may make us store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Global names held here. A registration or exchange beyond it is refused as misbehaviour.
    /// Default [`DEFAULT_MAX_NAMES`].
    pub max_names: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_names: DEFAULT_MAX_NAMES,
        }
    }
}

/// Our three built-in processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Proc {
    /// Registered as `global_name_server`.
    Server,
    Locker,
    Registrar,
}

/// How the node is set up.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub node: Atom,
    /// The host part of our node name as `inet:gethostname/0` gives it; peers on it are
    /// preferred by the locker.
    pub host: String,
    pub creation: u32,
    pub locker: Pid,
    pub registrar: Pid,
    pub prevent_overlapping_partitions: bool,
    /// Seeds the locker's and registrar's random waits and our creation extension.
    pub seed: u64,
    pub limits: Limits,
}

/// What the state machine asks the node to do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Send `msg` from our process `from` to `to`, without setting up a connection.
    Send {
        from: Proc,
        to: Dest,
        msg: Term,
    },
    /// `gen_server:call({global_name_server, node}, request, infinity)` from our process `from`,
    /// watching the server with a monitor: the reply goes to [`Global::call_done`] with
    /// `Some(reply)`, the monitor's DOWN with `None`.
    Call {
        id: u64,
        from: Proc,
        node: Atom,
        request: Term,
    },
    /// Answer a call our server received, as `gen:reply/2` does (to the alias in the tag when
    /// there is one).
    Reply {
        from: Term,
        reply: Term,
    },
    /// Monitor `pid` for our server; its DOWN goes to [`Global::down`].
    Monitor {
        id: u64,
        pid: Pid,
    },
    Demonitor {
        id: u64,
    },
    /// Connect to `node` (if not connected); report with [`Global::connect_done`].
    Connect {
        node: Atom,
    },
    Disconnect {
        node: Atom,
    },
    /// Call [`Global::timer`] with `id` after `after`.
    Timer {
        id: u64,
        after: Duration,
    },
    /// An exit signal from our server to `pid` (a name clash loser is killed).
    Exit {
        pid: Pid,
        reason: Term,
    },
    /// `rpc:call(node, global, resolve_it, args)`; report with [`Global::rpc_done`].
    ResolveRpc {
        id: u64,
        node: Atom,
        args: Vec<Term>,
    },
    /// A request made through [`Global::register`] or [`Global::unregister`] is answered.
    Done {
        request: u64,
        result: Term,
    },
}

/// A message our processes should not have received: the connection it came on should be
/// closed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Violation(pub String);

/// Numbers for calls, monitors, timers and requests, unique within one [`Global`].
#[derive(Debug, Default)]
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// A small xorshift generator: global's waits are random so that lockers on different nodes
/// fall out of step; any source will do.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `gen_server:multi_call(Nodes, global_name_server, Request)` from one of our processes. Our
/// own node answers at once; a node whose server is gone is left out, as multi_call does.
#[derive(Debug)]
struct MultiCall {
    pending: HashMap<u64, Atom>,
    replies: Vec<(Atom, Term)>,
    forced_no: bool,
}

impl MultiCall {
    #[allow(clippy::too_many_arguments)]
    fn start(
        from: Proc,
        caller: Pid,
        me: Atom,
        nodes: &[Atom],
        request: &Term,
        table: &mut Table,
        ids: &mut Ids,
        out: &mut Vec<Action>,
    ) -> MultiCall {
        let mut calls = MultiCall {
            pending: HashMap::new(),
            replies: Vec::new(),
            forced_no: false,
        };
        for &node in nodes {
            if node == me {
                if let Ok(Some(reply)) = serve_call(table, ids, out, None, caller, request) {
                    calls.replies.push((node, reply));
                }
            } else {
                let id = ids.next();
                calls.pending.insert(id, node);
                out.push(Action::Call {
                    id,
                    from,
                    node,
                    request: request.clone(),
                });
            }
        }
        calls
    }

    /// A local check already said no (`local_lock_check/2`): nothing was asked.
    fn force_no(&mut self) {
        self.forced_no = true;
    }

    /// Takes the reply to call `id` if it is one of ours.
    fn done(&mut self, id: u64, reply: Option<Term>) -> bool {
        let Some(node) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(reply) = reply {
            self.replies.push((node, reply));
        }
        true
    }

    fn finished(&self) -> bool {
        self.pending.is_empty()
    }

    fn any_no(&self) -> bool {
        self.forced_no || self.replies.iter().any(|(_, r)| r.is_atom("false"))
    }

    /// The nodes that granted the request (answered `true`).
    fn granted(&self) -> Vec<Atom> {
        self.replies
            .iter()
            .filter(|(_, r)| r.is_atom("true"))
            .map(|&(n, _)| n)
            .collect()
    }
}

/// What our server waits for in a connect session, beside its tags.
#[derive(Debug)]
enum WaitLock {
    LockIsSet,
    Exchange(Vec<(Term, Pid, Term)>),
}

#[derive(Debug)]
enum SaveOps {
    Ours(Vec<Term>),
    His {
        his_known: Vec<Term>,
        names_ext: Term,
        his_resolved: Vec<Term>,
    },
}

/// A connect session's state (`global.erl` keeps it in the process dictionary).
#[derive(Debug, Default)]
struct Session {
    my_tag: Option<i64>,
    his_tag: Option<Term>,
    prot_vsn: Option<i64>,
    pre_connect: Option<(i64, Term, Term)>,
    wait_lock: Option<WaitLock>,
    save_ops: Option<SaveOps>,
    lock_id: Option<Term>,
}

/// The name resolution of one session (`global.erl` runs it in a resolver process).
#[derive(Debug)]
struct Resolver {
    tag: i64,
    work: Option<Resolving>,
}

#[derive(Debug)]
struct Resolving {
    names: std::collections::VecDeque<(Term, Pid, Term)>,
    ops: Vec<Term>,
    res: Vec<Term>,
    rpc: Option<(u64, Term, Pid, Term, Pid, Term)>,
}

/// global on our node.
#[derive(Debug)]
pub(crate) struct Global {
    config: Config,
    table: Table,
    locker: Locker,
    registrar: Registrar,
    ids: Ids,
    rng: Rng,
    next_tag: i64,
    creation_extension: i64,
    /// Synced nodes and their protocol versions.
    known: HashMap<Atom, i64>,
    /// Nodes past `init_connect` of a session.
    pending: HashMap<Atom, i64>,
    removing: HashSet<Atom>,
    synced: Vec<Atom>,
    sessions: HashMap<Atom, Session>,
    resolvers: HashMap<Atom, Resolver>,
    lost: HashMap<(Atom, Atom), (Term, Term, u64)>,
    connecting: Vec<Atom>,
    out: Vec<Action>,
}

impl Global {
    pub(crate) fn new(config: Config) -> Global {
        let mut rng = Rng::new(config.seed);
        // A random number below 2^60 with its low 32 bits clear, as global.erl picks it.
        let creation_extension = ((rng.next() >> 4) & !0xFFFF_FFFF) as i64;
        Global {
            locker: Locker::new(config.node, config.locker, config.host.clone()),
            registrar: Registrar::new(config.node, config.registrar),
            config,
            table: Table::default(),
            ids: Ids::default(),
            rng,
            next_tag: 0,
            creation_extension,
            known: HashMap::new(),
            pending: HashMap::new(),
            removing: HashSet::new(),
            synced: Vec::new(),
            sessions: HashMap::new(),
            resolvers: HashMap::new(),
            lost: HashMap::new(),
            connecting: Vec::new(),
            out: Vec::new(),
        }
    }

    /// `global:whereis_name/1`: a local look-up, like BEAM's.
    pub(crate) fn whereis(&self, name: &Term) -> Option<Pid> {
        self.table.whereis(name)
    }

    /// `global:registered_names/0`.
    pub(crate) fn registered_names(&self) -> Vec<Term> {
        self.table.names()
    }

    /// The nodes global is in sync with, sorted.
    pub(crate) fn known_nodes(&self) -> Vec<Atom> {
        let mut nodes: Vec<Atom> = self.known.keys().copied().collect();
        nodes.sort();
        nodes
    }

    /// `global:register_name(Name, Pid)` with global's default resolve method: a request whose
    /// [`Action::Done`] carries `yes` or `no`.
    pub(crate) fn register(&mut self, name: Term, pid: Pid) -> (u64, Vec<Action>) {
        let method = Term::from(
            Fun::export(Atom::new("global"), Atom::new("random_exit_name"), 3)
                .expect("short atoms"),
        );
        let request = self.ids.next();
        self.with_registrar(|r, cx| r.register(request, name, pid, method, cx));
        (request, self.take())
    }

    /// `global:unregister_name(Name)`: a request whose [`Action::Done`] carries `ok`.
    pub(crate) fn unregister(&mut self, name: Term) -> (u64, Vec<Action>) {
        let request = self.ids.next();
        if self.table.whereis(&name).is_none() {
            self.out.push(Action::Done {
                request,
                result: Term::atom("ok"),
            });
        } else {
            self.with_registrar(|r, cx| r.unregister(request, name, cx));
        }
        (request, self.take())
    }

    /// A visible node connected (`{nodeup, Node, _}`).
    pub(crate) fn node_up(&mut self, node: Atom) -> Vec<Action> {
        if node != self.config.node {
            self.handle_nodeup(node);
        }
        self.take()
    }

    /// A visible node's connection went down (`{nodedown, Node, _}`), after all its traffic.
    pub(crate) fn node_down(&mut self, node: Atom) -> Vec<Action> {
        self.table.node_down(node, &mut self.out);
        self.handle_nodedown(node, NodeDown::Disconnected);
        self.take()
    }

    /// The outcome of an [`Action::Connect`] (`sync_other/2`): on success the node is told we
    /// are in sync; on failure it is handled as down.
    pub(crate) fn connect_done(&mut self, node: Atom, ok: bool) -> Vec<Action> {
        if let Some(at) = self.connecting.iter().position(|&n| n == node) {
            self.connecting.remove(at);
            if ok {
                let msg = cast(Term::tuple(vec![
                    Term::atom("in_sync"),
                    self.config.node.into(),
                    true.into(),
                ]));
                self.send(Proc::Server, server_of(node), msg);
            } else {
                log::warn!(
                    "'global' at {} failed to connect to {}",
                    self.config.node,
                    node
                );
                self.handle_nodedown(node, NodeDown::Disconnected);
            }
        }
        self.take()
    }

    /// The reply to an [`Action::Call`]; `None` when the called server went away.
    pub(crate) fn call_done(&mut self, id: u64, reply: Option<Term>) -> Vec<Action> {
        let mut lock_is_set = Vec::new();
        let mut cx = Ctx {
            table: &mut self.table,
            ids: &mut self.ids,
            out: &mut self.out,
            rng: &mut self.rng,
            lock_is_set: &mut lock_is_set,
        };
        let taken = self.locker.call_done(id, reply.clone(), &mut cx);
        self.lock_is_set(lock_is_set);
        if !taken {
            self.with_registrar(|r, cx| r.call_done(id, reply, cx));
        }
        self.take()
    }

    /// A monitor of our server fired.
    pub(crate) fn down(&mut self, monitor: u64) -> Vec<Action> {
        self.table.down(monitor, &mut self.out);
        self.take()
    }

    /// A timer of an [`Action::Timer`] ran out.
    pub(crate) fn timer(&mut self, id: u64) -> Vec<Action> {
        let mut lock_is_set = Vec::new();
        let mut cx = Ctx {
            table: &mut self.table,
            ids: &mut self.ids,
            out: &mut self.out,
            rng: &mut self.rng,
            lock_is_set: &mut lock_is_set,
        };
        let taken = self.locker.timer(id, &mut cx);
        self.lock_is_set(lock_is_set);
        if !taken && !self.with_registrar(|r, cx| r.timer(id, cx)) {
            self.lost.retain(|_, (_, _, timer)| *timer != id);
        }
        self.take()
    }

    /// The answer to an [`Action::ResolveRpc`] (`{badrpc, Reason}` when it failed).
    pub(crate) fn rpc_done(&mut self, id: u64, result: Term) -> Vec<Action> {
        let node = self
            .resolvers
            .iter()
            .find(|(_, r)| {
                r.work
                    .as_ref()
                    .and_then(|w| w.rpc.as_ref())
                    .is_some_and(|rpc| rpc.0 == id)
            })
            .map(|(&n, _)| n);
        if let Some(node) = node {
            self.resolve_answer(node, result);
            self.resolve(node);
        }
        self.take()
    }

    /// `global:resolve_it/4` called on our node by a BEAM node resolving a clash over a name
    /// whose holder is one of our processes: the result for the caller, and what to do here.
    pub(crate) fn resolve_it(&mut self, args: &[Term]) -> (Term, Vec<Action>) {
        let result = match args {
            [method, name, pid1, pid2] => match (pid1.as_pid(), pid2.as_pid()) {
                (Some(p1), Some(p2)) => self.apply_method(method, name, p1, p2),
                _ => Term::atom("none"),
            },
            _ => Term::atom("none"),
        };
        (result, self.take())
    }

    /// A message received by one of our processes.
    pub(crate) fn message(&mut self, to: Proc, msg: &Term) -> Result<Vec<Action>, Violation> {
        let result = match to {
            Proc::Server => self.server_message(msg),
            Proc::Locker => self.locker_message(msg),
            Proc::Registrar => Ok(()),
        };
        let actions = self.take();
        result.map(|()| actions)
    }

    fn with_registrar<R>(&mut self, f: impl FnOnce(&mut Registrar, &mut Cx) -> R) -> R {
        let known = self.known_nodes();
        let mut cx = Cx {
            table: &mut self.table,
            ids: &mut self.ids,
            out: &mut self.out,
            rng: &mut self.rng,
            known,
        };
        f(&mut self.registrar, &mut cx)
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, from: Proc, to: Dest, msg: Term) {
        self.out.push(Action::Send { from, to, msg });
    }

    fn post(&mut self, msg: Msg) {
        let mut lock_is_set = Vec::new();
        let mut cx = Ctx {
            table: &mut self.table,
            ids: &mut self.ids,
            out: &mut self.out,
            rng: &mut self.rng,
            lock_is_set: &mut lock_is_set,
        };
        self.locker.post(msg, &mut cx);
        self.lock_is_set(lock_is_set);
    }

    fn new_tag(&mut self) -> i64 {
        self.next_tag += 1;
        MIN_SMALL + self.next_tag
    }

    fn locker_message(&mut self, msg: &Term) -> Result<(), Violation> {
        // Only the old, untagged form comes straight to the locker (from a node answering as
        // if we were an old version).
        if let Some([tag, from, set, _known]) = msg.as_tuple() {
            if tag.is_atom("lock_set") {
                let from = from
                    .as_pid()
                    .ok_or_else(|| violation("lock_set: the locker is not a pid"))?;
                let set = set.is_atom("true");
                self.post(Msg::LockSet {
                    from,
                    set,
                    tag: None,
                });
            }
        }
        Ok(())
    }

    fn server_message(&mut self, msg: &Term) -> Result<(), Violation> {
        let Some(fields) = msg.as_tuple() else {
            return Ok(());
        };
        let Some(tag) = fields.first().and_then(Term::as_atom) else {
            return Ok(());
        };
        match (tag.as_str(), fields) {
            ("$gen_cast", [_, request]) => self.cast(request),
            ("$gen_call", [_, from, request]) => {
                let caller = match from.as_tuple() {
                    Some([pid, _]) => pid.as_pid(),
                    _ => None,
                }
                .ok_or_else(|| violation("a call whose From is not {Pid, Tag}"))?;
                let limit = self.config.limits.max_names;
                if is_insert(request) && self.table.names().len() >= limit {
                    return Err(violation("a registration beyond the name limit"));
                }
                if let Some(reply) = serve_call(
                    &mut self.table,
                    &mut self.ids,
                    &mut self.out,
                    Some(&self.known),
                    caller,
                    request,
                )? {
                    self.out.push(Action::Reply {
                        from: from.clone(),
                        reply,
                    });
                }
                Ok(())
            }
            ("init_connect_ack", [_, node, his_my_tag, his_his_tag]) => {
                let node = atom(node, "init_connect_ack")?;
                self.init_connect_ack(node, his_my_tag, his_his_tag);
                Ok(())
            }
            ("cancel_connect", [_, node, my_tag]) => {
                let node = atom(node, "cancel_connect")?;
                let session_tag = self.session(node).my_tag;
                if session_tag.is_some_and(|t| Term::Int(t) == *my_tag) {
                    let tag = session_tag.expect("checked");
                    self.cancel_locker(node, Some(tag), None);
                    self.sessions.remove(&node);
                    self.pending.remove(&node);
                    self.restart_connect(node, Some(tag));
                }
                Ok(())
            }
            ("lost_connection", [_, a, xcre, op, b]) => {
                let (a, b) = (atom(a, "lost_connection")?, atom(b, "lost_connection")?);
                if self.config.prevent_overlapping_partitions {
                    self.lost_connection(msg, a, xcre, op, b);
                }
                Ok(())
            }
            ("remove_connection", [_, node]) => {
                let node = atom(node, "remove_connection")?;
                if self.potentially_known(node) {
                    self.out.push(Action::Disconnect { node });
                    self.handle_nodedown(node, NodeDown::RemoveConnection);
                    log::warn!(
                        "'global' at {} disconnected node {} in order to prevent overlapping \
                         partitions",
                        self.config.node,
                        node
                    );
                }
                Ok(())
            }
            ("whereis", [_, name, from]) => {
                let reply = self
                    .table
                    .whereis(name)
                    .map_or(Term::atom("undefined"), Term::from);
                self.out.push(Action::Reply {
                    from: from.clone(),
                    reply,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn cast(&mut self, request: &Term) -> Result<(), Violation> {
        let Some(fields) = request.as_tuple() else {
            return Ok(());
        };
        let Some(tag) = fields.first().and_then(Term::as_atom) else {
            return Ok(());
        };
        match (tag.as_str(), fields) {
            ("init_connect", [_, vsn, node, init]) => {
                let node = atom(node, "init_connect")?;
                self.init_connect(node, vsn, init)
            }
            ("exchange", [_, node, names, _ext, my_tag]) => {
                let node = atom(node, "exchange")?;
                let names = name_list(names)?;
                if self.is_my_tag(node, my_tag) {
                    self.exchange(node, names);
                } else {
                    self.cancel_session_on_bad_tag(node, my_tag);
                }
                Ok(())
            }
            ("resolved", [_, node, his_resolved, his_known, _unused, names_ext, my_tag]) => {
                let node = atom(node, "resolved")?;
                let his_resolved = ops(his_resolved)?;
                let his_known = node_list(his_known, "resolved")?;
                if self.is_my_tag(node, my_tag) {
                    match self.session_mut(node).save_ops.take() {
                        Some(SaveOps::Ours(ours)) => {
                            self.resolved(node, ours, his_resolved, his_known, names_ext.clone())
                        }
                        _ => {
                            self.session_mut(node).save_ops = Some(SaveOps::His {
                                his_known,
                                names_ext: names_ext.clone(),
                                his_resolved,
                            })
                        }
                    }
                } else {
                    self.cancel_session_on_bad_tag(node, my_tag);
                }
                Ok(())
            }
            ("new_nodes", [_, node, op_list, names_ext, nodes, extra]) => {
                let node = atom(node, "new_nodes")?;
                let op_list = ops(op_list)?;
                let nodes = node_list(nodes, "new_nodes")?;
                self.new_nodes(node, op_list, names_ext, nodes, extra);
                Ok(())
            }
            ("in_sync", [_, node, _is_known]) => {
                let node = atom(node, "in_sync")?;
                if !self.synced.contains(&node) {
                    self.synced.push(node);
                }
                self.pending.remove(&node);
                let tag = self.session(node).my_tag;
                self.cancel_locker(node, tag, None);
                self.sessions.remove(&node);
                Ok(())
            }
            ("lock_set", [_, from, set, _known, my_tag]) => {
                let from = from
                    .as_pid()
                    .ok_or_else(|| violation("lock_set: the locker is not a pid"))?;
                if self.is_my_tag(from.node, my_tag) {
                    self.post(Msg::LockSet {
                        from,
                        set: set.is_atom("true"),
                        tag: Some(my_tag.clone()),
                    });
                }
                Ok(())
            }
            ("lock_set", [_, from, set, _known]) => {
                let from = from
                    .as_pid()
                    .ok_or_else(|| violation("lock_set: the locker is not a pid"))?;
                self.post(Msg::LockSet {
                    from,
                    set: set.is_atom("true"),
                    tag: None,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn session(&mut self, node: Atom) -> &Session {
        self.sessions.entry(node).or_default()
    }

    fn session_mut(&mut self, node: Atom) -> &mut Session {
        self.sessions.entry(node).or_default()
    }

    fn my_tag(&self, node: Atom) -> Option<i64> {
        self.sessions.get(&node).and_then(|s| s.my_tag)
    }

    fn is_my_tag(&self, node: Atom, tag: &Term) -> bool {
        self.my_tag(node).is_some_and(|t| Term::Int(t) == *tag)
    }

    /// A message of a session we no longer run: end what is left of it.
    fn cancel_session_on_bad_tag(&mut self, node: Atom, tag: &Term) {
        if let Some(tag) = tag.as_i64() {
            self.cancel_locker(node, Some(tag), None);
        }
    }

    /// `handle_nodeup/2`.
    fn handle_nodeup(&mut self, node: Atom) {
        if self.known.contains_key(&node) || self.resolvers.contains_key(&node) {
            return;
        }
        let pre = self.session_mut(node).pre_connect.take();
        let tag = self.new_tag();
        self.session_mut(node).my_tag = Some(tag);
        let known = self.known_map();
        let init = Term::tuple(vec![
            Term::atom("init_connect"),
            Term::tuple(vec![Term::Int(VSN), Term::Int(tag)]),
            self.config.node.into(),
            Term::tuple(vec![
                Term::atom("locker"),
                Term::atom("no_longer_a_pid"),
                known,
                self.config.locker.into(),
            ]),
        ]);
        self.send(Proc::Server, server_of(node), cast(init));
        self.resolvers.insert(node, Resolver { tag, work: None });
        if let Some((vsn, init, his_tag)) = pre {
            self.init_connect_parsed(node, vsn, vsn, his_tag, &init);
        }
    }

    /// The known map as `global.erl` sends it in `init_connect` (its receivers ignore it).
    fn known_map(&self) -> Term {
        let mut pairs: Vec<(Term, Term)> = self
            .known
            .iter()
            .map(|(&n, &v)| (n.into(), Term::Int(v)))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Term::map(pairs)
    }

    fn init_connect(&mut self, node: Atom, vsn: &Term, init: &Term) -> Result<(), Violation> {
        let (his_vsn, his_tag) = match vsn.as_tuple() {
            Some([v, tag, ..]) => match v.as_i64() {
                Some(v) => (v, tag.clone()),
                None => return Ok(()),
            },
            _ => {
                log::info!("Illegal global protocol version {vsn} Node: {node}");
                return Ok(());
            }
        };
        if !matches!(init.as_tuple(), Some([l, _, _, p]) if l.is_atom("locker") && p.as_pid().is_some())
        {
            return Err(violation("init_connect without {locker, _, _, Pid}"));
        }
        let use_vsn = his_vsn.min(VSN);
        self.init_connect_parsed(node, use_vsn, his_vsn, his_tag, init);
        Ok(())
    }

    fn init_connect_parsed(
        &mut self,
        node: Atom,
        vsn: i64,
        his_vsn: i64,
        his_tag: Term,
        init: &Term,
    ) {
        if self.pending.contains_key(&node) {
            if his_vsn < VSN {
                log::error!(
                    "'global' at node {} got an out of sync connection attempt from old \
                     version {his_vsn} node {node}. Disconnecting from it.",
                    self.config.node
                );
                self.out.push(Action::Disconnect { node });
                return;
            }
            // OTP 27 and later drop this attempt too and let the restarted session run
            // (OTP 25 went on with it).
            self.send_cancel_connect(node, his_tag);
            let old = self.my_tag(node);
            self.restart_connect(node, old);
            return;
        }
        {
            let session = self.session_mut(node);
            session.prot_vsn = Some(vsn);
            session.his_tag = Some(his_tag.clone());
        }
        match self.resolvers.get(&node) {
            Some(resolver) => {
                let my_tag = resolver.tag;
                let locker = match init.as_tuple() {
                    Some([_, _, _, locker]) => locker.as_pid(),
                    _ => None,
                };
                let Some(locker) = locker else {
                    return;
                };
                self.post(Msg::His(Him {
                    node,
                    locker,
                    vsn,
                    my_tag,
                    his_tag: his_tag.clone(),
                }));
                if his_vsn >= VSN {
                    let ack = Term::tuple(vec![
                        Term::atom("init_connect_ack"),
                        self.config.node.into(),
                        his_tag,
                        Term::Int(my_tag),
                    ]);
                    self.send(Proc::Server, server_of(node), ack);
                }
                self.pending.insert(node, his_vsn);
            }
            None => {
                self.session_mut(node).pre_connect = Some((vsn, init.clone(), his_tag));
            }
        }
    }

    fn init_connect_ack(&mut self, node: Atom, his_my_tag: &Term, his_his_tag: &Term) {
        let session = self.session(node);
        let my_tag = session.my_tag;
        let fine = my_tag.is_some_and(|t| Term::Int(t) == *his_my_tag)
            && session.his_tag.as_ref() == Some(his_his_tag);
        if !fine {
            self.send_cancel_connect(node, his_his_tag.clone());
            self.restart_connect(node, my_tag);
        }
    }

    fn send_cancel_connect(&mut self, node: Atom, his_tag: Term) {
        let msg = Term::tuple(vec![
            Term::atom("cancel_connect"),
            self.config.node.into(),
            his_tag,
        ]);
        self.send(Proc::Server, server_of(node), msg);
    }

    /// `restart_connect/3`: drop the session and what the node's processes hold here (OTP 27
    /// and later) and, if the node is up for us, start a new session.
    fn restart_connect(&mut self, node: Atom, my_tag: Option<i64>) {
        self.cancel_locker(node, my_tag, None);
        self.sessions.remove(&node);
        self.pending.remove(&node);
        self.table.drop_node(node, &mut self.out);
        if my_tag.is_some() {
            self.handle_nodeup(node);
        }
    }

    /// `cancel_locker/4`: the locker drops the session (running `then` first if it holds its
    /// lock), the other side hears of it if the session got far, the resolver goes.
    fn cancel_locker(&mut self, node: Atom, tag: Option<i64>, then: Option<NewNodes>) {
        self.post(Msg::Cancel { node, tag, then });
        let session = self.sessions.get(&node);
        let send = matches!(self.pending.get(&node), Some(&v) if v >= VSN)
            && tag.is_some()
            && session.and_then(|s| s.my_tag) == tag;
        if send {
            if let Some(his_tag) = session.and_then(|s| s.his_tag.clone()) {
                self.send_cancel_connect(node, his_tag);
            }
        }
        if self
            .resolvers
            .get(&node)
            .is_some_and(|r| Some(r.tag) == tag)
        {
            self.resolvers.remove(&node);
        }
    }

    /// Our locker holds the lock of a session on both sides.
    fn lock_is_set(&mut self, events: Vec<LockIsSet>) {
        for LockIsSet {
            node,
            my_tag,
            lock_id,
        } in events
        {
            if self.session(node).my_tag != Some(my_tag) {
                self.cancel_locker(node, Some(my_tag), None);
                continue;
            }
            let his_tag = self
                .session(node)
                .his_tag
                .clone()
                .unwrap_or(Term::atom("undefined"));
            let exchange = Term::tuple(vec![
                Term::atom("exchange"),
                self.config.node.into(),
                self.table.exchange_list(),
                Term::nil(),
                his_tag,
            ]);
            self.send(Proc::Server, server_of(node), cast(exchange));
            let session = self.session_mut(node);
            session.lock_id = Some(lock_id);
            match session.wait_lock.take() {
                Some(WaitLock::Exchange(names)) => {
                    session.wait_lock = Some(WaitLock::LockIsSet);
                    self.exchange(node, names);
                }
                _ => session.wait_lock = Some(WaitLock::LockIsSet),
            }
        }
    }

    fn exchange(&mut self, node: Atom, names: Vec<(Term, Pid, Term)>) {
        let session = self.session_mut(node);
        match session.wait_lock.take() {
            Some(WaitLock::LockIsSet) => {
                if let Some(resolver) = self.resolvers.get_mut(&node) {
                    resolver.work = Some(Resolving {
                        names: names.into(),
                        ops: Vec::new(),
                        res: Vec::new(),
                        rpc: None,
                    });
                    self.resolve(node);
                }
            }
            _ => session.wait_lock = Some(WaitLock::Exchange(names)),
        }
    }

    /// `exchange_names/4`, from where it stopped: the smaller node decides a clash, with the
    /// resolve method of its own entry, run on the node of that entry's pid.
    fn resolve(&mut self, node: Atom) {
        let me = self.config.node;
        loop {
            let next = match self.resolvers.get_mut(&node).and_then(|r| r.work.as_mut()) {
                None => return,
                Some(work) if work.rpc.is_some() => return,
                Some(work) => work.names.pop_front(),
            };
            let Some((name, pid, method)) = next else {
                break;
            };
            match self.table.entry(&name) {
                Some((pid2, _)) if pid2 == pid => {}
                Some((pid2, method2)) if me < node => {
                    if pid2.node == me {
                        let winner = self.apply_method(&method2, &name, pid, pid2);
                        self.resolve_answer_with(node, &name, pid, &method, pid2, &method2, winner);
                    } else {
                        let id = self.ids.next();
                        let args = vec![method2.clone(), name.clone(), pid.into(), pid2.into()];
                        work_of(&mut self.resolvers, node).rpc =
                            Some((id, name, pid, method, pid2, method2));
                        self.out.push(Action::ResolveRpc {
                            id,
                            node: pid2.node,
                            args,
                        });
                        return;
                    }
                }
                Some(_) => {}
                None => work_of(&mut self.resolvers, node)
                    .ops
                    .push(insert_op(&name, pid, &method)),
            }
        }
        let Some(resolver) = self.resolvers.get_mut(&node) else {
            return;
        };
        let tag = resolver.tag;
        let Some(work) = resolver.work.take() else {
            return;
        };
        self.exchange_ops(node, tag, work.ops, work.res);
    }

    fn resolve_answer(&mut self, node: Atom, result: Term) {
        let Some((_, name, pid, method, pid2, method2)) = self
            .resolvers
            .get_mut(&node)
            .and_then(|r| r.work.as_mut())
            .and_then(|w| w.rpc.take())
        else {
            return;
        };
        self.resolve_answer_with(node, &name, pid, &method, pid2, &method2, result);
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_answer_with(
        &mut self,
        node: Atom,
        name: &Term,
        pid: Pid,
        method: &Term,
        pid2: Pid,
        method2: &Term,
        result: Term,
    ) {
        let work = work_of(&mut self.resolvers, node);
        if result == Term::from(pid) {
            work.ops.push(insert_op(name, pid, method));
        } else if result == Term::from(pid2) {
            work.res.push(insert_op(name, pid2, method2));
        } else if is_badrpc(&result) {
            log::info!("global: badrpc {result} received when conflicting name {name} was found");
            work.ops.push(insert_op(name, pid, method));
        } else {
            if !result.is_atom("none") {
                log::info!(
                    "global: Resolve method {method2} for conflicting name {name} returned {result}"
                );
            }
            let delete = Term::tuple(vec![Term::atom("delete"), name.clone()]);
            work.ops.push(delete.clone());
            work.res.push(delete);
        }
    }

    /// Runs a resolve method here (`resolve_it/4`): `fun global:random_notify_name/3` and
    /// `fun global:notify_all_name/3` as global does; anything else — `random_exit_name/3`,
    /// and the local funs of BEAM nodes, which cannot run outside BEAM — by global's default
    /// rule: the pid of the greater node is killed, the other keeps the name.
    fn apply_method(&mut self, method: &Term, name: &Term, pid1: Pid, pid2: Pid) -> Term {
        let (min, max) = if pid1.node < pid2.node {
            (pid1, pid2)
        } else {
            (pid2, pid1)
        };
        match export_name(method).as_deref() {
            Some("random_notify_name") => {
                self.send(
                    Proc::Server,
                    Dest::Pid(max),
                    Term::tuple(vec![Term::atom("global_name_conflict"), name.clone()]),
                );
                min.into()
            }
            Some("notify_all_name") => {
                for (to, other) in [(pid1, pid2), (pid2, pid1)] {
                    self.send(
                        Proc::Server,
                        Dest::Pid(to),
                        Term::tuple(vec![
                            Term::atom("global_name_conflict"),
                            name.clone(),
                            other.into(),
                        ]),
                    );
                }
                Term::atom("none")
            }
            _ => {
                log::info!(
                    "global: Name conflict terminating {{{name},{}}}",
                    Term::from(max)
                );
                self.out.push(Action::Exit {
                    pid: max,
                    reason: Term::atom("kill"),
                });
                min.into()
            }
        }
    }

    /// `exchange_ops`: our resolution is done; tell the other side, and finish if its
    /// resolution is here.
    fn exchange_ops(&mut self, node: Atom, tag: i64, ops: Vec<Term>, res: Vec<Term>) {
        if self.session(node).my_tag != Some(tag) {
            self.cancel_locker(node, Some(tag), None);
            return;
        }
        let his_tag = self
            .session(node)
            .his_tag
            .clone()
            .unwrap_or(Term::atom("undefined"));
        let known = self.known_list();
        let resolved = Term::tuple(vec![
            Term::atom("resolved"),
            self.config.node.into(),
            Term::list(res),
            known,
            Term::atom("unused"),
            self.table.ext_list(),
            his_tag,
        ]);
        self.send(Proc::Server, server_of(node), cast(resolved));
        match self.session_mut(node).save_ops.take() {
            Some(SaveOps::His {
                his_known,
                names_ext,
                his_resolved,
            }) => self.resolved(node, ops, his_resolved, his_known, names_ext),
            _ => self.session_mut(node).save_ops = Some(SaveOps::Ours(ops)),
        }
    }

    /// `[{Node, Vsn}]` of the synced nodes (`mk_known_list/2` for version 7 and later).
    fn known_list(&self) -> Term {
        let mut nodes: Vec<(Atom, i64)> = self.known.iter().map(|(&n, &v)| (n, v)).collect();
        nodes.sort();
        Term::list(
            nodes
                .into_iter()
                .map(|(n, v)| Term::tuple(vec![n.into(), Term::Int(v)]))
                .collect(),
        )
    }

    /// `resolved/5`: both resolutions are in; the partitions become one.
    fn resolved(
        &mut self,
        node: Atom,
        ours: Vec<Term>,
        his_resolved: Vec<Term>,
        his_known: Vec<Term>,
        names_ext: Term,
    ) {
        let mut all_ops = ours;
        all_ops.extend(his_resolved);
        let mut new_nodes = vec![(node, self.node_vsn(node))];
        for entry in &his_known {
            new_nodes.push(self.vsn_entry(entry));
        }
        let his_nodes: Vec<Atom> = his_known.iter().filter_map(entry_node).collect();
        self.sync_others(&his_nodes);
        let session = self.session(node);
        let extra = Term::list(vec![
            Term::tuple(vec![
                Term::atom("vsn"),
                session.prot_vsn.map_or(Term::atom("undefined"), Term::Int),
            ]),
            Term::tuple(vec![
                Term::atom("lock"),
                session.lock_id.clone().unwrap_or(Term::atom("undefined")),
            ]),
        ]);
        let lock_id = session.lock_id.clone();
        self.do_ops(&all_ops, &names_ext, &Inserter::Session(lock_id));
        for &other in &his_nodes {
            let tag = self.sessions.get(&other).and_then(|s| s.my_tag);
            self.pending.remove(&other);
            self.cancel_locker(other, tag, None);
            self.sessions.remove(&other);
        }
        let mut targets: Vec<(Atom, i64)> = self.known.iter().map(|(&n, &v)| (n, v)).collect();
        targets.sort();
        let node_vsns = Term::list(
            new_nodes
                .iter()
                .map(|&(n, v)| Term::tuple(vec![n.into(), Term::Int(v)]))
                .collect(),
        );
        let node_atoms = Term::list(new_nodes.iter().map(|&(n, _)| n.into()).collect());
        let ops_term = Term::list(all_ops);
        let make = |nodes: Term| {
            Term::tuple(vec![
                Term::atom("new_nodes"),
                self.config.node.into(),
                ops_term.clone(),
                names_ext.clone(),
                nodes,
                extra.clone(),
            ])
        };
        let then = NewNodes {
            msg: make(node_vsns),
            old_msg: make(node_atoms),
            nodes: targets,
        };
        let tag = self.session(node).my_tag;
        self.pending.remove(&node);
        self.cancel_locker(node, tag, Some(then));
        self.sessions.remove(&node);
        let added = self.add_to_known(&new_nodes);
        self.post(Msg::Add(added));
        if !self.synced.contains(&node) {
            self.synced.push(node);
        }
    }

    /// `{new_nodes, Node, Ops, NamesExt, Nodes, ExtraInfo}`: a node of our partition joined
    /// another partition; meet its nodes.
    fn new_nodes(
        &mut self,
        _from: Atom,
        ops: Vec<Term>,
        names_ext: &Term,
        nodes: Vec<Term>,
        extra: &Term,
    ) {
        let entries: Vec<(Atom, i64)> = nodes.iter().map(|e| self.vsn_entry_raw(e)).collect();
        let added = self.add_to_known(&entries);
        self.sync_others(&added);
        let lock = extra_lock(extra);
        self.do_ops(&ops, names_ext, &Inserter::Session(lock));
        self.post(Msg::Add(added));
    }

    /// `add_to_known/2`: nodes we did not know join (our own name never).
    fn add_to_known(&mut self, nodes: &[(Atom, i64)]) -> Vec<Atom> {
        let mut added = Vec::new();
        for &(node, vsn) in nodes {
            if node == self.config.node {
                continue;
            }
            match self.known.get(&node) {
                None => {
                    self.known.insert(node, vsn);
                    added.insert(0, node);
                }
                Some(&old) if old < 0 => {
                    self.known.insert(node, vsn);
                }
                Some(_) => {}
            }
        }
        added
    }

    /// `sync_others/1`: connect to each node and tell it we are in sync.
    fn sync_others(&mut self, nodes: &[Atom]) {
        for &node in nodes {
            if node == self.config.node {
                continue;
            }
            self.connecting.push(node);
            self.out.push(Action::Connect { node });
        }
    }

    fn do_ops(&mut self, ops: &[Term], names_ext: &Term, inserter: &Inserter) {
        let ext: Vec<(Term, Pid, Atom)> = names_ext
            .as_list()
            .unwrap_or(&[])
            .iter()
            .filter_map(|e| match e.as_tuple() {
                Some([name, pid, node]) => Some((name.clone(), pid.as_pid()?, node.as_atom()?)),
                _ => None,
            })
            .collect();
        for op in ops {
            match op.as_tuple() {
                Some([tag, entry]) if tag.is_atom("insert") => {
                    if let Some([name, pid, method]) = entry.as_tuple() {
                        let Some(pid) = pid.as_pid() else {
                            continue;
                        };
                        let reg_node = ext
                            .iter()
                            .find(|(n, p, _)| n == name && *p == pid)
                            .map(|&(_, _, node)| node);
                        let entry = NewName {
                            name: name.clone(),
                            pid,
                            method: method.clone(),
                            ext: reg_node,
                        };
                        self.table
                            .insert(entry, inserter, &mut self.ids, &mut self.out);
                    }
                }
                Some([tag, name]) if tag.is_atom("delete") => {
                    self.table.delete(name, &mut self.out)
                }
                _ => {}
            }
        }
    }

    fn node_vsn(&self, node: Atom) -> i64 {
        if node == self.config.node {
            return VSN;
        }
        self.known
            .get(&node)
            .or_else(|| self.pending.get(&node))
            .copied()
            .unwrap_or(0)
    }

    /// `make_node_vsn_list/2` for one entry: `{N, V}` kept, `N` or `{N, 0}` gets what we know.
    fn vsn_entry(&self, entry: &Term) -> (Atom, i64) {
        match entry.as_tuple() {
            Some([n, v]) => {
                let node = n.as_atom().expect("checked by node_list");
                match v.as_i64() {
                    Some(0) | None => (node, self.node_vsn(node)),
                    Some(v) => (node, v),
                }
            }
            _ => {
                let node = entry.as_atom().expect("checked by node_list");
                (node, self.node_vsn(node))
            }
        }
    }

    /// A `new_nodes` entry as `add_to_known/2` reads it: a bare atom is version 0.
    fn vsn_entry_raw(&self, entry: &Term) -> (Atom, i64) {
        match entry.as_tuple() {
            Some([n, v]) => (
                n.as_atom().expect("checked by node_list"),
                v.as_i64().unwrap_or(0),
            ),
            _ => (entry.as_atom().expect("checked by node_list"), 0),
        }
    }

    fn potentially_known(&self, node: Atom) -> bool {
        self.known.contains_key(&node) || self.pending.contains_key(&node)
    }

    /// `handle_nodedown/3`.
    fn handle_nodedown(&mut self, node: Atom, what: NodeDown) {
        let tag = self.sessions.get(&node).and_then(|s| s.my_tag);
        self.cancel_locker(node, tag, None);
        self.post(Msg::Remove(node));
        self.sessions.remove(&node);
        match what {
            NodeDown::RemoveConnection => {
                self.removing.insert(node);
            }
            NodeDown::Disconnected => {
                if !self.removing.remove(&node) {
                    self.inform_connection_loss(node);
                }
            }
        }
        self.pending.remove(&node);
        self.known.remove(&node);
        self.synced.retain(|&n| n != node);
    }

    fn inform_connection_loss(&mut self, node: Atom) {
        if !self.config.prevent_overlapping_partitions {
            return;
        }
        let xcreation = self.creation_extension + i64::from(self.config.creation) - MIN_SMALL;
        let op = self.new_tag();
        let msg = Term::tuple(vec![
            Term::atom("lost_connection"),
            self.config.node.into(),
            Term::Int(xcreation),
            Term::Int(op),
            node.into(),
        ]);
        self.multicast(&msg, node);
    }

    /// `gns_volatile_multicast/5` to the known and pending nodes of version 7 and later.
    fn multicast(&mut self, msg: &Term, except: Atom) {
        let mut targets: Vec<Atom> = self
            .known
            .iter()
            .chain(self.pending.iter())
            .filter(|&(&n, &v)| n != except && v >= POP_VSN)
            .map(|(&n, _)| n)
            .collect();
        targets.sort();
        targets.dedup();
        for node in targets {
            self.send(Proc::Server, server_of(node), msg.clone());
        }
    }

    fn lost_connection(&mut self, msg: &Term, a: Atom, xcre: &Term, op: &Term, b: Atom) {
        let key = (a, b);
        if let Some((seen_cre, seen_op, _)) = self.lost.get(&key) {
            if seen_cre == xcre && op <= seen_op {
                return;
            }
        }
        self.multicast(msg, a);
        let timer = self.ids.next();
        self.out.push(Action::Timer {
            id: timer,
            after: LOST_CONNECTION_MEMORY,
        });
        self.lost.insert(key, (xcre.clone(), op.clone(), timer));
        let remove = if b == self.config.node { a } else { b };
        if !self.potentially_known(remove) {
            return;
        }
        let vsn = self.node_vsn(remove);
        let what = if vsn < POP_VSN {
            self.out.push(Action::Disconnect { node: remove });
            "disconnected old"
        } else {
            let msg = Term::tuple(vec![
                Term::atom("remove_connection"),
                self.config.node.into(),
            ]);
            self.send(Proc::Server, server_of(remove), msg);
            "requested disconnect from"
        };
        log::warn!(
            "'global' at node {} {what} node {remove} in order to prevent overlapping partitions",
            self.config.node
        );
        self.handle_nodedown(remove, NodeDown::RemoveConnection);
    }
}

#[derive(Clone, Copy, Debug)]
enum NodeDown {
    Disconnected,
    RemoveConnection,
}

/// Answers a call to `global_name_server` (ours, from a peer or from our own locker and
/// registrar): `None` for calls BEAM leaves unanswered.
fn serve_call(
    table: &mut Table,
    ids: &mut Ids,
    out: &mut Vec<Action>,
    known: Option<&HashMap<Atom, i64>>,
    caller: Pid,
    request: &Term,
) -> Result<Option<Term>, Violation> {
    let fields = match request {
        Term::Atom(atom) if atom.as_str() == "get_known" => {
            let mut nodes: Vec<Atom> = known
                .map(|k| k.keys().copied().collect())
                .unwrap_or_default();
            nodes.sort();
            return Ok(Some(Term::list(
                nodes.into_iter().map(Term::from).collect(),
            )));
        }
        Term::Atom(atom) if atom.as_str() == "get_protocol_version" => {
            return Ok(Some(Term::Int(VSN)))
        }
        _ => match request.as_tuple() {
            Some(fields) => fields,
            None => return Ok(None),
        },
    };
    let Some(tag) = fields.first().and_then(Term::as_atom) else {
        return Ok(None);
    };
    match (tag.as_str(), fields) {
        ("set_lock", [_, id]) => {
            let (resource, requester) = lock_id(id)?;
            Ok(Some(
                table.set_lock(resource, requester, caller, ids, out).into(),
            ))
        }
        ("del_lock", [_, id]) => {
            let (resource, requester) = lock_id(id)?;
            table.del_lock(resource, requester, caller, out);
            Ok(Some(true.into()))
        }
        ("register", [_, name, pid, method]) => {
            let pid = pid
                .as_pid()
                .ok_or_else(|| violation("register: not a pid"))?;
            let entry = NewName {
                name: name.clone(),
                pid,
                method: method.clone(),
                ext: None,
            };
            table.insert(entry, &Inserter::Caller(caller), ids, out);
            Ok(Some(Term::atom("yes")))
        }
        ("register_ext", [_, name, pid, method, reg_node]) => {
            let pid = pid
                .as_pid()
                .ok_or_else(|| violation("register_ext: not a pid"))?;
            let reg_node = atom(reg_node, "register_ext")?;
            let entry = NewName {
                name: name.clone(),
                pid,
                method: method.clone(),
                ext: Some(reg_node),
            };
            table.insert(entry, &Inserter::Caller(caller), ids, out);
            Ok(Some(Term::atom("yes")))
        }
        ("unregister", [_, name]) => {
            table.delete(name, out);
            Ok(Some(Term::atom("ok")))
        }
        _ => Ok(None),
    }
}

fn is_insert(request: &Term) -> bool {
    matches!(request.as_tuple(), Some([tag, ..]) if tag.is_atom("register") || tag.is_atom("register_ext"))
}

fn lock_id(id: &Term) -> Result<(&Term, &Term), Violation> {
    match id.as_tuple() {
        Some([resource, requester]) => Ok((resource, requester)),
        _ => Err(violation(
            "a lock id that is not {ResourceId, LockRequesterId}",
        )),
    }
}

fn cast(msg: Term) -> Term {
    Term::tuple(vec![Term::atom("$gen_cast"), msg])
}

fn server_of(node: Atom) -> Dest {
    Dest::Name {
        name: Atom::new(SERVER),
        node,
    }
}

fn atom(term: &Term, what: &str) -> Result<Atom, Violation> {
    term.as_atom()
        .ok_or_else(|| violation(&format!("{what}: the node is not an atom")))
}

fn violation(problem: &str) -> Violation {
    Violation(format!("global: {problem}"))
}

/// `[{Name, Pid, Method}]` of an `exchange`.
fn name_list(names: &Term) -> Result<Vec<(Term, Pid, Term)>, Violation> {
    let list = names
        .as_list()
        .ok_or_else(|| violation("exchange: names are not a list"))?;
    list.iter()
        .map(|entry| match entry.as_tuple() {
            Some([name, pid, method]) => pid
                .as_pid()
                .map(|pid| (name.clone(), pid, method.clone()))
                .ok_or_else(|| violation("exchange: a name's pid is not a pid")),
            _ => Err(violation("exchange: an entry is not {Name, Pid, Method}")),
        })
        .collect()
}

/// A list of `{insert, {Name, Pid, Method}}` and `{delete, Name}`: other entries are skipped
/// by `do_ops`, but an insert whose pid is not a pid would crash a BEAM node.
fn ops(list: &Term) -> Result<Vec<Term>, Violation> {
    let list = list
        .as_list()
        .ok_or_else(|| violation("ops are not a list"))?;
    for op in list {
        if let Some([tag, entry]) = op.as_tuple() {
            if tag.is_atom("insert")
                && !matches!(entry.as_tuple(), Some([_, pid, _]) if pid.as_pid().is_some())
            {
                return Err(violation("an insert op without {Name, Pid, Method}"));
            }
        }
    }
    Ok(list.to_vec())
}

/// Atoms or `{Atom, Vsn}` (what `resolved` and `new_nodes` carry).
fn node_list(list: &Term, what: &str) -> Result<Vec<Term>, Violation> {
    let list = list
        .as_list()
        .ok_or_else(|| violation(&format!("{what}: nodes are not a list")))?;
    for entry in list {
        let fine = entry.as_atom().is_some()
            || matches!(entry.as_tuple(), Some([n, v]) if n.as_atom().is_some() && v.as_i64().is_some());
        if !fine {
            return Err(violation(&format!(
                "{what}: a node is not Node or {{Node, Vsn}}"
            )));
        }
    }
    Ok(list.to_vec())
}

fn entry_node(entry: &Term) -> Option<Atom> {
    entry
        .as_atom()
        .or_else(|| entry.as_tuple().and_then(|t| t.first()?.as_atom()))
}

fn extra_lock(extra: &Term) -> Option<Term> {
    extra.as_list()?.iter().find_map(|e| match e.as_tuple() {
        Some([tag, lock]) if tag.is_atom("lock") => Some(lock.clone()),
        _ => None,
    })
}

fn insert_op(name: &Term, pid: Pid, method: &Term) -> Term {
    Term::tuple(vec![
        Term::atom("insert"),
        Term::tuple(vec![name.clone(), pid.into(), method.clone()]),
    ])
}

fn is_badrpc(result: &Term) -> bool {
    matches!(result.as_tuple(), Some([tag, _]) if tag.is_atom("badrpc"))
}

fn work_of(resolvers: &mut HashMap<Atom, Resolver>, node: Atom) -> &mut Resolving {
    resolvers
        .get_mut(&node)
        .and_then(|r| r.work.as_mut())
        .expect("a resolution in progress")
}

/// The function of `fun global:F/3`, if the method is one.
fn export_name(method: &Term) -> Option<String> {
    let Term::Fun(fun) = method else {
        return None;
    };
    match crate::term::decode::fun_parts(fun.encoding())? {
        crate::term::decode::FunParts::Export(m, f, 3) if m.as_str() == "global" => {
            Some(f.as_str().to_string())
        }
        _ => None,
    }
}
