//! Calls our node makes: `rpc` in the manner of `erpc:call/5`, `gen_server`
//! `call` and `cast`, and `net_adm:ping/1`; and the table of those waiting
//! for their answers.
//!
//! What goes on the wire is [`requests`]'s. Every request is keyed by its
//! own reference, so any number of threads can call over one connection at
//! once. A call that times out is abandoned cleanly: the table entry goes,
//! and the remote worker is demonitored and killed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use super::{Node, NodeInner};
use crate::connection::Connection;
use crate::dest::Dest;
use crate::fast_map::FastMap;
use crate::pending::{Operation, Pending, Slot};
use crate::protocol::control::spawn_reply;
use crate::protocol::explain::{self, Question};
use crate::protocol::{flags, identity, requests, Control, ProcRef};
use crate::term::{Atom, Pid, Ref, Term};
use crate::threads;
use crate::{Error, Result};

/// The requests waiting for their answers, by reference.
#[derive(Default)]
pub(super) struct Requests(Mutex<FastMap<Ref, Outstanding>>);

/// A request waiting for its answer.
struct Outstanding {
    node: Atom,
    slot: Arc<Slot<Result<Term>>>,
    kind: Kind,
}

enum Kind {
    /// An rpc; `worker` is known once the spawn reply arrived. An error
    /// that needs its node's words is `explain`ed with one more rpc
    /// ([`explain`]); that rpc's own errors are not.
    Rpc { worker: Option<Pid>, explain: bool },
    /// A `gen_server` call monitoring `server`.
    Call { server: ProcRef },
}

