//! global's locker: before two partitions exchange names, each side takes the lock
//! `{global, [LockerA, LockerB]}` on every node of its partition (and the initiator on the
//! other side's node too), and tells the other side when it holds it.
//!
//! `global.erl`'s locker is a process that blocks in `gen_server:multi_call` and in selective
//! receives; here it is a state machine whose blocking steps wait for call replies, and whose
//! mailbox keeps the messages a blocking step does not take, in order, for later.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::table::GLOBAL_RID;
use super::wire::{cast, server_of};
use super::{Action, Cx, MultiCall, Proc};
use crate::term::{Atom, Pid, Term};
use crate::Dest;

/// First wait when the partition is alone (`global.erl`: "just to get started").
const START_WAIT: Duration = Duration::from_millis(200);

/// A connect session with another node, as the server hands it over.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Him {
    pub node: Atom,
    pub locker: Pid,
    pub vsn: i64,
    pub my_tag: i64,
    pub his_tag: Term,
}

/// The `new_nodes` casts to run while the lock of a finished session is still held.
#[derive(Clone, Debug)]
pub(super) struct NewNodes {
    pub msg: Term,
    pub old_msg: Term,
    pub nodes: Vec<(Atom, i64)>,
}

/// What the server tells the locker (`global.erl` sends these as messages).
#[derive(Clone, Debug)]
pub(super) enum Msg {
    His(Him),
    Cancel {
        node: Atom,
        tag: Option<i64>,
        then: Option<NewNodes>,
    },
    LockSet {
        from: Pid,
        set: bool,
        tag: Option<Term>,
    },
    Add(Vec<Atom>),
    Remove(Atom),
}

/// What the locker tells the server: both partitions hold the lock for this session.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LockIsSet {
    pub node: Atom,
    pub my_tag: i64,
    pub lock_id: Term,
}

#[derive(Debug)]
enum Purpose {
    Initiate(Him),
    Respond { him: Him, from: Pid },
}

#[derive(Debug)]
enum Stage {
    Boss,
    Second,
    Rest,
    UndoBoss,
    UndoSoFar,
}

/// `set_lock(Id, Nodes, 0)`: the calls, then (when some node said no) the `del_lock` on the
/// nodes that said yes.
#[derive(Debug)]
enum SetLock {
    Asking(MultiCall),
    Undoing(MultiCall),
}

/// `lock_nodes_safely/3` in progress.
#[derive(Debug)]
struct Locking {
    lock_id: Term,
    extra: Vec<Atom>,
    stage: Stage,
    first: Vec<Atom>,
    second: Vec<Atom>,
    calls: SetLock,
    purpose: Purpose,
}

#[derive(Debug)]
enum State {
    Idle,
    Locking(Box<Locking>),
    /// `lock_is_set/5`: we hold our side; waiting for the other side's `lock_set`.
    WaitLockSet {
        him: Him,
        lock_id: Term,
        known: Vec<Atom>,
    },
    /// `wait_cancel_lock/6`: both sides hold the lock; the server ends the session.
    WaitCancel {
        node: Atom,
        my_tag: i64,
        lock_id: Term,
        known: Vec<Atom>,
        after: After,
    },
    /// `delete_global_lock/2`: `del_lock` on all but the boss, then on the boss.
    Releasing {
        calls: MultiCall,
        boss: Option<(Term, Atom)>,
        after: After,
    },
}

/// What happens once a lock is released.
#[derive(Clone, Debug)]
enum After {
    Loop {
        remove: Option<(Atom, i64)>,
        just_synced: bool,
        drop_him: Option<Him>,
    },
}

#[derive(Debug)]
pub(super) struct Locker {
    me: Atom,
    pid: Pid,
    host: String,
    local: Vec<Him>,
    remote: Vec<Him>,
    known: Vec<Atom>,
    just_synced: bool,
    queue: VecDeque<Msg>,
    state: State,
    timer: Option<u64>,
}

impl Locker {
    pub(super) fn new(me: Atom, pid: Pid, host: String) -> Locker {
        Locker {
            me,
            pid,
            host,
            local: Vec::new(),
            remote: Vec::new(),
            known: Vec::new(),
            just_synced: false,
            queue: VecDeque::new(),
            state: State::Idle,
            timer: None,
        }
    }

