//! Clusters of BEAM nodes: several [`BeamPeer`]s with one cookie, `pg` running, meshed by
//! `global`, driven with the checks of `tests/erlang/erldp_cluster.erl`.

use std::ffi::OsString;
use std::thread;
use std::time::Duration;

use crate::otp::Otp;
use crate::peer::{BeamPeer, BeamPeerBuilder};
use crate::random_cookie;

/// How long a cluster may take to mesh and sync (a chroot node on a loaded machine is slow).
const MESH_TIMEOUT: Duration = Duration::from_secs(60);
/// Peers of a cluster wait this long for one command: longer than [`MESH_TIMEOUT`], so that
/// the Erlang side reports the timeout with what was missing.
const CLUSTER_EVAL_TIMEOUT: Duration = Duration::from_secs(90);

/// Options for a [`BeamCluster`]; see [`BeamCluster::builder`].
#[derive(Clone, Debug)]
pub struct BeamClusterBuilder {
    template: BeamPeerBuilder,
    otps: Vec<Otp>,
    start_pg: bool,
    connected: bool,
}

impl BeamClusterBuilder {
    /// One more node running `otp`. Nodes start in the order they are added.
    pub fn node(mut self, otp: Otp) -> Self {
        self.otps.push(otp);
        self
    }

    /// `count` more nodes running `otp`.
    pub fn nodes(mut self, count: usize, otp: Otp) -> Self {
        self.otps.extend(std::iter::repeat_n(otp, count));
        self
    }

    /// `-kernel start_pg true` on every node (the default): the scope `pg` runs everywhere.
    pub fn start_pg(mut self, on: bool) -> Self {
        self.start_pg = on;
        self
    }

    /// Connect the nodes and wait until global has meshed and synced them (the default);
    /// `false` leaves every node on its own.
    pub fn connected(mut self, on: bool) -> Self {
        self.connected = on;
        self
    }

    /// The cookie of every node (default: [`random_cookie`]).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.template = self.template.cookie(cookie);
        self
    }

    /// The start of every node's random name (default `erldp_c_`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.template = self.template.name_prefix(prefix);
        self
    }

    /// One more `erl` argument for every node.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.template = self.template.arg(arg);
        self
    }

    /// Starts the nodes (at the same time) and, unless [`connected(false)`](Self::connected),
    /// connects each to the first and waits until global has meshed them all and
    /// `global:sync()` returns on each. Panics when a node does not start, when the cluster does
    /// not converge within a minute (with what was missing), or when the releases cannot share
    /// the `pg` scope (see [`pg_compatible`]).
    pub fn start(self) -> BeamCluster {
        assert!(!self.otps.is_empty(), "a cluster needs at least one node");
        assert!(
            !self.start_pg || pg_compatible(&self.otps),
            "OTP {} cannot share a pg scope: OTP 25's pg crashes on OTP 29's versioned discover \
             and takes its node down (start_pg(false), or do not mix them)",
            releases(&self.otps).join(", ")
        );
        let mut template = self.template;
        if self.start_pg {
            template = template.arg("-kernel").arg("start_pg").arg("true");
        }
        let peers = thread::scope(|scope| {
            let starting: Vec<_> = self
                .otps
                .iter()
                .map(|otp| {
                    let builder = template.clone().otp(otp.clone());
                    scope.spawn(move || builder.start())
                })
                .collect();
            starting
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e))
                })
                .collect()
        });
        let mut cluster = BeamCluster { peers, template };
        if self.connected {
            let first = cluster.peers[0].node().to_string();
            for i in 1..cluster.peers.len() {
                cluster.connect(i, &first);
            }
            cluster.await_mesh(&[]);
        }
        cluster
    }
}

/// Several BEAM nodes with one cookie, killed when dropped. The first node drives the
/// cluster-wide checks.
///
/// ```no_run
/// use erldp_testkit::{BeamCluster, Otp};
///
/// let mut cluster = BeamCluster::builder().nodes(2, Otp::System).start();
/// let nodes = cluster.node_list();
/// cluster.peer(0).eval_ok("{yes, P} = erldp_cluster:register_name(svc).");
/// cluster.peer(1).eval_ok(&format!("erldp_cluster:await_whereis(svc, {nodes}, P, 5000)."));
/// ```
pub struct BeamCluster {
    peers: Vec<BeamPeer>,
    template: BeamPeerBuilder,
}

