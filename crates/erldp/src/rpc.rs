//! Remote calls: `rpc` in the manner of `erpc:call/5`, and `gen_server`
//! `call`/`cast`.
//!
//! An rpc sends a [`SPAWN_REQUEST`](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#SPAWN_REQUEST)
//! for `erpc:execute_call(Ref, M, F, A)` with the `monitor` option, exactly as
//! `erpc:call/5` on a BEAM node does; the worker's exit reason carries the
//! result, or the exception's class, reason and stack trace. Every request
//! is keyed by its own reference, so any number of threads can call over one
//! connection at once. A call that times out is abandoned cleanly: the
//! table entry goes, and the remote worker is demonitored and killed.
//!
//! A `gen_server` call monitors the server and sends
//! `{'$gen_call', {From, [alias | Ref]}, Request}` as OTP 24+ does; the reply
//! comes back on the alias.

use std::sync::Arc;
use std::time::Duration;

use crate::dist::{Control, ProcRef};
use crate::handshake::flags;
use crate::node::{Node, NodeInner};
use crate::pending::{Operation, Pending, Slot};
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Dest, Error, Result};

/// A request waiting for its answer, keyed by its reference.
pub(crate) struct Outstanding {
    node: Atom,
    slot: Arc<Slot<Result<Term>>>,
    kind: Kind,
}

enum Kind {
    /// An rpc; `worker` is known once the spawn reply arrived.
    Rpc { worker: Option<Pid> },
    /// A `gen_server` call monitoring `server`.
    Call { server: ProcRef },
}

