//! Several of our [`Global`]s on one simulated network: what each sends is delivered to the
//! others, in order between any two processes but interleaved at random across them, calls
//! are answered, connections come up on both sides, timers fire when nothing else is left.
//! Where the transcript tests check each message against a BEAM node, these check that the
//! whole exchange converges, whichever side leads and whatever the interleaving.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::*;

fn global(node: Atom, creation: u32, seed: u64) -> Global {
    let pid = |id| Pid {
        node,
        id,
        serial: 0,
        creation,
    };
    Global::new(Config {
        node,
        host: "vm".into(),
        creation,
        locker: pid(1),
        registrar: pid(2),
        prevent_overlapping_partitions: true,
        seed,
        limits: Limits::default(),
    })
}

/// Who sends or receives: a node's server, locker or registrar.
type End = (usize, Proc);

pub(super) struct Sim {
    pub nodes: Vec<Global>,
    channels: BTreeMap<(End, End), VecDeque<Term>>,
    /// A call in flight, by its tag: the caller, its call id and the callee.
    calls: HashMap<i64, (usize, u64, usize)>,
    /// Replies (`None`: the callee went away) waiting for delivery.
    replies: VecDeque<(usize, u64, Option<Term>)>,
    timers: VecDeque<(usize, u64)>,
    /// `resolve_it` calls: the caller, its id, the node asked and the arguments.
    rpcs: VecDeque<(usize, u64, Atom, Vec<Term>)>,
    connected: Vec<(usize, usize)>,
    dead: Vec<usize>,
    next_tag: i64,
    rng: Rng,
    /// Everything that left a node (node, action), for the checks.
    pub log: Vec<(usize, Action)>,
    /// `SIM_TRACE=1` prints every event, to follow a failing run.
    tracing: bool,
}

