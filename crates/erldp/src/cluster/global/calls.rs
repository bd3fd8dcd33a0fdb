//! `gen_server` calls between global servers: the multi-calls our locker and registrar make
//! (our own node answering at once), and the calls every BEAM node makes into our server —
//! `set_lock`, `del_lock`, `register`, `unregister` — answered as `global.erl`'s
//! `handle_call/3` does.

use std::collections::HashMap;

use super::table::{Inserter, NewName, Table};
use super::wire::{atom, violation};
use super::{Action, Cx, Ids, Proc, Violation, VSN};
use crate::term::{Atom, Pid, Term};

/// `gen_server:multi_call(Nodes, global_name_server, Request)` from one of our processes. Our
/// own node answers at once; a node whose server is gone is left out, as multi_call does.
#[derive(Debug)]
pub(super) struct MultiCall {
    pending: HashMap<u64, Atom>,
    replies: Vec<(Atom, Term)>,
    forced_no: bool,
}

impl MultiCall {
    pub(super) fn start(
        from: Proc,
        caller: Pid,
        me: Atom,
        nodes: &[Atom],
        request: &Term,
        cx: &mut Cx,
    ) -> MultiCall {
        let mut calls = MultiCall {
            pending: HashMap::new(),
            replies: Vec::new(),
            forced_no: false,
        };
        for &node in nodes {
            if node == me {
                if let Ok(Some(reply)) = serve_call(cx.table, cx.ids, cx.out, None, caller, request)
                {
                    calls.replies.push((node, reply));
                }
            } else {
                let id = cx.ids.next();
                calls.pending.insert(id, node);
                cx.out.push(Action::Call {
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
    pub(super) fn force_no(&mut self) {
        self.forced_no = true;
    }

    /// Takes the reply to call `id` if it is one of ours.
    pub(super) fn done(&mut self, id: u64, reply: Option<Term>) -> bool {
        let Some(node) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(reply) = reply {
            self.replies.push((node, reply));
        }
        true
    }

    pub(super) fn finished(&self) -> bool {
        self.pending.is_empty()
    }

    pub(super) fn any_no(&self) -> bool {
        self.forced_no || self.replies.iter().any(|(_, r)| r.is_atom("false"))
    }

    /// The nodes that granted the request (answered `true`).
    pub(super) fn granted(&self) -> Vec<Atom> {
        self.replies
            .iter()
            .filter(|(_, r)| r.is_atom("true"))
            .map(|&(n, _)| n)
            .collect()
    }
}

/// Answers a call to `global_name_server` (ours, from a peer or from our own locker and
/// registrar): `None` for calls BEAM leaves unanswered.
pub(super) fn serve_call(
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

pub(super) fn lock_id(id: &Term) -> Result<(&Term, &Term), Violation> {
    match id.as_tuple() {
        Some([resource, requester]) => Ok((resource, requester)),
        _ => Err(violation(
            "a lock id that is not {ResourceId, LockRequesterId}",
        )),
    }
}