impl Node {
    /// Calls `module:function(args...)` on `node` and returns its value,
    /// like `erpc:call/5`. An exception in the remote function is an
    /// [`Error::Rpc`] with its class, reason and stack trace.
    pub fn rpc(
        &self,
        node: &str,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term> {
        self.rpc_start(node, module, function, args)?.wait(timeout)
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
        let inner = self.inner();
        let peer = Node::node_atom(node)?;
        if peer == inner.name() {
            return Err(Error::invalid(
                "rpc to this node itself is not supported; call the code directly",
            ));
        }
        let (module, function) = (Atom::new(module), Atom::new(function));
        let operation = Operation::Rpc {
            module,
            function,
            arity: args.len(),
            node: peer,
        };
        let conn = inner.connection(peer)?;
        if conn.flags() & flags::SPAWN == 0 {
            return Err(Error::connection(
                peer,
                "the peer does not support spawn requests (OTP 23 or newer needed)",
            ));
        }
        let req_id = inner.make_ref();
        let slot = Slot::new();
        inner.outstanding.lock().insert(
            req_id,
            Outstanding {
                node: peer,
                slot: Arc::clone(&slot),
                kind: Kind::Rpc { worker: None },
            },
        );
        let control = Control::SpawnRequest {
            req_id,
            from: inner.system.pid,
            group_leader: inner.group_leader.pid,
            module: crate::atom!("erpc"),
            function: crate::atom!("execute_call"),
            args: Term::List(vec![
                Term::Ref(req_id),
                Term::Atom(module),
                Term::Atom(function),
                Term::List(args),
            ]),
            opts: Term::List(vec![Term::Atom(crate::atom!("monitor"))]),
        };
        if let Err(err) = conn.send(&control) {
            inner.outstanding.lock().remove(&req_id);
            return Err(err);
        }
        let abandon = {
            let inner = Arc::clone(inner);
            Box::new(move || inner.abandon(req_id))
        };
        Ok(Pending::new(
            slot,
            abandon,
            operation,
            Arc::clone(&inner.timer),
        ))
    }

    /// `gen_server:call(Dest, Request, Timeout)`: returns the server's reply.
    /// A server that does not exist or dies meanwhile gives an
    /// [`Error::Rpc`] of class `exit` (`noproc`, or its exit reason).
    pub fn call(&self, dest: &Dest, request: Term, timeout: Duration) -> Result<Term> {
        self.call_start(dest, request)?.wait(timeout)
    }

    /// Starts a `gen_server` call and returns at once.
    pub fn call_start(&self, dest: &Dest, request: Term) -> Result<Pending<Term>> {
        let inner = self.inner();
        let server = match *dest {
            Dest::Pid(pid) => ProcRef::Pid(pid),
            Dest::Name { name, .. } => ProcRef::Name(name),
            Dest::Alias(_) => {
                return Err(Error::invalid(
                    "a gen_server call needs a pid or [name, node], not an alias",
                ))
            }
        };
        let node = dest.node();
        let operation = Operation::Call(*dest);
        let reference = inner.make_ref();
        let slot = Slot::new();
        inner.outstanding.lock().insert(
            reference,
            Outstanding {
                node,
                slot: Arc::clone(&slot),
                kind: Kind::Call { server },
            },
        );
        let abandon = {
            let inner = Arc::clone(inner);
            Box::new(move || inner.abandon(reference))
        };
        let pending = Pending::new(slot, abandon, operation, Arc::clone(&inner.timer));

        let system = inner.system.pid;
        if node == inner.name() {
            inner.watch_local(server, reference);
        } else {
            inner.send_control(
                node,
                &Control::MonitorP {
                    from: system,
                    to: server,
                    reference,
                },
            )?;
        }
        let tag = Term::ImproperList(
            vec![Term::Atom(crate::atom!("alias"))],
            Box::new(Term::Ref(reference)),
        );
        let message = Term::Tuple(vec![
            Term::Atom(crate::atom!("$gen_call")),
            Term::Tuple(vec![Term::Pid(system), tag]),
            request,
        ]);
        inner.send_from(system, dest, message)?;
        Ok(pending)
    }

    /// How many rpcs and calls are waiting for an answer.
    pub fn outstanding_requests(&self) -> usize {
        self.inner().outstanding.lock().len()
    }

    /// `gen_server:cast(Dest, Request)`.
    pub fn cast(&self, dest: &Dest, request: Term) -> Result<()> {
        let message = Term::Tuple(vec![Term::Atom(crate::atom!("$gen_cast")), request]);
        self.send(dest, message)
    }
}

impl NodeInner {
    /// A spawn reply: records the rpc worker, or fails the rpc when the
    /// spawn failed. A reply nobody waits for any more (its rpc timed out)
    /// gets its worker killed.
    pub(crate) fn complete_spawn_reply(
        self: &Arc<Self>,
        conn: &Arc<crate::connection::Connection>,
        req_id: Ref,
        _to: Pid,
        flags: u32,
        result: Term,
    ) {
        let mut table = self.outstanding.lock();
        if let Some(Outstanding {
            kind: Kind::Rpc { worker },
            ..
        }) = table.get_mut(&req_id)
        {
            match result {
                Term::Pid(pid) => *worker = Some(pid),
                reason => {
                    let entry = table.remove(&req_id).expect("present: just matched");
                    drop(table);
                    entry.slot.complete(Err(Error::rpc(
                        crate::atom!("error"),
                        Term::Tuple(vec![Term::atom("erpc"), reason]),
                        Term::nil(),
                    )));
                }
            }
            return;
        }
        drop(table);
        if let Term::Pid(orphan) = result {
            let system = self.system.pid;
            if flags & 2 != 0 {
                let _ = conn.send(&Control::DemonitorP {
                    from: system,
                    to: ProcRef::Pid(orphan),
                    reference: req_id,
                });
            }
            let _ = conn.send(&Control::Exit2 {
                from: system,
                to: orphan,
                reason: Term::atom("kill"),
            });
        }
    }

    /// A `DOWN` for a monitor of ours: an rpc worker ended (its exit reason
    /// carries the result) or a called server died. Returns false when the
    /// reference is not an outstanding request.
    pub(crate) fn complete_down(self: &Arc<Self>, reference: Ref, reason: Term) -> bool {
        let Some(entry) = self.outstanding.lock().remove(&reference) else {
            return false;
        };
        let result = match entry.kind {
            Kind::Rpc { .. } => rpc_result(reference, entry.node, reason),
            Kind::Call { .. } => Err(call_failure(entry.node, reason)),
        };
        entry.slot.complete(result);
        true
    }