impl BeamCluster {
    /// Nodes are added with [`BeamClusterBuilder::node`]; their cookie is random and shared.
    pub fn builder() -> BeamClusterBuilder {
        BeamClusterBuilder {
            template: BeamPeer::builder()
                .cookie(random_cookie())
                .name_prefix("erldp_c_")
                .eval_timeout(CLUSTER_EVAL_TIMEOUT),
            otps: Vec::new(),
            start_pg: true,
            connected: true,
        }
    }

    /// The cookie every node uses.
    pub fn cookie(&self) -> &str {
        self.peers[0].cookie()
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The `i`-th node, in the order nodes were added.
    pub fn peer(&mut self, i: usize) -> &mut BeamPeer {
        &mut self.peers[i]
    }

    /// The full node names, in order.
    pub fn nodes(&self) -> Vec<String> {
        self.peers.iter().map(|p| p.node().to_string()).collect()
    }

    /// The node names as an Erlang list of atoms, e.g. `['erldp_c_x@host','erldp_c_y@host']`.
    pub fn node_list(&self) -> String {
        erl_list(self.peers.iter().map(BeamPeer::node))
    }

    /// Starts one more node with the cluster's settings running `otp`, not connected to the
    /// others; returns its index.
    pub fn add(&mut self, otp: Otp) -> usize {
        self.peers.push(self.template.clone().otp(otp).start());
        self.peers.len() - 1
    }

    /// Kills node `i` (SIGKILL) and starts a new incarnation under the same name and release,
    /// not connected to anyone yet.
    pub fn restart(&mut self, i: usize) {
        self.peers[i].kill9();
        let alive = self.peers[i]
            .node()
            .split_once('@')
            .map(|(alive, _)| alive.to_string())
            .expect("name@host");
        let otp = self.peers[i].otp().clone();
        self.peers[i] = self.template.clone().otp(otp).name(alive).start();
    }

    /// Takes node `i` out of the cluster (to stop it, kill it or drop it); later indices move
    /// down by one.
    pub fn remove(&mut self, i: usize) -> BeamPeer {
        self.peers.remove(i)
    }

    /// Node `i` connects to `node` (any node name, ours included); panics when it cannot.
    pub fn connect(&mut self, i: usize, node: &str) {
        self.peers[i].eval_ok(&format!("erldp_cluster:connect({}).", erl_atom(node)));
    }

    /// Waits until every node of the cluster has every other one and the nodes named in
    /// `extra` (e.g. an ErlDP node) in `nodes()`, and `global:sync()` returns on each of them;
    /// panics with what was missing after a minute.
    pub fn await_mesh(&mut self, extra: &[&str]) {
        let beams = self.node_list();
        let others = erl_list(extra.iter().copied());
        self.peers[0].eval_ok(&format!(
            "erldp_cluster:await_mesh({beams}, {others}, {}).",
            MESH_TIMEOUT.as_millis()
        ));
    }

    /// Runs `global:sync()` on every node at once, allowing each `timeout`; panics naming the
    /// nodes where it did not return and the nodes global there had not synced with.
    pub fn assert_synced(&mut self, timeout: Duration) {
        let nodes = self.node_list();
        let unsynced = self.peers[0].eval_ok(&format!(
            "[{{N, R}} || {{N, R}} <- erldp_cluster:sync_on({nodes}, {}), R =/= ok].",
            timeout.as_millis()
        ));
        assert_eq!(unsynced, "[]", "global:sync() did not return on every node");
    }
}

/// Whether nodes of these releases can all run one `pg` scope: OTP 29's pg sends
/// `{discover, Pid, 1}`, which the pg of OTP 26 and older does not know (it crashes, is
/// restarted, crashes again, and after five crashes its node halts). OTP 27.3 accepts it.
pub fn pg_compatible(otps: &[Otp]) -> bool {
    let majors: Vec<u32> = releases(otps)
        .iter()
        .map(|r| r.parse().unwrap_or(0))
        .collect();
    let old = majors.iter().any(|&m| m < 27);
    let versioned = majors.iter().any(|&m| m >= 29);
    !(old && versioned)
}

fn releases(otps: &[Otp]) -> Vec<String> {
    otps.iter().map(Otp::release).collect()
}

/// An Erlang atom literal for any name: `'name@host'`.
pub fn erl_atom(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('\'');
    for c in name.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

fn erl_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", names.map(erl_atom).collect::<Vec<_>>().join(","))
}
