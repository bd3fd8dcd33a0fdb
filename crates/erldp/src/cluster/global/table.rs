//! global's tables on our node: registered names and locks, each entry watched by a monitor of
//! the process it belongs to, as `global.erl` keeps them in its ETS tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Action, Ids};
use crate::term::{Atom, Pid, Term};

/// The lock resource global itself takes while it registers names and connects partitions.
pub(super) const GLOBAL_RID: &str = "global";

#[derive(Clone, Debug)]
struct Name {
    pid: Pid,
    method: Term,
    monitor: u64,
}

#[derive(Clone, Debug)]
struct Lock {
    requester: Term,
    /// Each holder and the id of our monitor of it.
    holders: HashMap<Pid, u64>,
}

#[derive(Clone, Debug)]
enum Watch {
    Name(Term),
    Lock(Term),
}

/// A name to insert: `ext` is the node that registered it for a process of a node that runs no
/// global (`register_name_external/2`).
#[derive(Clone, Debug)]
pub(super) struct NewName {
    pub name: Term,
    pub pid: Pid,
    pub method: Term,
    pub ext: Option<Atom>,
}

/// Who asks for a name to be inserted, which decides whether the insert stands: a caller pid
/// must hold the `global` lock, a node's ops must come under the lock its connect session took.
#[derive(Clone, Debug)]
pub(super) enum Inserter {
    Caller(Pid),
    Session(Option<Term>),
}

#[derive(Debug, Default)]
pub(super) struct Table {
    names: BTreeMap<Term, Name>,
    ext: BTreeMap<Term, (Pid, Atom)>,
    locks: BTreeMap<Term, Lock>,
    /// Holders of all the locks together: a resource and a process holding it.
    holdings: usize,
    watches: Watches,
    /// The last `global` lock went away with its holder (a DOWN), not by `del_lock`: inserts
    /// that arrive without the lock then are stale.
    global_lock_down: bool,
}

impl Table {
    /// `global:whereis_name/1` on this node.
    pub(super) fn whereis(&self, name: &Term) -> Option<Pid> {
        self.names.get(name).map(|n| n.pid)
    }

    /// How many names are held.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// How many times a process holds a lock on a resource, all locks together.
    pub(super) fn holdings(&self) -> usize {
        self.holdings
    }

    /// The node other than `except` whose processes hold the most of `kind` here, and how
    /// many; none when no other node's hold any.
    pub(super) fn largest_holder(&self, kind: Kind, except: Atom) -> Option<(Atom, usize)> {
        self.watches
            .held
            .iter()
            .filter(|&(&node, _)| node != except)
            .map(|(&node, held)| (node, held[kind as usize]))
            .filter(|&(_, held)| held > 0)
            .max_by_key(|&(node, held)| (held, node))
    }

    /// How many of `kind` `node`'s processes hold here.
    pub(super) fn held_by(&self, kind: Kind, node: Atom) -> usize {
        self.watches
            .held
            .get(&node)
            .map_or(0, |held| held[kind as usize])
    }

    /// Whether `pid` holds the lock on `resource`.
    pub(super) fn holds(&self, resource: &Term, pid: Pid) -> bool {
        self.locks
            .get(resource)
            .is_some_and(|lock| lock.holders.contains_key(&pid))
    }

    /// Every name, sorted.
    pub(super) fn names(&self) -> Vec<Term> {
        self.names.keys().cloned().collect()
    }

    /// Whether `pid` has a name already (global refuses a second one).
    pub(super) fn has_name(&self, pid: Pid) -> bool {
        self.names.values().any(|n| n.pid == pid)
    }

    /// `[{Name, Pid, Method}]`, the list an `exchange` carries.
    pub(super) fn exchange_list(&self) -> Term {
        Term::list(
            self.names
                .iter()
                .map(|(name, n)| Term::tuple(vec![name.clone(), n.pid.into(), n.method.clone()]))
                .collect(),
        )
    }

