//! Name clashes found in an exchange: the smaller node resolves each with the method of its
//! own entry, run on the node of that entry's pid (`exchange_names/4`, `resolve_it/4` and the
//! three methods of `global.erl`).

use std::collections::HashMap;
use std::sync::Arc;

use super::wire::{insert_op, is_badrpc};
use super::{Action, Global, Proc};
use crate::term::decode::{fun_parts, FunParts};
use crate::term::{Atom, Pid, Term};
use crate::Dest;

/// The name resolution of one session (`global.erl` runs it in a resolver process).
#[derive(Debug)]
pub(super) struct Resolver {
    pub(super) tag: i64,
    pub(super) work: Option<Resolving>,
}

#[derive(Debug)]
pub(super) struct Resolving {
    pub(super) names: std::collections::VecDeque<(Term, Pid, Term)>,
    pub(super) ops: Vec<Term>,
    pub(super) res: Vec<Term>,
    pub(super) rpc: Option<(u64, Term, Pid, Term, Pid, Term)>,
}

impl Global {
    /// `Pid ! {global_name_conflict, ...}` from our server, which connects first as `!` does.
    fn notify(&mut self, to: Dest, msg: Term) {
        self.out.push(Action::Cast {
            from: Proc::Server,
            to,
            msg: Arc::new(msg),
        });
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

    /// `exchange_names/4`, from where it stopped: the smaller node decides a clash, with the
    /// resolve method of its own entry, run on the node of that entry's pid.
    pub(super) fn resolve(&mut self, node: Atom) {
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

    pub(super) fn resolve_answer(&mut self, node: Atom, result: Term) {
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
    pub(super) fn resolve_answer_with(
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

    /// Runs a resolve method here (`resolve_it/4`): global's three methods as global runs
    /// them. Any other fun cannot run outside BEAM; a BEAM node that cannot run a method
    /// (`catch Method(...)` gives an `'EXIT'`) makes both sides delete the name and kills
    /// nobody, and so do we.
    pub(super) fn apply_method(
        &mut self,
        method: &Term,
        name: &Term,
        pid1: Pid,
        pid2: Pid,
    ) -> Term {
        let (min, max) = if pid1.node < pid2.node {
            (pid1, pid2)
        } else {
            (pid2, pid1)
        };
        match Method::of(method) {
            Method::RandomExit => {
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
            Method::RandomNotify => {
                self.notify(
                    Dest::Pid(max),
                    Term::tuple(vec![Term::atom("global_name_conflict"), name.clone()]),
                );
                min.into()
            }
            Method::NotifyAll => {
                for (to, other) in [(pid1, pid2), (pid2, pid1)] {
                    self.notify(
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
            Method::Foreign => Term::tuple(vec![
                Term::atom("EXIT"),
                Term::tuple(vec![Term::atom("badfun"), method.clone()]),
            ]),
        }
    }
}

pub(super) fn work_of(resolvers: &mut HashMap<Atom, Resolver>, node: Atom) -> &mut Resolving {
    resolvers
        .get_mut(&node)
        .and_then(|r| r.work.as_mut())
        .expect("a resolution in progress")
}

/// The resolve methods of `global.erl`.
enum Method {
    /// `fun global:random_exit_name/3`, or `fun random_exit_name/3` as `global:register_name/2`
    /// writes it inside module global (a local fun, the only one global passes as a method).
    RandomExit,
    RandomNotify,
    NotifyAll,
    /// A fun of another module, which only BEAM can run.
    Foreign,
}

impl Method {
    fn of(method: &Term) -> Method {
        let Term::Fun(fun) = method else {
            return Method::Foreign;
        };
        match fun_parts(fun.encoding()) {
            Some(FunParts::Export(m, f, 3)) if m.as_str() == "global" => match f.as_str() {
                "random_exit_name" => Method::RandomExit,
                "random_notify_name" => Method::RandomNotify,
                "notify_all_name" => Method::NotifyAll,
                _ => Method::Foreign,
            },
            Some(FunParts::Local(local))
                if local.module.as_str() == "global" && local.free.is_empty() =>
            {
                Method::RandomExit
            }
            _ => Method::Foreign,
        }
    }
}
