//! Links, monitors and connection loss against real BEAM nodes, in both
//! directions: remote process death, our mailbox closing, unlink and
//! demonitor, `kill -9` and a frozen peer (tick timeout), and an idle
//! connection outliving twice the tick time; the crossings of the link
//! protocol's signals, driven one by one from a hand-driven peer.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, ErrorKind, Mailbox, MessageKind, Node, Pid, Term};
use erldp_testkit::{eventually, random_cookie, random_name, BeamPeer, Otp};

mod common;
use common::{
    assert_rpc_answers, builder_for, next, next_message, peer_and_node, peer_node_inbox, raw,
};

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
    assert_eq!(peer.collected("signals", 2), "[linked,{exit,goodbye}]");
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
    assert_eq!(peer.collected("downs", 1), "[{true,shutdown,shutdown}]");
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
    // As on BEAM, a nodedown for each monitor_node that stands.
    for _ in 0..3 {
        inbox.monitor_node(peer.node()).expect("monitor node");
    }
    inbox.demonitor_node(peer.node()).expect("demonitor node");
    let pending = node
        .rpc_start(peer.node(), "timer", "sleep", vec![Term::from(60_000)])
        .expect("rpc");
    thread::sleep(Duration::from_millis(200));

    peer.kill9();
    let mut kinds = Vec::new();
    for _ in 0..4 {
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
        vec![
            MessageKind::Down,
            MessageKind::Exit,
            MessageKind::NodeDown,
            MessageKind::NodeDown
        ]
    );
    assert!(inbox.try_recv().expect("recv").is_none(), "two nodedowns");
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

/// A hand-driven peer ([`raw`]) connected to a node of ours on which each
/// peer may hold one link or monitor, so that a link left counted after
/// it went shows as the next one costing the peer its connection, and a
/// send to a peer that reads nothing fails after 200 ms. The
/// crossings of the [link protocol] are races between BEAM nodes; here
/// the test sends each signal when it chooses.
///
/// [link protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#link_protocol
struct HandDriven {
    /// Closed first, so that our node, which may have much left to write
    /// to it, does not wait to flush it.
    stream: TcpStream,
    inbox: Mailbox,
    /// A process of the hand-driven peer.
    peer: Pid,
}

const LINK: i64 = 1;
const EXIT: i64 = 3;
const REG_SEND: i64 = 6;
const UNLINK_ID: i64 = 35;
const UNLINK_ID_ACK: i64 = 36;

impl HandDriven {
    fn start() -> HandDriven {
        let cookie = random_cookie();
        let node = Node::builder(random_name("rs"))
            .cookie(&cookie)
            .max_monitors_per_peer(1)
            .send_timeout(Duration::from_millis(200))
            .start()
            .expect("node");
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        // Without the atom cache our node writes pass-through frames,
        // which the test reads as they come.
        let (stream, name) = raw::handshake(
            &node,
            &cookie,
            erldp::flags::MANDATORY | erldp::flags::MANDATORY_25_DIGEST,
        );
        eventually("the hand-driven peer to be up", || {
            node.nodes().iter().any(|peer| peer.as_str() == name)
        });
        stream.set_read_timeout(Some(T)).expect("read timeout");
        let peer = raw::pid(&name, 42);
        HandDriven {
            inbox,
            stream,
            peer,
        }
    }

    /// [`start`](Self::start), our mailbox linked to the peer's process and
    /// then unlinked from it; also the id of our `UNLINK_ID`, which the peer
    /// has not acknowledged yet.
    fn unlinking() -> (HandDriven, Term) {
        let mut raw = HandDriven::start();
        raw.link();
        let id = raw.unlink();
        (raw, id)
    }

    /// Another process of the hand-driven peer.
    fn other_peer(&self) -> Pid {
        raw::pid(self.peer.node.as_str(), self.peer.id + 1)
    }

