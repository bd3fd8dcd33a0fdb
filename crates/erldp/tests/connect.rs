//! Connection setup against real BEAM nodes: EPMD lookup, handshakes in both
//! directions, cookies, hidden and visible nodes, the embedded EPMD, a
//! version 5 initiator, and simultaneous connects.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use erldp::{Atom, EpmdMode, Error, Node, Term};
use erldp_testkit::{eventually, random_cookie, random_name, BeamPeer};

mod common;
use common::{peer_and_node_with, raw};

/// Reaching our own listener under another name (a cluster without EPMD
/// where two names share a host and its one port) is refused, as BEAM
/// refuses its own name: the error says that the address may be ours.
#[test]
fn connecting_to_our_own_address_says_so() {
    let node = node_with_cookie(&random_cookie());
    let other = format!("{}@{}", random_name("other"), erldp::short_hostname());
    let err = node
        .connect_to(&other, ("127.0.0.1", node.port()))
        .expect_err("our own listener refuses our name");
    let text = err.to_string();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(
        text.contains(&format!("it lets no node named {} in", node.name()))
            && text.contains("this node's own"),
        "{text}"
    );
}

fn node_with_cookie(cookie: &str) -> Node {
    Node::builder(random_name("rs"))
        .cookie(cookie)
        .start()
        .expect("node starts")
}

/// Whether `peer` lists `node` among its hidden nodes and among its
/// visible ones, as `{Hidden,Visible}`.
fn listed_by(peer: &mut BeamPeer, node: &Node) -> String {
    let us = node.name();
    peer.eval_ok(&format!(
        "{{lists:member('{us}', nodes(hidden)), lists:member('{us}', nodes())}}."
    ))
}

#[test]
fn connects_to_a_beam_node_and_pings_it() {
    let mut peer = BeamPeer::start();
    let node = node_with_cookie(peer.cookie());
    node.connect(peer.node()).expect("connect");
    assert!(node.ping(peer.node()));
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
    assert_eq!(
        listed_by(&mut peer, &node),
        "{true,false}",
        "hidden by default, like a C node"
    );
}

#[test]
fn a_visible_node_appears_in_nodes() {
    let (mut peer, node) = peer_and_node_with(|node| node.hidden(false));
    node.connect(peer.node()).expect("connect");
    assert_eq!(listed_by(&mut peer, &node), "{false,true}");
    // global talks to visible nodes; the connection must survive it.
    thread::sleep(Duration::from_millis(500));
    assert!(node.ping(peer.node()));
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
}

#[test]
fn beam_connects_to_us_by_name_and_sends() {
    let mut peer = BeamPeer::start();
    let node = node_with_cookie(peer.cookie());
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    // The send itself makes the BEAM node look us up in EPMD and connect.
    peer.eval_ok(&format!(
        "{{inbox, '{us}'}} ! {{hello, node(), [1, 2, 3]}}."
    ));
    let message = inbox
        .recv_timeout(Duration::from_secs(10))
        .expect("recv")
        .expect("a message");
    let expected: Term = format!("{{hello, '{}', [1,2,3]}}", peer.node())
        .parse()
        .expect("term");
    assert_eq!(message.term, expected);
    assert!(message.from.is_some(), "REG_SEND carries the sender");
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
    assert!(peer.ping(us));
}

#[test]
fn a_wrong_cookie_is_an_auth_error_when_we_connect() {
    let peer = BeamPeer::start();
    let node = node_with_cookie(&random_cookie());
    match node.connect(peer.node()) {
        Err(err @ Error::Auth { .. }) => {
            let text = err.to_string();
            assert!(text.contains("cookie"), "{text}");
            assert!(text.contains(peer.node()), "{text}");
            assert!(
                !text.contains(peer.cookie()),
                "the cookie is never printed: {text}"
            );
        }
        other => panic!("expected an Auth error, got {other:?}"),
    }
    assert!(!node.ping(peer.node()));
    assert!(node.nodes().is_empty());
}

#[test]
fn a_wrong_cookie_is_refused_when_beam_connects() {
    let mut peer = BeamPeer::start();
    let our_cookie = random_cookie();
    let node = node_with_cookie(&our_cookie);
    let us = node.name();
    assert!(!peer.ping(us));
    assert!(node.nodes().is_empty());
    // The node lives on and still accepts a peer with the right cookie.
    let mut friend = BeamPeer::builder().cookie(&our_cookie).start();
    assert!(friend.ping(us));
}

