//! Links, monitors and connection loss against real BEAM nodes, in both
//! directions: remote process death, our mailbox closing, unlink and
//! demonitor, `kill -9` and a frozen peer (tick timeout), and an idle
//! connection outliving twice the tick time.

use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, Mailbox, MessageKind, Node, Pid, Term};
use erldp_testkit::BeamPeer;

mod common;
use common::{assert_rpc_answers, builder_for, next_message, peer_and_node, peer_node_inbox};

const T: Duration = Duration::from_secs(10);

/// A BEAM peer and our node on its cookie, both with a tick time of `secs`.
fn ticking(secs: u32) -> (BeamPeer, Node) {
    let peer = BeamPeer::builder().net_ticktime(secs).start();
    let node = builder_for(&peer)
        .net_ticktime(Duration::from_secs(secs.into()))
        .start()
        .expect("node");
    (peer, node)
}

/// Asserts that no message arrives in `inbox` within `wait`; `what` says
/// which one would be wrong.
fn assert_nothing_within(inbox: &Mailbox, wait: Duration, what: &str) {
    let message = inbox.recv_timeout(wait).expect("recv");
    assert!(message.is_none(), "{what}: {message:?}");
}

/// Starts a process on the peer, registered as `name`, that waits for
/// `{stop, Reason}` and then exits with that reason; returns its pid as our
/// mailbox sees it. It announces itself only once registered, so a monitor
/// by name cannot race the registration.
fn remote_process(peer: &mut BeamPeer, inbox: &Mailbox, name: &str) -> Pid {
    let us = inbox.node().name();
    peer.eval_ok(&format!(
        "spawn(fun() -> register({name}, self()), {{inbox, '{us}'}} ! {{started, self()}}, \
                        receive {{stop, R}} -> exit(R) end end), ok."
    ));
    let message = inbox.recv_timeout(T).expect("recv").expect("pid message");
    match message.term {
        Term::Tuple(fields) => fields[1].as_pid().expect("pid"),
        other => panic!("unexpected {other}"),
    }
}

/// Makes sure the peer has taken in every signal we sent before this call:
/// the tests steer the peer over its stdin, a channel the distribution
/// connection does not order against, so a `stop` sent that way could
/// otherwise overtake a link or monitor still on the wire.
fn settle(node: &Node, peer: &BeamPeer) {
    assert!(node.ping(peer.node()));
}

#[test]
fn our_link_to_a_beam_process_delivers_its_exit() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let pid = remote_process(&mut peer, &inbox, "worker");
    inbox.link(pid).expect("link");
    settle(&node, &peer);
    let ours = peer_pid_literal(&mut peer, &inbox);
    let linked = peer.eval_ok(&format!(
        "{{links, L}} = process_info(whereis(worker), links), lists:member({ours}, L)."
    ));
    assert_eq!(linked, "true");
    peer.eval_ok("worker ! {stop, {shutdown, tests}}.");
    let exit = next_message(&inbox);
    let reason: Term = "{shutdown, tests}".parse().expect("t");
    assert_eq!(exit.kind, MessageKind::Exit);
    assert_eq!(exit.from, Some(pid));
    assert_eq!(exit.reason, Some(reason.clone()));
    assert_eq!(
        exit.term,
        Term::tuple(vec![Term::atom("EXIT"), Term::Pid(pid), reason])
    );
}

#[test]
fn a_beam_process_linked_to_our_mailbox_gets_its_exit_reason() {
    let (mut peer, node) = peer_and_node();
    let victim = node.mailbox(Some("victim")).expect("mailbox");
    let ours = peer_pid_literal(&mut peer, &victim);
    peer.eval_ok("erldp_test:collect(signals).");
    peer.eval_ok(&format!(
        "P = {ours}, S = whereis(signals), \
         spawn(fun() -> process_flag(trap_exit, true), link(P), S ! linked, \
                        receive {{'EXIT', P, R}} -> S ! {{exit, R}} end end), \
         erldp_test:collected(signals, 1, 5000)."
    ));
    settle(&node, &peer);
    victim.close(Term::atom("goodbye"));
    assert_eq!(
        peer.eval_ok("erldp_test:collected(signals, 2, 5000)."),
        "[linked,{exit,goodbye}]"
    );
}

