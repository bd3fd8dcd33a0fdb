//! IPv6 distribution through `Node` (`NodeBuilder::ipv6`), against BEAM nodes started with
//! `-proto_dist inet6_tcp` and `inet6_tls` on every OTP available, over the loopback: by name
//! through EPMD (asked at `::1`, where BEAM's `inet6` nodes ask it), both directions, with the
//! short host name resolved to `::1` as BEAM resolves its own; long names with an IPv6
//! address; IPv4 nodes reaching our IPv6 listener, and our IPv6 node never falling back to
//! IPv4. Between hosts with real addresses: `hosts.rs`.

use std::time::Duration;

use erldp::tls::TlsConfig;
use erldp::{epmd, Dest, EpmdMode, Error, Node, Term};
use erldp_testkit::{random_name, BeamPeer, BeamPeerBuilder, Otp, TlsFiles};

const T: Duration = Duration::from_secs(20);

/// What `peer` says of its connection to `node`: `{Protocol, Family, Ip}` of its
/// `net_address`.
fn carried(peer: &mut BeamPeer, node: &Node) -> String {
    let us = node.name();
    let us = us.as_str();
    peer.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> lists:member('{us}', nodes(connected)) end, 10000), \
         (fun() -> \
             {{ok, Info}} = net_kernel:node_info('{us}'), \
             {{address, {{net_address, {{Ip, _}}, _, P, F}}}} = lists:keyfind(address, 1, Info), \
             {{P, F, Ip}} \
          end)()."
    ))
}

/// A BEAM node of `otp` whose distribution runs over IPv6 (`inet6_tcp`).
fn inet6_peer(otp: &Otp) -> BeamPeerBuilder {
    BeamPeer::builder().otp(otp.clone()).proto_dist("inet6_tcp")
}

fn ipv6_node(cookie: &str) -> erldp::NodeBuilder {
    Node::builder(random_name("rs")).cookie(cookie).ipv6(true)
}

/// Our node connects, calls and sends; then a fresh node of ours is connected to by BEAM, which
/// finds it in EPMD and sends to it. `expected` is `{Protocol, Family, Ip}` as BEAM sees both.
fn both_directions(otp: &Otp, peer: &mut BeamPeer, ours: impl Fn() -> Node, expected: &str) {
    let node = ours();
    node.connect(peer.node())
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
    assert_eq!(carried(peer, &node), expected, "{otp}: we connected");
    let name = node
        .rpc(peer.node(), "erlang", "node", vec![], T)
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
    assert_eq!(name, Term::atom(peer.node()), "{otp}");
    peer.eval_ok("erldp_test:echo_start(echo).");
    let inbox = node.mailbox(None).expect("mailbox");
    inbox
        .send(
            &Dest::name("echo", peer.node()),
            Term::tuple(vec![inbox.pid().into(), "over IPv6".into()]),
        )
        .expect("send");
    let echoed = inbox.recv_timeout(T).expect("recv").expect("the echo");
    assert_eq!(
        echoed.term,
        Term::tuple(vec![Term::atom("echo"), "over IPv6".into()]),
        "{otp}"
    );

    let node = ours();
    let name = node.name();
    let us = name.as_str();
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    assert!(peer.ping(us), "{otp}");
    assert_eq!(carried(peer, &node), expected, "{otp}: BEAM connected");
    peer.eval_ok(&format!("{{inbox, '{us}'}} ! hello."));
    let message = inbox.recv_timeout(T).expect("recv").expect("the message");
    assert_eq!(message.term, Term::atom("hello"), "{otp}");
}

#[test]
fn inet6_tcp_nodes_both_directions_on_every_otp() {
    for otp in Otp::available() {
        let mut peer = inet6_peer(&otp).start();
        let cookie = peer.cookie().to_string();
        both_directions(
            &otp,
            &mut peer,
            || ipv6_node(&cookie).start().expect("node"),
            "{tcp,inet6,{0,0,0,0,0,0,0,1}}",
        );
    }
}