    /// The `lock_set`s of `node`'s locker waiting until ours is free to take them.
    pub(super) fn waiting_lock_sets(&self, node: Atom) -> usize {
        self.queue
            .iter()
            .filter(|msg| matches!(msg, Msg::LockSet { from, .. } if from.node == node))
            .count()
    }

    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// A message from the server.
    pub(super) fn post(&mut self, msg: Msg, cx: &mut Cx) {
        if !self.is_moot(&msg) {
            self.queue.push_back(msg);
        }
        self.run(cx);
    }

    /// Whether `msg` would change nothing when its turn came. Such messages are not queued:
    /// while the locker waits (for a call's reply, for the other side), a peer can make the
    /// server post them as fast as it sends (`new_nodes` naming no new node, `exchange` with
    /// a tag of no session), and each would stay queued and make every later message scan
    /// past it.
    fn is_moot(&mut self, msg: &Msg) -> bool {
        match msg {
            Msg::Add(nodes) => nodes.is_empty(),
            Msg::Cancel {
                node,
                tag,
                then: None,
            } => {
                let again = self.queue.iter().any(|queued| {
                    matches!(queued, Msg::Cancel { node: n, tag: t, then: None } if n == node && t == tag)
                });
                again
                    || match self.take_back(*node, *tag) {
                        Some(taken) => taken,
                        None => !tag.is_some_and(|tag| self.has_session(*node, tag)),
                    }
            }
            _ => false,
        }
    }

    /// For a cancel of a session still queued: true when it is taken back (nothing queued
    /// after it used it, so neither would have left a trace), false when it is kept. `None`:
    /// no such session is queued.
    fn take_back(&mut self, node: Atom, tag: Option<i64>) -> Option<bool> {
        let at = self.queue.iter().position(
            |msg| matches!(msg, Msg::His(him) if him.node == node && Some(him.my_tag) == tag),
        )?;
        let used = self
            .queue
            .iter()
            .skip(at)
            .any(|msg| matches!(msg, Msg::LockSet { from, .. } if from.node == node));
        if !used {
            self.queue.remove(at);
        }
        Some(!used)
    }

    /// Whether the session `tag` with `node` is known to the locker or in the hands of its
    /// current step: only then can a cancel of it change anything.
    fn has_session(&self, node: Atom, tag: i64) -> bool {
        let is = |him: &Him| him.node == node && him.my_tag == tag;
        let after_has = |after: &After| match after {
            After::Loop {
                remove, drop_him, ..
            } => *remove == Some((node, tag)) || drop_him.as_ref().is_some_and(is),
        };
        self.local.iter().chain(&self.remote).any(is)
            || match &self.state {
                State::Idle => false,
                State::Locking(job) => match &job.purpose {
                    Purpose::Initiate(him) | Purpose::Respond { him, .. } => is(him),
                },
                State::WaitLockSet { him, .. } => is(him),
                State::WaitCancel {
                    node: n,
                    my_tag,
                    after,
                    ..
                } => (*n, *my_tag) == (node, tag) || after_has(after),
                State::Releasing { after, .. } => after_has(after),
            }
    }

    /// The reply to (or the failure of) a call the locker made. `None`: the server there is
    /// gone (its monitor fired).
    pub(super) fn call_done(&mut self, id: u64, reply: Option<Term>, cx: &mut Cx) -> bool {
        let taken = match &mut self.state {
            State::Locking(job) => match &mut job.calls {
                SetLock::Asking(calls) | SetLock::Undoing(calls) => calls.done(id, reply),
            },
            State::Releasing { calls, .. } => calls.done(id, reply),
            _ => false,
        };
        if taken {
            self.advance(cx);
            self.run(cx);
        }
        taken
    }

    /// The locker's wait ran out.
    pub(super) fn timer(&mut self, id: u64, cx: &mut Cx) -> bool {
        if self.timer != Some(id) {
            return false;
        }
        self.timer = None;
        if matches!(self.state, State::Idle) {
            if cx.table.is_locked(&Term::atom(GLOBAL_RID)) {
                self.arm(cx);
            } else {
                self.select_node(cx);
                self.run(cx);
            }
        }
        true
    }