#[test]
fn beam_monitors_of_our_mailbox_fire_when_it_closes() {
    let (mut peer, node) = peer_and_node();
    let target = node.mailbox(Some("target")).expect("mailbox");
    let us = node.name();
    let ours = peer_pid_literal(&mut peer, &target);
    peer.eval_ok("erldp_test:collect(downs).");
    peer.eval_ok(&format!(
        "P = {ours}, S = whereis(downs), Me = self(), \
         spawn(fun() -> M = monitor(process, P), N = monitor(process, {{target, '{us}'}}), Me ! monitoring, \
                        receive {{'DOWN', R1, process, _, W1}} -> ok end, \
                        receive {{'DOWN', R2, process, _, W2}} -> ok end, \
                        S ! {{lists:sort([R1, R2]) =:= lists:sort([M, N]), W1, W2}} end), \
         receive monitoring -> ok end."
    ));
    settle(&node, &peer);
    target.close(Term::atom("shutdown"));
    assert!(target.is_closed());
    assert_eq!(
        peer.eval_ok("erldp_test:collected(downs, 1, 5000)."),
        "[{true,shutdown,shutdown}]"
    );
    assert!(target.is_closed(), "a closed mailbox stays closed");
    assert!(
        target.monitor(&Dest::name("downs", peer.node())).is_err(),
        "a closed mailbox monitors nothing"
    );
}

/// Makes the peer learn our mailbox's pid (by message) and returns an
/// expression that evaluates to it in later commands.
fn peer_pid_literal(peer: &mut BeamPeer, mailbox: &Mailbox) -> String {
    let name = format!("pidholder_{}", mailbox.pid().id);
    peer.eval_ok(&format!("erldp_test:collect({name})."));
    mailbox
        .send(
            &Dest::name(&name, peer.node()),
            Term::tuple(vec![Term::atom("pid"), Term::Pid(mailbox.pid())]),
        )
        .expect("send pid");
    peer.eval_ok(&format!(
        "[{{pid, _}}] = erldp_test:collected({name}, 1, 5000), ok."
    ));
    format!("element(2, hd(erldp_test:collected({name})))")
}

#[test]
fn unlink_stops_exit_signals() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let pid = remote_process(&mut peer, &inbox, "worker2");
    inbox.link(pid).expect("link");
    inbox.unlink(pid).expect("unlink");
    let pid_text = peer_pid_literal(&mut peer, &inbox);
    let deadline = Instant::now() + T;
    loop {
        let links = peer.eval_ok(&format!(
            "{{links, L}} = process_info(whereis(worker2), links), lists:member({pid_text}, L)."
        ));
        if links == "false" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the BEAM side still has the link"
        );
        thread::sleep(Duration::from_millis(20));
    }
    peer.eval_ok("worker2 ! {stop, crashed}.");
    assert_nothing_within(&inbox, Duration::from_millis(500), "no exit after unlink");
    // Linking again works after an unlink.
    let pid = remote_process(&mut peer, &inbox, "worker3");
    inbox.link(pid).expect("link");
    settle(&node, &peer);
    peer.eval_ok("worker3 ! {stop, again}.");
    let exit = next_message(&inbox);
    assert_eq!(
        exit.reason,
        Some(Term::atom("again")),
        "{exit:?} (worker3 is {pid})"
    );
}

#[test]
fn monitors_by_pid_and_by_name() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let pid = remote_process(&mut peer, &inbox, "mon1");
    let by_pid = inbox.monitor(&Dest::Pid(pid)).expect("monitor");
    let by_name = inbox
        .monitor(&Dest::name("mon1", peer.node()))
        .expect("monitor");
    let cancelled = inbox.monitor(&Dest::Pid(pid)).expect("monitor");
    inbox.demonitor(cancelled).expect("demonitor");
    settle(&node, &peer);
    peer.eval_ok("mon1 ! {stop, done}.");
    let mut downs = [next_message(&inbox), next_message(&inbox)];
    downs.sort_by_key(|d| d.reference != Some(by_pid));
    assert_eq!(downs[0].kind, MessageKind::Down);
    assert_eq!(downs[0].reference, Some(by_pid));
    assert_eq!(downs[0].from, Some(pid));
    assert_eq!(downs[0].reason, Some(Term::atom("done")));
    assert_eq!(downs[1].reference, Some(by_name));
    let who: Term = format!("{{mon1, '{}'}}", peer.node()).parse().expect("t");
    assert_eq!(downs[1].term.as_tuple().expect("tuple")[3], who);
    assert_nothing_within(
        &inbox,
        Duration::from_millis(300),
        "demonitored: no third DOWN",
    );

    // Monitoring what does not exist gives noproc at once.
    let missing = inbox
        .monitor(&Dest::name("nobody_here", peer.node()))
        .expect("monitor");
    let down = next_message(&inbox);
    assert_eq!(
        (down.reference, down.reason),
        (Some(missing), Some(Term::atom("noproc")))
    );
}

