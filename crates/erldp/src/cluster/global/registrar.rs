//! global's registrar: registers and unregisters names on every known node under the lock
//! `{global, Registrar}` (`trans_all_known/1` of `global.erl`), one request at a time.

use std::collections::VecDeque;
use std::time::Duration;

use super::table::GLOBAL_RID;
use super::{Action, Cx, MultiCall, Proc};
use crate::term::{Atom, Pid, Term};

#[derive(Debug)]
enum Kind {
    Register { name: Term, pid: Pid, method: Term },
    Unregister { name: Term },
}

#[derive(Debug)]
struct Job {
    request: u64,
    kind: Kind,
}

#[derive(Debug)]
enum Stage {
    /// Locking the boss first.
    Boss,
    /// Locking every node; `known` as it was when the attempt began.
    All { known: Vec<Atom> },
    /// Calls of the registration itself.
    Work,
    /// Giving back the boss's lock after a failed attempt.
    Retreat,
    /// `del_lock` on all but the boss, then on the boss.
    Release { boss_left: bool },
    /// Waiting `random_sleep/1` out.
    Sleeping { timer: u64 },
}

#[derive(Debug)]
struct Running {
    job: Job,
    nodes: Vec<Atom>,
    boss: Atom,
    stage: Stage,
    calls: Option<MultiCall>,
    /// `set_lock/2` said no and is giving back the locks it got.
    undoing: bool,
    times: u32,
    result: Term,
}

#[derive(Debug)]
pub(super) struct Registrar {
    me: Atom,
    pid: Pid,
    queue: VecDeque<Job>,
    running: Option<Running>,
}

impl Registrar {
    pub(super) fn new(me: Atom, pid: Pid) -> Registrar {
        Registrar {
            me,
            pid,
            queue: VecDeque::new(),
            running: None,
        }
    }

    pub(super) fn register(
        &mut self,
        request: u64,
        name: Term,
        pid: Pid,
        method: Term,
        cx: &mut Cx,
    ) {
        self.queue.push_back(Job {
            request,
            kind: Kind::Register { name, pid, method },
        });
        self.next(cx);
    }

    pub(super) fn unregister(&mut self, request: u64, name: Term, cx: &mut Cx) {
        self.queue.push_back(Job {
            request,
            kind: Kind::Unregister { name },
        });
        self.next(cx);
    }

    /// The reply to a call of ours; false when the call is not the registrar's.
    pub(super) fn call_done(&mut self, id: u64, reply: Option<Term>, cx: &mut Cx) -> bool {
        let taken = self
            .running
            .as_mut()
            .and_then(|r| r.calls.as_mut())
            .is_some_and(|calls| calls.done(id, reply));
        if taken {
            self.advance(cx);
        }
        taken
    }

    /// A registrar timer ran out; false when the timer is not the registrar's.
    pub(super) fn timer(&mut self, id: u64, cx: &mut Cx) -> bool {
        let mine = matches!(
            self.running.as_ref().map(|r| &r.stage),
            Some(Stage::Sleeping { timer }) if *timer == id
        );
        if mine {
            self.attempt(cx);
            self.advance(cx);
        }
        mine
    }

    fn lock_id(&self) -> Term {
        Term::tuple(vec![Term::atom(GLOBAL_RID), self.pid.into()])
    }

    fn next(&mut self, cx: &mut Cx) {
        if self.running.is_some() {
            return;
        }
        let Some(job) = self.queue.pop_front() else {
            return;
        };
        self.running = Some(Running {
            job,
            nodes: Vec::new(),
            boss: self.me,
            stage: Stage::Boss,
            calls: None,
            undoing: false,
            times: 0,
            result: Term::atom("ok"),
        });
        self.attempt(cx);
        self.advance(cx);
    }

    /// `set_lock_known/2`: lock the boss of `[node() | Known]`.
    fn attempt(&mut self, cx: &mut Cx) {
        let Some(mut run) = self.running.take() else {
            return;
        };
        let mut nodes = vec![self.me];
        nodes.extend(cx.known.iter().copied());
        run.boss = nodes.iter().copied().fold(self.me, Atom::max);
        run.nodes = nodes;
        run.stage = Stage::Boss;
        run.undoing = false;
        run.calls = Some(self.calls(&[run.boss], "set_lock", &self.lock_id(), cx));
        self.running = Some(run);
    }

    fn calls(&self, nodes: &[Atom], what: &str, arg: &Term, cx: &mut Cx) -> MultiCall {
        let request = Term::tuple(vec![Term::atom(what), arg.clone()]);
        MultiCall::start(Proc::Registrar, self.pid, self.me, nodes, &request, cx)
    }

