//! The connect session two global servers run when their nodes meet (`global.erl`'s
//! `init_connect`, `lock_is_set`, `exchange`, `resolved`, `new_nodes`): tags that tell one
//! session from the next, the lock both lockers take, the name exchange, and the nodes each
//! side learns and meets.

use super::clash::{Resolver, Resolving};
use super::locker::{Him, LockIsSet, Msg, NewNodes};
use super::table::{Inserter, NewName};
use super::wire::{entry_node, extra_lock, server_of, violation};
use super::{Action, Global, Proc, Violation, VSN};
use crate::term::{Atom, Pid, Term};

/// What our server waits for in a connect session, beside its tags.
#[derive(Debug)]
pub(super) enum WaitLock {
    LockIsSet,
    Exchange(Vec<(Term, Pid, Term)>),
}

#[derive(Debug)]
pub(super) enum SaveOps {
    Ours(Vec<Term>),
    His {
        his_known: Vec<Term>,
        names_ext: Term,
        his_resolved: Vec<Term>,
    },
}

/// A connect session's state (`global.erl` keeps it in the process dictionary).
#[derive(Debug, Default)]
pub(super) struct Session {
    pub(super) my_tag: Option<i64>,
    pub(super) his_tag: Option<Term>,
    pub(super) prot_vsn: Option<i64>,
    pub(super) pre_connect: Option<(i64, Term, Term)>,
    pub(super) wait_lock: Option<WaitLock>,
    pub(super) save_ops: Option<SaveOps>,
    pub(super) lock_id: Option<Term>,
}

impl Global {
    pub(super) fn session(&mut self, node: Atom) -> &Session {
        self.sessions.entry(node).or_default()
    }

    pub(super) fn session_mut(&mut self, node: Atom) -> &mut Session {
        self.sessions.entry(node).or_default()
    }

    pub(super) fn my_tag(&self, node: Atom) -> Option<i64> {
        self.sessions.get(&node).and_then(|s| s.my_tag)
    }

    pub(super) fn is_my_tag(&self, node: Atom, tag: &Term) -> bool {
        self.my_tag(node).is_some_and(|t| Term::Int(t) == *tag)
    }

    /// A message of a session we no longer run: end what is left of it.
    pub(super) fn cancel_session_on_bad_tag(&mut self, node: Atom, tag: &Term) {
        if let Some(tag) = tag.as_i64() {
            self.cancel_locker(node, Some(tag), None);
        }
    }

    /// Whether `node` is in sync with us or a connect session with it runs: `handle_nodeup/2`
    /// starts none then.
    pub(super) fn synced_or_syncing(&self, node: Atom) -> bool {
        self.known.contains_key(&node) || self.resolvers.contains_key(&node)
    }

