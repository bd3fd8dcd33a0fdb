//! A network partition between an ErlDP node and a BEAM node on two hosts
//! of a virtual network (the test kit's `Network`: namespaces on a bridge,
//! real addresses, long names): the link goes down silently, each side
//! declares the other down on its own tick timeout, and when the link comes
//! back they connect again and messages flow both ways.
//!
//! Needs root, as `make test` runs: the hosts are network namespaces.

use std::time::{Duration, Instant};

use erldp::{Dest, MessageKind, Node, Term};
use erldp_testkit::{BeamPeer, Network};

/// Short, so that the test is quick; both sides use it.
const TICK: u64 = 4;
/// Far more than a tick timeout takes: only a partition nobody notices
/// reaches it.
const NOTICE: Duration = Duration::from_secs(8 * TICK + 30);
const T: Duration = Duration::from_secs(15);

#[test]
fn a_partition_is_noticed_on_both_sides_and_healing_reconnects() {
    let net = Network::new(2);
    let (ours, theirs) = (net.host(0), net.host(1));
    let mut peer = BeamPeer::builder()
        .netns(theirs)
        .net_ticktime(TICK as u32)
        .eval_timeout(2 * NOTICE)
        .start();
    peer.eval_ok("erldp_test:echo_start(echo).");
    peer.eval_ok("erldp_test:watch_nodes(watcher).");
    let peer_node = peer.node().to_string();
    let (cookie, addr) = (peer.cookie().to_string(), ours.addr());
    // Everything that may open a socket runs on host 0.
    let node = ours.run(move || {
        Node::builder(format!("rs@{addr}"))
            .cookie(cookie)
            .net_ticktime(Duration::from_secs(TICK))
            .start()
            .expect("node on host 0")
    });
    let us = node.name();
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let reached = {
        let node = node.clone();
        let peer_node = peer_node.clone();
        ours.run(move || node.ping(&peer_node))
    };
    assert!(reached, "{us} cannot reach {peer_node}");
    inbox.monitor_node(&peer_node).expect("monitor_node");
    round_trip(&inbox, &peer_node, "before");

    theirs.link_down();
    let cut = Instant::now();
    let down = inbox
        .recv_timeout(NOTICE)
        .expect("receive")
        .unwrap_or_else(|| panic!("no node_down within {NOTICE:?} of the partition"));
    assert_eq!(down.kind, MessageKind::NodeDown, "{}", down.term);
    eprintln!("node_down {:?} after the link went down", cut.elapsed());
    let seen = peer.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> lists:member({{nodedown, {us}}}, \
           [{{E, N}} || {{E, N, _}} <- erldp_test:collected(watcher)]) end, {}).",
        NOTICE.as_millis()
    ));
    assert_eq!(seen, "true", "the BEAM node did not see us go");
    assert!(
        node.nodes().is_empty(),
        "still connected: {:?}",
        node.nodes()
    );

    theirs.link_up();
    let back = {
        let node = node.clone();
        let peer_node = peer_node.clone();
        // The first try may meet a link that is not quite up yet.
        ours.run(move || (0..5).any(|_| node.ping(&peer_node)))
    };
    assert!(back, "no connection after the link came back");
    round_trip(&inbox, &peer_node, "after");
}

/// A message to the peer's echo process and its answer. Sent from this
/// thread, outside host 0: the connection must be up already (a send that
/// had to connect would connect from here).
fn round_trip(inbox: &erldp::Mailbox, peer_node: &str, label: &str) {
    let echo = Dest::name("echo", peer_node);
    let message = Term::tuple(vec![inbox.pid().into(), Term::atom(label)]);
    inbox.send(&echo, message).expect("send to echo");
    let answer = inbox.recv_timeout(T).expect("receive");
    assert_eq!(
        answer.map(|m| m.term),
        Some(Term::tuple(vec![Term::atom("echo"), Term::atom(label)])),
        "{label}"
    );
}