    /// Sends the control message `op` with `fields` in a pass-through
    /// frame, and `message` after it.
    fn send(&mut self, op: i64, fields: Vec<Term>, message: Option<Term>) {
        let mut control = vec![Term::from(op)];
        control.extend(fields);
        let mut frame = vec![112];
        frame.extend(erldp::term::encode(&Term::tuple(control)).expect("control"));
        if let Some(message) = message {
            frame.extend(erldp::term::encode(&message).expect("message"));
        }
        raw::write_frame(&mut self.stream, &frame);
    }

    /// The next control message our node sends.
    fn next_control(&mut self) -> Term {
        let frame = raw::read_frame(&mut self.stream);
        assert_eq!(frame[0], 112, "a pass-through frame");
        erldp::term::Decoder::new(&frame[1..])
            .versioned_term()
            .expect("control")
    }

    /// The fields of the next control message our node sends, which must
    /// be `op`.
    fn expect(&mut self, op: i64) -> Vec<Term> {
        let control = self.next_control();
        let fields = control.as_tuple().expect("a tuple").to_vec();
        assert_eq!(fields[0], Term::from(op), "{control}");
        fields[1..].to_vec()
    }

    /// Reads what our node wrote while the peer read nothing (the messages
    /// of [`stop_reading`](Self::stop_reading)) up to its next control
    /// message `op`, whose fields it returns.
    fn skip_to(&mut self, op: i64) -> Vec<Term> {
        loop {
            let control = self.next_control();
            let fields = control.as_tuple().expect("a tuple");
            if fields[0] == Term::from(op) {
                return fields[1..].to_vec();
            }
        }
    }

    /// Stops reading what our node writes: sends to the peer's process
    /// until our node's queue to the peer is full and a send fails.
    fn stop_reading(&mut self) {
        let chunk = Term::from(vec![0u8; 60 << 10]);
        for _ in 0..2000 {
            if let Err(err) = self.inbox.send(&Dest::Pid(self.peer), chunk.clone()) {
                assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
                return;
            }
        }
        panic!("120 MiB went to a peer that reads nothing");
    }

    fn us(&self) -> Term {
        Term::Pid(self.inbox.pid())
    }

    /// Links our mailbox to the peer's process; the `LINK` goes out.
    fn link(&mut self) {
        self.inbox.link(self.peer).expect("link");
        assert_eq!(
            self.expect(LINK),
            [self.us(), Term::Pid(self.peer)],
            "our LINK"
        );
    }

    /// Unlinks our mailbox from the peer's process; returns the id of the
    /// `UNLINK_ID` that goes out, which the peer has not acknowledged yet.
    fn unlink(&mut self) -> Term {
        self.inbox.unlink(self.peer).expect("unlink");
        let fields = self.expect(UNLINK_ID);
        self.unlink_id_of(&fields)
    }

    /// The id of our `UNLINK_ID` with `fields`, which must name our mailbox
    /// and the peer's process.
    fn unlink_id_of(&self, fields: &[Term]) -> Term {
        assert_eq!(
            fields[1..],
            [self.us(), Term::Pid(self.peer)],
            "our UNLINK_ID"
        );
        fields[0].clone()
    }

    /// `from`, a process of the peer, links to our mailbox.
    fn link_from(&mut self, from: Pid) {
        let us = self.us();
        self.send(LINK, vec![Term::Pid(from), us], None);
    }

    /// The peer's process acknowledges our `UNLINK_ID` `id`.
    fn acknowledge(&mut self, id: Term) {
        let (from, to) = (Term::Pid(self.peer), self.us());
        self.send(UNLINK_ID_ACK, vec![id, from, to], None);
    }

    /// `from` sends the exit signal of its link to our mailbox with
    /// `reason`, then a message `marker`: had the exit been delivered, it
    /// would come first.
    fn exit_then_marker(&mut self, from: Pid, reason: &str, marker: &str) {
        let us = self.us();
        self.send(EXIT, vec![Term::Pid(from), us, Term::atom(reason)], None);
        self.send(
            REG_SEND,
            vec![Term::Pid(from), Term::atom(""), Term::atom("inbox")],
            Some(Term::atom(marker)),
        );
    }

