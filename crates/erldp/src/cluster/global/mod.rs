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
//! The connect session is in `connect`, name clashes in `clash`, lost connections in
//! `partitions`, the calls between servers in `calls`, message shapes in `wire`; the locker,
//! the registrar and the name and lock tables have a module each.
//!
//! A mistake here is costly: `global_name_server` is a permanent child of kernel's one-for-all
//! supervisor, so a message it cannot digest halts the BEAM node. Everything sent is built in one
//! place per message, with the shapes seen on the wire.

mod calls;
mod clash;
mod connect;
mod limits;
mod locker;
mod partitions;
mod registrar;
#[cfg(test)]
mod sim;
mod table;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use self::calls::{serve_call, MultiCall};
use self::clash::Resolver;
use self::connect::{SaveOps, Session};
pub(crate) use self::limits::Limits;
use self::locker::{LockIsSet, Locker, Msg};
use self::partitions::NodeDown;
use self::registrar::Registrar;
use self::table::Table;
use self::wire::{
    atom, cast, entry_node, inserted_names, locker_pid, name_list, node_list, ops, sender,
    server_of, tagged, violation,
};
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
    /// Send `msg` from our process `from` to `to`, without setting up a connection
    /// (`gns_volatile_send/2`).
    Send {
        from: Proc,
        to: Dest,
        msg: Term,
    },
    /// Send `msg` from our process `from` to `to` as `gen_server:cast` and `!` do: to a node
    /// not connected once a connect to it succeeds (lost if it fails). One message cast to
    /// every known node is shared by its casts, not copied for each.
    Cast {
        from: Proc,
        to: Dest,
        msg: Arc<Term>,
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
    /// The timer `id` is not wanted any more: forget it.
    CancelTimer {
        id: u64,
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

/// What a step of the locker or the registrar may touch.
struct Cx<'a> {
    table: &'a mut Table,
    ids: &'a mut Ids,
    out: &'a mut Vec<Action>,
    rng: &'a mut Rng,
    /// The nodes global knows now (`get_known/0`), sorted.
    known: Vec<Atom>,
    /// The sessions whose lock the locker now holds, for the server to go on with.
    lock_is_set: Vec<LockIsSet>,
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
        self.step(|_, registrar, cx| registrar.register(request, name, pid, method, cx));
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
            self.step(|_, registrar, cx| registrar.unregister(request, name, cx));
        }
        (request, self.take())
    }

    /// Whether global knows `node` or is in a connect session with it: what it casts, calls
    /// and monitors there connects first.
    pub(crate) fn meets(&self, node: Atom) -> bool {
        self.synced_or_syncing(node) || self.pending.contains_key(&node)
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
                let msg = Term::tuple(vec![
                    Term::atom("in_sync"),
                    self.config.node.into(),
                    true.into(),
                ]);
                self.cast_to(node, msg);
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
        let taken = self.step(|locker, _, cx| locker.call_done(id, reply.clone(), cx));
        if !taken {
            self.step(|_, registrar, cx| registrar.call_done(id, reply, cx));
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
        let taken = self.step(|locker, _, cx| locker.timer(id, cx));
        if !taken && !self.step(|_, registrar, cx| registrar.timer(id, cx)) {
            self.lost.retain(|_, (_, _, timer)| *timer != id);
        }
        self.take()
    }

    /// A message received by one of our processes over the connection of node `from`.
    pub(crate) fn message(
        &mut self,
        to: Proc,
        from: Atom,
        msg: &Term,
    ) -> Result<Vec<Action>, Violation> {
        let result = match to {
            Proc::Server => self.server_message(from, msg),
            Proc::Locker => self.locker_message(from, msg),
            Proc::Registrar => Ok(()),
        };
        let actions = self.take();
        result.map(|()| actions)
    }

    /// Runs a step of the locker or the registrar (`f` takes the one it steps), then the
    /// `lock_is_set` handling the locker asked for.
    fn step<R>(&mut self, f: impl FnOnce(&mut Locker, &mut Registrar, &mut Cx) -> R) -> R {
        let known = self.known_nodes();
        let mut cx = Cx {
            table: &mut self.table,
            ids: &mut self.ids,
            out: &mut self.out,
            rng: &mut self.rng,
            known,
            lock_is_set: Vec::new(),
        };
        let result = f(&mut self.locker, &mut self.registrar, &mut cx);
        let lock_is_set = cx.lock_is_set;
        self.lock_is_set(lock_is_set);
        result
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, from: Proc, to: Dest, msg: Term) {
        self.out.push(Action::Send { from, to, msg });
    }

    /// `gen_server:cast({global_name_server, Node}, Request)` from our server.
    fn cast_to(&mut self, node: Atom, request: Term) {
        self.out.push(Action::Cast {
            from: Proc::Server,
            to: server_of(node),
            msg: Arc::new(cast(request)),
        });
    }

    fn post(&mut self, msg: Msg) {
        self.step(|locker, _, cx| locker.post(msg, cx));
    }

    fn new_tag(&mut self) -> i64 {
        self.next_tag += 1;
        MIN_SMALL + self.next_tag
    }

    fn locker_message(&mut self, sent_by: Atom, msg: &Term) -> Result<(), Violation> {
        // Only the old, untagged form comes straight to the locker (from a node answering as
        // if we were an old version).
        match msg.as_tuple() {
            Some([tag, from, set, _known]) if tag.is_atom("lock_set") => {
                self.lock_set(sent_by, from, set, None)
            }
            _ => Ok(()),
        }
    }

    /// A `lock_set` for our locker; the tagged form (`{lock_set, Pid, Set, Known, MyTag}`)
    /// only while `MyTag` is still the session's.
    fn lock_set(
        &mut self,
        sent_by: Atom,
        from: &Term,
        set: &Term,
        tag: Option<&Term>,
    ) -> Result<(), Violation> {
        let from = locker_pid(from, sent_by)?;
        if tag.is_some_and(|tag| !self.is_my_tag(from.node, tag)) {
            return Ok(());
        }
        self.room_for_lock_set(from.node)?;
        self.post(Msg::LockSet {
            from,
            set: set.is_atom("true"),
            tag: tag.cloned(),
        });
        Ok(())
    }

    fn server_message(&mut self, sent_by: Atom, msg: &Term) -> Result<(), Violation> {
        let Some((tag, fields)) = tagged(msg) else {
            return Ok(());
        };
        match (tag.as_str(), fields) {
            ("$gen_cast", [_, request]) => self.cast(sent_by, request),
            ("$gen_call", [_, from, request]) => {
                let caller = match from.as_tuple() {
                    Some([pid, _]) => pid.as_pid(),
                    _ => None,
                }
                .ok_or_else(|| violation("a call whose From is not {Pid, Tag}"))?;
                if caller.node != sent_by {
                    return Err(violation("a call from a process of another node"));
                }
                self.room_for_call(request, caller)?;
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
                let node = sender(node, sent_by, "init_connect_ack")?;
                self.init_connect_ack(node, his_my_tag, his_his_tag);
                Ok(())
            }
            ("cancel_connect", [_, node, my_tag]) => {
                let node = sender(node, sent_by, "cancel_connect")?;
                let session_tag = self.my_tag(node);
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
                let node = sender(node, sent_by, "remove_connection")?;
                self.remove_connection(node);
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

    fn cast(&mut self, sent_by: Atom, request: &Term) -> Result<(), Violation> {
        let Some((tag, fields)) = tagged(request) else {
            return Ok(());
        };
        match (tag.as_str(), fields) {
            ("init_connect", [_, vsn, node, init]) => {
                let node = sender(node, sent_by, "init_connect")?;
                self.init_connect(node, vsn, init)
            }
            ("exchange", [_, node, names, _ext, my_tag]) => {
                let node = sender(node, sent_by, "exchange")?;
                let names = name_list(names)?;
                self.names_fit(names.len(), "exchange")?;
                self.room_for_names(names.iter().map(|(name, _, _)| name), "exchange")?;
                if self.is_my_tag(node, my_tag) {
                    self.exchange(node, names);
                } else {
                    self.cancel_session_on_bad_tag(node, my_tag);
                }
                Ok(())
            }
            ("resolved", [_, node, his_resolved, his_known, _unused, names_ext, my_tag]) => {
                let node = sender(node, sent_by, "resolved")?;
                let his_resolved = self.checked_ops(his_resolved, names_ext, "resolved")?;
                let his_known = node_list(his_known, "resolved")?;
                let nodes: Vec<Atom> = his_known.iter().filter_map(entry_node).collect();
                self.room_for_nodes(&nodes, "resolved")?;
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
                let node = sender(node, sent_by, "new_nodes")?;
                let op_list = self.checked_ops(op_list, names_ext, "new_nodes")?;
                let nodes = node_list(nodes, "new_nodes")?;
                let atoms: Vec<Atom> = nodes.iter().filter_map(entry_node).collect();
                self.room_for_nodes(&atoms, "new_nodes")?;
                self.new_nodes(node, op_list, names_ext, nodes, extra);
                Ok(())
            }
            ("in_sync", [_, node, _is_known]) => {
                let node = sender(node, sent_by, "in_sync")?;
                if !self.synced.contains(&node) {
                    self.synced.push(node);
                }
                self.pending.remove(&node);
                let tag = self.my_tag(node);
                self.cancel_locker(node, tag, None);
                self.sessions.remove(&node);
                Ok(())
            }
            ("lock_set", [_, from, set, _known, my_tag]) => {
                self.lock_set(sent_by, from, set, Some(my_tag))
            }
            ("lock_set", [_, from, set, _known]) => self.lock_set(sent_by, from, set, None),
            _ => Ok(()),
        }
    }

    /// The ops of a `resolved` or `new_nodes`, with its external names: both are applied here
    /// and sent on to the rest of our partition in `new_nodes`, where a shape a BEAM node
    /// cannot read would crash it.
    fn checked_ops(
        &self,
        list: &Term,
        names_ext: &Term,
        what: &str,
    ) -> Result<Vec<Term>, Violation> {
        let list = ops(list)?;
        let ext = names_ext
            .as_list()
            .ok_or_else(|| violation(&format!("{what}: external names are not a list")))?;
        self.names_fit(list.len().max(ext.len()), what)?;
        self.room_for_names(inserted_names(&list), what)?;
        Ok(list)
    }
}