#[test]
fn unknown_node_is_node_not_found() {
    let node = node_with_cookie(&random_cookie());
    let missing = format!("{}@{}", random_name("nobody"), erldp::short_hostname());
    match node.connect(&missing) {
        Err(err @ Error::NodeNotFound { .. }) => {
            assert!(err.to_string().contains(&missing), "{err}")
        }
        other => panic!("expected NodeNotFound, got {other:?}"),
    }
    assert!(matches!(
        node.connect("no_at_sign"),
        Err(Error::InvalidArgument(_))
    ));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn embedded_epmd_serves_beam_and_other_nodes() {
    let epmd_port = free_port();
    let cookie = random_cookie();
    // Nothing listens on this port, so the node starts an EPMD of its own.
    let first = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .epmd_port(epmd_port)
        .start()
        .expect("node");
    assert!(
        erldp::epmd::names("localhost", epmd_port, Duration::from_secs(2))
            .expect("our EPMD answers")
            .iter()
            .any(|(name, _)| first.name().as_str().starts_with(&format!("{name}@")))
    );

    // A real BEAM node started afterwards registers with it...
    let epmd_port_text = epmd_port.to_string();
    let mut peer = BeamPeer::builder()
        .cookie(&cookie)
        .env("ERL_EPMD_PORT", &epmd_port_text)
        .start();
    let names = erldp::epmd::names("localhost", epmd_port, Duration::from_secs(2)).expect("names");
    let peer_alive = peer
        .node()
        .split('@')
        .next()
        .expect("alive part")
        .to_string();
    assert!(
        names.iter().any(|(name, _)| *name == peer_alive),
        "{names:?}"
    );

    // ...finds us through it...
    let us = first.name();
    assert!(peer.ping(us));

    // ...and a second ErlDP node finds the BEAM node through it too.
    let second = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .epmd(EpmdMode::External)
        .epmd_port(epmd_port)
        .start()
        .expect("second node");
    assert_eq!(
        second
            .rpc(
                peer.node(),
                "erlang",
                "node",
                vec![],
                Duration::from_secs(5)
            )
            .expect("rpc"),
        Term::atom(peer.node())
    );
    assert!(second.ping(first.name().as_str()));
}

#[test]
fn epmd_none_connects_by_address() {
    let cookie = random_cookie();
    let [a, b] = ["a", "b"].map(|which| {
        Node::builder(random_name("rs"))
            .cookie(&cookie)
            .epmd(EpmdMode::None)
            .start()
            .expect(which)
    });
    assert!(matches!(
        a.connect(b.name().as_str()),
        Err(Error::NodeNotFound { .. })
    ));
    a.connect_to(b.name().as_str(), ("127.0.0.1", b.port()))
        .expect("connect by address");
    assert!(a.ping(b.name().as_str()));
    assert_eq!(b.nodes(), vec![a.name()]);

    // By host name, resolved by the connect; what cannot be a host is refused at once.
    let c = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .epmd(EpmdMode::None)
        .start()
        .expect("c");
    let c_name = c.name();
    for host in ["", "localhost:9", "[::1]:9"] {
        let err = a
            .connect_to_host(c_name.as_str(), host, c.port())
            .expect_err("not a host");
        assert!(matches!(err, Error::InvalidArgument(_)), "{host:?}: {err}");
    }
    a.connect_to_host(c_name.as_str(), &erldp::short_hostname(), c.port())
        .expect("connect by host name");
    assert!(a.ping(c_name.as_str()));
}

/// `connect_start` returns at once; its `Pending` completes when the
/// connection is up, at once when it already is, and with the error when
/// the attempt fails. Waiting on an attempt that hangs can be cancelled,
/// and the attempt goes on for the next caller.
#[test]
fn connect_start_completes_when_the_connection_is_up() {
    let peer = BeamPeer::start();
    let node = node_with_cookie(peer.cookie());
    node.connect_start(peer.node())
        .expect("started")
        .wait(Duration::from_secs(10))
        .expect("connected");
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
    let again = node.connect_start(peer.node()).expect("started");
    assert!(again.is_ready(), "an existing connection completes at once");
    again.wait(Duration::ZERO).expect("connected");
    let err = node
        .connect_start(&format!(
            "nobody_{}@{}",
            random_name("x"),
            erldp::short_hostname()
        ))
        .expect("started")
        .wait(Duration::from_secs(10))
        .expect_err("nobody is registered under that name");
    assert!(matches!(err, Error::NodeNotFound { .. }), "{err}");

    // A node that accepts and never answers the handshake (a short name,
    // as ours: a long one would be refused before any connecting).
    let silent_name = format!("silent@{}", erldp::short_hostname());
    let silent = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = silent.local_addr().expect("addr").port();
    let mut waiting = node
        .connect_to_start(&silent_name, ("127.0.0.1", port))
        .expect("started");
    let (accepted, _) = silent.accept().expect("the attempt connects");
    let cancel = erldp::Cancel::new();
    cancel.cancel();
    assert!(waiting
        .wait_cancellable(Duration::from_secs(60), &cancel)
        .is_none());
    // The attempt is still under way: a second wait joins it, and sees it
    // fail once the peer hangs up.
    let joined = node.connect_start(&silent_name).expect("started");
    drop(accepted);
    assert!(matches!(
        joined.wait(Duration::from_secs(60)),
        Err(Error::Connection { .. })
    ));
    assert!(waiting.wait(Duration::from_secs(60)).is_err());
}

/// Drives a version 5 handshake (`n` name, then the `c` complement) by
/// hand, as an OTP 23/24 node does when it did not ask EPMD first.
#[test]
fn accepts_a_version_5_initiator() {
    let cookie = random_cookie();
    let node = node_with_cookie(&cookie);
    let mut stream = raw::connection(&node);
    let name = format!("{}@{}", random_name("v5"), erldp::short_hostname());
    let flags = erldp::flags::MANDATORY | erldp::flags::SUPPORTED;

    let mut hello = vec![b'n', 0, 5];
    hello.extend_from_slice(&(flags as u32).to_be_bytes());
    hello.extend_from_slice(name.as_bytes());
    raw::send(&mut stream, &hello);
    assert_eq!(raw::recv(&mut stream), b"sok");

    let challenge = raw::recv(&mut stream);
    assert_eq!(
        challenge[0], b'N',
        "an OTP 23+ initiator gets the new challenge format"
    );
    let their_challenge = raw::challenge_of(&challenge);
    let name_len = u16::from_be_bytes([challenge[17], challenge[18]]) as usize;
    assert_eq!(
        &challenge[19..19 + name_len],
        node.name().as_str().as_bytes()
    );

    let mut complement = vec![b'c'];
    complement.extend_from_slice(&((flags >> 32) as u32).to_be_bytes());
    complement.extend_from_slice(&7u32.to_be_bytes());
    raw::send(&mut stream, &complement);

    let our_challenge: u32 = 0x1234_5678;
    raw::send(
        &mut stream,
        &raw::challenge_reply(our_challenge, their_challenge, &cookie),
    );

    let ack = raw::recv(&mut stream);
    assert_eq!(ack[0], b'a');
    assert_eq!(&ack[1..], &raw::digest(our_challenge, &cookie));
    eventually("the v5 peer to be listed", || {
        node.nodes() == vec![Atom::new(&name)]
    });

    // The connection is live: a tick is answered.
    stream.write_all(&[0, 0, 0, 0]).expect("tick");
    let mut answer = [0u8; 4];
    stream.read_exact(&mut answer).expect("tick answer");
    assert_eq!(answer, [0, 0, 0, 0]);
}

#[test]
fn a_peer_lacking_mandatory_flags_is_refused() {
    let cookie = random_cookie();
    let node = node_with_cookie(&cookie);
    let mut stream = raw::connection(&node);
    let flags = erldp::flags::MANDATORY & !erldp::flags::MAP_TAG;
    let name = format!("old@{}", erldp::short_hostname());
    raw::send(&mut stream, &raw::name_message(flags, raw::CREATION, &name));
    assert_eq!(raw::recv(&mut stream), b"snot_allowed");
}

#[test]
fn garbage_before_the_handshake_does_not_hurt_the_node() {
    let mut peer = BeamPeer::start();
    let node = node_with_cookie(peer.cookie());
    for junk in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &[0xFF; 3000],
        &[0, 1, b'N'],
        &[],
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", node.port())).expect("tcp");
        let _ = stream.write_all(junk);
    }
    let us = node.name();
    assert!(peer.ping(us));
}

