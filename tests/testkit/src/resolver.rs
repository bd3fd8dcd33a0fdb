//! A name server that takes queries and answers none, for tests of what waits on the system
//! resolver (`getaddrinfo`, which takes no timeout: with a silent DNS server it waits for its
//! own retries, 5 s twice by default).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use crate::{random_name, Network};

/// Runs `f` on a host of a new [`Network`] whose loopback has the address of the machine's
/// name server (the first in /etc/resolv.conf), where a UDP socket takes the queries and
/// answers none, and returns its value. `None`, having said why, where /etc/nsswitch.conf
/// resolves host names through systemd-resolved (`resolve`): that daemon, outside the
/// namespace, would answer. Assumes the resolver's default retries (an `options timeout:` in
/// /etc/resolv.conf longer than the waits the test gives). Needs root, as `make test` runs.
pub fn with_silent_name_server<T, F>(f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if resolved_by_a_daemon() {
        eprintln!("skipped: /etc/nsswitch.conf resolves host names through systemd-resolved");
        return None;
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
    Some(host.run(move || {
        // Bound, so that queries are taken and not refused (a refusal fails them at once).
        let _silent = UdpSocket::bind((server, 53)).expect("a socket for the name server");
        f()
    }))
}

/// A host name that is in no hosts file: the resolver asks the name server.
pub fn unknown_host() -> String {
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

/// Whether host names are looked up through a daemon (systemd-resolved) rather than by
/// asking the name server from this process.
fn resolved_by_a_daemon() -> bool {
    host_sources().iter().any(|source| source == "resolve")
}

/// Whether the resolver answers for the machine's own host name, whatever it is, without
/// asking a name server (`myhostname` in /etc/nsswitch.conf).
pub fn resolver_knows_this_host() -> bool {
    host_sources().iter().any(|source| source == "myhostname")
}

/// The sources of the `hosts:` line of /etc/nsswitch.conf.
fn host_sources() -> Vec<String> {
    std::fs::read_to_string("/etc/nsswitch.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("hosts:"))
        .flat_map(|sources| {
            sources
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}