    /// `handle_nodeup/2`.
    pub(super) fn handle_nodeup(&mut self, node: Atom) {
        if self.synced_or_syncing(node) {
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
        self.cast_to(node, init);
        self.resolvers.insert(node, Resolver { tag, work: None });
        if let Some((vsn, init, his_tag)) = pre {
            self.init_connect_parsed(node, vsn, vsn, his_tag, &init);
        }
    }

    /// The known map as `global.erl` sends it in `init_connect` (its receivers ignore it).
    pub(super) fn known_map(&self) -> Term {
        let mut pairs: Vec<(Term, Term)> = self
            .known
            .iter()
            .map(|(&n, &v)| (n.into(), Term::Int(v)))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Term::map(pairs)
    }

    pub(super) fn init_connect(
        &mut self,
        node: Atom,
        vsn: &Term,
        init: &Term,
    ) -> Result<(), Violation> {
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
        // The locker's pid names the lock and the node our lock_set goes to: it must be a
        // process of the node that connects.
        let locker = match init.as_tuple() {
            Some([l, _, _, p]) if l.is_atom("locker") => p.as_pid(),
            _ => None,
        };
        if locker.is_none_or(|p| p.node != node) {
            return Err(violation(
                "init_connect without {locker, _, _, Pid} of its node",
            ));
        }
        let use_vsn = his_vsn.min(VSN);
        self.init_connect_parsed(node, use_vsn, his_vsn, his_tag, init);
        Ok(())
    }

    pub(super) fn init_connect_parsed(
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

    pub(super) fn init_connect_ack(&mut self, node: Atom, his_my_tag: &Term, his_his_tag: &Term) {
        let session = self.session(node);
        let my_tag = session.my_tag;
        let fine = my_tag.is_some_and(|t| Term::Int(t) == *his_my_tag)
            && session.his_tag.as_ref() == Some(his_his_tag);
        if !fine {
            self.send_cancel_connect(node, his_his_tag.clone());
            self.restart_connect(node, my_tag);
        }
    }

    pub(super) fn send_cancel_connect(&mut self, node: Atom, his_tag: Term) {
        let msg = Term::tuple(vec![
            Term::atom("cancel_connect"),
            self.config.node.into(),
            his_tag,
        ]);
        self.send(Proc::Server, server_of(node), msg);
    }

    /// `restart_connect/3`: drop the session and, if the node is up for us, start a new one.
    ///
    /// OTP 27 and later also drop what the node's processes hold here, for the new session's
    /// exchange to bring back what they still hold. We do so only when a new session does
    /// start: an `init_connect_ack` that comes after the node's `in_sync` ended the session
    /// restarts nothing (the node is in sync), and dropping then would lose its names here
    /// for good while every other node keeps them.
    pub(super) fn restart_connect(&mut self, node: Atom, my_tag: Option<i64>) {
        self.cancel_locker(node, my_tag, None);
        self.sessions.remove(&node);
        self.pending.remove(&node);
        if my_tag.is_some() && !self.synced_or_syncing(node) {
            self.table.drop_node(node, &mut self.out);
            self.handle_nodeup(node);
        }
    }

    /// `cancel_locker/4`: the locker drops the session (running `then` first if it holds its
    /// lock), the other side hears of it if the session got far, the resolver goes.
    pub(super) fn cancel_locker(&mut self, node: Atom, tag: Option<i64>, then: Option<NewNodes>) {
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

    /// The peer's tag of the session with `node` (`undefined` when it sent none) while
    /// `my_tag` is still the session's; else the session's locker is cancelled.
    fn his_tag_while_mine(&mut self, node: Atom, my_tag: i64) -> Option<Term> {
        let session = self.session(node);
        if session.my_tag != Some(my_tag) {
            self.cancel_locker(node, Some(my_tag), None);
            return None;
        }
        Some(session.his_tag.clone().unwrap_or(Term::atom("undefined")))
    }

    /// Our locker holds the lock of a session on both sides.
    pub(super) fn lock_is_set(&mut self, events: Vec<LockIsSet>) {
        for LockIsSet {
            node,
            my_tag,
            lock_id,
        } in events
        {
            let Some(his_tag) = self.his_tag_while_mine(node, my_tag) else {
                continue;
            };
            let exchange = Term::tuple(vec![
                Term::atom("exchange"),
                self.config.node.into(),
                self.table.exchange_list(),
                Term::nil(),
                his_tag,
            ]);
            self.cast_to(node, exchange);
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

    pub(super) fn exchange(&mut self, node: Atom, names: Vec<(Term, Pid, Term)>) {
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

    /// `exchange_ops`: our resolution is done; tell the other side, and finish if its
    /// resolution is here.
    pub(super) fn exchange_ops(&mut self, node: Atom, tag: i64, ops: Vec<Term>, res: Vec<Term>) {
        let Some(his_tag) = self.his_tag_while_mine(node, tag) else {
            return;
        };
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
        self.cast_to(node, resolved);
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
    pub(super) fn known_list(&self) -> Term {
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
    pub(super) fn resolved(
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
    pub(super) fn new_nodes(
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
    pub(super) fn add_to_known(&mut self, nodes: &[(Atom, i64)]) -> Vec<Atom> {
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
    pub(super) fn sync_others(&mut self, nodes: &[Atom]) {
        for &node in nodes {
            if node == self.config.node {
                continue;
            }
            self.connecting.push(node);
            self.out.push(Action::Connect { node });
        }
    }

    /// `do_ops/5`: inserts of external names first, then the other inserts (of names not just
    /// inserted as external), then the deletes, whatever their order in the list — so that
    /// every node ends with the same table from the same ops.
    pub(super) fn do_ops(&mut self, ops: &[Term], names_ext: &Term, inserter: &Inserter) {
        let inserts: Vec<(&Term, Pid, &Term)> = ops
            .iter()
            .filter_map(|op| match op.as_tuple() {
                Some([tag, entry]) if tag.is_atom("insert") => match entry.as_tuple() {
                    Some([name, pid, method]) => Some((name, pid.as_pid()?, method)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let mut external = Vec::new();
        for entry in names_ext.as_list().unwrap_or(&[]) {
            let Some([name2, pid2, reg_node]) = entry.as_tuple() else {
                continue;
            };
            let Some(reg_node) = reg_node.as_atom() else {
                continue;
            };
            for &(name, pid, method) in &inserts {
                if name == name2 && Term::from(pid) == *pid2 {
                    external.push(NewName {
                        name: name.clone(),
                        pid,
                        method: method.clone(),
                        ext: Some(reg_node),
                    });
                }
            }
        }
        let external_names: Vec<Term> = external.iter().map(|e| e.name.clone()).collect();
        for entry in external {
            self.table
                .insert(entry, inserter, &mut self.ids, &mut self.out);
        }
        for (name, pid, method) in inserts {
            if !external_names.contains(name) {
                let entry = NewName {
                    name: name.clone(),
                    pid,
                    method: method.clone(),
                    ext: None,
                };
                self.table
                    .insert(entry, inserter, &mut self.ids, &mut self.out);
            }
        }
        for op in ops {
            if let Some([tag, name]) = op.as_tuple() {
                if tag.is_atom("delete") {
                    self.table.delete(name, &mut self.out);
                }
            }
        }
    }

    pub(super) fn node_vsn(&self, node: Atom) -> i64 {
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
    pub(super) fn vsn_entry(&self, entry: &Term) -> (Atom, i64) {
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
    pub(super) fn vsn_entry_raw(&self, entry: &Term) -> (Atom, i64) {
        match entry.as_tuple() {
            Some([n, v]) => (
                n.as_atom().expect("checked by node_list"),
                v.as_i64().unwrap_or(0),
            ),
            _ => (entry.as_atom().expect("checked by node_list"), 0),
        }
    }
}