    /// A `{Tag, Reply}` reply to a call, on its alias or with a plain tag.
    /// Returns false when nobody waits for it.
    pub(crate) fn complete_alias_reply(self: &Arc<Self>, reference: Ref, message: &Term) -> bool {
        let reply = match message {
            Term::Tuple(pair) if pair.len() == 2 => pair[1].clone(),
            _ => return false,
        };
        let entry = {
            let mut table = self.outstanding.lock();
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
        let Some(entry) = self.outstanding.lock().remove(&reference) else {
            return;
        };
        let system = self.system.pid;
        match entry.kind {
            Kind::Rpc {
                worker: Some(worker),
            } => {
                let demonitor = Control::DemonitorP {
                    from: system,
                    to: ProcRef::Pid(worker),
                    reference,
                };
                let kill = Control::Exit2 {
                    from: system,
                    to: worker,
                    reason: Term::atom("kill"),
                };
                if let Ok(conn) = self.connection(entry.node) {
                    let _ = conn.send(&demonitor);
                    let _ = conn.send(&kill);
                }
            }
            Kind::Rpc { worker: None } => {}
            Kind::Call { server } => self.unwatch(entry.node, server, reference),
        }
    }

    fn unwatch(self: &Arc<Self>, node: Atom, server: ProcRef, reference: Ref) {
        if node == self.name() {
            self.unwatch_local(server, reference);
        } else if let Ok(conn) = self.connection(node) {
            let _ = conn.send(&Control::DemonitorP {
                from: self.system.pid,
                to: server,
                reference,
            });
        }
    }

    /// Fails the requests to `node`, whose connection was lost.
    pub(crate) fn fail_outstanding(&self, node: Atom, reason: &str) {
        let lost: Vec<Outstanding> = {
            let mut table = self.outstanding.lock();
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
    pub(crate) fn fail_all_outstanding(&self) {
        let all: Vec<Outstanding> = self.outstanding.lock().drain().map(|(_, e)| e).collect();
        for entry in all {
            entry.slot.complete(Err(Error::Closed));
        }
    }
}

/// The result `erpc:execute_call/4` left in its exit reason.
pub(crate) fn rpc_result(reference: Ref, node: Atom, reason: Term) -> Result<Term> {
    let rpc_error =
        |class: Atom, reason: Term, stacktrace: Term| Err(Error::rpc(class, reason, stacktrace));
    if reason.is_atom("noconnection") {
        return Err(Error::connection(node, "connection lost during the rpc"));
    }
    let Term::Tuple(mut fields) = reason else {
        return rpc_error(
            crate::atom!("exit"),
            Term::Tuple(vec![Term::atom("signal"), reason]),
            Term::nil(),
        );
    };
    let ours = fields.first().and_then(Term::as_reference) == Some(reference);
    let class = fields.get(1).and_then(Term::as_atom);
    match (ours, class, fields.len()) {
        (true, Some(class), 3) if class == "return" => Ok(fields.pop().expect("three fields")),
        (true, Some(class), 3) if class == "throw" || class == "exit" || class == "error" => {
            rpc_error(class, fields.pop().expect("three fields"), Term::nil())
        }
        (true, Some(class), 4) if class == "error" => {
            let stacktrace = fields.pop().expect("four fields");
            let reason = fields.pop().expect("four fields");
            rpc_error(class, reason, stacktrace)
        }
        _ => rpc_error(
            crate::atom!("exit"),
            Term::Tuple(vec![Term::atom("signal"), Term::Tuple(fields)]),
            Term::nil(),
        ),
    }
}

/// What a failed `gen_server` call raises, as `gen_server:call/3` exits.
pub(crate) fn call_failure(node: Atom, reason: Term) -> Error {
    if reason.is_atom("noconnection") {
        return Error::connection(node, "connection lost during the call");
    }
    Error::rpc(crate::atom!("exit"), reason, Term::nil())
}
