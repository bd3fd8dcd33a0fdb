//! One [`pg`](https://www.erlang.org/doc/apps/kernel/pg.html) scope of our node, as a state
//! machine without sockets or threads: messages received by our scope process, connections,
//! local joins and leaves go in; messages to send and monitors to set come out.
//!
//! pg has no written protocol; this follows `pg.erl` of OTP 25 and 27 and
//! `pg.erl`/`data_publisher.erl` of OTP 29 (kernel 8.5, 10.2 and 11.0), checked against
//! transcripts of real nodes. A scope process keeps, for every peer scope process it knows
//! (one per node running the scope), that peer's local members, and tells its peers about
//! its own:
//!
//! - `{discover, Pid}` (OTP 29: `{discover, Pid, 1}`) to `{Scope, Node}` when a node connects:
//!   the receiver answers with its members (`{'$gen_cast', {sync, Pid, [{Group, Pids}]}}`,
//!   OTP 29 to OTP 29: `{'$gen_cast', {local_data, Pid, 1, #{Group => Pids}}}`), monitors the
//!   sender and, the first time, discovers it back;
//! - `{join, Pid, Group, PidOrPids}` and `{leave, Pid, PidOrPids, Groups}` (OTP 29 to OTP 29:
//!   `{update, Pid, [{Group, Added, Removed}]}`) as local members come and go.
//!
//! We send only the first protocol (version 0): OTP 25 and 27 speak nothing else, OTP 25's pg
//! crashes on the three-element discover, and OTP 29 speaks version 0 to such peers itself. We
//! understand both. What we send is exact, because OTP 25 and 27 crash on a `leave` naming a
//! group the sender does not hold there, and a crashing pg scope takes its node down after five
//! crashes.

use std::collections::{BTreeMap, HashMap};

use crate::protocol::requests;
use crate::term::{Atom, Pid, Term};
use crate::Dest;

/// Default for [`Limits::max_peer_members`].
pub(crate) const DEFAULT_MAX_PEER_MEMBERS: usize = 1 << 20;

/// How many memberships a `leave` naming several pids in several groups may make us look
/// at, per pid and group it names (see `Peer::check_leave`).
pub(crate) const LEAVE_LOOKUPS_PER_NAME: usize = 8;

/// Bounds on what peers may make us store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Group memberships one peer scope may hold here (a pid counted once per group and join).
    /// A peer going beyond it is misbehaving. Default [`DEFAULT_MAX_PEER_MEMBERS`].
    pub max_peer_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_peer_members: DEFAULT_MAX_PEER_MEMBERS,
        }
    }
}

/// What the scope asks its process to do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Send `msg` from our scope process to `to`, without setting up a connection (pg sends
    /// with `noconnect`).
    Send { to: Dest, msg: Term },
    /// Monitor the remote scope process `pid`; its DOWN goes to [`Scope::peer_down`].
    Monitor(Pid),
}

/// A message our scope process should not have received from a peer: the connection it came
/// on should be closed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Violation(pub String);

/// Whether a local leave changed anything, as `pg:leave/3` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    Ok,
    NotJoined,
}

/// A peer scope's groups: each member with the number of times it joined,
/// so that what a join or a leave costs depends on that message alone, never
/// on how many members a group already has (a peer decides both).
#[derive(Debug, Default)]
struct Peer {
    groups: BTreeMap<Term, HashMap<Pid, usize>>,
    members: usize,
}

/// How many times each pid is named.
fn counted(pids: &[Pid]) -> HashMap<Pid, usize> {
    let mut counts = HashMap::with_capacity(pids.len());
    for &pid in pids {
        *counts.entry(pid).or_default() += 1;
    }
    counts
}

impl Peer {
    fn replace(&mut self, groups: BTreeMap<Term, Vec<Pid>>) {
        self.members = groups.values().map(Vec::len).sum();
        self.groups = groups
            .into_iter()
            .map(|(group, pids)| (group, counted(&pids)))
            .collect();
    }

    /// Adds the pids to the group. A join of none keeps no group: BEAM's pg
    /// would list it in `which_groups` with no members, but a group nobody
    /// belongs to costs no bound here, and a peer could hold any number.
    fn join(&mut self, group: Term, pids: &[Pid]) {
        if pids.is_empty() {
            return;
        }
        let members = self.groups.entry(group).or_default();
        for &pid in pids {
            *members.entry(pid).or_default() += 1;
        }
        self.members += pids.len();
    }

