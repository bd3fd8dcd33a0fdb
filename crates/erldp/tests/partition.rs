//! A network partition between an ErlDP node and a BEAM node on two hosts
//! of a virtual network (the test kit's `Network`: namespaces on a bridge,
//! real addresses, long names): the link goes down silently, each side
//! declares the other down on its own tick timeout, and when the link comes
//! back they connect again and messages flow both ways. A stream of
//! messages the BEAM side acknowledges runs throughout: every message
//! acknowledged was kept, once and in order.
//!
//! Needs root, as `make test` runs: the hosts are network namespaces.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
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
    // Keeps each `{From, N}` and acknowledges it with `{ack, N}`.
    peer.eval_ok(
        "register(acker, spawn(fun() -> (fun Loop(Kept) -> receive \
           {get, From} -> From ! {kept, lists:reverse(Kept)}, Loop(Kept); \
           {From, N} -> From ! {ack, N}, Loop([N | Kept]) end end)([]) end)), ok.",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let stream = {
        let (node, peer_node) = (node.clone(), peer_node.clone());
        let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
        ours.spawn(move || acknowledged_stream(&node, &peer_node, &stop, &progress))
    };
    let acknowledged = |count: usize| {
        let deadline = Instant::now() + NOTICE;
        while progress.load(Ordering::Acquire) < count {
            assert!(Instant::now() < deadline, "the stream stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    acknowledged(200);

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

    acknowledged(progress.load(Ordering::Acquire) + 200);
    stop.store(true, Ordering::Release);
    let (acked, acked_after) = stream.join().expect("the stream");
    assert!(acked_after > 0, "no message acknowledged after healing");
    peer.eval_ok(&format!("acker ! {{get, {{inbox, {us}}}}}, ok."));
    let kept = match inbox.recv_timeout(T).expect("receive").map(|m| m.term) {
        Some(Term::Tuple(pair)) if pair[0].is_atom("kept") => pair[1].clone(),
        other => panic!("not the kept list: {other:?}"),
    };
    let kept: Vec<i64> = kept
        .as_list()
        .expect("a list")
        .iter()
        .map(|n| n.as_i64().expect("a number"))
        .collect();
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]),
        "reordered or doubled: {kept:?}"
    );
    let missing: Vec<i64> = acked
        .iter()
        .filter(|n| kept.binary_search(n).is_err())
        .copied()
        .collect();
    assert!(missing.is_empty(), "acknowledged, not kept: {missing:?}");
    eprintln!(
        "{} messages acknowledged, {} kept, {acked_after} after healing",
        acked.len(),
        kept.len()
    );
}

/// Sends `{Mailbox, N}` to the peer's `acker` for N = 1, 2, ... until
/// `stop`, and notes which were acknowledged; a send or acknowledgement
/// that fails (the partition) moves on to the next number. Returns the
/// acknowledged numbers and how many came after the first failure's end.
fn acknowledged_stream(
    node: &Node,
    peer_node: &str,
    stop: &AtomicBool,
    progress: &AtomicUsize,
) -> (Vec<i64>, usize) {
    let mailbox = node.mailbox(None).expect("mailbox");
    let acker = Dest::name("acker", peer_node);
    let (mut acked, mut after_outage, mut outage) = (Vec::new(), 0, false);
    let mut n: i64 = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let message = Term::tuple(vec![mailbox.pid().into(), n.into()]);
        let mut got = false;
        if mailbox.send(&acker, message).is_ok() {
            while let Ok(Some(reply)) = mailbox.recv_timeout(Duration::from_secs(1)) {
                if let Some([tag, number]) = reply.term.as_tuple() {
                    let number = number.as_i64().expect("a number");
                    if tag.is_atom("ack") && number == n {
                        got = true;
                        break;
                    }
                    // Acknowledged all the same, too late for its wait.
                    acked.push(number);
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
        if got {
            acked.push(n);
            progress.fetch_add(1, Ordering::AcqRel);
            if outage {
                after_outage += 1;
            }
        } else {
            outage = true;
        }
    }
    acked.sort_unstable();
    (acked, after_outage)
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