    /// `[{Name, Pid, RegNode}]`, the external names `resolved` and `new_nodes` carry.
    pub(super) fn ext_list(&self) -> Term {
        Term::list(
            self.ext
                .iter()
                .map(|(name, (pid, node))| {
                    Term::tuple(vec![name.clone(), (*pid).into(), (*node).into()])
                })
                .collect(),
        )
    }

    /// The pid and method holding `name`, for clash resolution.
    pub(super) fn entry(&self, name: &Term) -> Option<(Pid, Term)> {
        self.names.get(name).map(|n| (n.pid, n.method.clone()))
    }

    /// Whether a lock on `resource` exists (global's locker waits while one on `global` does).
    pub(super) fn is_locked(&self, resource: &Term) -> bool {
        self.locks.contains_key(resource)
    }

    /// `can_set_lock/1`: false when `resource` is held under another requester id.
    pub(super) fn can_set_lock(&self, resource: &Term, requester: &Term) -> bool {
        self.locks
            .get(resource)
            .is_none_or(|lock| lock.requester == *requester)
    }

    /// `{set_lock, {ResourceId, RequesterId}}` from `pid`.
    pub(super) fn set_lock(
        &mut self,
        resource: &Term,
        requester: &Term,
        pid: Pid,
        ids: &mut Ids,
        out: &mut Vec<Action>,
    ) -> bool {
        if !self.can_set_lock(resource, requester) {
            return false;
        }
        let lock = self.locks.entry(resource.clone()).or_insert_with(|| Lock {
            requester: requester.clone(),
            holders: HashMap::new(),
        });
        if let std::collections::hash_map::Entry::Vacant(holder) = lock.holders.entry(pid) {
            let monitor = ids.next();
            holder.insert(monitor);
            self.holdings += 1;
            self.watches
                .insert(monitor, (pid, Watch::Lock(resource.clone())));
            out.push(Action::Monitor { id: monitor, pid });
        }
        true
    }

    /// `{del_lock, {ResourceId, RequesterId}}` from `pid`.
    pub(super) fn del_lock(
        &mut self,
        resource: &Term,
        requester: &Term,
        pid: Pid,
        out: &mut Vec<Action>,
    ) {
        if self
            .locks
            .get(resource)
            .is_some_and(|lock| lock.requester == *requester)
        {
            self.remove_holder(resource, pid, false, out);
        }
    }

    fn remove_holder(&mut self, resource: &Term, pid: Pid, down: bool, out: &mut Vec<Action>) {
        let Some(lock) = self.locks.get_mut(resource) else {
            return;
        };
        if let Some(monitor) = lock.holders.remove(&pid) {
            self.holdings -= 1;
            self.watches.remove(monitor);
            if !down {
                out.push(Action::Demonitor { id: monitor });
            }
        }
        if lock.holders.is_empty() {
            self.locks.remove(resource);
            if resource.is_atom(GLOBAL_RID) {
                self.global_lock_down = down;
            }
        }
    }

    /// Inserts a name (replacing whatever held it), monitoring its pid; the insert stands only
    /// if `inserter` still holds global's lock (`insert_global_name/6`).
    pub(super) fn insert(
        &mut self,
        entry: NewName,
        inserter: &Inserter,
        ids: &mut Ids,
        out: &mut Vec<Action>,
    ) {
        let NewName {
            name,
            pid,
            method,
            ext,
        } = entry;
        self.delete(&name, out);
        let monitor = ids.next();
        out.push(Action::Monitor { id: monitor, pid });
        self.watches
            .insert(monitor, (pid, Watch::Name(name.clone())));
        if let Some(node) = ext {
            self.ext.insert(name.clone(), (pid, node));
        }
        self.names.insert(
            name.clone(),
            Name {
                pid,
                method,
                monitor,
            },
        );
        if !self.lock_still_set(inserter) {
            self.delete(&name, out);
        }
    }