impl Node {
    /// Calls `module:function(args...)` on `node` and returns its value,
    /// like `erpc:call/5`. An exception in the remote function is an
    /// [`Error::Rpc`] with its class, reason and stack trace. `timeout`
    /// bounds the whole call, connecting to `node` included.
    pub fn rpc(
        &self,
        node: &str,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term> {
        let started = Instant::now();
        let peer = identity::node_atom(node)?;
        let (module, function) = requests::rpc_names(module, function)?;
        if peer != self.inner.name() {
            threads::not_from_its_reader(peer)?;
            self.inner.reach(peer, timeout)?;
        }
        self.inner
            .rpc_start(peer, module, function, args)?
            .wait_since(started, timeout)
    }

    /// Starts an rpc and returns at once; the answer arrives on the
    /// [`Pending`]. Many may be outstanding over one connection.
    pub fn rpc_start(
        &self,
        node: &str,
        module: &str,
        function: &str,
        args: Vec<Term>,
    ) -> Result<Pending<Term>> {
        let peer = identity::node_atom(node)?;
        let (module, function) = requests::rpc_names(module, function)?;
        self.inner.rpc_start(peer, module, function, args)
    }

    /// `gen_server:call(Dest, Request, Timeout)`: returns the server's reply.
    /// A server that does not exist or dies meanwhile gives an
    /// [`Error::Rpc`] of class `exit` (`noproc`, or its exit reason).
    pub fn call(&self, dest: &Dest, request: Term, timeout: Duration) -> Result<Term> {
        let started = Instant::now();
        let dest = &self.call_dest(dest)?;
        if dest.node() != self.inner.name() {
            threads::not_from_its_reader(dest.node())?;
            self.inner.reach(dest.node(), timeout)?;
        }
        self.start_call(dest, request)?.wait_since(started, timeout)
    }

    /// Starts a `gen_server` call and returns at once.
    pub fn call_start(&self, dest: &Dest, request: Term) -> Result<Pending<Term>> {
        self.start_call(&self.call_dest(dest)?, request)
    }

    /// Where a call goes: a global name is resolved once, as
    /// `gen_server:call({global, Name}, ...)` does (`noproc` when unknown).
    fn call_dest(&self, dest: &Dest) -> Result<Dest> {
        match *dest {
            Dest::Global(name) => Ok(Dest::Pid(self.inner.global_call_pid(name)?)),
            _ => Ok(*dest),
        }
    }

    /// [`call_start`](Self::call_start) to a resolved destination.
    fn start_call(&self, dest: &Dest, request: Term) -> Result<Pending<Term>> {
        let inner = &self.inner;
        let server = requests::call_server(dest)?;
        let node = dest.node();
        let reference = inner.identity.make_ref();
        let pending = inner.expect(
            reference,
            node,
            Kind::Call { server },
            Operation::Call(*dest),
        );
        let system = inner.system_pid();
        let message = requests::call_request(system, reference, request);
        if node == inner.name() {
            if inner.watch(server, reference, system).is_none() {
                let _ = inner.complete_down(reference, Term::atom("noproc"), None);
            }
            inner.send_from(system, dest, message)?;
        } else {
            let conn = inner.connection(node)?;
            conn.send(&Control::MonitorP {
                from: system,
                to: server,
                reference,
            })?;
            // Awaited: queued behind the monitor it would wait for the
            // writer thread to wake.
            conn.send_awaited(&requests::send(system, dest, message)?)?;
        }
        Ok(pending)
    }

    /// How many rpcs and calls are waiting for an answer.
    pub fn outstanding_requests(&self) -> usize {
        self.inner.requests.0.lock().len()
    }

    /// `gen_server:cast(Dest, Request)`. Like it, a cast to a global name
    /// that nobody holds is dropped without an error.
    pub fn cast(&self, dest: &Dest, request: Term) -> Result<()> {
        let dest = match *dest {
            Dest::Global(name) => match self.inner.whereis_global_atom(name)? {
                Some(pid) => Dest::Pid(pid),
                None => return Ok(()),
            },
            _ => *dest,
        };
        self.send(&dest, requests::cast_message(request))
    }

    /// `net_adm:ping/1`: `true` for `pong`, `false` for `pang`.
    pub fn ping(&self, peer: &str) -> bool {
        let Ok(peer) = identity::node_atom(peer) else {
            return false;
        };
        if peer == self.name() {
            return true;
        }
        let (dest, request) = requests::ping_request(self.name(), peer);
        matches!(
            self.call(&dest, request, self.inner.setup_timeout),
            Ok(reply) if requests::is_pong(&reply)
        )
    }
}

impl NodeInner {
    /// [`Node::rpc_start`] for our own processes (the cluster's included).
    pub(super) fn rpc_start(
        self: &Arc<Self>,
        peer: Atom,
        module: Atom,
        function: Atom,
        args: Vec<Term>,
    ) -> Result<Pending<Term>> {
        if peer == self.name() {
            return Err(Error::invalid(
                "rpc to this node itself is not supported; call the code directly",
            ));
        }
        let conn = self.connection(peer)?;
        self.start_rpc(&conn, module, function, args, true)
    }

    /// Sends an rpc over `conn`; `explain` as in [`Kind::Rpc`].
    fn start_rpc(
        self: &Arc<Self>,
        conn: &Connection,
        module: Atom,
        function: Atom,
        args: Vec<Term>,
        explain: bool,
    ) -> Result<Pending<Term>> {
        let peer = conn.peer_name();
        if conn.flags() & flags::SPAWN == 0 {
            return Err(Error::connection(
                peer,
                "the peer does not support spawn requests (OTP 23 or newer needed)",
            ));
        }
        let operation = Operation::Rpc {
            module,
            function,
            arity: args.len(),
            node: peer,
        };
        let req_id = self.identity.make_ref();
        let kind = Kind::Rpc {
            worker: None,
            explain,
        };
        let pending = self.expect(req_id, peer, kind, operation);
        let request = requests::rpc_request(
            req_id,
            self.system_pid(),
            self.group_leader_pid(),
            module,
            function,
            args,
        );
        // The caller waits for the answer: batching the request with later
        // frames through the writer thread would only add a wake-up.
        conn.send_awaited(&request)?;
        Ok(pending)
    }

