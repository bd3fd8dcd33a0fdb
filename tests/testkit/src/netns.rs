//! Hosts on a virtual network, for fault tests: see [`Network`].

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

/// Names of our namespaces start with this, then the creating process's pid.
const PREFIX: &str = "erldp-t";

/// Hosts on a virtual network, for fault tests: partitions, and nodes that live on different
/// machines with real addresses.
///
/// A [`Network`] is a set of Linux network namespaces, one per [`Host`], each with its own
/// loopback and one interface (`eth0`, address `10.77.0.N/24`) plugged into a bridge in a hub
/// namespace of its own:
///
/// ```text
///   host 0 (10.77.0.1)     host 1 (10.77.0.2)     ...
///        eth0 ─── veth ─── h0 ─┐  ┌─ h1 ─── veth ─── eth0
///                              br0        (hub namespace)
/// ```
///
/// Nothing is created in the machine's own namespace, so networks of tests that run at the
/// same time (and of other users of the machine) never collide, and each host sees only its own
/// loopback and `eth0`. Nodes use long names with the host's address (`peer@10.77.0.2`), which
/// need no name resolution.
///
/// - BEAM nodes run on a host with [`BeamPeerBuilder::netns`](crate::BeamPeerBuilder::netns)
///   and [`BeamPeerBuilder::host`](crate::BeamPeerBuilder::host) (`ip netns exec NS erl ...`);
///   their `erl` starts the host's own EPMD.
/// - Code of the test process runs on a host with [`Host::spawn`] or [`Host::run`]: a new
///   thread enters the namespace (`setns(2)` changes only the calling thread), so the sockets it
///   creates live there, and so do the threads it starts. An ErlDP node started on that thread
///   listens and connects on the host; calls that may connect must be made from such threads
///   too (a connection is opened by the thread that needs it).
/// - [`Host::link_down`] unplugs the host from the bridge: its packets are dropped silently,
///   as in a partition (nothing tells the sockets; ticks find out). [`Host::link_up`] heals it.
///
/// Dropping the network (also while a test panics) kills every process left in its
/// namespaces (BEAM nodes, EPMD) and removes them; namespaces a killed test process left behind
/// are removed by the next [`Network::new`]. Needs root (`CAP_SYS_ADMIN`) and `ip` (iproute2).
///
/// ```no_run
/// use std::net::TcpStream;
/// use erldp_testkit::{BeamPeer, Network};
///
/// let net = Network::new(2);
/// let (ours, theirs) = (net.host(0), net.host(1));
/// let peer = BeamPeer::builder().netns(theirs).start(); // peer@10.77.0.2, its EPMD there
/// let epmd = (theirs.addr(), 4369);
/// assert!(ours.run(move || TcpStream::connect(epmd).is_ok()));
/// theirs.link_down(); // partition: the peer's packets are dropped
/// theirs.link_up(); // healed
/// ```
pub struct Network {
    hub: String,
    hosts: Vec<Host>,
}

/// One host of a [`Network`]: a network namespace with loopback and `eth0`.
pub struct Host {
    netns: String,
    hub: String,
    /// The host's interface in the hub namespace.
    port: String,
    addr: Ipv4Addr,
}

impl Network {
    /// Whether this process may build networks: root, with `ip` installed.
    pub fn available() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        root && Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// A network of `hosts` hosts (at most 250), all linked up. Panics, saying why, when the
    /// namespaces cannot be made (see [`Network::available`]).
    pub fn new(hosts: usize) -> Network {
        assert!((1..=250).contains(&hosts), "a network has 1 to 250 hosts");
        assert!(
            Network::available(),
            "network namespaces need root and iproute2 (`ip`); `make test` runs as root"
        );
        remove_orphans();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Made first, so that a failure below still removes whatever was created.
        let mut network = Network {
            hub: format!("{base}-hub"),
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &network.hub]);
        in_ns(
            &network.hub,
            &["ip", "link", "add", "br0", "type", "bridge"],
        );
        in_ns(&network.hub, &["ip", "link", "set", "br0", "up"]);
        for index in 0..hosts {
            let host = Host {
                netns: format!("{base}-h{index}"),
                hub: network.hub.clone(),
                port: format!("h{index}"),
                addr: Ipv4Addr::new(10, 77, 0, index as u8 + 1),
            };
            ip(&["netns", "add", &host.netns]);
            network.hosts.push(host);
            let host = &network.hosts[index];
            // Created straight in the two namespaces: no name ever exists in the machine's.
            ip(&[
                "link",
                "add",
                &host.port,
                "netns",
                &host.hub,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.netns,
            ]);
            in_ns(
                &host.hub,
                &["ip", "link", "set", &host.port, "master", "br0"],
            );
            in_ns(&host.hub, &["ip", "link", "set", &host.port, "up"]);
            let cidr = format!("{}/24", host.addr);
            in_ns(&host.netns, &["ip", "addr", "add", &cidr, "dev", "eth0"]);
            in_ns(&host.netns, &["ip", "link", "set", "eth0", "up"]);
            in_ns(&host.netns, &["ip", "link", "set", "lo", "up"]);
        }
        network
    }

    /// Host `index` (0-based; its address is `10.77.0.{index + 1}`).
    pub fn host(&self, index: usize) -> &Host {
        &self.hosts[index]
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in &self.hosts {
            remove_namespace(&host.netns);
        }
        remove_namespace(&self.hub);
    }
}

impl Host {
    /// The host's address on the network.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The name of the host's network namespace (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// A command that runs `program` on this host (`ip netns exec NS program`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, program]);
        command
    }

    /// Runs `f` on a new thread inside this host's namespace; the threads it starts are
    /// inside it too.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("/var/run/netns/{}", self.netns);
        let netns = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        thread::Builder::new()
            .name(format!("on-{}", self.netns))
            .spawn(move || {
                // SAFETY: the descriptor is open for the call; setns changes only this thread.
                let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "setns into {path}: {}",
                    std::io::Error::last_os_error()
                );
                drop(netns);
                f()
            })
            .expect("spawning a thread")
    }

    /// [`spawn`](Self::spawn), then waits for `f`'s value; a panic in `f` panics here.
    pub fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Unplugs the host: from now on its packets to and from every other host are dropped,
    /// and no socket is told.
    pub fn link_down(&self) {
        in_ns(&self.hub, &["ip", "link", "set", &self.port, "down"]);
    }

    /// Plugs the host back in after [`link_down`](Self::link_down).
    pub fn link_up(&self) {
        in_ns(&self.hub, &["ip", "link", "set", &self.port, "up"]);
    }
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

fn in_ns(netns: &str, command: &[&str]) {
    run(Command::new("ip")
        .args(["netns", "exec", netns])
        .args(command));
}

fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Kills what runs in the namespace and deletes it (its interfaces go with it). Errors are
/// ignored: this runs while tests unwind.
fn remove_namespace(netns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", netns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<libc::pid_t>() {
                // SAFETY: kill has no memory preconditions; these pids are in our namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "delete", netns])
        .stderr(Stdio::null())
        .status();
}

/// Removes the namespaces of test processes that are gone (killed before they could drop
/// their networks).
fn remove_orphans() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: u32 = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse().ok())
            .unwrap_or(0);
        if pid != 0 && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(name);
        }
    }
}
