//! What peers may make our global store. A BEAM node trusts its peers with everything; we
//! bound every table a message can grow, and a peer that goes beyond a bound is misbehaving
//! (a [`Violation`]: its connection is closed).

use super::table::Kind;
use super::wire::violation;
use super::{Action, Global, Violation};
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
        if !self.names_fit_in_table(names) {
            return Err(violation(&format!("{what}: names beyond the limit")));
        }
        Ok(())
    }

    fn names_fit_in_table<'a>(&self, names: impl Iterator<Item = &'a Term>) -> bool {
        let new = names.filter(|n| self.table.whereis(n).is_none()).count();
        self.table.len() + new <= self.config.limits.max_names
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
    pub(super) fn room_for_call(&mut self, request: &Term, caller: Pid) -> Result<(), Violation> {
        match request.as_tuple() {
            Some([tag, name, ..]) if tag.is_atom("register") || tag.is_atom("register_ext") => {
                let fits = |global: &Global| global.names_fit_in_table(std::iter::once(name));
                self.make_room(
                    caller.node,
                    Kind::Names,
                    fits,
                    "register: names beyond the limit",
                )
            }
            Some([tag, id]) if tag.is_atom("set_lock") => {
                let resource = id.as_tuple().and_then(|id| id.first());
                let fits = |global: &Global| {
                    let adds = resource.is_some_and(|r| !global.table.holds(r, caller));
                    !adds || global.table.holdings() < global.config.limits.max_locks
                };
                self.make_room(
                    caller.node,
                    Kind::Locks,
                    fits,
                    "set_lock: lock holders beyond the limit",
                )
            }
            _ => Ok(()),
        }
    }

    /// Until the name or lock (`kind`) `sender`'s call adds `fits`, the node whose processes
    /// hold the most of that kind here loses its connection, and what they hold goes as when
    /// a node goes down (and with `prevent_overlapping_partitions` the rest of the cluster
    /// drops it too, as for any lost connection); when that node is the sender, its call is
    /// the [`Violation`]. Before, the caller always was: a node that filled the table made the
    /// next one to register a name or take a lock (every joining node takes global's lock)
    /// lose its connection. A sync (`exchange`, `resolved`, `new_nodes`) brings names of many
    /// nodes' processes at once, so one that does not fit stays its sender's violation: making
    /// room for it could cut off everyone.
    fn make_room(
        &mut self,
        sender: Atom,
        kind: Kind,
        fits: impl Fn(&Global) -> bool,
        problem: &str,
    ) -> Result<(), Violation> {
        while !fits(self) {
            let holder = self.table.largest_holder(kind, self.config.node);
            let sender_holds = self.table.held_by(kind, sender);
            let Some((holder, held)) =
                holder.filter(|&(node, held)| node != sender && held > sender_holds)
            else {
                return Err(violation(problem));
            };
            log::warn!(
                "'global' at node {}: {problem}; the processes of {holder} hold the most \
                 ({held}): disconnecting it",
                self.config.node
            );
            self.out.push(Action::Disconnect { node: holder });
            // Demonitored, not left to the nodedown: monitors still waiting for a connect to
            // the holder see no nodedown.
            self.table.drop_node(holder, &mut self.out);
        }
        Ok(())
    }

    /// One more `lock_set` from `node`'s locker may wait for ours.
    pub(super) fn room_for_lock_set(&self, node: Atom) -> Result<(), Violation> {
        if self.locker.waiting_lock_sets(node) >= self.config.limits.max_nodes {
            return Err(violation("lock_set: too many waiting for our locker"));
        }
        Ok(())
    }
}