    /// Runs queued messages as far as the current state allows.
    fn run(&mut self, cx: &mut Cx) {
        loop {
            match &self.state {
                State::Idle => {
                    let Some(msg) = self.queue.pop_front() else {
                        self.arm(cx);
                        return;
                    };
                    self.idle_message(msg, cx);
                }
                State::WaitLockSet { .. } | State::WaitCancel { .. } => {
                    if !self.take_awaited(cx) {
                        return;
                    }
                }
                State::Locking(_) | State::Releasing { .. } => return,
            }
        }
    }

    /// `loop_the_locker/1`'s wait: none without sessions; 0 right after a success; 200 ms
    /// with no known node; else 1 s plus 100 ms per known node, at most 3 s.
    fn arm(&mut self, cx: &mut Cx) {
        self.disarm(cx);
        if self.local.is_empty() && self.remote.is_empty() {
            return;
        }
        let wait = if self.just_synced {
            Duration::ZERO
        } else if self.known.is_empty() {
            START_WAIT
        } else {
            let ms = 1000 + 100 * self.known.len() as u64;
            Duration::from_millis(ms.min(3000))
        };
        self.just_synced = false;
        let id = cx.ids.next();
        self.timer = Some(id);
        cx.out.push(Action::Timer { id, after: wait });
    }

    /// Drops the wait: each message run while idle arms a new one, and the old ones would
    /// pile up in the driver until they ran out.
    fn disarm(&mut self, cx: &mut Cx) {
        if let Some(id) = self.timer.take() {
            cx.out.push(Action::CancelTimer { id });
        }
    }

    fn boss(&self) -> Atom {
        self.known.iter().copied().fold(self.me, Atom::max)
    }