    /// Records a request waiting for its answer under `reference`.
    #[inline]
    fn expect(
        self: &Arc<Self>,
        reference: Ref,
        node: Atom,
        kind: Kind,
        operation: Operation,
    ) -> Pending<Term> {
        let slot = Slot::new();
        self.requests.0.lock().insert(
            reference,
            Outstanding {
                node,
                slot: Arc::clone(&slot),
                kind,
            },
        );
        let abandon = {
            let inner = Arc::clone(self);
            Box::new(move || inner.abandon(reference))
        };
        Pending::new(slot, abandon, operation, Arc::clone(&self.timer))
    }

    /// A spawn reply: records the rpc worker, or fails the rpc when the
    /// spawn failed. A reply nobody waits for any more (its rpc timed out)
    /// gets its worker killed.
    pub(super) fn complete_spawn_reply(
        self: &Arc<Self>,
        conn: &Arc<Connection>,
        req_id: Ref,
        flags: u32,
        result: Term,
    ) {
        let peer = conn.peer_name();
        let mut table = self.requests.0.lock();
        if let Some(outstanding) = table.get(&req_id).filter(|entry| entry.node != peer) {
            let node = outstanding.node;
            drop(table);
            // Only the node asked may answer: see `on_monitor_exit`.
            conn.abort(&format!(
                "SPAWN_REPLY to a spawn request of ours to {node}, not to the peer"
            ));
            return;
        }
        if let Some(Outstanding {
            kind: Kind::Rpc { worker, .. },
            ..
        }) = table.get_mut(&req_id)
        {
            match requests::rpc_spawned(result) {
                Ok(pid) if pid.node == peer => *worker = Some(pid),
                Ok(pid) => {
                    drop(table);
                    // Abandoning the rpc would kill that process.
                    conn.abort(&format!(
                        "SPAWN_REPLY naming {pid}, not a process of the peer"
                    ));
                }
                Err(err) => {
                    let entry = table.remove(&req_id).expect("present: just matched");
                    drop(table);
                    entry.slot.complete(Err(err));
                }
            }
            return;
        }
        drop(table);
        match result {
            Term::Pid(orphan) if orphan.node == peer => {
                let [demonitor, kill] = requests::rpc_abandon(self.system_pid(), orphan, req_id);
                if flags & spawn_reply::MONITOR != 0 {
                    let _ = conn.signal(&demonitor);
                }
                let _ = conn.signal(&kill);
            }
            _ => {}
        }
    }

    /// A `DOWN` for a monitor of ours: an rpc worker ended (its exit reason
    /// carries the result) or a called server died. Returns false when the
    /// reference is not an outstanding request. A `DOWN` a peer sent names
    /// the node it came `from`, which must be the one the request went to;
    /// else nothing is completed, and the error names the request's node.
    pub(super) fn complete_down(
        self: &Arc<Self>,
        reference: Ref,
        reason: Term,
        from: Option<Atom>,
    ) -> std::result::Result<bool, Atom> {
        let entry = {
            let mut table = self.requests.0.lock();
            match table.get(&reference) {
                None => return Ok(false),
                Some(entry) if from.is_some_and(|from| from != entry.node) => {
                    return Err(entry.node)
                }
                Some(_) => table.remove(&reference).expect("present: just looked up"),
            }
        };
        let result = match entry.kind {
            Kind::Rpc { explain, .. } => {
                let result = requests::rpc_result(reference, entry.node, reason);
                match result {
                    Err(err) if explain => {
                        self.explain(entry.node, err, entry.slot);
                        return Ok(true);
                    }
                    result => result,
                }
            }
            Kind::Call { server } => Err(requests::call_failure(entry.node, server, reason)),
        };
        entry.slot.complete(result);
        Ok(true)
    }

