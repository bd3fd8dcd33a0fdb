//! A resolver that does not answer: connects end by their deadline, and the look-ups left
//! waiting on it are bounded.
//!
//! The system resolver (`getaddrinfo`) takes no timeout; a DNS server that does not answer
//! holds it for its own retries (5 s twice by default). The test runs on a host of the test
//! kit's `Network`, whose loopback is given the address of the machine's name server (the
//! first in /etc/resolv.conf), where a UDP socket takes the queries and answers none. Needs
//! root, as `make test` runs. One test: the look-ups it leaves waiting count against the
//! process's bound until the resolver gives up. It assumes the resolver's default retries
//! (`options timeout:` in /etc/resolv.conf longer than [`SETUP`]) and a `hosts:` line in
//! /etc/nsswitch.conf that asks DNS itself; with systemd-resolved's `resolve` there (a daemon
//! outside the namespace answers), it says so and checks nothing.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::thread;
use std::time::Duration;

use erldp::limits::MAX_HOST_LOOKUPS;
use erldp::{epmd, Client, ErrorKind};
use erldp_testkit::{random_name, Network};

/// Far below the resolver's own 10 s, so that a connect that waits for it shows.
const SETUP: Duration = Duration::from_millis(1500);

/// A host name that is in no hosts file: the resolver asks the name server.
fn unknown_host() -> String {
    format!("{}.erldp-test", random_name("nowhere"))
}

/// The first name server /etc/resolv.conf names (the resolver's default when it names none).
fn name_server() -> IpAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .find_map(|addr| addr.trim().parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn connect(host: &str) -> erldp::Result<Client> {
    Client::builder()
        .cookie("unused")
        .timeout(SETUP)
        .connect(&format!("peer@{host}"))
}

/// Whether host names are looked up through a daemon (systemd-resolved) rather than by
/// asking the name server from this process.
fn resolved_by_a_daemon() -> bool {
    std::fs::read_to_string("/etc/nsswitch.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("hosts:"))
        .any(|sources| sources.split_whitespace().any(|source| source == "resolve"))
}

#[test]
fn a_silent_name_server_holds_no_connect_past_its_deadline_and_few_threads() {
    if resolved_by_a_daemon() {
        eprintln!("skipped: /etc/nsswitch.conf resolves host names through systemd-resolved");
        return;
    }
    let net = Network::new(1);
    let host = net.host(0);
    let server = name_server();
    if !server.is_loopback() {
        let prefix = if server.is_ipv4() { 32 } else { 128 };
        let status = host
            .command("ip")
            .args(["addr", "add", &format!("{server}/{prefix}"), "dev", "lo"])
            .status()
            .expect("ip");
        assert!(status.success(), "giving the host's loopback {server}");
    }
    host.run(move || {
        // Bound, so that queries are taken and not refused (a refusal fails them at once).
        let _silent = UdpSocket::bind((server, 53)).expect("a socket for the name server");

        let err = connect(&unknown_host()).expect_err("no address");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.to_string().contains("resolving"), "{err}");
        let err = epmd::port_please(&unknown_host(), 4369, "peer", SETUP).expect_err("no EPMD");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

        // Two look-ups wait on the resolver still; these fill the bound.
        let waiting: Vec<_> = (0..MAX_HOST_LOOKUPS)
            .map(|_| thread::spawn(|| connect(&unknown_host())))
            .collect();
        let kinds: Vec<ErrorKind> = waiting
            .into_iter()
            .map(|connect| {
                connect
                    .join()
                    .expect("joined")
                    .expect_err("no address")
                    .kind()
            })
            .collect();
        // Those started once two were waiting were refused, the others timed out.
        assert!(kinds.contains(&ErrorKind::Timeout), "{kinds:?}");
        assert!(kinds.contains(&ErrorKind::NodeNotFound), "{kinds:?}");
        let err = connect(&unknown_host()).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::NodeNotFound, "{err}");
        assert!(
            err.to_string()
                .contains("look-ups wait for the resolver already"),
            "{err}"
        );
        // Addresses need no look-up, and are reached as ever: no EPMD listens on this host
        // (a node's EPMD registration asks 127.0.0.1 so).
        let err = connect("127.0.0.1").expect_err("no EPMD");
        assert_ne!(err.kind(), ErrorKind::Timeout, "{err}");
        for epmd_host in ["127.0.0.1", "[::1]"] {
            let err = epmd::port_please(epmd_host, 4369, "peer", SETUP).expect_err("no EPMD");
            assert!(err.to_string().contains("no EPMD answers"), "{err}");
        }
    });
}