    /// Asserts the next message in our mailbox is `marker`.
    fn assert_marker(&self, marker: &str) {
        let message = next_message(&self.inbox);
        assert!(message.term.is_atom(marker), "{message:?} before {marker}");
    }

    /// `from` exits with `reason` while linked to our mailbox: its exit
    /// signal arrives, before the marker sent after it.
    fn assert_exit_arrives(&mut self, from: Pid, reason: &str) {
        self.exit_then_marker(from, reason, "after_exit");
        let exit = next_message(&self.inbox);
        assert_eq!(exit.kind, MessageKind::Exit, "{exit:?}");
        assert_eq!(exit.from, Some(from));
        assert_eq!(exit.reason, Some(Term::atom(reason)));
        self.assert_marker("after_exit");
    }

    /// The peer's process exits with `reason`: the exit signal is ignored
    /// (no link of ours stands), so the marker sent after it comes first.
    fn assert_exit_ignored(&mut self, reason: &str) {
        self.exit_then_marker(self.peer, reason, "after_exit");
        self.assert_marker("after_exit");
    }

    /// Asserts that no link is left counted against the peer, and that the
    /// connection stands: another process of the peer links to our mailbox
    /// (over the bound of one if one were still counted), and its exit
    /// signal arrives.
    fn assert_nothing_held(&mut self) {
        let other = self.other_peer();
        self.link_from(other);
        self.assert_exit_arrives(other, "counted");
    }
}

/// The peer's LINK crosses our UNLINK_ID: it is ignored (the peer takes
/// our UNLINK_ID after it and undoes the link too), the acknowledgement
/// removes the link, and the LINK cost nothing against the bound even
/// though the link it named was still counted.
#[test]
fn a_link_crossing_our_unlink_leaves_both_unlinked() {
    let (mut raw, id) = HandDriven::unlinking();
    raw.link_from(raw.peer);
    raw.acknowledge(id);
    raw.assert_exit_ignored("unlinked");
    raw.assert_nothing_held();
}

/// An exit signal from the linked process before it acknowledged our
/// UNLINK_ID is ignored (we unlinked first) and ends the link; the late
/// acknowledgement finds nothing.
#[test]
fn an_exit_crossing_our_unlink_is_ignored() {
    let (mut raw, id) = HandDriven::unlinking();
    raw.assert_exit_ignored("crossed");
    raw.acknowledge(id);
    raw.assert_nothing_held();
}

/// The peer unlinks while our own unlink is unacknowledged, then links
/// again (as a BEAM process that calls `unlink/1` and `link/1` would): we
/// acknowledge its UNLINK_ID at once, our link stays being undone, so the
/// LINK is ignored, and the acknowledgement of ours ends it. The peer ends
/// unlinked too: our UNLINK_ID reaches it after its LINK.
#[test]
fn unlinks_crossing_each_other_both_end_the_link() {
    let (mut raw, ours) = HandDriven::unlinking();
    let theirs = Term::from(7);
    let (from, to) = (Term::Pid(raw.peer), raw.us());
    raw.send(
        UNLINK_ID,
        vec![theirs.clone(), from.clone(), to.clone()],
        None,
    );
    assert_eq!(raw.expect(UNLINK_ID_ACK), [theirs, to, from]);
    raw.link_from(raw.peer);
    raw.acknowledge(ours);
    raw.assert_exit_ignored("unlinked");
    raw.assert_nothing_held();
}

/// Linking again before the peer acknowledged our UNLINK_ID: the LINK goes
/// out (after the UNLINK_ID, so the peer links anew), the late
/// acknowledgement leaves the new link alone, and the peer's exit arrives.
#[test]
fn linking_again_over_an_unacknowledged_unlink_stands() {
    let (mut raw, id) = HandDriven::unlinking();
    raw.link();
    raw.acknowledge(id);
    raw.assert_exit_arrives(raw.peer, "linked");
    raw.assert_nothing_held();
}