    fn idle_message(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::His(him) => {
                if him.vsn > 4 {
                    if self.is_local(him.node) {
                        self.local.insert(0, him);
                    } else {
                        self.remote.insert(0, him);
                    }
                }
            }
            Msg::Cancel {
                node,
                tag: Some(tag),
                then: None,
            } => self.remove_session(node, tag),
            Msg::Cancel { .. } => {}
            Msg::LockSet { set: false, .. } => {}
            Msg::LockSet {
                from,
                set: true,
                tag,
            } => match self.find(from.node) {
                Some(him) if tag.is_none() || tag == Some(Term::Int(him.my_tag)) => {
                    let lock_id = self.lock_id(from);
                    self.start_locking(lock_id, Vec::new(), Purpose::Respond { him, from }, cx);
                }
                _ => self.send_lock_set(false, from, 5, &Term::Int(0), cx),
            },
            Msg::Add(nodes) => self.add_known(nodes),
            Msg::Remove(node) => self.remove_known(node),
        }
    }

    fn add_known(&mut self, nodes: Vec<Atom>) {
        let mut all = nodes;
        all.append(&mut self.known);
        self.known = all;
    }

    fn remove_known(&mut self, node: Atom) {
        if let Some(at) = self.known.iter().position(|&n| n == node) {
            self.known.remove(at);
        }
    }

    fn is_local(&self, node: Atom) -> bool {
        node.as_str()
            .split_once('@')
            .is_some_and(|(_, host)| host == self.host)
    }

    fn find(&self, node: Atom) -> Option<Him> {
        self.local
            .iter()
            .chain(&self.remote)
            .find(|h| h.node == node)
            .cloned()
    }

    fn remove_session(&mut self, node: Atom, tag: i64) {
        for list in [&mut self.local, &mut self.remote] {
            if let Some(at) = list.iter().position(|h| h.node == node && h.my_tag == tag) {
                list.remove(at);
            }
        }
    }

    /// `{global, lists:sort([OurLocker, HisLocker])}`, the same on both sides.
    fn lock_id(&self, his_locker: Pid) -> Term {
        let mut pair = [Term::from(self.pid), Term::from(his_locker)];
        pair.sort();
        Term::tuple(vec![Term::atom(GLOBAL_RID), Term::list(pair.to_vec())])
    }

    fn select_node(&mut self, cx: &mut Cx) {
        let use_remote = self.local.is_empty();
        let known = self.known.clone();
        let list = if use_remote {
            &mut self.remote
        } else {
            &mut self.local
        };
        list.retain(|h| !known.contains(&h.node));
        if list.is_empty() {
            return;
        }
        let him = list[cx.rng.below(list.len())].clone();
        let lock_id = self.lock_id(him.locker);
        let extra = vec![him.node];
        self.start_locking(lock_id, extra, Purpose::Initiate(him), cx);
    }

    fn start_locking(&mut self, lock_id: Term, extra: Vec<Atom>, purpose: Purpose, cx: &mut Cx) {
        self.disarm(cx);
        let boss = self.boss();
        let (resource, requester) = split(&lock_id);
        if boss != self.me && !cx.table.can_set_lock(&resource, &requester) {
            self.locked(false, purpose, lock_id, cx);
            return;
        }
        let first = vec![boss];
        let calls = self.set_lock(&lock_id, &first, cx);
        self.state = State::Locking(Box::new(Locking {
            lock_id,
            extra,
            stage: Stage::Boss,
            first,
            second: Vec::new(),
            calls,
            purpose,
        }));
        self.advance(cx);
    }

    /// `set_lock(Id, Nodes, 0)`: our own node answers at once (after the local check), the
    /// others by call.
    fn set_lock(&self, lock_id: &Term, nodes: &[Atom], cx: &mut Cx) -> SetLock {
        let (resource, requester) = split(lock_id);
        let local_ok = nodes.len() <= 1
            || !nodes.contains(&self.me)
            || cx.table.can_set_lock(&resource, &requester);
        let nodes = if local_ok { nodes } else { &[][..] };
        let mut calls = self.calls("set_lock", lock_id, nodes, cx);
        if !local_ok {
            calls.force_no();
        }
        SetLock::Asking(calls)
    }

    fn del_lock(&self, lock_id: &Term, nodes: &[Atom], cx: &mut Cx) -> MultiCall {
        self.calls("del_lock", lock_id, nodes, cx)
    }

    /// `{What, LockId}` called on the global servers of `nodes`.
    fn calls(&self, what: &str, lock_id: &Term, nodes: &[Atom], cx: &mut Cx) -> MultiCall {
        let request = Term::tuple(vec![Term::atom(what), lock_id.clone()]);
        MultiCall::start(Proc::Locker, self.pid, self.me, nodes, &request, cx)
    }

    /// Moves the current blocking step on when its calls are all answered.
    fn advance(&mut self, cx: &mut Cx) {
        loop {
            match std::mem::replace(&mut self.state, State::Idle) {
                State::Locking(job) => {
                    if !self.advance_locking(job, cx) {
                        return;
                    }
                }
                State::Releasing { calls, boss, after } => {
                    if !calls.finished() {
                        self.state = State::Releasing { calls, boss, after };
                        return;
                    }
                    if let Some((lock_id, boss)) = boss {
                        let calls = self.del_lock(&lock_id, &[boss], cx);
                        self.state = State::Releasing {
                            calls,
                            boss: None,
                            after,
                        };
                        continue;
                    }
                    self.finish(after);
                    return;
                }
                state => {
                    self.state = state;
                    return;
                }
            }
        }
    }

    /// One step of `lock_nodes_safely/3`. False while calls are outstanding (the job is back
    /// in `self.state`); true when the state changed and may move on.
    fn advance_locking(&mut self, mut job: Box<Locking>, cx: &mut Cx) -> bool {
        let ok = match &job.calls {
            SetLock::Asking(calls) if calls.finished() => {
                let yes = calls.granted();
                if !calls.any_no() {
                    true
                } else if yes.is_empty() {
                    false
                } else {
                    job.calls = SetLock::Undoing(self.del_lock(&job.lock_id, &yes, cx));
                    self.state = State::Locking(job);
                    return true;
                }
            }
            SetLock::Undoing(calls) if calls.finished() => false,
            _ => {
                self.state = State::Locking(job);
                return false;
            }
        };
        match (&job.stage, ok) {
            (Stage::Boss, true) => {
                self.drain_known();
                let mut nodes = vec![self.me];
                nodes.extend(job.extra.iter().copied());
                nodes.retain(|n| !job.first.contains(n));
                job.calls = self.set_lock(&job.lock_id, &nodes, cx);
                job.second = nodes;
                job.stage = Stage::Second;
            }
            (Stage::Second, true) => {
                let mut rest = self.known.clone();
                rest.retain(|n| !job.first.contains(n));
                job.calls = self.set_lock(&job.lock_id, &rest, cx);
                job.stage = Stage::Rest;
            }
            (Stage::Second, false) => {
                job.calls = SetLock::Undoing(self.del_lock(&job.lock_id, &job.first, cx));
                job.stage = Stage::UndoBoss;
            }
            (Stage::Rest, false) => {
                let mut so_far = job.first.clone();
                so_far.extend(job.second.iter().copied());
                job.calls = SetLock::Undoing(self.del_lock(&job.lock_id, &so_far, cx));
                job.stage = Stage::UndoSoFar;
            }
            (Stage::Rest, true) => {
                self.locked(true, job.purpose, job.lock_id, cx);
                return true;
            }
            (Stage::Boss | Stage::UndoBoss | Stage::UndoSoFar, _) => {
                self.locked(false, job.purpose, job.lock_id, cx);
                return true;
            }
        }
        self.state = State::Locking(job);
        true
    }

    /// `update_locker_known/1`: the known-node updates waiting in the mailbox are taken now.
    fn drain_known(&mut self) {
        let mut rest = VecDeque::with_capacity(self.queue.len());
        while let Some(msg) = self.queue.pop_front() {
            match msg {
                Msg::Add(nodes) => self.add_known(nodes),
                Msg::Remove(node) => self.remove_known(node),
                other => rest.push_back(other),
            }
        }
        self.queue = rest;
    }

    /// `lock_nodes_safely/3` finished (`ok`: our partition is locked).
    fn locked(&mut self, ok: bool, purpose: Purpose, lock_id: Term, cx: &mut Cx) {
        match purpose {
            Purpose::Initiate(him) => {
                if ok {
                    let mut known = vec![self.me, him.node];
                    known.extend(self.known.iter().copied());
                    self.send_lock_set(true, him.locker, him.vsn, &him.his_tag, cx);
                    self.state = State::WaitLockSet {
                        him,
                        lock_id,
                        known,
                    };
                } else {
                    self.state = State::Idle;
                }
            }
            Purpose::Respond { him, from } => {
                self.send_lock_set(ok, from, him.vsn, &him.his_tag, cx);
                if ok {
                    cx.lock_is_set.push(LockIsSet {
                        node: him.node,
                        my_tag: him.my_tag,
                        lock_id: lock_id.clone(),
                    });
                    let mut known = vec![self.me];
                    known.extend(self.known.iter().copied());
                    self.state = State::WaitCancel {
                        node: him.node,
                        my_tag: him.my_tag,
                        lock_id,
                        known,
                        after: After::Loop {
                            remove: Some((him.node, him.my_tag)),
                            just_synced: true,
                            drop_him: None,
                        },
                    };
                } else {
                    self.just_synced = false;
                    self.state = State::Idle;
                }
            }
        }
    }

    /// `send_lock_set/5`: through the other node's server from protocol version 6, tagged from 8.
    fn send_lock_set(&self, set: bool, his_locker: Pid, vsn: i64, his_tag: &Term, cx: &mut Cx) {
        let known = Term::list(self.known.iter().map(|&n| n.into()).collect());
        let mut fields = vec![Term::atom("lock_set"), self.pid.into(), set.into(), known];
        if vsn >= 8 {
            fields.push(his_tag.clone());
        }
        let msg = Term::tuple(fields);
        let (to, msg) = if vsn < 6 {
            (Dest::Pid(his_locker), msg)
        } else {
            (server_of(his_locker.node), cast(msg))
        };
        cx.out.push(Action::Cast {
            from: Proc::Locker,
            to,
            msg: Arc::new(msg),
        });
    }

    /// In a selective receive, takes the first queued message the state waits for; false
    /// when there is none.
    fn take_awaited(&mut self, cx: &mut Cx) -> bool {
        let position = self.queue.iter().position(|msg| self.awaits(msg));
        let Some(at) = position else {
            return false;
        };
        let msg = self.queue.remove(at).expect("position is in range");
        let state = std::mem::replace(&mut self.state, State::Idle);
        match (state, msg) {
            (
                State::WaitLockSet {
                    him,
                    lock_id,
                    known,
                },
                Msg::LockSet { set, tag, .. },
            ) => {
                let mine = tag.is_none() || tag == Some(Term::Int(him.my_tag));
                match (set, mine) {
                    (true, true) => {
                        cx.lock_is_set.push(LockIsSet {
                            node: him.node,
                            my_tag: him.my_tag,
                            lock_id: lock_id.clone(),
                        });
                        self.state = State::WaitCancel {
                            node: him.node,
                            my_tag: him.my_tag,
                            lock_id,
                            known,
                            after: After::Loop {
                                remove: None,
                                just_synced: true,
                                drop_him: Some(him),
                            },
                        };
                    }
                    (false, true) => {
                        self.release(
                            lock_id,
                            known,
                            After::Loop {
                                remove: None,
                                just_synced: false,
                                drop_him: None,
                            },
                            cx,
                        );
                    }
                    (_, false) => {
                        self.state = State::WaitLockSet {
                            him,
                            lock_id,
                            known,
                        }
                    }
                }
            }
            (
                State::WaitLockSet {
                    him,
                    lock_id,
                    known,
                },
                Msg::Cancel { then, .. },
            ) => {
                self.new_nodes(then, cx);
                self.release(
                    lock_id,
                    known,
                    After::Loop {
                        remove: Some((him.node, him.my_tag)),
                        just_synced: false,
                        drop_him: None,
                    },
                    cx,
                );
            }
            (
                State::WaitCancel {
                    lock_id,
                    known,
                    after,
                    ..
                },
                Msg::Cancel { then, .. },
            ) => {
                self.new_nodes(then, cx);
                self.release(lock_id, known, after, cx);
            }
            (state, msg) => {
                self.state = state;
                self.queue.push_front(msg);
                return false;
            }
        }
        true
    }

    fn awaits(&self, msg: &Msg) -> bool {
        match (&self.state, msg) {
            (State::WaitLockSet { him, .. }, Msg::LockSet { from, .. }) => from.node == him.node,
            (State::WaitLockSet { him, .. }, Msg::Cancel { node, tag, .. }) => {
                *node == him.node && *tag == Some(him.my_tag)
            }
            (State::WaitCancel { node, my_tag, .. }, Msg::Cancel { node: n, tag, .. }) => {
                n == node && *tag == Some(*my_tag)
            }
            _ => false,
        }
    }

    /// `call_fun/1` of a cancel: the `new_nodes` casts, sent before the lock goes.
    fn new_nodes(&self, then: Option<NewNodes>, cx: &mut Cx) {
        let Some(then) = then else {
            return;
        };
        let (msg, old_msg) = (Arc::new(cast(then.msg)), Arc::new(cast(then.old_msg)));
        for (node, vsn) in then.nodes {
            let msg = if vsn >= 7 { &msg } else { &old_msg };
            cx.out.push(Action::Cast {
                from: Proc::Locker,
                to: server_of(node),
                msg: Arc::clone(msg),
            });
        }
    }

    /// `delete_global_lock/2`: the boss last.
    fn release(&mut self, lock_id: Term, nodes: Vec<Atom>, after: After, cx: &mut Cx) {
        let boss = nodes.iter().copied().fold(nodes[0], Atom::max);
        let mut others = nodes;
        if let Some(at) = others.iter().position(|&n| n == boss) {
            others.remove(at);
        }
        let calls = self.del_lock(&lock_id, &others, cx);
        self.state = State::Releasing {
            calls,
            boss: Some((lock_id, boss)),
            after,
        };
        self.advance(cx);
    }

    fn finish(&mut self, after: After) {
        let After::Loop {
            remove,
            just_synced,
            drop_him,
        } = after;
        if let Some((node, tag)) = remove {
            self.remove_session(node, tag);
        }
        if let Some(him) = drop_him {
            self.local.retain(|h| *h != him);
            self.remote.retain(|h| *h != him);
        }
        self.just_synced = just_synced;
        self.state = State::Idle;
    }
}

fn split(lock_id: &Term) -> (Term, Term) {
    match lock_id.as_tuple() {
        Some([resource, requester]) => (resource.clone(), requester.clone()),
        _ => (lock_id.clone(), Term::nil()),
    }
}