/// Both nodes connect to each other at the same moment, many times over;
/// exactly one connection must result, as `dist_util` arranges it.
#[test]
fn simultaneous_connects_settle_on_one_connection() {
    for _ in 0..15 {
        let cookie = random_cookie();
        let a = node_with_cookie(&cookie);
        let b = node_with_cookie(&cookie);
        let (a_name, b_name) = (a.name(), b.name());
        let a2 = a.clone();
        let b2 = b.clone();
        let one = thread::spawn(move || a2.connect(b_name.as_str()));
        let two = thread::spawn(move || b2.connect(a_name.as_str()));
        one.join().expect("thread").expect("a connects");
        two.join().expect("thread").expect("b connects");
        eventually("one connection each way", || {
            a.nodes() == vec![b_name] && b.nodes() == vec![a_name]
        });
        let inbox = b.mailbox(Some("inbox")).expect("mailbox");
        a.send(
            &erldp::Dest::name("inbox", b_name.as_str()),
            Term::atom("over_the_one_link"),
        )
        .expect("send");
        let got = inbox
            .recv_timeout(Duration::from_secs(5))
            .expect("recv")
            .expect("message");
        assert!(got.term.is_atom("over_the_one_link"));
    }
}

#[test]
fn a_peer_without_the_atom_cache_gets_pass_through_frames() {
    let cookie = random_cookie();
    let node = node_with_cookie(&cookie);
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let flags = erldp::flags::MANDATORY | erldp::flags::MANDATORY_25_DIGEST;
    let (mut stream, name) = raw::handshake(&node, &cookie, flags);
    let raw_pid = Term::Pid(erldp::Pid {
        node: Atom::new(&name),
        id: 42,
        serial: 0,
        creation: raw::CREATION,
    });

    // REG_SEND in a pass-through frame reaches the registered mailbox.
    let control = Term::tuple(vec![
        Term::from(6),
        raw_pid.clone(),
        Term::atom(""),
        Term::atom("inbox"),
    ]);
    let mut frame = vec![112];
    frame.extend(erldp::term::encode(&control).expect("control"));
    frame.extend(erldp::term::encode(&Term::atom("hello_raw")).expect("message"));
    raw::write_frame(&mut stream, &frame);
    let got = inbox
        .recv_timeout(Duration::from_secs(5))
        .expect("recv")
        .expect("message");
    assert!(got.term.is_atom("hello_raw"));
    assert_eq!(got.from, raw_pid.as_pid());

    // Our answer comes as a pass-through SEND (the peer lacks SEND_SENDER).
    inbox
        .send(
            &erldp::Dest::Pid(raw_pid.as_pid().expect("pid")),
            Term::atom("back"),
        )
        .expect("send");
    let frame = raw::read_frame(&mut stream);
    assert_eq!(frame[0], 112, "pass-through frame");
    let mut decoder = erldp::term::Decoder::new(&frame[1..]);
    let control = decoder.versioned_term().expect("control");
    assert_eq!(control.as_tuple().expect("tuple")[0], Term::from(2), "SEND");
    assert!(decoder.versioned_term().expect("message").is_atom("back"));
}