    /// Completes `slot` with `err` and, when the error needs them, the words
    /// its node has for it ([`explain`]). Meanwhile a caller whose timeout
    /// passes gets `err` as it stands.
    fn explain(self: &Arc<Self>, node: Atom, err: Error, slot: Arc<Slot<Result<Term>>>) {
        let Some(question) = Question::about(&err) else {
            slot.complete(Err(err));
            return;
        };
        // On the connection the error came by: never a new one from here,
        // the reader thread of that connection.
        let Some(conn) = self.live_connection(node) else {
            slot.complete(Err(err));
            return;
        };
        slot.provide_fallback(Err(err.clone()));
        let (module, function, args) = question.rpc();
        match self.start_rpc(&conn, module, function, args, false) {
            Ok(asked) => asked.on_complete(explain::ANSWER_WITHIN, move |answer| {
                slot.complete(Err(question.explain(err, answer)));
            }),
            Err(_) => {
                slot.complete(Err(err));
            }
        }
    }

    /// A `{Tag, Reply}` reply to a call, on its alias or with a plain tag.
    /// Returns false when nobody waits for it.
    pub(super) fn complete_alias_reply(self: &Arc<Self>, reference: Ref, message: &Term) -> bool {
        let reply = match message {
            Term::Tuple(pair) if pair.len() == 2 => pair[1].clone(),
            _ => return false,
        };
        let entry = {
            let mut table = self.requests.0.lock();
            match table.get(&reference) {
                Some(Outstanding {
                    kind: Kind::Call { .. },
                    ..
                }) => table.remove(&reference),
                _ => None,
            }
        };
        let Some(entry) = entry else { return false };
        if let Kind::Call { server } = entry.kind {
            self.unwatch(entry.node, server, reference);
        }
        entry.slot.complete(Ok(reply));
        true
    }

    /// The caller stopped waiting: forget the request and undo its effects.
    fn abandon(self: &Arc<Self>, reference: Ref) {
        let Some(entry) = self.requests.0.lock().remove(&reference) else {
            return;
        };
        match entry.kind {
            Kind::Rpc {
                worker: Some(worker),
                ..
            } => {
                // The worker is killed even over a new connection, as BEAM's
                // exit/2 connects: it would run on otherwise.
                if let Ok(conn) = self.connection(entry.node) {
                    for undo in requests::rpc_abandon(self.system_pid(), worker, reference) {
                        let _ = conn.signal(&undo);
                    }
                }
            }
            Kind::Rpc { worker: None, .. } => {}
            Kind::Call { server } => self.unwatch(entry.node, server, reference),
        }
    }

    fn unwatch(self: &Arc<Self>, node: Atom, server: ProcRef, reference: Ref) {
        if node == self.name() {
            self.unwatch_local(server, reference);
        } else {
            // A monitor goes with its connection: a new one has none to undo.
            self.signal_if_connected(
                node,
                &Control::DemonitorP {
                    from: self.system_pid(),
                    to: server,
                    reference,
                },
            );
        }
    }

    /// Fails the requests to `node`, whose connection was lost.
    pub(super) fn fail_outstanding(&self, node: Atom, reason: &str) {
        let lost: Vec<Outstanding> = {
            let mut table = self.requests.0.lock();
            let references: Vec<Ref> = table
                .iter()
                .filter(|(_, e)| e.node == node)
                .map(|(r, _)| *r)
                .collect();
            references.iter().filter_map(|r| table.remove(r)).collect()
        };
        for entry in lost {
            entry.slot.complete(Err(Error::connection(
                node,
                format!("connection lost: {reason}"),
            )));
        }
    }

    /// Fails every request: the node is closing.
    pub(super) fn fail_all_outstanding(&self) {
        let all: Vec<Outstanding> = self.requests.0.lock().drain().map(|(_, e)| e).collect();
        for entry in all {
            entry.slot.complete(Err(Error::Closed));
        }
    }
}