/// The same against a BEAM process, which takes our LINK, UNLINK_ID and
/// second LINK only once resumed (a suspended process handles no
/// signals): both sides end linked, and its exit reaches us, on each OTP
/// release at hand.
#[test]
fn linking_again_over_an_unacknowledged_unlink_stands_with_beam() {
    for otp in Otp::available() {
        let mut peer = BeamPeer::builder().otp(otp.clone()).start();
        let node = builder_for(&peer)
            .max_monitors_per_peer(1)
            .start()
            .expect("node");
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        let us = node.name();
        peer.eval_ok(&format!(
            "register(keeper, spawn(fun() -> \
                 P = spawn(fun() -> receive {{stop, R}} -> exit(R) end end), \
                 erlang:suspend_process(P), {{inbox, '{us}'}} ! P, \
                 receive resume -> erlang:resume_process(P) end end)), ok."
        ));
        let suspended = next(&inbox).as_pid().expect("a pid");
        inbox.link(suspended).expect("link");
        inbox.unlink(suspended).expect("unlink");
        inbox.link(suspended).expect("link again");
        peer.eval_ok("keeper ! resume, ok.");
        let ours = peer_pid_literal(&mut peer, &inbox);
        // Our message to the holder of our pid came after the signals.
        let linked = peer.eval_ok(&format!(
            "{{links, L}} = process_info({suspended_text}, links), lists:member({ours}, L).",
            suspended_text = pid_literal(suspended)
        ));
        assert_eq!(linked, "true", "{otp:?}: the BEAM process is linked");
        inbox
            .send(
                &Dest::Pid(suspended),
                Term::tuple(vec![Term::atom("stop"), Term::atom("relinked")]),
            )
            .expect("send");
        let exit = next_message(&inbox);
        assert_eq!(exit.kind, MessageKind::Exit, "{otp:?}: {exit:?}");
        assert_eq!(exit.from, Some(suspended));
        assert_eq!(exit.reason, Some(Term::atom("relinked")));
    }
}

/// An expression for a pid of the peer's own node.
fn pid_literal(pid: Pid) -> String {
    format!("c:pid(0, {}, {})", pid.id, pid.serial)
}

/// Linking again over an unacknowledged unlink while the peer reads
/// nothing (a message to it fails for want of room): the LINK does not
/// wait, as link signals never do; it reaches the peer after everything
/// queued before it once the peer reads again, the late acknowledgement
/// leaves the new link alone, and the peer's exit arrives.
#[test]
fn a_relink_to_a_peer_that_reads_nothing_goes_out_once_it_reads() {
    let (mut raw, id) = HandDriven::unlinking();
    raw.stop_reading();
    raw.inbox
        .link(raw.peer)
        .expect("a LINK queued behind what the peer has not read");
    assert_eq!(
        raw.skip_to(LINK),
        [raw.us(), Term::Pid(raw.peer)],
        "our LINK"
    );
    raw.acknowledge(id);
    raw.assert_exit_arrives(raw.peer, "relinked");
}

/// An unlink while the peer reads nothing does not wait either: the
/// UNLINK_ID reaches the peer once it reads again, and its
/// acknowledgement gives back what the link held.
#[test]
fn an_unlink_from_a_peer_that_reads_nothing_goes_out_once_it_reads() {
    let mut raw = HandDriven::start();
    raw.link();
    raw.stop_reading();
    raw.inbox
        .unlink(raw.peer)
        .expect("an UNLINK_ID queued behind what the peer has not read");
    let fields = raw.skip_to(UNLINK_ID);
    let id = raw.unlink_id_of(&fields);
    raw.acknowledge(id);
    raw.assert_nothing_held();
}
