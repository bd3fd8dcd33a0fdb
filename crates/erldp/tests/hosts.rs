//! TLS and IPv6 distribution between two hosts of a virtual network (the test kit's
//! `Network`: namespaces on a bridge, real addresses), on every OTP available: an ErlDP node
//! on host 0 and a BEAM node on host 1, long names with the hosts' addresses, each finding the
//! other through the EPMD of the other's host. Host 0 has no EPMD but the one our node embeds,
//! so BEAM finds us through it: over IPv6 for `inet6_tcp` and `inet6_tls`.
//!
//! Needs root, as `make test` runs: the hosts are network namespaces. One test: the embedded
//! EPMD of host 0 lives as long as the process.

use std::time::Duration;

use erldp::tls::TlsConfig;
use erldp::{Node, Term};
use erldp_testkit::{random_name, BeamPeer, Host, Network, Otp, TlsFiles};

const T: Duration = Duration::from_secs(20);

/// How the two nodes talk.
struct Proto {
    /// BEAM's `-proto_dist`.
    beam: &'static str,
    ipv6: bool,
    tls: bool,
}

/// A node's name on `host` for `proto`: its IPv4 or IPv6 address as the host part.
fn name_on(host: &Host, proto: &Proto, alive: &str) -> String {
    if proto.ipv6 {
        format!("{alive}@{}", host.addr6())
    } else {
        format!("{alive}@{}", host.addr())
    }
}

fn between_hosts(net: &Network, otp: &Otp, files: &TlsFiles, proto: &Proto) {
    let (ours, theirs) = (net.host(0), net.host(1));
    let host = if proto.ipv6 {
        theirs.addr6().to_string()
    } else {
        theirs.addr().to_string()
    };
    let mut builder = BeamPeer::builder()
        .otp(otp.clone())
        .netns(theirs)
        .host(host);
    if proto.tls {
        let opts = files.verifying_opts("node");
        builder = builder.tls(files.optfile(&random_name("opt-"), &opts, &opts));
    }
    let mut peer = builder.proto_dist(proto.beam).start();
    let what = format!("{otp}, {}", proto.beam);
    let cookie = peer.cookie().to_string();

    let start = |alive: &str| {
        let mut builder = Node::builder(name_on(ours, proto, alive))
            .cookie(&cookie)
            .ipv6(proto.ipv6);
        if proto.tls {
            builder = builder.tls(TlsConfig::new(
                files.path("node.pem"),
                files.path("node.key"),
                files.path("ca.pem"),
            ));
        }
        // On host 0, where its listener, its EPMD and its connections must be.
        ours.run(move || builder.start())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    };

    // We connect: EPMD on host 1 tells us the port.
    let node = start(&random_name("rs"));
    let peer_node = peer.node().to_string();
    let called = {
        let node = node.clone();
        ours.run(move || node.rpc(&peer_node, "erlang", "node", vec![], T))
    };
    assert_eq!(
        called.unwrap_or_else(|e| panic!("{what}: {e}")),
        Term::atom(peer.node()),
        "{what}"
    );

    // BEAM connects: our embedded EPMD on host 0 tells it the port.
    let node = start(&random_name("rs"));
    let name = node.name();
    let us = name.as_str();
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let epmd_host = if proto.ipv6 {
        // erl_epmd takes an address as a tuple.
        let segments = ours.addr6().segments().map(|s| s.to_string());
        format!("{{{}}}", segments.join(","))
    } else {
        format!(
            "{{{}}}",
            ours.addr().octets().map(|o| o.to_string()).join(",")
        )
    };
    let listed = peer.eval_ok(&format!(
        "{{ok, Names}} = erl_epmd:names({epmd_host}), [N || {{N, _}} <- Names]."
    ));
    let alive = us.split_once('@').expect("name@host").0;
    assert!(listed.contains(&format!("\"{alive}\"")), "{what}: {listed}");
    assert!(peer.ping(us), "{what}");
    peer.eval_ok(&format!(
        "{{inbox, '{us}'}} ! {{hello, from, '{}'}}.",
        peer.node()
    ));
    let message = inbox.recv_timeout(T).expect("recv").expect("the message");
    assert_eq!(
        message.term,
        Term::tuple(vec![
            Term::atom("hello"),
            Term::atom("from"),
            Term::atom(peer.node())
        ]),
        "{what}"
    );
    let seen = peer.eval_ok(&format!(
        "(fun() -> {{ok, Info}} = net_kernel:node_info('{us}'), \
                   {{address, {{net_address, {{Ip, _}}, _, P, _}}}} = lists:keyfind(address, 1, Info), \
                   {{P, Ip}} end)()."
    ));
    let protocol = if proto.tls { "tls" } else { "tcp" };
    assert_eq!(seen, format!("{{{protocol},{epmd_host}}}"), "{what}");
}

#[test]
fn tls_and_ipv6_between_hosts() {
    let net = Network::new(2);
    let addresses: Vec<String> = (0..2)
        .flat_map(|i| {
            [
                net.host(i).addr().to_string(),
                net.host(i).addr6().to_string(),
            ]
        })
        .collect();
    for otp in Otp::available() {
        let files = TlsFiles::generate_for(&otp, &addresses);
        for proto in [
            Proto {
                beam: "inet_tls",
                ipv6: false,
                tls: true,
            },
            Proto {
                beam: "inet6_tcp",
                ipv6: true,
                tls: false,
            },
            Proto {
                beam: "inet6_tls",
                ipv6: true,
                tls: true,
            },
        ] {
            between_hosts(&net, &otp, &files, &proto);
        }
    }
}