    /// A leave of `pids` distinct pids from `groups` is done over `min(members, pids)` per
    /// group: as BEAM's pg sends it (one pid from its groups, or pids from one group), no more
    /// than the message's length. One that names several of both could make a short message
    /// cost as much as every membership the peer holds, again and again; past
    /// [`LEAVE_LOOKUPS_PER_NAME`] look-ups per pid and group it names, it is a violation.
    fn check_leave<'g>(
        &self,
        groups: impl ExactSizeIterator<Item = &'g Term>,
        pids: usize,
    ) -> Result<(), Violation> {
        let count = groups.len();
        if count <= 1 || pids <= 1 {
            return Ok(());
        }
        let lookups: usize = groups
            .filter_map(|group| self.groups.get(group))
            .map(|members| members.len().min(pids))
            .sum();
        if lookups > LEAVE_LOOKUPS_PER_NAME * (count + pids) {
            return Err(violation(
                "leave",
                &format!("{pids} pids in {count} groups, {lookups} memberships to look at"),
            ));
        }
        Ok(())
    }

    /// Removes each pid from the group as many times as `leaving` counts it,
    /// `times` over (where present), going over whichever of the two is
    /// smaller.
    fn leave(&mut self, group: &Term, leaving: &HashMap<Pid, usize>, times: usize) {
        let Some(members) = self.groups.get_mut(group) else {
            return;
        };
        let total = &mut self.members;
        let mut take = |pid: &Pid, joined: &mut usize| {
            let gone = leaving
                .get(pid)
                .map_or(0, |&count| count.saturating_mul(times).min(*joined));
            *joined -= gone;
            *total -= gone;
        };
        if members.len() <= leaving.len() {
            members.retain(|pid, joined| {
                take(pid, joined);
                *joined > 0
            });
        } else {
            for pid in leaving.keys() {
                if let Some(joined) = members.get_mut(pid) {
                    take(pid, joined);
                    if *joined == 0 {
                        members.remove(pid);
                    }
                }
            }
        }
        if members.is_empty() {
            self.groups.remove(group);
        }
    }
}

/// The state of one pg scope on our node.
#[derive(Debug)]
pub(crate) struct Scope {
    name: Atom,
    me: Pid,
    limits: Limits,
    /// Our members by group, a pid once per join.
    local: BTreeMap<Term, Vec<Pid>>,
    /// The groups each of our members joined, once per join.
    joined: HashMap<Pid, Vec<Term>>,
    peers: HashMap<Pid, Peer>,
}

impl Scope {
    /// A scope named `name` whose process is `me` (registered locally under `name`).
    pub(crate) fn new(name: Atom, me: Pid, limits: Limits) -> Scope {
        Scope {
            name,
            me,
            limits,
            local: BTreeMap::new(),
            joined: HashMap::new(),
            peers: HashMap::new(),
        }
    }

    /// A connection to `node` came up (visible or hidden), or the scope was just created and
    /// `node` was already connected: ask its scope, if it runs one, for its members.
    pub(crate) fn connected(&mut self, node: Atom) -> Vec<Action> {
        vec![Action::Send {
            to: Dest::Name {
                name: self.name,
                node,
            },
            msg: self.discover(),
        }]
    }

    /// The connection to `node` went down: its members are gone (the monitors of its scope
    /// processes fire too; whichever comes first does the work).
    pub(crate) fn disconnected(&mut self, node: Atom) {
        self.peers.retain(|pid, _| pid.node != node);
    }

    /// The monitor of the peer scope process `pid` fired.
    pub(crate) fn peer_down(&mut self, pid: Pid) {
        self.peers.remove(&pid);
    }

    /// `pg:join(Scope, Group, Pids)` for processes of our node.
    pub(crate) fn join(&mut self, group: Term, pids: &[Pid]) -> Vec<Action> {
        if pids.is_empty() {
            return Vec::new();
        }
        for &pid in pids {
            self.joined.entry(pid).or_default().push(group.clone());
        }
        self.local
            .entry(group.clone())
            .or_default()
            .extend_from_slice(pids);
        let list = Term::list(pids.iter().map(|&p| p.into()).collect());
        self.broadcast(&Term::tuple(vec![
            Term::atom("join"),
            self.me.into(),
            group,
            list,
        ]))
    }

    /// `pg:leave(Scope, Group, Pids)`: each pid leaves the group once (if it is in it). Peers
    /// hear about the pids that did.
    pub(crate) fn leave(&mut self, group: &Term, pids: &[Pid]) -> (Left, Vec<Action>) {
        let mut left = Vec::new();
        for &pid in pids {
            let Some(groups) = self.joined.get_mut(&pid) else {
                continue;
            };
            let Some(at) = groups.iter().position(|g| g == group) else {
                continue;
            };
            groups.remove(at);
            if groups.is_empty() {
                self.joined.remove(&pid);
            }
            remove_one(&mut self.local, group, pid);
            left.push(pid);
        }
        if left.is_empty() {
            return (Left::NotJoined, Vec::new());
        }
        let msg = Term::tuple(vec![
            Term::atom("leave"),
            self.me.into(),
            Term::list(left.iter().map(|&p| p.into()).collect()),
            Term::list(vec![group.clone()]),
        ]);
        (Left::Ok, self.broadcast(&msg))
    }

    /// A process of ours ended (its mailbox closed): it leaves every group it joined, as
    /// many times as it joined, in one message, as pg does for a DOWN.
    pub(crate) fn member_down(&mut self, pid: Pid) -> Vec<Action> {
        let Some(groups) = self.joined.remove(&pid) else {
            return Vec::new();
        };
        for group in &groups {
            remove_one(&mut self.local, group, pid);
        }
        self.broadcast(&Term::tuple(vec![
            Term::atom("leave"),
            self.me.into(),
            pid.into(),
            Term::list(groups),
        ]))
    }

    /// Whether our process `pid` is in any group of the scope.
    pub(crate) fn is_member(&self, pid: Pid) -> bool {
        self.joined.contains_key(&pid)
    }

    /// All members of `group`, ours and our peers', a pid once per join (like
    /// `pg:get_members/2`, in no particular order).
    pub(crate) fn members(&self, group: &Term) -> Vec<Pid> {
        let mut all: Vec<Pid> = self.local.get(group).cloned().unwrap_or_default();
        for peer in self.peers.values() {
            if let Some(pids) = peer.groups.get(group) {
                for (&pid, &times) in pids {
                    all.extend(std::iter::repeat_n(pid, times));
                }
            }
        }
        all
    }