#[test]
fn garbage_from_a_connected_peer_drops_only_that_connection() {
    let mut peer = BeamPeer::start();
    let node = node_with_cookie(peer.cookie());
    assert!(node.ping(peer.node()));
    let (mut stream, name) = raw::handshake(&node, peer.cookie(), erldp::flags::SUPPORTED);
    eventually("the raw peer to be listed", || node.nodes().len() == 2);

    raw::write_frame(&mut stream, &[131, 68, 3, 0xFF, 0xFF, 0xFF]);
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(err) => assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the node closes the connection: {err}"
        ),
    }
    eventually("the raw peer to be dropped", || {
        !node.nodes().contains(&Atom::new(&name))
    });
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
    assert!(node.ping(peer.node()));
    let us = node.name();
    assert!(peer.ping(us));
}

#[test]
fn a_peer_asking_for_a_name_gets_one() {
    let cookie = random_cookie();
    let node = node_with_cookie(&cookie);
    let mut stream = raw::connection(&node);
    let host = erldp::short_hostname();
    let flags = erldp::flags::SUPPORTED | erldp::flags::NAME_ME;
    raw::send(&mut stream, &raw::name_message(flags, 0, &host));
    let status = raw::recv(&mut stream);
    assert_eq!(&status[..7], b"snamed:");
    let len = u16::from_be_bytes([status[7], status[8]]) as usize;
    let name = std::str::from_utf8(&status[9..9 + len])
        .expect("utf-8")
        .to_string();
    let creation = u32::from_be_bytes(status[9 + len..13 + len].try_into().expect("4 bytes"));
    assert!(name.ends_with(&format!("@{host}")), "{name}");
    assert_ne!(creation, 0);
    let their_challenge = raw::challenge_of(&raw::recv(&mut stream));
    raw::send(
        &mut stream,
        &raw::challenge_reply(5, their_challenge, &cookie),
    );
    assert_eq!(raw::recv(&mut stream)[1..], raw::digest(5, &cookie));
    eventually("the named peer to be listed", || {
        node.nodes() == vec![Atom::new(&name)]
    });
}