    fn lock_still_set(&self, inserter: &Inserter) -> bool {
        match self.locks.get(&Term::atom(GLOBAL_RID)) {
            Some(lock) => match inserter {
                Inserter::Caller(pid) => lock.holders.contains_key(pid),
                Inserter::Session(lock_id) => {
                    lock_id.as_ref().and_then(|id| match id.as_tuple() {
                        Some([rid, requester]) if rid.is_atom(GLOBAL_RID) => Some(requester),
                        _ => None,
                    }) == Some(&lock.requester)
                }
            },
            None => !self.global_lock_down,
        }
    }

    /// Removes `name` and its monitor.
    pub(super) fn delete(&mut self, name: &Term, out: &mut Vec<Action>) {
        if let Some(entry) = self.names.remove(name) {
            self.watches.remove(entry.monitor);
            out.push(Action::Demonitor { id: entry.monitor });
            self.ext.remove(name);
        }
    }

    /// A monitor set by the table fired: the name or lock of that process goes.
    pub(super) fn down(&mut self, monitor: u64, out: &mut Vec<Action>) {
        match self.watches.remove(monitor) {
            Some((_, Watch::Name(name)))
                if self.names.get(&name).is_some_and(|n| n.monitor == monitor) =>
            {
                self.names.remove(&name);
                self.ext.remove(&name);
            }
            Some((_, Watch::Name(_))) => {}
            Some((pid, Watch::Lock(resource))) => self.remove_holder(&resource, pid, true, out),
            None => {}
        }
    }

    /// The connection to `node` went down: its processes' monitors fire (`noconnection`).
    pub(super) fn node_down(&mut self, node: Atom, out: &mut Vec<Action>) {
        for monitor in self.watches.of_node(node) {
            self.down(monitor, out);
        }
    }

    /// `delete_node_resources/2` (OTP 27 and later, when a connect session restarts; we also
    /// when a full table costs `node` its connection): the names and locks of `node`'s
    /// processes go, their monitors too.
    pub(super) fn drop_node(&mut self, node: Atom, out: &mut Vec<Action>) {
        for monitor in self.watches.of_node(node) {
            out.push(Action::Demonitor { id: monitor });
            self.down(monitor, out);
        }
    }
}

/// The monitors the table set, each with its process and what it holds, also by the node of
/// the process: a node's resources are found without a scan of everyone's
/// (`global_node_resources` in `global.erl`).
#[derive(Debug, Default)]
struct Watches {
    all: HashMap<u64, (Pid, Watch)>,
    by_node: HashMap<Atom, BTreeSet<u64>>,
    /// How many names and how many lock holdings each node's processes have, by [`Kind`].
    held: HashMap<Atom, [usize; 2]>,
}

/// What a node's processes hold in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Names,
    Locks,
}

impl Watch {
    fn kind(&self) -> Kind {
        match self {
            Watch::Name(_) => Kind::Names,
            Watch::Lock(_) => Kind::Locks,
        }
    }
}

impl Watches {
    fn insert(&mut self, monitor: u64, watched: (Pid, Watch)) {
        let node = watched.0.node;
        self.by_node.entry(node).or_default().insert(monitor);
        self.held.entry(node).or_default()[watched.1.kind() as usize] += 1;
        self.all.insert(monitor, watched);
    }

    fn remove(&mut self, monitor: u64) -> Option<(Pid, Watch)> {
        let watched = self.all.remove(&monitor)?;
        let node = watched.0.node;
        if let Some(monitors) = self.by_node.get_mut(&node) {
            monitors.remove(&monitor);
            if monitors.is_empty() {
                self.by_node.remove(&node);
                self.held.remove(&node);
            } else if let Some(held) = self.held.get_mut(&node) {
                held[watched.1.kind() as usize] -= 1;
            }
        }
        Some(watched)
    }

    /// The monitors of `node`'s processes, oldest first.
    fn of_node(&self, node: Atom) -> Vec<u64> {
        self.by_node
            .get(&node)
            .map_or_else(Vec::new, |monitors| monitors.iter().copied().collect())
    }
}