/// `inet6_tls`: TLS over IPv6 is the two together, nothing more.
#[test]
fn inet6_tls_nodes_both_directions_on_every_otp() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let opts = files.verifying_opts("node");
        let optfile = files.optfile("opt", &opts, &opts);
        let mut peer = BeamPeer::builder()
            .otp(otp.clone())
            .tls(optfile)
            .proto_dist("inet6_tls")
            .start();
        let cookie = peer.cookie().to_string();
        // OTP 25's inet_tls_dist records an inet6_tls connection's family as inet.
        let expected = if otp.release() == "25" {
            "{tls,inet,{0,0,0,0,0,0,0,1}}"
        } else {
            "{tls,inet6,{0,0,0,0,0,0,0,1}}"
        };
        let config = TlsConfig::new(
            files.path("node.pem"),
            files.path("node.key"),
            files.path("ca.pem"),
        );
        both_directions(
            &otp,
            &mut peer,
            || {
                ipv6_node(&cookie)
                    .tls(config.clone())
                    .start()
                    .expect("node")
            },
            expected,
        );
    }
}

/// Long names whose host is an IPv6 address, which BEAM takes as a long name's host.
#[test]
fn long_names_with_an_ipv6_address() {
    for otp in Otp::available() {
        let mut peer = inet6_peer(&otp).host("::1").start();
        assert!(peer.node().ends_with("@::1"), "{}", peer.node());
        let cookie = peer.cookie().to_string();
        both_directions(
            &otp,
            &mut peer,
            || {
                Node::builder(format!("{}@::1", random_name("rs")))
                    .cookie(&cookie)
                    .long_names(true)
                    .ipv6(true)
                    .start()
                    .expect("node")
            },
            "{tcp,inet6,{0,0,0,0,0,0,0,1}}",
        );
    }
}

/// Our IPv6 listener takes IPv4 connections too, as BEAM's `inet6_tcp` listener does.
#[test]
fn an_inet_tcp_node_reaches_our_ipv6_node_over_ipv4() {
    for otp in Otp::available() {
        let mut peer = BeamPeer::builder().otp(otp.clone()).start();
        let node = ipv6_node(peer.cookie()).start().expect("node");
        let name = node.name();
        let us = name.as_str();
        assert!(peer.ping(us), "{otp}");
        let seen = carried(&mut peer, &node);
        assert!(seen.starts_with("{tcp,inet,{127,"), "{otp}: {seen}");
    }
}

/// With `ipv6(true)` we connect over IPv6 only: an `inet_tcp` node, which listens on IPv4,
/// cannot be reached, and the error says where we tried.
#[test]
fn our_ipv6_node_never_falls_back_to_ipv4() {
    let peer = BeamPeer::start();
    let node = ipv6_node(peer.cookie()).start().expect("node");
    let err = node.connect(peer.node()).expect_err("IPv4 only");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot connect to [::1]:"), "{text}");
    assert!(node.nodes().is_empty());
}

/// Without EPMD, at a host name and port: the host is resolved for our family as a node name's
/// host is, so this host's name is an IPv6 address to an IPv6 node (`::1` when the resolver
/// knows only IPv4 ones for it, as /etc/hosts here). A name given to `connect_to` is
/// resolved by std, whose first address here, IPv4, the peer's dual-stack listener takes as
/// an IPv4-mapped one.
#[test]
fn connect_to_host_resolves_for_our_family() {
    let mut peer = BeamPeer::builder().proto_dist("inet6_tcp").start();
    let alive = peer
        .node()
        .split_once('@')
        .expect("a node name")
        .0
        .to_string();
    let port = epmd::port_please("::1", 4369, &alive, T)
        .expect("the peer's port")
        .port;
    let node = ipv6_node(peer.cookie())
        .epmd(EpmdMode::None)
        .start()
        .expect("node");
    node.connect_to_host(peer.node(), &erldp::short_hostname(), port)
        .expect("connect");
    let seen = carried(&mut peer, &node);
    assert!(seen.starts_with("{tcp,inet6,{"), "{seen}");
    assert!(!seen.contains("{0,0,0,0,0,65535,"), "IPv4-mapped: {seen}");
}