/// A peer asking for a name gets one on the host it sends, so that host must make a node
/// name: not empty, without `@`, white space or control characters (a forged log line), and
/// short enough for the whole name to be an atom. Otherwise the node refuses it at once.
#[test]
fn a_peer_asking_for_a_name_on_a_bad_host_is_refused() {
    let node = node_with_cookie(&random_cookie());
    let flags = erldp::flags::SUPPORTED | erldp::flags::NAME_ME;
    for host in [
        String::new(),
        "a@b".to_string(),
        "host\nforged log line".to_string(),
        "h".repeat(250),
    ] {
        let mut stream = raw::connection(&node);
        raw::send(&mut stream, &raw::name_message(flags, 0, &host));
        assert_eq!(raw::recv(&mut stream), b"snot_allowed", "{host:?}");
        assert!(
            raw::closed_by_node(&mut stream, Duration::from_secs(10)),
            "{host:?}: the connection stayed open"
        );
    }
    assert!(node.nodes().is_empty());
}

/// A BEAM node connects to us while we connect to it, round after round, with the two starts
/// spread over a few milliseconds; whichever connection settles it, the one that comes up stays
/// up: the peer sees no `nodedown` but those of our disconnects. (A connection that came up and
/// dropped made global on the rest of a cluster cut us off, to prevent overlapping partitions.)
fn connecting_both_ways_keeps_one_connection_up(peer_prefix: &str, our_prefix: &str) {
    let mut peer = BeamPeer::builder().name_prefix(peer_prefix).start();
    let node = Node::builder(random_name(our_prefix))
        .cookie(peer.cookie())
        .hidden(false)
        .start()
        .expect("node starts");
    let (us, them) = (node.name(), Atom::new(peer.node()));
    peer.eval_ok(
        "register(erldp_downs, spawn(fun() -> ok = net_kernel:monitor_nodes(true), \
         Count = fun Count(N) -> receive {nodedown, _} -> Count(N + 1); \
         {count, From} -> From ! {downs, N}, Count(N); _ -> Count(N) end end, Count(0) end)), ok.",
    );
    for round in 0..150u32 {
        peer.eval_ok(&format!(
            "spawn(fun() -> net_kernel:connect_node('{us}') end), ok."
        ));
        thread::sleep(Duration::from_micros(u64::from(round % 40) * 100));
        node.connect(peer.node()).expect("connect");
        eventually("both connected", || {
            node.nodes() == vec![them]
                && peer.eval_ok(&format!("lists:member('{us}', nodes()).")) == "true"
        });
        // Long enough for a connection the peer gave up to be seen going down.
        thread::sleep(Duration::from_millis(100));
        let downs = peer.eval_ok(&format!(
            "erldp_downs ! {{count, self()}}, receive {{downs, D{round}}} -> D{round} end."
        ));
        assert_eq!(
            downs,
            round.to_string(),
            "round {round}: the peer's nodedowns"
        );
        assert_eq!(node.nodes(), vec![them], "round {round}");
        peer.eval_ok(&format!("erlang:disconnect_node('{us}'), ok."));
        eventually("disconnected", || node.nodes().is_empty());
    }
}

#[test]
fn a_smaller_beam_node_connecting_while_we_connect_keeps_one_connection_up() {
    connecting_both_ways_keeps_one_connection_up("aa", "zz");
}

#[test]
fn a_greater_beam_node_connecting_while_we_connect_keeps_one_connection_up() {
    connecting_both_ways_keeps_one_connection_up("zz", "aa");
}

/// A timeout as long as `Duration` allows (what a binding makes of
/// `Infinity`) means no deadline: making a deadline of it must not overflow
/// the clock, in a connect either way, a send written by the sender, a call
/// and a close.
#[test]
fn timeouts_as_long_as_duration_allows_mean_no_deadline() {
    let (mut peer, node) = peer_and_node_with(|node| {
        node.setup_timeout(Duration::MAX)
            .send_timeout(Duration::MAX)
            .net_ticktime(Duration::MAX)
    });
    node.connect(peer.node()).expect("connect");
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    peer.eval_ok(&format!(
        "register(sizer, spawn(fun() -> receive B -> {{inbox, '{us}'}} ! byte_size(B) end end)), ok."
    ));
    let big = Term::Binary(vec![7; 1 << 20].into());
    inbox
        .send(&("sizer", peer.node()).into(), big)
        .expect("a send the sender writes");
    assert_eq!(common::next(&inbox), Term::from(1 << 20));
    let answer = node
        .rpc(peer.node(), "erlang", "node", vec![], Duration::MAX)
        .expect("rpc");
    assert!(answer.is_atom(peer.node()));
    assert!(node.disconnect(peer.node()));
    // BEAM connects to us: our side of the handshake makes a deadline too.
    assert!(peer.ping(us));
    node.close();
}