impl Sim {
    /// Nodes named `names` (`name@vm`), none connected yet.
    pub fn new(names: &[&str], seed: u64) -> Sim {
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, name)| global(Atom::new(&format!("{name}@vm")), 1, seed + i as u64))
            .collect();
        Sim {
            nodes,
            channels: BTreeMap::new(),
            calls: HashMap::new(),
            replies: VecDeque::new(),
            timers: VecDeque::new(),
            rpcs: VecDeque::new(),
            connected: Vec::new(),
            dead: Vec::new(),
            next_tag: 0,
            rng: Rng::new(seed),
            log: Vec::new(),
            tracing: std::env::var_os("SIM_TRACE").is_some(),
        }
    }

    /// The node goes down: every connection of it is cut, as seen from the other side.
    pub fn kill(&mut self, at: usize) {
        self.dead.push(at);
        let peers: Vec<usize> = (0..self.nodes.len())
            .filter(|&j| self.is_connected(at, j))
            .collect();
        self.channels
            .retain(|&((from, _), (to, _)), _| from != at && to != at);
        self.replies.retain(|&(caller, _, _)| caller != at);
        self.rpcs.retain(|&(caller, _, _, _)| caller != at);
        self.timers.retain(|&(node, _)| node != at);
        self.calls.retain(|_, &mut (caller, _, _)| caller != at);
        for j in peers {
            self.connected
                .retain(|&pair| pair != (at.min(j), at.max(j)));
            let lost: Vec<i64> = self
                .calls
                .iter()
                .filter(|(_, &(caller, _, callee))| caller == j && callee == at)
                .map(|(&tag, _)| tag)
                .collect();
            for tag in lost {
                let (caller, id, _) = self.calls.remove(&tag).expect("listed");
                self.replies.push_back((caller, id, None));
            }
            let node = self.node(at);
            let actions = self.nodes[j].node_down(node);
            self.handle(j, actions);
        }
    }

    /// A killed node starts again, with a new creation.
    pub fn restart(&mut self, at: usize) {
        let old = &self.nodes[at].config;
        self.nodes[at] = global(old.node, old.creation + 1, old.seed + 1000);
        self.dead.retain(|&d| d != at);
    }

    pub fn node(&self, i: usize) -> Atom {
        self.nodes[i].config.node
    }

    fn index(&self, node: Atom) -> Option<usize> {
        self.nodes.iter().position(|g| g.config.node == node)
    }

    fn is_connected(&self, a: usize, b: usize) -> bool {
        self.connected.contains(&(a.min(b), a.max(b)))
    }

    /// Connects two nodes: each gets its nodeup before any traffic of the connection.
    pub fn connect(&mut self, a: usize, b: usize) {
        if a == b || self.is_connected(a, b) || self.dead.contains(&a) || self.dead.contains(&b) {
            return;
        }
        self.connected.push((a.min(b), a.max(b)));
        self.trace(|| format!("connect {na} {nb}", na = self.node(a), nb = self.node(b)));
        let (na, nb) = (self.node(a), self.node(b));
        let actions = self.nodes[a].node_up(nb);
        self.handle(a, actions);
        let actions = self.nodes[b].node_up(na);
        self.handle(b, actions);
    }

    /// Cuts a connection: messages in flight between the two are lost, calls fail, each side
    /// gets its nodedown.
    pub fn disconnect(&mut self, a: usize, b: usize) {
        if !self.is_connected(a, b) {
            return;
        }
        self.connected.retain(|&pair| pair != (a.min(b), a.max(b)));
        self.trace(|| format!("disconnect {na} {nb}", na = self.node(a), nb = self.node(b)));
        self.channels
            .retain(|&((from, _), (to, _)), _| !((from == a && to == b) || (from == b && to == a)));
        let lost: Vec<i64> = self
            .calls
            .iter()
            .filter(|(_, &(caller, _, callee))| {
                (caller, callee) == (a, b) || (caller, callee) == (b, a)
            })
            .map(|(&tag, _)| tag)
            .collect();
        for tag in lost {
            let (caller, id, _) = self.calls.remove(&tag).expect("listed");
            self.replies.push_back((caller, id, None));
        }
        let (na, nb) = (self.node(a), self.node(b));
        let actions = self.nodes[a].node_down(nb);
        self.handle(a, actions);
        let actions = self.nodes[b].node_down(na);
        self.handle(b, actions);
    }

    fn pid_end(&self, pid: Pid) -> Option<End> {
        let at = self.index(pid.node)?;
        let config = &self.nodes[at].config;
        if pid == config.locker {
            Some((at, Proc::Locker))
        } else if pid == config.registrar {
            Some((at, Proc::Registrar))
        } else {
            None
        }
    }

    fn proc_pid(&self, at: usize, proc: Proc) -> Pid {
        let config = &self.nodes[at].config;
        match proc {
            Proc::Locker => config.locker,
            Proc::Registrar => config.registrar,
            Proc::Server => Pid {
                node: config.node,
                id: 0,
                serial: 0,
                creation: config.creation,
            },
        }
    }

    fn enqueue(&mut self, from: End, to: End, msg: Term) {
        if from.0 != to.0 && !self.is_connected(from.0, to.0) {
            return;
        }
        self.channels.entry((from, to)).or_default().push_back(msg);
    }

    fn send(&mut self, at: usize, from: Proc, to: Dest, msg: Term) {
        let to = match to {
            Dest::Name { node, .. } => self.index(node).map(|n| (n, Proc::Server)),
            Dest::Pid(pid) => self.pid_end(pid),
            Dest::Alias(_) | Dest::Global(_) => None,
        };
        if let Some(to) = to {
            self.enqueue((at, from), to, msg);
        }
    }

    /// Carries out what node `at` asks for.
    pub fn handle(&mut self, at: usize, actions: Vec<Action>) {
        for action in actions {
            self.trace(|| format!("{} {action:?}", self.node(at)));
            self.log.push((at, action.clone()));
            match action {
                Action::Send { from, to, msg } => self.send(at, from, to, msg),
                // Nodes are connected by the simulation alone: a cast to a node not
                // connected is lost as a send is.
                Action::Cast { from, to, msg } => {
                    self.send(at, from, to, Arc::unwrap_or_clone(msg));
                }
                Action::Call {
                    id,
                    from,
                    node,
                    request,
                } => {
                    let Some(callee) = self.index(node) else {
                        self.replies.push_back((at, id, None));
                        continue;
                    };
                    if !self.is_connected(at, callee) {
                        self.replies.push_back((at, id, None));
                        continue;
                    }
                    self.next_tag += 1;
                    let tag = self.next_tag;
                    self.calls.insert(tag, (at, id, callee));
                    let from_term = Term::tuple(vec![
                        self.proc_pid(at, from).into(),
                        Term::tuple(vec![Term::Int(tag), node.into()]),
                    ]);
                    let msg = Term::tuple(vec![Term::atom("$gen_call"), from_term, request]);
                    self.enqueue((at, from), (callee, Proc::Server), msg);
                }
                Action::Reply { from, reply } => {
                    let tag = from
                        .as_tuple()
                        .and_then(|f| f[1].as_tuple())
                        .and_then(|t| t[0].as_i64());
                    if let Some((caller, id, _)) = tag.and_then(|t| self.calls.remove(&t)) {
                        self.replies.push_back((caller, id, Some(reply)));
                    }
                }
                Action::Connect { node } => {
                    if let Some(other) = self.index(node) {
                        self.connect(at, other);
                        let ok = self.is_connected(at, other);
                        let actions = self.nodes[at].connect_done(node, ok);
                        self.handle(at, actions);
                    }
                }
                Action::Timer { id, after } => {
                    if after < Duration::from_secs(60) {
                        self.timers.push_back((at, id));
                    }
                }
                Action::CancelTimer { id } => {
                    self.timers
                        .retain(|&(node, timer)| (node, timer) != (at, id));
                }
                Action::Disconnect { node } => {
                    if let Some(other) = self.index(node) {
                        self.disconnect(at, other);
                    }
                }
                Action::ResolveRpc { id, node, args } => {
                    self.rpcs.push_back((at, id, node, args));
                }
                Action::Monitor { .. }
                | Action::Demonitor { .. }
                | Action::Exit { .. }
                | Action::Done { .. } => {}
            }
        }
    }

    /// Delivers one message or reply, or fires one timer when nothing else is left; false
    /// when there is nothing to do.
    pub fn step(&mut self) -> bool {
        let ready: Vec<(End, End)> = self
            .channels
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&k, _)| k)
            .collect();
        let choices = ready.len()
            + usize::from(!self.replies.is_empty())
            + usize::from(!self.rpcs.is_empty());
        if choices > 0 {
            let pick = self.rng.below(choices);
            if pick == ready.len() + usize::from(!self.replies.is_empty()) {
                let (at, id, node, args) = self.rpcs.pop_front().expect("not empty");
                let result = match self.index(node) {
                    Some(callee) if callee == at || self.is_connected(at, callee) => {
                        let (result, actions) = self.nodes[callee].resolve_it(&args);
                        self.handle(callee, actions);
                        result
                    }
                    _ => Term::tuple(vec![Term::atom("badrpc"), Term::atom("nodedown")]),
                };
                let actions = self.nodes[at].rpc_done(id, result);
                self.handle(at, actions);
            } else if pick == ready.len() {
                let (at, id, reply) = self.replies.pop_front().expect("not empty");
                let actions = self.nodes[at].call_done(id, reply);
                self.handle(at, actions);
            } else {
                let key = ready[pick];
                let msg = self
                    .channels
                    .get_mut(&key)
                    .and_then(VecDeque::pop_front)
                    .expect("not empty");
                let (to, proc) = key.1;
                self.trace(|| {
                    format!(
                        "  {}:{proc:?} <- {}:{:?} {msg}",
                        self.node(to),
                        self.node(key.0 .0),
                        key.0 .1
                    )
                });
                let sent_by = self.node(key.0 .0);
                let actions = self.nodes[to]
                    .message(proc, sent_by, &msg)
                    .unwrap_or_else(|v| panic!("{:?} got {msg}: {v:?}", self.node(to)));
                self.handle(to, actions);
            }
            return true;
        }
        let Some((at, id)) = self.timers.pop_front() else {
            return false;
        };
        let actions = self.nodes[at].timer(id);
        self.handle(at, actions);
        true
    }

    /// Runs until nothing is left to do (at most `limit` steps).
    pub fn run(&mut self, limit: usize) {
        for _ in 0..limit {
            if !self.step() {
                return;
            }
        }
        panic!("no quiet after {limit} steps");
    }

    fn trace(&self, line: impl FnOnce() -> String) {
        if self.tracing {
            eprintln!("{}", line());
        }
    }

    /// Every node knows every other, and no lock is left anywhere.
    pub fn assert_meshed(&self) {
        for (i, g) in self.nodes.iter().enumerate() {
            let mut expected: Vec<Atom> = (0..self.nodes.len())
                .filter(|&j| j != i)
                .map(|j| self.node(j))
                .collect();
            expected.sort();
            assert_eq!(g.known_nodes(), expected, "known of {}", self.node(i));
            assert!(
                !g.table.is_locked(&Term::atom("global")),
                "{} still holds a global lock",
                self.node(i)
            );
            assert!(
                g.pending.is_empty(),
                "{} has pending sessions",
                self.node(i)
            );
        }
    }
}