    /// Our own members of `group` (`pg:get_local_members/2`).
    pub(crate) fn local_members(&self, group: &Term) -> Vec<Pid> {
        self.local.get(group).cloned().unwrap_or_default()
    }

    /// Every group with at least one member, sorted (`pg:which_groups/1`).
    pub(crate) fn which_groups(&self) -> Vec<Term> {
        let mut groups: Vec<Term> = self.local.keys().cloned().collect();
        for peer in self.peers.values() {
            groups.extend(peer.groups.keys().cloned());
        }
        groups.sort();
        groups.dedup();
        groups
    }

    /// A message received by our scope process over the connection of node `from`. Messages
    /// of a kind pg does not send are ignored; a known kind with a bad shape, a scope or a
    /// member that is not a process of `from` (pg sends its own pid and joins only local
    /// processes), or a peer beyond [`Limits`], is a violation.
    pub(crate) fn handle(&mut self, from: Atom, msg: &Term) -> Result<Vec<Action>, Violation> {
        let Some(fields) = msg.as_tuple() else {
            return Ok(Vec::new());
        };
        let tag = fields.first().and_then(Term::as_atom);
        match (tag.as_ref().map(Atom::as_str), fields.len()) {
            (Some("discover"), 2 | 3) => {
                let peer = pid_field(fields, 1, "discover", from)?;
                Ok(self.discovered(peer))
            }
            (Some("$gen_cast"), 2) => self.cast(from, &fields[1]),
            (Some("join"), 4) => {
                let peer = pid_field(fields, 1, "join", from)?;
                let pids = pids(&fields[3], "join", from)?;
                self.joined_remote(peer, fields[2].clone(), &pids)?;
                Ok(Vec::new())
            }
            (Some("leave"), 4) => {
                let peer = pid_field(fields, 1, "leave", from)?;
                let pids = pids(&fields[2], "leave", from)?;
                let groups = fields[3]
                    .as_list()
                    .ok_or_else(|| violation("leave", "groups are not a list"))?;
                if let Some(state) = self.peers.get_mut(&peer) {
                    // A group named twice loses each pid twice (a process
                    // that joined twice leaves so); each is gone over once.
                    let mut named: HashMap<&Term, usize> = HashMap::with_capacity(groups.len());
                    for group in groups {
                        *named.entry(group).or_default() += 1;
                    }
                    let leaving = counted(&pids);
                    state.check_leave(named.keys().copied(), leaving.len())?;
                    for (group, times) in named {
                        state.leave(group, &leaving, times);
                    }
                }
                Ok(Vec::new())
            }
            (Some("update"), 3) => {
                let peer = pid_field(fields, 1, "update", from)?;
                self.updated(peer, &fields[2])?;
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    fn cast(&mut self, from: Atom, request: &Term) -> Result<Vec<Action>, Violation> {
        let Some(fields) = request.as_tuple() else {
            return Ok(Vec::new());
        };
        let tag = fields.first().and_then(Term::as_atom);
        let (what, mut groups) = match (tag.as_ref().map(Atom::as_str), fields.len()) {
            (Some("sync"), 3) => {
                let list = fields[2]
                    .as_list()
                    .ok_or_else(|| violation("sync", "groups are not a list"))?;
                let mut groups = BTreeMap::new();
                for entry in list {
                    match entry.as_tuple() {
                        Some([group, members]) => {
                            groups.insert(group.clone(), pids(members, "sync", from)?);
                        }
                        _ => return Err(violation("sync", "an entry is not {Group, Pids}")),
                    }
                }
                ("sync", groups)
            }
            (Some("local_data"), 4) => {
                let Term::Map(pairs) = &fields[3] else {
                    return Err(violation("local_data", "the groups are not a map"));
                };
                let mut groups = BTreeMap::new();
                for (group, members) in pairs {
                    groups.insert(group.clone(), pids(members, "local_data", from)?);
                }
                ("local_data", groups)
            }
            _ => return Ok(Vec::new()),
        };
        let peer = pid_field(fields, 1, what, from)?;
        groups.retain(|_, pids| !pids.is_empty());
        let total: usize = groups.values().map(Vec::len).sum();
        if total > self.limits.max_peer_members {
            return Err(too_many(peer, total));
        }
        let mut actions = Vec::new();
        if !self.peers.contains_key(&peer) {
            // The peer answers our discover: it holds no members of ours yet, and a leave we
            // sent before our sync reached it would name a group it does not hold (OTP 25 and
            // 27 crash on that). Our sync goes first, as it does to a peer that discovers us.
            self.replace_peer_of(peer.node);
            actions.push(Action::Monitor(peer));
            actions.push(Action::Send {
                to: Dest::Pid(peer),
                msg: self.sync(),
            });
        }
        self.peers.entry(peer).or_default().replace(groups);
        Ok(actions)
    }

    fn discovered(&mut self, peer: Pid) -> Vec<Action> {
        let mut actions = vec![Action::Send {
            to: Dest::Pid(peer),
            msg: self.sync(),
        }];
        if !self.peers.contains_key(&peer) {
            self.replace_peer_of(peer.node);
            self.peers.insert(peer, Peer::default());
            actions.push(Action::Monitor(peer));
            actions.push(Action::Send {
                to: Dest::Pid(peer),
                msg: self.discover(),
            });
        }
        actions
    }

    /// A node runs one scope process under the scope's name: a new one there means the one we
    /// knew has gone (its DOWN may still be on its way), and its members with it. This also
    /// bounds the peers a node can make us keep to one.
    fn replace_peer_of(&mut self, node: Atom) {
        self.peers.retain(|pid, _| pid.node != node);
    }

    fn joined_remote(&mut self, peer: Pid, group: Term, pids: &[Pid]) -> Result<(), Violation> {
        let limit = self.limits.max_peer_members;
        let Some(state) = self.peers.get_mut(&peer) else {
            return Ok(());
        };
        if state.members + pids.len() > limit {
            return Err(too_many(peer, state.members + pids.len()));
        }
        state.join(group, pids);
        Ok(())
    }

    fn updated(&mut self, peer: Pid, update: &Term) -> Result<(), Violation> {
        let entries = update
            .as_list()
            .ok_or_else(|| violation("update", "not a list"))?;
        let mut changes = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.as_tuple() {
                Some([group, added, removed]) => {
                    let (added, removed) = (
                        pids(added, "update", peer.node)?,
                        pids(removed, "update", peer.node)?,
                    );
                    changes.push((group, added, removed))
                }
                _ => {
                    return Err(violation(
                        "update",
                        "an entry is not {Group, Added, Removed}",
                    ))
                }
            }
        }
        let limit = self.limits.max_peer_members;
        let Some(state) = self.peers.get_mut(&peer) else {
            return Ok(());
        };
        for (group, added, removed) in changes {
            state.leave(group, &counted(&removed), 1);
            if state.members + added.len() > limit {
                return Err(too_many(peer, state.members + added.len()));
            }
            if !added.is_empty() {
                state.join(group.clone(), &added);
            }
        }
        Ok(())
    }

    fn discover(&self) -> Term {
        Term::tuple(vec![Term::atom("discover"), self.me.into()])
    }

    fn sync(&self) -> Term {
        let groups = self
            .local
            .iter()
            .map(|(group, pids)| {
                Term::tuple(vec![
                    group.clone(),
                    Term::list(pids.iter().map(|&p| p.into()).collect()),
                ])
            })
            .collect();
        requests::cast_message(Term::tuple(vec![
            Term::atom("sync"),
            self.me.into(),
            Term::list(groups),
        ]))
    }

    fn broadcast(&self, msg: &Term) -> Vec<Action> {
        let mut peers: Vec<Pid> = self.peers.keys().copied().collect();
        peers.sort_by(|a, b| Term::from(*a).cmp(&Term::from(*b)));
        peers
            .into_iter()
            .map(|peer| Action::Send {
                to: Dest::Pid(peer),
                msg: msg.clone(),
            })
            .collect()
    }
}

fn remove_one(groups: &mut BTreeMap<Term, Vec<Pid>>, group: &Term, pid: Pid) {
    if let Some(members) = groups.get_mut(group) {
        if let Some(at) = members.iter().position(|&p| p == pid) {
            members.remove(at);
        }
        if members.is_empty() {
            groups.remove(group);
        }
    }
}

/// The peer scope a message names, a process of the node that sent it.
fn pid_field(fields: &[Term], at: usize, what: &str, from: Atom) -> Result<Pid, Violation> {
    let pid = fields[at]
        .as_pid()
        .ok_or_else(|| violation(what, "the sender is not a pid"))?;
    if pid.node != from {
        return Err(violation(what, "the scope is a process of another node"));
    }
    Ok(pid)
}

/// A pid or a proper list of pids, as join and leave carry them: processes of `node`.
fn pids(term: &Term, what: &str, node: Atom) -> Result<Vec<Pid>, Violation> {
    let pids: Vec<Pid> = match term.as_pid() {
        Some(pid) => vec![pid],
        None => term
            .as_list()
            .and_then(|list| list.iter().map(Term::as_pid).collect())
            .ok_or_else(|| violation(what, "members are not a pid or a list of pids"))?,
    };
    if pids.iter().any(|pid| pid.node != node) {
        return Err(violation(what, "a member is a process of another node"));
    }
    Ok(pids)
}

fn violation(what: &str, problem: &str) -> Violation {
    Violation(format!("pg {what} message: {problem}"))
}

fn too_many(peer: Pid, count: usize) -> Violation {
    Violation(format!(
        "pg scope {peer:?} holds {count} memberships here, more than allowed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::transcript::Transcript;

    /// Our node `u`, an OTP 25 node `a` and an OTP 29 node `b`.
    fn setup() -> (Transcript, Scope) {
        let t = Transcript::new(&[("u", "us@vm"), ("a", "a_25@vm"), ("b", "b_29@vm")]);
        let scope = Scope::new(Atom::new("pg"), t.pid("<u:pg>"), Limits::default());
        (t, scope)
    }

    /// [`recv`] of each of `texts`, which must all be accepted.
    fn recv_all(scope: &mut Scope, t: &Transcript, texts: &[&str]) {
        for text in texts {
            recv(scope, t, text).unwrap_or_else(|err| panic!("{text}: {err:?}"));
        }
    }

    /// `text` received over the connection of the node of the first pid it holds.
    fn recv(scope: &mut Scope, t: &Transcript, text: &str) -> Result<Vec<Action>, Violation> {
        fn first_pid(term: &Term) -> Option<Pid> {
            match term {
                Term::Pid(pid) => Some(*pid),
                Term::Tuple(elements) | Term::List(elements) => elements.iter().find_map(first_pid),
                _ => None,
            }
        }
        let msg = t.term(text);
        let from = first_pid(&msg).map_or(t.node("a"), |pid| pid.node);
        scope.handle(from, &msg)
    }

    fn send(t: &Transcript, to: &str, msg: &str) -> Action {
        Action::Send {
            to: Dest::Pid(t.pid(to)),
            msg: t.term(msg),
        }
    }

    fn sorted(mut pids: Vec<Pid>) -> Vec<Term> {
        let mut terms: Vec<Term> = pids.drain(..).map(Term::from).collect();
        terms.sort();
        terms
    }

    /// What the scope process of an OTP 25 or 27 node (`pg.erl`, version 0) records of our
    /// scope, driven by what we send it: it panics where that pg would crash.
    struct Otp25Peer {
        me: Pid,
        us: Pid,
        /// Its view of our members, once it knows our scope.
        view: Option<BTreeMap<Term, Vec<Pid>>>,
        /// What it sends back, in order.
        out: Vec<Term>,
    }

    impl Otp25Peer {
        fn receive(&mut self, msg: &Term) {
            let fields = msg.as_tuple().expect("pg gets tuples from us");
            match (
                fields[0]
                    .as_atom()
                    .map(|a| a.as_str().to_string())
                    .as_deref(),
                fields.len(),
            ) {
                (Some("discover"), 2) => {
                    assert_eq!(fields[1], Term::from(self.us));
                    self.out.push(Term::tuple(vec![
                        Term::atom("$gen_cast"),
                        Term::tuple(vec![Term::atom("sync"), self.me.into(), Term::nil()]),
                    ]));
                    if self.view.is_none() {
                        self.view = Some(BTreeMap::new());
                        self.out
                            .push(Term::tuple(vec![Term::atom("discover"), self.me.into()]));
                    }
                }
                (Some("$gen_cast"), 2) => {
                    let Some([tag, _, groups]) = fields[1].as_tuple() else {
                        panic!("pg's handle_cast crashes on {msg}");
                    };
                    assert!(tag.is_atom("sync"), "pg's handle_cast crashes on {msg}");
                    let view = groups
                        .as_list()
                        .expect("a list")
                        .iter()
                        .map(|g| match g.as_tuple() {
                            Some([group, pids]) => {
                                (group.clone(), super::pids(pids, "", self.us.node).unwrap())
                            }
                            _ => panic!("{msg}"),
                        })
                        .collect();
                    self.view = Some(view);
                }
                (Some("join"), 4) => {
                    if let Some(view) = &mut self.view {
                        let mut pids = super::pids(&fields[3], "", self.us.node).unwrap();
                        let members = view.entry(fields[2].clone()).or_default();
                        pids.append(members);
                        *members = pids;
                    }
                }
                (Some("leave"), 4) => {
                    if let Some(view) = &mut self.view {
                        let pids = super::pids(&fields[2], "", self.us.node).unwrap();
                        for group in fields[3].as_list().expect("a list") {
                            let members = view.get_mut(group).unwrap_or_else(|| {
                                panic!("badkey: pg's leave_remote/3 crashes on {msg}")
                            });
                            for pid in &pids {
                                if let Some(at) = members.iter().position(|p| p == pid) {
                                    members.remove(at);
                                }
                            }
                            if members.is_empty() {
                                view.remove(group);
                            }
                        }
                    }
                }
                _ => panic!("pg's handle_info crashes on {msg}"),
            }
        }
    }

    /// Local joins, leaves and exits at any moment of the discovery of an OTP 25 peer, in
    /// every interleaving: the peer never gets a message its pg would crash on, and in the
    /// end holds exactly our members.
    #[test]
    fn an_otp_25_peer_holds_our_members_exactly_whatever_the_interleaving() {
        let (t, _) = setup();
        let pids = [t.pid("<u.1>"), t.pid("<u.2>")];
        let groups = [t.term("g1"), t.term("g2")];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..2000 {
            let (_, mut scope) = setup();
            let mut peer = Otp25Peer {
                me: t.pid("<a:pg>"),
                us: t.pid("<u:pg>"),
                view: None,
                out: Vec::new(),
            };
            let mut to_peer: Vec<Term> = Vec::new();
            let mut from_peer: Vec<Term> = Vec::new();
            let mut connected = false;
            let send = |actions: Vec<Action>, to_peer: &mut Vec<Term>| {
                for action in actions {
                    if let Action::Send { msg, .. } = action {
                        to_peer.push(msg);
                    }
                }
            };
            for _ in 0..40 {
                match rand(6) {
                    0 => {
                        let pid = pids[rand(2)];
                        send(scope.join(groups[rand(2)].clone(), &[pid]), &mut to_peer);
                    }
                    1 => {
                        let pid = pids[rand(2)];
                        send(scope.leave(&groups[rand(2)], &[pid]).1, &mut to_peer);
                    }
                    2 => send(scope.member_down(pids[rand(2)]), &mut to_peer),
                    3 if !connected => {
                        connected = true;
                        send(scope.connected(t.node("a")), &mut to_peer);
                    }
                    4 if !to_peer.is_empty() => {
                        peer.receive(&to_peer.remove(0));
                        from_peer.append(&mut peer.out);
                    }
                    5 if !from_peer.is_empty() => {
                        let msg = from_peer.remove(0);
                        send(scope.handle(t.node("a"), &msg).unwrap(), &mut to_peer);
                    }
                    _ => {}
                }
            }
            if !connected {
                send(scope.connected(t.node("a")), &mut to_peer);
            }
            while !to_peer.is_empty() || !from_peer.is_empty() {
                if !to_peer.is_empty() {
                    peer.receive(&to_peer.remove(0));
                    from_peer.append(&mut peer.out);
                } else {
                    let msg = from_peer.remove(0);
                    send(scope.handle(t.node("a"), &msg).unwrap(), &mut to_peer);
                }
            }
            let view = peer.view.expect("the peer knows our scope");
            let sorted = |groups: &BTreeMap<Term, Vec<Pid>>| -> Vec<(Term, Vec<Term>)> {
                groups
                    .iter()
                    .map(|(g, pids)| (g.clone(), super::tests::sorted(pids.clone())))
                    .collect()
            };
            assert_eq!(sorted(&view), sorted(&scope.local));
        }
    }

    #[test]
    fn a_connection_discovers_the_scope_of_the_node() {
        let (t, mut scope) = setup();
        assert_eq!(
            scope.connected(t.node("a")),
            vec![Action::Send {
                to: Dest::Name {
                    name: Atom::new("pg"),
                    node: t.node("a")
                },
                msg: t.term("{discover,'<u:pg>'}"),
            }]
        );
    }

    /// OTP 25's `{discover, Pid}` and OTP 29's `{discover, Pid, 1}` get the same answer, in the
    /// form OTP 25 understands: our members, a monitor, and a discover back, once.
    #[test]
    fn discover_of_either_release_is_answered_with_sync_and_discover() {
        let (t, mut scope) = setup();
        let p1 = t.pid("<u.1>");
        scope.join(t.term("g1"), &[p1, p1]);
        scope.join(t.term("g2"), &[p1]);
        for (peer, discover) in [
            ("<a:pg>", "{discover,'<a:pg>'}"),
            ("<b:pg>", "{discover,'<b:pg>',1}"),
        ] {
            let sync = "{'$gen_cast',{sync,'<u:pg>',[{g1,['<u.1>','<u.1>']},{g2,['<u.1>']}]}}";
            assert_eq!(
                recv(&mut scope, &t, discover),
                Ok(vec![
                    send(&t, peer, sync),
                    Action::Monitor(t.pid(peer)),
                    send(&t, peer, "{discover,'<u:pg>'}"),
                ])
            );
            assert_eq!(
                recv(&mut scope, &t, discover),
                Ok(vec![send(&t, peer, sync)]),
                "a known peer is only synced again"
            );
        }
    }

    /// A leave naming several pids in several groups may look at no more memberships than its
    /// length allows: before, 40 pids in 40 groups of 40 members cost 1,600 look-ups however
    /// often it came, and nothing changed. BEAM's forms (one pid, or one group) always pass.
    #[test]
    fn a_leave_of_many_pids_from_many_groups_is_bounded_by_its_length() {
        let (t, mut scope) = setup();
        recv(&mut scope, &t, "{'$gen_cast',{sync,'<a:pg>',[]}}").unwrap();
        let pids = |prefix: &str| -> String {
            let pids: Vec<String> = (0..40).map(|i| format!("'<a:{prefix}{i}>'")).collect();
            format!("[{}]", pids.join(","))
        };
        for g in 0..40 {
            let join = format!("{{join,'<a:pg>',g{g},{}}}", pids("m"));
            recv(&mut scope, &t, &join).unwrap();
        }
        let groups: Vec<String> = (0..40).map(|g| format!("g{g}")).collect();
        let groups = format!("[{}]", groups.join(","));
        let err = recv(
            &mut scope,
            &t,
            &format!("{{leave,'<a:pg>',{},{groups}}}", pids("x")),
        );
        assert_eq!(
            err.unwrap_err().0,
            "pg leave message: 40 pids in 40 groups, 1600 memberships to look at"
        );
        let one_pid = format!("{{leave,'<a:pg>','<a:m1>',{groups}}}");
        recv(&mut scope, &t, &one_pid).unwrap();
        let one_group = format!("{{leave,'<a:pg>',{},[g0]}}", pids("m"));
        recv(&mut scope, &t, &one_group).unwrap();
        assert_eq!(scope.members(&t.term("g0")), vec![]);
        assert_eq!(scope.members(&t.term("g1")).len(), 39);
    }

    /// A join of no pids keeps no group (unlike BEAM's pg, which keeps an
    /// empty one: see `Peer::join`); a leave removes each pid once per naming
    /// of the group, however the joins and the names mix.
    #[test]
    fn empty_joins_keep_nothing_and_leaves_count_each_naming() {
        let (t, mut scope) = setup();
        let g1 = t.term("g1");
        recv_all(
            &mut scope,
            &t,
            &[
                "{'$gen_cast',{sync,'<a:pg>',[]}}",
                "{join,'<a:pg>',g0,[]}",
                "{join,'<a:pg>',g1,['<a:p1>','<a:p1>','<a:p1>','<a:p2>']}",
            ],
        );
        assert_eq!(scope.which_groups(), vec![g1.clone()]);
        recv(
            &mut scope,
            &t,
            "{leave,'<a:pg>',['<a:p1>','<a:p9>'],[g1,g1,g7]}",
        )
        .unwrap();
        assert_eq!(
            sorted(scope.members(&g1)),
            sorted(vec![t.pid("<a:p1>"), t.pid("<a:p2>")])
        );
        recv(
            &mut scope,
            &t,
            "{leave,'<a:pg>',['<a:p1>','<a:p1>','<a:p2>'],[g1]}",
        )
        .unwrap();
        assert_eq!(scope.members(&g1), vec![]);
        assert_eq!(scope.which_groups(), Vec::<Term>::new());
    }

    /// Seen from OTP 25 (`a`) and OTP 29 speaking version 0 (`b`): sync, join of a pid twice,
    /// then the leave pg sends when that member exits, naming the group twice.
    #[test]
    fn version_0_members_come_and_go() {
        let (t, mut scope) = setup();
        let g1 = t.term("g1");
        recv_all(
            &mut scope,
            &t,
            &[
                "{'$gen_cast',{sync,'<a:pg>',[{g2,['<a:p3>']},{g3,['<a:p3>']}]}}",
                "{join,'<a:pg>',g1,'<a:p2>'}",
                "{'$gen_cast',{sync,'<b:pg>',[]}}",
                "{join,'<b:pg>',g1,['<b:p1>','<b:p1>']}",
            ],
        );
        assert_eq!(
            sorted(scope.members(&g1)),
            sorted(vec![t.pid("<a:p2>"), t.pid("<b:p1>"), t.pid("<b:p1>")])
        );
        assert_eq!(scope.members(&t.term("g2")), vec![t.pid("<a:p3>")]);
        assert_eq!(
            scope.which_groups(),
            vec![t.term("g1"), t.term("g2"), t.term("g3")]
        );

        recv(&mut scope, &t, "{leave,'<b:pg>',['<b:p1>'],[g1,g1]}").unwrap();
        recv(&mut scope, &t, "{leave,'<a:pg>','<a:p2>',[g1]}").unwrap();
        assert_eq!(scope.members(&g1), vec![]);

        // A second sync replaces what the peer holds: g2 is gone, g3 stays.
        recv(
            &mut scope,
            &t,
            "{'$gen_cast',{sync,'<a:pg>',[{g3,['<a:p3>']}]}}",
        )
        .unwrap();
        assert_eq!(scope.which_groups(), vec![t.term("g3")]);
    }

    /// OTP 29 to a version 1 peer: local_data and update (as captured between two OTP 29 nodes).
    #[test]
    fn version_1_members_come_and_go() {
        let (t, mut scope) = setup();
        assert_eq!(
            recv(
                &mut scope,
                &t,
                "{'$gen_cast',{local_data,'<b:pg>',1,#{g2 => ['<b:p3>'],g3 => ['<b:p3>']}}}"
            ),
            Ok(vec![
                Action::Monitor(t.pid("<b:pg>")),
                send(&t, "<b:pg>", "{'$gen_cast',{sync,'<u:pg>',[]}}"),
            ]),
            "members from an unknown peer make it known, monitored, and synced with ours"
        );
        for msg in [
            "{update,'<b:pg>',[{g1,['<b:p1>','<b:p1>'],[]}]}",
            "{update,'<b:pg>',[{g1,[],['<b:p1>']},{g1,[],['<b:p1>']}]}",
            "{update,'<b:pg>',[{g2,['<b:p4>'],['<b:p3>']}]}",
        ] {
            assert_eq!(recv(&mut scope, &t, msg), Ok(vec![]));
        }
        assert_eq!(scope.members(&t.term("g1")), vec![]);
        assert_eq!(scope.members(&t.term("g2")), vec![t.pid("<b:p4>")]);
        assert_eq!(scope.members(&t.term("g3")), vec![t.pid("<b:p3>")]);
    }

    #[test]
    fn our_joins_and_leaves_are_exact() {
        let (t, mut scope) = setup();
        recv(&mut scope, &t, "{discover,'<a:pg>'}").unwrap();
        recv(&mut scope, &t, "{discover,'<b:pg>',1}").unwrap();
        let (p1, p2) = (t.pid("<u.1>"), t.pid("<u.2>"));
        let g1 = t.term("g1");

        let to_both = |msg: &str| vec![send(&t, "<a:pg>", msg), send(&t, "<b:pg>", msg)];
        let mut actions = scope.join(g1.clone(), &[p1]);
        actions.sort_by_key(|a| format!("{a:?}"));
        let mut expected = to_both("{join,'<u:pg>',g1,['<u.1>']}");
        expected.sort_by_key(|a| format!("{a:?}"));
        assert_eq!(actions, expected);
        scope.join(g1.clone(), &[p1]);

        assert_eq!(
            scope.leave(&g1, &[p2]),
            (Left::NotJoined, vec![]),
            "nothing is sent for a pid that did not join"
        );
        let (left, actions) = scope.leave(&g1, &[p1, p2]);
        assert_eq!(left, Left::Ok);
        assert_eq!(actions.len(), 2);
        assert!(actions
            .iter()
            .all(|a| matches!(a, Action::Send { msg, .. } if *msg == t.term("{leave,'<u:pg>',['<u.1>'],[g1]}"))));
        assert_eq!(scope.local_members(&g1), vec![p1], "one join is left");

        scope.join(t.term("g2"), &[p1]);
        let actions = scope.member_down(p1);
        assert!(actions
            .iter()
            .all(|a| matches!(a, Action::Send { msg, .. } if *msg == t.term("{leave,'<u:pg>','<u.1>',[g1,g2]}"))));
        assert_eq!(actions.len(), 2);
        assert_eq!(scope.which_groups(), vec![]);
        assert_eq!(scope.member_down(p1), vec![], "a second DOWN sends nothing");
    }

    #[test]
    fn peers_vanish_with_their_node_or_scope() {
        let (t, mut scope) = setup();
        recv(
            &mut scope,
            &t,
            "{'$gen_cast',{sync,'<a:pg>',[{g,['<a:p1>']}]}}",
        )
        .unwrap();
        recv(
            &mut scope,
            &t,
            "{'$gen_cast',{sync,'<b:pg>',[{g,['<b:p1>']}]}}",
        )
        .unwrap();
        scope.disconnected(t.node("a"));
        assert_eq!(scope.members(&t.term("g")), vec![t.pid("<b:p1>")]);
        scope.peer_down(t.pid("<b:pg>"));
        assert_eq!(scope.members(&t.term("g")), vec![]);
        assert_eq!(
            recv(&mut scope, &t, "{join,'<b:pg>',g,['<b:p2>']}"),
            Ok(vec![]),
        );
        assert_eq!(
            scope.members(&t.term("g")),
            vec![],
            "joins of a scope we do not know are ignored, as pg does"
        );
    }

    #[test]
    fn bad_messages_are_violations_and_unknown_ones_are_ignored() {
        let (t, mut scope) = setup();
        recv(&mut scope, &t, "{discover,'<a:pg>'}").unwrap();
        for bad in [
            "{discover,notapid}",
            "{join,'<a:pg>',g,[notapid]}",
            "{leave,'<a:pg>',['<a:p1>'],g}",
            "{leave,'<a:pg>',[1],[g]}",
            "{'$gen_cast',{sync,'<a:pg>',[{g}]}}",
            "{'$gen_cast',{sync,'<a:pg>',notalist}}",
            "{'$gen_cast',{local_data,'<a:pg>',1,[]}}",
            "{update,'<a:pg>',[{g,[]}]}",
        ] {
            assert!(
                matches!(recv(&mut scope, &t, bad), Err(Violation(_))),
                "{bad}"
            );
        }
        for unknown in [
            "hello",
            "{nodeup,a}",
            "{'$gen_cast',what}",
            "{'$gen_call',x,y}",
        ] {
            assert_eq!(recv(&mut scope, &t, unknown), Ok(vec![]), "{unknown}");
        }
    }

    /// pg sends its own pid and joins only processes of its node: a scope or member of another
    /// node than the one whose connection carried the message is a violation.
    #[test]
    fn scopes_and_members_of_other_nodes_are_violations() {
        let (t, mut scope) = setup();
        let a = t.node("a");
        scope.handle(a, &t.term("{discover,'<a:pg>'}")).unwrap();
        for forged in [
            "{discover,'<b:pg>'}",
            "{'$gen_cast',{sync,'<b:pg>',[]}}",
            "{'$gen_cast',{sync,'<a:pg>',[{g,['<b:p1>']}]}}",
            "{join,'<a:pg>',g,['<a:p1>','<u.1>']}",
            "{leave,'<b:pg>','<b:p1>',[g]}",
            "{update,'<a:pg>',[{g,['<b:p1>'],[]}]}",
        ] {
            assert!(scope.handle(a, &t.term(forged)).is_err(), "{forged}");
        }
        assert_eq!(scope.which_groups(), Vec::<Term>::new());
    }

    /// A new scope process on a node replaces the one we knew there, members and all.
    #[test]
    fn a_node_has_one_peer_scope() {
        let (t, mut scope) = setup();
        let a = t.node("a");
        scope
            .handle(a, &t.term("{'$gen_cast',{sync,'<a:pg>',[{g,['<a:p1>']}]}}"))
            .unwrap();
        let actions = scope.handle(a, &t.term("{discover,'<a:pg2>'}")).unwrap();
        assert!(actions.contains(&Action::Monitor(t.pid("<a:pg2>"))));
        assert_eq!(scope.members(&t.term("g")), vec![]);
        assert_eq!(scope.peers.len(), 1);
        scope
            .handle(a, &t.term("{join,'<a:pg>',g,['<a:p3>']}"))
            .unwrap();
        assert_eq!(scope.members(&t.term("g")), vec![], "the old scope is gone");
    }

    #[test]
    fn a_peer_holding_too_many_members_is_a_violation() {
        let t = Transcript::new(&[("u", "us@vm"), ("a", "a@vm")]);
        let mut scope = Scope::new(
            Atom::new("pg"),
            t.pid("<u:pg>"),
            Limits {
                max_peer_members: 2,
            },
        );
        recv(
            &mut scope,
            &t,
            "{'$gen_cast',{sync,'<a:pg>',[{g,['<a:1>','<a:2>']}]}}",
        )
        .unwrap();
        assert!(recv(&mut scope, &t, "{join,'<a:pg>',g,['<a:3>']}").is_err());
        assert!(recv(
            &mut scope,
            &t,
            "{'$gen_cast',{sync,'<a:pg>',[{g,['<a:1>','<a:2>','<a:3>']}]}}"
        )
        .is_err());
        assert!(recv(
            &mut scope,
            &t,
            "{update,'<a:pg>',[{g,['<a:3>'],['<a:1>']}]}"
        )
        .is_ok());
    }
}