#[test]
fn killing_the_beam_node_gives_noconnection_and_node_down() {
    let (mut peer, node) = ticking(4);
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let pid = remote_process(&mut peer, &inbox, "doomed");
    inbox.link(pid).expect("link");
    let reference = inbox.monitor(&Dest::Pid(pid)).expect("monitor");
    inbox.monitor_node(peer.node()).expect("monitor node");
    let pending = node
        .rpc_start(peer.node(), "timer", "sleep", vec![Term::from(60_000)])
        .expect("rpc");
    thread::sleep(Duration::from_millis(200));

    peer.kill9();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let message = next_message(&inbox);
        assert_eq!(
            message.reason,
            Some(Term::atom("noconnection")),
            "{message:?}"
        );
        if message.kind == MessageKind::Down {
            assert_eq!(message.reference, Some(reference));
        }
        kinds.push(message.kind);
    }
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(
        kinds,
        vec![MessageKind::Down, MessageKind::Exit, MessageKind::NodeDown]
    );
    assert!(matches!(
        pending.wait(T),
        Err(erldp::Error::Connection { .. })
    ));
    assert!(node.nodes().is_empty());
    assert_eq!(node.outstanding_requests(), 0);
}

#[test]
fn a_frozen_peer_is_declared_down_by_tick_timeout() {
    let (mut peer, node) = ticking(2);
    let inbox = node.mailbox(None).expect("mailbox");
    inbox.monitor_node(peer.node()).expect("monitor node");
    peer.pause();
    let frozen = Instant::now();
    // Paused, the peer keeps its socket open: only the tick timeout can
    // declare it down.
    let message = inbox
        .recv_timeout(T)
        .expect("recv")
        .expect("node_down in time");
    let waited = frozen.elapsed();
    peer.resume();
    assert_eq!(message.kind, MessageKind::NodeDown);
    assert_eq!(message.node, Some(erldp::Atom::new(peer.node())));
    // A lower bound only: load can make it later, never earlier.
    assert!(
        waited >= Duration::from_millis(1500),
        "not before net_ticktime: {waited:?}"
    );
}

#[test]
fn an_idle_connection_survives_twice_the_tick_time() {
    let (mut peer, node) = ticking(2);
    let inbox = node.mailbox(None).expect("mailbox");
    inbox.monitor_node(peer.node()).expect("monitor node");
    peer.eval_ok("erldp_test:watch_nodes(updown).");
    thread::sleep(Duration::from_secs(5));
    assert!(
        inbox.try_recv().expect("recv").is_none(),
        "no node_down while idle"
    );
    assert_eq!(
        peer.eval_ok("erldp_test:collected(updown)."),
        "[]",
        "the BEAM side saw no nodedown"
    );
    assert_rpc_answers(&node, peer.node(), "after two tick times idle");
}

#[test]
fn exit2_from_beam_arrives_as_an_exit_message() {
    let (mut peer, _node, inbox) = peer_node_inbox();
    let ours = peer_pid_literal(&mut peer, &inbox);
    peer.eval_ok(&format!("exit({ours}, {{custom, reason}})."));
    let exit = next_message(&inbox);
    assert_eq!(exit.kind, MessageKind::Exit);
    assert_eq!(exit.reason, Some("{custom, reason}".parse().expect("t")));
    assert!(exit.from.is_some());
    // A mailbox traps exits: even `kill` is a message, and the box lives on.
    peer.eval_ok(&format!("exit({ours}, kill)."));
    assert_eq!(next_message(&inbox).reason, Some(Term::atom("kill")));
    assert!(!inbox.is_closed());
}

#[test]
fn trace_token_variants_are_understood() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    let ours = peer_pid_literal(&mut peer, &inbox);
    // With a sequential trace token set, the BEAM sends the _TT variants of
    // REG_SEND, SEND_SENDER and EXIT2.
    peer.eval_ok(&format!(
        "seq_trace:set_token(label, 17), {{inbox, '{us}'}} ! traced_by_name, {ours} ! traced_by_pid, \
         exit({ours}, traced_exit), seq_trace:set_token([]), ok."
    ));
    assert!(next_message(&inbox).term.is_atom("traced_by_name"));
    assert!(next_message(&inbox).term.is_atom("traced_by_pid"));
    assert_eq!(next_message(&inbox).reason, Some(Term::atom("traced_exit")));
}