    fn advance(&mut self, cx: &mut Cx) {
        let id = self.lock_id();
        loop {
            let Some(mut run) = self.running.take() else {
                return;
            };
            let finished = run.calls.as_ref().is_none_or(MultiCall::finished);
            if !finished || matches!(run.stage, Stage::Sleeping { .. }) {
                self.running = Some(run);
                return;
            }
            let calls = run.calls.take();
            let said_no = calls.as_ref().is_some_and(MultiCall::any_no);
            if !run.undoing && said_no && matches!(run.stage, Stage::All { .. }) {
                // check_replies/3: give back what was granted, then report no.
                let yes = calls.as_ref().map(|c| c.granted()).unwrap_or_default();
                run.undoing = true;
                run.calls = Some(self.calls(&yes, "del_lock", &id, cx));
                self.running = Some(run);
                continue;
            }
            let ok = !said_no && !run.undoing;
            run.undoing = false;
            match std::mem::replace(&mut run.stage, Stage::Retreat) {
                Stage::Boss if ok => {
                    let known = cx.known.clone();
                    let local_ok = run.nodes.len() <= 1
                        || cx
                            .table
                            .can_set_lock(&Term::atom(GLOBAL_RID), &self.pid.into());
                    let mut calls =
                        self.calls(if local_ok { &run.nodes } else { &[] }, "set_lock", &id, cx);
                    if !local_ok {
                        calls.force_no();
                    }
                    run.calls = Some(calls);
                    run.stage = Stage::All { known };
                }
                Stage::Boss => self.sleep(&mut run, cx),
                Stage::All { known } if ok && cx.known.iter().all(|n| known.contains(n)) => {
                    self.work(&mut run, cx);
                }
                Stage::All { .. } => {
                    run.calls = Some(self.calls(&[run.boss], "del_lock", &id, cx));
                    run.stage = Stage::Retreat;
                }
                Stage::Retreat => self.sleep(&mut run, cx),
                Stage::Work => {
                    let mut others = run.nodes.clone();
                    others.retain(|&n| n != run.boss);
                    run.calls = Some(self.calls(&others, "del_lock", &id, cx));
                    run.stage = Stage::Release { boss_left: true };
                }
                Stage::Release { boss_left: true } => {
                    run.calls = Some(self.calls(&[run.boss], "del_lock", &id, cx));
                    run.stage = Stage::Release { boss_left: false };
                }
                Stage::Release { boss_left: false } => {
                    cx.out.push(Action::Done {
                        request: run.job.request,
                        result: run.result.clone(),
                    });
                    self.next(cx);
                    continue;
                }
                Stage::Sleeping { timer } => run.stage = Stage::Sleeping { timer },
            }
            self.running = Some(run);
        }
    }

    /// The registration itself, under the lock on every node.
    fn work(&self, run: &mut Running, cx: &mut Cx) {
        run.stage = Stage::Work;
        let request = match &run.job.kind {
            Kind::Register { name, pid, method } => {
                if cx.table.whereis(name).is_some() || cx.table.has_name(*pid) {
                    if cx.table.has_name(*pid) {
                        log::error!("global: {pid:?} registered under several names: {name}");
                    }
                    run.result = Term::atom("no");
                    run.calls = None;
                    return;
                }
                run.result = Term::atom("yes");
                Term::tuple(vec![
                    Term::atom("register"),
                    name.clone(),
                    (*pid).into(),
                    method.clone(),
                ])
            }
            Kind::Unregister { name } => {
                run.result = Term::atom("ok");
                Term::tuple(vec![Term::atom("unregister"), name.clone()])
            }
        };
        run.calls = Some(MultiCall::start(
            Proc::Registrar,
            self.pid,
            self.me,
            &run.nodes,
            &request,
            cx,
        ));
    }

    /// `random_sleep/1`: up to 1/8 s the first time, doubling, at most 8 s.
    fn sleep(&self, run: &mut Running, cx: &mut Cx) {
        let max_ms: u64 = if run.times > 5 {
            8000
        } else {
            (1u64 << run.times) * 1000 / 8
        };
        run.times += 1;
        let wait = 1 + cx.rng.next() % max_ms;
        let timer = cx.ids.next();
        cx.out.push(Action::Timer {
            id: timer,
            after: Duration::from_millis(wait),
        });
        run.stage = Stage::Sleeping { timer };
        run.calls = None;
    }
}
