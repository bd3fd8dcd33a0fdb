//! The shapes of global's messages: builders for what we send, and readers that check what a
//! peer sent before it is trusted (a shape a BEAM global would crash on is a violation).

use super::{Violation, SERVER};
use crate::term::{Atom, Pid, Term};
use crate::Dest;

pub(super) use crate::protocol::requests::cast_message as cast;

pub(super) fn server_of(node: Atom) -> Dest {
    Dest::Name {
        name: Atom::new(SERVER),
        node,
    }
}

/// The atom a tuple starts with, and all its fields (the tag first); `None` for any other
/// term.
pub(super) fn tagged(term: &Term) -> Option<(Atom, &[Term])> {
    let fields = term.as_tuple()?;
    Some((fields.first()?.as_atom()?, fields))
}

pub(super) fn atom(term: &Term, what: &str) -> Result<Atom, Violation> {
    term.as_atom()
        .ok_or_else(|| violation(&format!("{what}: the node is not an atom")))
}

/// The node a message names as its sender, which must be the node whose connection carried
/// it: otherwise a peer could open sessions and fill tables in the names of other nodes.
pub(super) fn sender(term: &Term, sent_by: Atom, what: &str) -> Result<Atom, Violation> {
    let node = atom(term, what)?;
    if node != sent_by {
        return Err(violation(&format!(
            "{what}: sent by {sent_by} in the name of {node}"
        )));
    }
    Ok(node)
}

/// The locker pid of a `lock_set`, a process of the node that sent it.
pub(super) fn locker_pid(term: &Term, sent_by: Atom) -> Result<Pid, Violation> {
    let pid = term
        .as_pid()
        .ok_or_else(|| violation("lock_set: the locker is not a pid"))?;
    if pid.node != sent_by {
        return Err(violation(
            "lock_set: the locker is a process of another node",
        ));
    }
    Ok(pid)
}

/// The names the insert ops of a list put in the table.
pub(super) fn inserted_names(ops: &[Term]) -> impl Iterator<Item = &Term> {
    ops.iter().filter_map(|op| match op.as_tuple() {
        Some([tag, entry]) if tag.is_atom("insert") => entry.as_tuple()?.first(),
        _ => None,
    })
}

pub(super) fn violation(problem: &str) -> Violation {
    Violation(format!("global: {problem}"))
}

/// `[{Name, Pid, Method}]` of an `exchange`.
pub(super) fn name_list(names: &Term) -> Result<Vec<(Term, Pid, Term)>, Violation> {
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
pub(super) fn ops(list: &Term) -> Result<Vec<Term>, Violation> {
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
pub(super) fn node_list(list: &Term, what: &str) -> Result<Vec<Term>, Violation> {
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

pub(super) fn entry_node(entry: &Term) -> Option<Atom> {
    entry
        .as_atom()
        .or_else(|| entry.as_tuple().and_then(|t| t.first()?.as_atom()))
}

pub(super) fn extra_lock(extra: &Term) -> Option<Term> {
    extra.as_list()?.iter().find_map(|e| match e.as_tuple() {
        Some([tag, lock]) if tag.is_atom("lock") => Some(lock.clone()),
        _ => None,
    })
}

pub(super) fn insert_op(name: &Term, pid: Pid, method: &Term) -> Term {
    Term::tuple(vec![
        Term::atom("insert"),
        Term::tuple(vec![name.clone(), pid.into(), method.clone()]),
    ])
}

pub(super) fn is_badrpc(result: &Term) -> bool {
    matches!(result.as_tuple(), Some([tag, _]) if tag.is_atom("badrpc"))
}
