//! What peers may make our global store. A BEAM node trusts its peers with everything; we
//! bound every table a message can grow, and a peer that goes beyond a bound is misbehaving
//! (a [`Violation`]: its connection is closed).

use super::wire::violation;
use super::{Global, Violation};
use crate::term::{Atom, Pid, Term};

/// Default for [`Limits::max_names`].
pub(crate) const DEFAULT_MAX_NAMES: usize = 1 << 20;
/// Default for [`Limits::max_locks`].
pub(crate) const DEFAULT_MAX_LOCKS: usize = 1 << 16;
/// Default for [`Limits::max_nodes`].
pub(crate) const DEFAULT_MAX_NODES: usize = 1 << 12;

/// Bounds on what peers may make us store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Global names held here, and names one message may carry. Default
    /// [`DEFAULT_MAX_NAMES`].
    pub max_names: usize,
    /// Locks held here, counted by holder: a resource and a process holding
    /// it (a `set_lock` that would add one more is refused; one process may
    /// hold many resources, one resource many processes). Default
    /// [`DEFAULT_MAX_LOCKS`].
    pub max_locks: usize,
    /// Nodes global knows, and nodes one message may carry; also the lost connections
    /// remembered (the oldest report is forgotten first) and the `lock_set`s one node's
    /// locker has waiting for our busy locker. Default [`DEFAULT_MAX_NODES`].
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_names: DEFAULT_MAX_NAMES,
            max_locks: DEFAULT_MAX_LOCKS,
            max_nodes: DEFAULT_MAX_NODES,
        }
    }
}

impl Global {
    /// A message carrying `count` names.
    pub(super) fn names_fit(&self, count: usize, what: &str) -> Result<(), Violation> {
        if count > self.config.limits.max_names {
            return Err(violation(&format!(
                "{what}: {count} names, more than allowed"
            )));
        }
        Ok(())
    }

    /// The table may take the names among `names` it does not hold yet.
    pub(super) fn room_for_names<'a>(
        &self,
        names: impl Iterator<Item = &'a Term>,
        what: &str,
    ) -> Result<(), Violation> {
        let new = names.filter(|n| self.table.whereis(n).is_none()).count();
        if self.table.len() + new > self.config.limits.max_names {
            return Err(violation(&format!("{what}: names beyond the limit")));
        }
        Ok(())
    }

    /// Global may learn of the nodes among `nodes` it does not know yet.
    pub(super) fn room_for_nodes(&self, nodes: &[Atom], what: &str) -> Result<(), Violation> {
        let limit = self.config.limits.max_nodes;
        if nodes.len() > limit {
            return Err(violation(&format!(
                "{what}: {} nodes, more than allowed",
                nodes.len()
            )));
        }
        let new = nodes.iter().filter(|n| !self.known.contains_key(n)).count();
        if self.known.len() + new > limit {
            return Err(violation(&format!("{what}: nodes beyond the limit")));
        }
        Ok(())
    }

    /// A call that would add a name or a lock finds room for it.
    pub(super) fn room_for_call(&self, request: &Term, caller: Pid) -> Result<(), Violation> {
        match request.as_tuple() {
            Some([tag, name, ..]) if tag.is_atom("register") || tag.is_atom("register_ext") => {
                self.room_for_names(std::iter::once(name), "register")
            }
            Some([tag, id]) if tag.is_atom("set_lock") => {
                let resource = id.as_tuple().and_then(|id| id.first());
                let adds = resource.is_some_and(|r| !self.table.holds(r, caller));
                if adds && self.table.holdings() >= self.config.limits.max_locks {
                    return Err(violation("set_lock: lock holders beyond the limit"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// One more `lock_set` from `node`'s locker may wait for ours.
    pub(super) fn room_for_lock_set(&self, node: Atom) -> Result<(), Violation> {
        if self.locker.waiting_lock_sets(node) >= self.config.limits.max_nodes {
            return Err(violation("lock_set: too many waiting for our locker"));
        }
        Ok(())
    }
}
