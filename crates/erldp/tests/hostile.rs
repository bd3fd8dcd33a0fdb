//! Hostile and faulty peers (issue 13), against real BEAM nodes: what one
//! peer sends may cost that peer its connection, never the node or the
//! other peers. Each test names the item of the issue it covers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use erldp::error::TERM_TEXT_IN_ERRORS;
use erldp::{Atom, BigInt, EpmdMode, Error, Node, Term};
use erldp_testkit::{eventually, random_cookie, random_name, BeamPeer};

mod common;
use common::{
    assert_rpc_answers, builder_for, collector, gate, next, node_for, peer_and_node,
    peer_and_node_with, peer_node_inbox, raw,
};

const T: Duration = Duration::from_secs(30);

/// The atom tests look at the process's atom table; one at a time.
static ATOM_TABLE: Mutex<()> = Mutex::new(());

/// Lets `peer` reach `node` with `node`'s cookie, whatever its own.
fn share_cookie(peer: &mut BeamPeer, node: &Node, cookie: &str) {
    peer.eval_ok(&format!(
        "erlang:set_cookie('{}', '{cookie}').",
        node.name()
    ));
}

/// Sends `message` (an Erlang expression) from `peer` to `inbox` on our
/// node and reports whether our node then dropped the connection: a ping
/// right behind it is answered only once our node has read the message.
fn send_and_watch(peer: &mut BeamPeer, us: Atom, message: &str) -> String {
    peer.eval_ok(&format!(
        "pong = net_adm:ping('{us}'), erlang:monitor_node('{us}', true), \
         {{inbox, '{us}'}} ! ({message}), \
         receive {{nodedown, '{us}'}} -> dropped \
         after case net_adm:ping('{us}') of pong -> 0; pang -> 20000 end -> kept end."
    ))
}

/// Item 7: more than the BEAM's 1,048,576 new atoms from one peer. They are
/// short, so they never enter the atom table; every batch arrives, and
/// another peer's new atoms still do.
#[test]
fn a_flood_of_short_atoms_takes_no_room_in_the_atom_table() {
    let _table = ATOM_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut flooder = BeamPeer::builder().arg("+t").arg("4000000").start();
    let mut other = BeamPeer::start();
    let node = node_for(&flooder);
    share_cookie(&mut other, &node, flooder.cookie());
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    let (table_before, _) = Atom::table_size();

    let batches = 110;
    flooder.eval_ok(&format!(
        "[{{inbox, '{us}'}} ! [list_to_atom(\"f\" ++ integer_to_list(B * 10000 + I)) \
          || I <- lists:seq(1, 10000)] || B <- lists:seq(1, {batches})], ok."
    ));
    for batch in 1..=batches {
        let atoms = next(&inbox);
        let atoms = atoms.as_list().expect("a list of atoms");
        assert_eq!(atoms.len(), 10_000, "batch {batch}");
        let expected = format!("f{}", batch * 10_000 + 1);
        assert!(atoms[0].is_atom(&expected), "batch {batch}: {}", atoms[0]);
    }
    let (table_after, _) = Atom::table_size();
    assert!(
        table_after - table_before < 1000,
        "1.1M short atoms grew the atom table from {table_before} to {table_after}"
    );

    let fresh = format!("fresh_{}", random_name("")).replace('@', "");
    let fresh_long = format!("a_fresh_long_atom_{}", random_name(""));
    other.eval_ok(&format!(
        "{{inbox, '{us}'}} ! {{hello, '{fresh}', '{fresh_long}'}}, ok."
    ));
    assert_eq!(
        next(&inbox),
        Term::tuple(vec![
            Term::atom("hello"),
            Term::atom(&fresh),
            Term::atom(&fresh_long)
        ])
    );
}

/// Item 7: one peer adds more long atoms to the table than its budget
/// allows. It loses its connection, and when it comes back it may use the
/// atoms it added but add no more; another peer is not affected.
#[test]
fn a_peer_over_its_atom_budget_loses_its_connection_and_no_one_else_does() {
    let _table = ATOM_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut flooder = BeamPeer::start();
    let mut other = BeamPeer::start();
    let node = node_for(&flooder);
    share_cookie(&mut other, &node, flooder.cookie());
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    let over = erldp::term::DEFAULT_ATOMS_PER_PEER + 1000;
    let long_atom =
        |i: usize| format!("list_to_atom(\"a_long_flood_atom_\" ++ integer_to_list({i}))");

    let flood = format!(
        "[list_to_atom(\"a_long_flood_atom_\" ++ integer_to_list(I)) || I <- lists:seq(1, {over})]"
    );
    assert_eq!(send_and_watch(&mut flooder, us, &flood), "dropped");
    // The atoms it added before the limit are usable; one more is not.
    assert_eq!(
        send_and_watch(&mut flooder, us, &format!("{{again, {}}}", long_atom(1))),
        "kept"
    );
    assert_eq!(
        next(&inbox),
        Term::tuple(vec![Term::atom("again"), Term::atom("a_long_flood_atom_1")])
    );
    assert_eq!(
        send_and_watch(&mut flooder, us, &format!("{{again, {}}}", long_atom(over))),
        "dropped"
    );

    let fresh_long = format!("a_fresh_long_atom_{}", random_name(""));
    other.eval_ok(&format!(
        "{{inbox, '{us}'}} ! {{hello, '{fresh_long}'}}, ok."
    ));
    assert_eq!(
        next(&inbox),
        Term::tuple(vec![Term::atom("hello"), Term::atom(&fresh_long)])
    );
    assert!(
        inbox.try_recv().expect("receive").is_none(),
        "the floods were delivered"
    );
}

/// Item 5: a message of 9 M `[]`s (9 MiB on the wire, half a gigabyte as
/// terms) exceeds the default `max_message_terms` and ends the connection
/// before anything is built for it; the peer reconnects and is heard.
#[test]
fn a_message_past_max_message_terms_costs_the_connection_not_the_node() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    assert_eq!(
        send_and_watch(&mut peer, us, "lists:duplicate(9000000, [])"),
        "dropped"
    );
    assert_eq!(send_and_watch(&mut peer, us, "small"), "kept");
    assert_eq!(next(&inbox), Term::atom("small"));

    let roomy = builder_for(&peer)
        .max_message_terms(2_000_000)
        .start()
        .expect("node");
    let roomy_inbox = roomy.mailbox(Some("inbox")).expect("mailbox");
    assert_eq!(
        send_and_watch(&mut peer, roomy.name(), "lists:duplicate(1500000, [])"),
        "kept"
    );
    assert_eq!(
        next(&roomy_inbox).as_list().map(<[Term]>::len),
        Some(1_500_000)
    );
}

/// Item 3: a peer that has not proved the cookie makes no atom of its
/// name (which anyone could fill the atom table with), and a name longer
/// than an atom can be is refused before anything is done with it.
#[test]
fn unauthenticated_peers_make_no_atoms() {
    let cookie = random_cookie();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .start()
        .expect("node");
    let host = node.host().to_owned();
    let names: Vec<String> = (0..50)
        .map(|i| format!("{}{i}@{host}", random_name(&"n".repeat(180))))
        .collect();
    for name in &names {
        let mut stream = raw::start_handshake(&node, name);
        assert_eq!(raw::recv(&mut stream), b"sok");
        assert_eq!(raw::recv(&mut stream)[0], b'N', "the challenge");
    }
    let mut stream = raw::start_handshake(&node, &format!("{}@{host}", "n".repeat(60_000)));
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "an answer to a 60,000-byte name: {rest:?}");
    // The node goes on: ask it something over a connection that proves the cookie.
    let (_stream, peer) = raw::connect(&node, &cookie);
    assert!(
        Atom::is_in_table(&peer),
        "an authenticated peer's name is an atom"
    );
    for name in &names {
        assert!(!Atom::is_in_table(name), "{name} became an atom");
    }

    // A BEAM node with a long name and the wrong cookie.
    let mut beam = BeamPeer::builder().name_prefix("x".repeat(190)).start();
    assert!(!beam.ping(node.name()));
    assert!(
        !Atom::is_in_table(beam.node()),
        "{} became an atom",
        beam.node()
    );
}

/// Item 8: an error's text shows a bounded part of the terms in it; the
/// terms themselves stay whole.
#[test]
fn a_huge_remote_reason_makes_a_short_error_message() {
    let (peer, node) = peer_and_node();
    let reason = Term::binary(vec![b'x'; 20 << 20]);
    let err = node
        .rpc(peer.node(), "erlang", "error", vec![reason.clone()], T)
        .expect_err("erlang:error raises");
    // The reason, and the stack trace that holds it as erlang:error's argument.
    let text = err.to_string();
    assert!(
        text.len() < 3 * TERM_TEXT_IN_ERRORS,
        "{} bytes of error text",
        text.len()
    );
    assert!(text.starts_with("remote error: <<\"xxxx"), "{:.100}", text);
    assert!(text.ends_with("..."), "{:.100}", text);
    match err {
        Error::Rpc { reason: got, .. } => assert!(*got == reason),
        other => panic!("not an rpc error: {other:.100}"),
    }
}

/// Item 8: a peer sends a malformed control holding a 20 MiB binary and a
/// 300 KB integer while 16 rpcs wait on it. Each rpc fails with the reason
/// its connection went, which shows a bounded part of that control (the
/// integer as leading hexadecimal digits, found without converting it).
#[test]
fn a_malformed_control_with_huge_terms_makes_short_errors() {
    let cookie = random_cookie();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .epmd(EpmdMode::None)
        .start()
        .expect("node");
    let (mut peer, name) = raw::connect(&node, &cookie);
    let rpcs: Vec<_> = (0..16)
        .map(|_| node.rpc_start(&name, "m", "f", vec![]).expect("rpc_start"))
        .collect();
    let mut magnitude = vec![0x5A; 300_000];
    magnitude.push(0x7F);
    // A SEND with two fields too many: not a control message.
    let control = Term::tuple(vec![
        2.into(),
        Term::atom(""),
        node.pid().into(),
        Term::binary(vec![b'x'; 20 << 20]),
        BigInt::from_magnitude(false, &magnitude).into_term(),
    ]);
    raw::send_control(&mut peer, &control, None);
    for rpc in rpcs {
        let err = rpc.wait(T).expect_err("the connection went");
        let text = err.to_string();
        assert!(
            text.len() < 2 * TERM_TEXT_IN_ERRORS,
            "{} bytes of error text: {:.300}",
            text.len(),
            text
        );
        assert!(text.contains("control message {2,'',#Pid<"), "{text}");
    }
    let mut flat = control.clone();
    if let Term::Tuple(fields) = &mut flat {
        fields.remove(3);
    }
    let (mut peer, name) = raw::connect(&node, &cookie);
    let rpc = node.rpc_start(&name, "m", "f", vec![]).expect("rpc_start");
    raw::send_control(&mut peer, &flat, None);
    let text = rpc.wait(T).expect_err("the connection went").to_string();
    assert!(text.contains(",16#7F5A5A5A"), "{text}");
}

/// Item 1: a peer answers `nok` (its own connection to us would win a
/// simultaneous connect) and dies without connecting. Our attempt fails
/// within the setup time and leaves nothing behind: the real node of that
/// name then connects to us (its name sorts first, so a stale attempt of
/// ours would answer it `nok` too) and we to it.
#[test]
fn a_peer_that_answers_nok_and_dies_cuts_nobody_off() {
    let mut peer = BeamPeer::start();
    // Our name sorts after the peer's (`erldp_t_...`).
    let node = Node::builder(random_name("zz"))
        .cookie(peer.cookie())
        .setup_timeout(Duration::from_secs(2))
        .start()
        .expect("node");
    let liar = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let liar_addr = liar.local_addr().expect("address");
    let answered = thread::spawn(move || {
        let (mut stream, _) = liar.accept().expect("our connect");
        raw::recv(&mut stream);
        raw::send(&mut stream, b"snok");
    });
    let err = node
        .connect_to(peer.node(), liar_addr)
        .expect_err("nobody connects to us");
    answered.join().expect("the liar answered");
    assert!(err.to_string().contains("simultaneous connect"), "{err}");

    let us = node.name();
    assert!(peer.ping(us));
    assert_eq!(node.nodes(), vec![Atom::new(peer.node())]);
    let (alive, host) = peer.node().split_once('@').expect("name@host");
    let port = erldp::epmd::port_please(host, 4369, alive, T)
        .expect("the peer in EPMD")
        .port;
    node.connect_to(peer.node(), ("127.0.0.1", port))
        .expect("the real peer");
    assert_rpc_answers(&node, peer.node(), "over the real peer's connection");
}

/// Item 2: a peer that sends its name message a byte at a time, each well
/// within the setup time of the one before, is still cut off once the
/// handshake has taken the setup time in all.
#[test]
fn a_handshake_that_drips_is_cut_off_at_the_setup_time() {
    let (mut beam, node) = peer_and_node_with(|node| node.setup_timeout(Duration::from_secs(1)));
    let mut dripper = raw::connection(&node);
    let name = format!("{}@{}", "d".repeat(200), node.host());
    let framed = raw::framed(&raw::name_message(
        erldp::flags::SUPPORTED,
        raw::CREATION,
        &name,
    ));
    // Twenty times the setup time: a per-read timeout never fires.
    let mut cut_off = false;
    for byte in framed.iter().take(100) {
        if dripper.write_all(&[*byte]).is_err()
            || raw::closed_by_node(&mut dripper, Duration::from_millis(200))
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a handshake dripping for 20 s was still open");
    let us = node.name();
    assert!(beam.ping(us));
}

/// Item 2: past `max_pending_handshakes` handshakes under way, a new
/// connection is closed at once; when they are gone, peers connect again.
#[test]
fn pending_handshakes_are_bounded() {
    let (mut beam, node) = peer_and_node_with(|node| {
        node.setup_timeout(Duration::from_secs(120))
            .max_pending_handshakes(8)
    });
    let mut silent: Vec<TcpStream> = (0..8)
        .map(|_| raw::start_handshake(&node, &format!("{}@{}", random_name("silent"), node.host())))
        .collect();
    // Each has its handshake thread once the node answers its name message.
    for stream in &mut silent {
        assert_eq!(raw::recv(stream), b"sok");
    }
    let mut ninth = raw::connection(&node);
    assert!(
        raw::closed_by_node(&mut ninth, T),
        "a ninth handshake was let in while eight were under way"
    );
    let us = node.name();
    assert!(!beam.ping(us));
    drop(silent);
    let pong = beam.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> net_adm:ping('{us}') =:= pong end, 30000)."
    ));
    assert_eq!(
        pong, "true",
        "no handshake let in after the silent ones went"
    );
}

/// Item 2: someone without the cookie sends the name of a node we know and
/// then says nothing more. That node's connects to us and ours to it go
/// through meanwhile.
#[test]
fn a_name_squatter_without_the_cookie_blocks_nothing() {
    let (mut beam, node) = peer_and_node_with(|node| node.setup_timeout(Duration::from_secs(60)));
    let us = node.name();
    assert!(node.ping(beam.node()), "the name becomes known");
    beam.eval_ok(&format!("true = erlang:disconnect_node('{us}')."));
    eventually("our node to see the disconnect", || node.nodes().is_empty());

    let mut squatter = raw::start_handshake(&node, beam.node());
    assert_eq!(raw::recv(&mut squatter), b"sok");
    assert_eq!(raw::recv(&mut squatter)[0], b'N', "the challenge");

    assert!(beam.ping(us));
    beam.eval_ok(&format!("true = erlang:disconnect_node('{us}')."));
    // An rpc made before we have seen the disconnect would go down with it.
    eventually("our node to see the second disconnect", || {
        node.nodes().is_empty()
    });
    assert_rpc_answers(&node, beam.node(), "while the squatter waits");
    drop(squatter);
}

/// A BEAM peer, our node and its cookie, our mailbox `inbox`, and the pid of
/// a BEAM process `victim`: what the forgery tests forge signals about.
fn forgery_target() -> (BeamPeer, Node, String, erldp::Mailbox, erldp::Pid) {
    let (mut beam, node) = peer_and_node();
    let cookie = beam.cookie().to_string();
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let real = collector(&mut beam, "victim", &inbox);
    (beam, node, cookie, inbox, real)
}

/// Sends `control` from a new raw peer, and checks that the node cuts that
/// peer off for it.
fn forge(node: &Node, cookie: &str, what: &str, control: &Term) {
    let (mut forger, name) = raw::connect(node, cookie);
    raw::send_control(&mut forger, control, None);
    assert!(
        raw::closed_by_node(&mut forger, T),
        "{what}: the forger kept its connection"
    );
    assert!(
        !node.nodes().contains(&Atom::new(&name)),
        "{what}: still listed"
    );
}

/// The next message of `inbox`, which must be a signal of `kind` with the
/// reason `real_reason`: the real one, which forged ones did not stand for.
fn the_real(inbox: &erldp::Mailbox, kind: erldp::MessageKind) -> erldp::Message {
    let signal = inbox
        .recv_timeout(T)
        .expect("receive")
        .expect("the real signal");
    assert_eq!(signal.kind, kind, "{}", signal.term);
    assert_eq!(signal.reason, Some(Term::atom("real_reason")));
    signal
}

/// Item 4: signals that claim to come from a process of another node
/// (here a real BEAM node's) cost the peer that forges them its
/// connection, and do nothing: our link to that process stands, and its
/// real exit arrives.
#[test]
fn forged_signals_cost_the_forger_its_connection() {
    let (mut beam, node, cookie, inbox, real) = forgery_target();
    inbox.link(real).expect("link to the BEAM process");
    // The LINK has reached the peer once a ping over the same connection is answered.
    assert!(node.ping(beam.node()));
    let ghost = erldp::Pid {
        node: Atom::new(&format!("ghost@{}", node.host())),
        id: 77,
        serial: 0,
        creation: 1,
    };
    let to: Term = inbox.pid().into();
    // EXIT (3) and EXIT2 (8) share their fields: {Op, From, To, Reason}.
    let forged_exit = |op: i64| {
        Term::tuple(vec![
            op.into(),
            real.into(),
            to.clone(),
            Term::atom("forged"),
        ])
    };
    let forgeries = [
        ("EXIT", forged_exit(3)),
        ("EXIT2", forged_exit(8)),
        (
            "LINK",
            Term::tuple(vec![1.into(), ghost.into(), to.clone()]),
        ),
        (
            "MONITOR_P",
            Term::tuple(vec![
                19.into(),
                ghost.into(),
                to.clone(),
                erldp::Ref::new(ghost.node, 1, &[1, 2, 3])
                    .expect("ref")
                    .into(),
            ]),
        ),
        (
            "UNLINK_ID",
            Term::tuple(vec![35.into(), 9.into(), real.into(), to.clone()]),
        ),
    ];
    for (what, control) in forgeries {
        forge(&node, &cookie, what, &control);
    }
    // A SEND_SENDER whose sender is the real process: not delivered.
    let (mut forger, _) = raw::connect(&node, &cookie);
    let send = Term::tuple(vec![22.into(), real.into(), to.clone()]);
    raw::send_control(&mut forger, &send, Some(&Term::atom("forged_message")));
    assert!(
        raw::closed_by_node(&mut forger, T),
        "SEND_SENDER: the forger kept its connection"
    );

    beam.eval_ok("exit(whereis(victim), real_reason).");
    let exit = the_real(&inbox, erldp::MessageKind::Exit);
    assert_eq!(exit.from, Some(real));
    assert!(inbox.try_recv().expect("receive").is_none());
}

/// Item 4: a peer cannot answer for another. Our references are no secret (a peer sees them
/// in what we send it), yet a `MONITOR_P_EXIT` for a monitor of ours on another node costs the
/// forger its connection and fires nothing, whether the monitor is a mailbox's or the one a
/// call to that node waits on; and a `MONITOR_P` with a reference of another node's, which
/// would take over that node's monitor of our process, costs the peer its connection too.
#[test]
fn a_peer_cannot_answer_for_another() {
    let (mut beam, node, cookie, inbox, real) = forgery_target();
    let monitor = inbox.monitor(&erldp::Dest::Pid(real)).expect("monitor");
    // The MONITOR_P has reached the peer once a ping over the same connection is answered.
    assert!(node.ping(beam.node()));
    let us = node.name();
    beam.eval_ok(&format!(
        "register(silent, spawn(fun() -> \
           receive {{'$gen_call', {{_, Tag}}, _}} -> {{inbox, '{us}'}} ! {{tag, Tag}} end, \
           receive stop -> exit(stopped) end end)), ok."
    ));
    let call = {
        let (node, dest) = (node.clone(), erldp::Dest::name("silent", beam.node()));
        thread::spawn(move || node.call(&dest, Term::atom("hello"), T))
    };
    let tag = next(&inbox);
    // A plain reference, or `[alias | Ref]` (OTP 24+).
    let call_ref = match tag.as_tuple() {
        Some([_, Term::Ref(reference)]) => *reference,
        Some([_, Term::ImproperList(_, tail)]) => match &**tail {
            Term::Ref(reference) => *reference,
            other => panic!("a call tag ending in {other}"),
        },
        _ => panic!("a call tag of {tag}"),
    };

    let forged_down = |from: Term, to: Term, reference: erldp::Ref| {
        // MONITOR_P_EXIT: {21, FromProc, ToProc, Ref, Reason}.
        Term::tuple(vec![
            21.into(),
            from,
            to,
            reference.into(),
            Term::atom("forged"),
        ])
    };
    let forgeries = [
        (
            "a mailbox's monitor",
            forged_down(real.into(), inbox.pid().into(), monitor),
        ),
        (
            "a call's monitor",
            forged_down(Term::atom("silent"), node.pid().into(), call_ref),
        ),
    ];
    for (what, control) in forgeries {
        forge(&node, &cookie, what, &control);
    }
    let (mut usurper, name) = raw::connect(&node, &cookie);
    let own = raw::pid(&name, 9);
    let theirs = erldp::Ref::new(Atom::new(beam.node()), 1, &[1, 2, 3]).expect("ref");
    raw::send_control(
        &mut usurper,
        &raw::signal(19, own, inbox.pid(), theirs.into()),
        None,
    );
    assert!(
        raw::closed_by_node(&mut usurper, T),
        "MONITOR_P with another node's reference: the peer kept its connection"
    );

    assert!(
        inbox.try_recv().expect("receive").is_none(),
        "a forged DOWN arrived"
    );
    assert!(!call.is_finished(), "the call ended on a forged DOWN");
    beam.eval_ok("exit(whereis(victim), real_reason), silent ! stop, ok.");
    the_real(&inbox, erldp::MessageKind::Down);
    let err = call
        .join()
        .expect("the caller")
        .expect_err("the server exited");
    assert!(err.to_string().contains("stopped"), "{err}");
}

/// Item 6: messages arriving in fragments are bounded in number, and one
/// announcing more fragments than the largest message could have is
/// refused at once. A real peer's fragmented message still arrives.
#[test]
fn fragmented_messages_in_flight_are_bounded() {
    let mut beam = BeamPeer::start();
    let cookie = beam.cookie().to_string();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .max_fragmented_messages(16)
        .start()
        .expect("node");
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");

    // Sixteen unfinished messages are fine; the seventeenth is not.
    let (mut peer, name) = raw::connect(&node, &cookie);
    for sequence in 0..16u64 {
        raw::send_first_fragment(&mut peer, sequence, 2, 255);
    }
    let rpc = node.rpc(&name, "erlang", "node", vec![], Duration::from_millis(1));
    assert!(matches!(rpc, Err(Error::Timeout { .. })), "{rpc:?}");
    assert!(node.nodes().contains(&Atom::new(&name)), "dropped at 16");
    raw::send_first_fragment(&mut peer, 16, 2, 255);
    assert!(
        raw::closed_by_node(&mut peer, T),
        "17 unfinished messages were let in"
    );

    let (mut peer, _) = raw::connect(&node, &cookie);
    raw::send_first_fragment(&mut peer, 1, u64::MAX, 0);
    assert!(
        raw::closed_by_node(&mut peer, T),
        "u64::MAX fragments were let in"
    );

    // OTP fragments messages larger than 64 KiB.
    let us = node.name();
    beam.eval_ok(&format!(
        "[{{inbox, '{us}'}} ! binary:copy(<<I>>, 1000000) || I <- lists:seq(1, 20)], ok."
    ));
    for i in 1..=20u8 {
        let message = next(&inbox);
        assert_eq!(
            message.as_binary().map(|b| (b.len(), b[0])),
            Some((1_000_000, i))
        );
    }
}

/// Item 9: an rpc's timeout bounds connecting too. The peer here is a
/// stopped BEAM node: its kernel accepts the connection, and nothing
/// answers the handshake.
#[test]
fn an_rpc_timeout_bounds_connecting() {
    let (mut beam, node) = peer_and_node_with(|node| node.setup_timeout(Duration::from_secs(600)));
    beam.pause();
    let (done, result) = std::sync::mpsc::channel();
    {
        let (node, peer) = (node.clone(), beam.node().to_string());
        thread::spawn(move || {
            let _ = done.send(node.rpc(&peer, "erlang", "node", vec![], Duration::from_secs(1)));
        });
    }
    let rpc = result
        .recv_timeout(Duration::from_secs(120))
        .expect("an rpc with a 1 s timeout returned within 120 s");
    beam.resume();
    assert!(matches!(rpc, Err(Error::Timeout { .. })), "{rpc:?}");
    // The attempt goes on, and the connection serves the next call.
    assert_rpc_answers(&node, beam.node(), "after the peer woke");
}

/// Item 9: a send to a peer that takes nothing waits for room only up to
/// the send timeout, then fails; what was queued goes out once the peer
/// reads again.
#[test]
fn a_send_to_a_peer_that_reads_nothing_times_out() {
    let (mut beam, node) = peer_and_node_with(|node| {
        node.net_ticktime(Duration::from_secs(600))
            .send_timeout(Duration::from_secs(1))
    });
    beam.eval_ok("erldp_test:collect(sink).");
    assert!(node.ping(beam.node()));
    beam.pause();
    let (done, result) = std::sync::mpsc::channel();
    {
        let (node, peer) = (node.clone(), beam.node().to_string());
        thread::spawn(move || {
            let sink = erldp::Dest::name("sink", &peer);
            let chunk = Term::binary(vec![7; 1 << 20]);
            let mut sent = 0;
            let failure = loop {
                match node.send(&sink, chunk.clone()) {
                    Ok(()) => sent += 1,
                    Err(err) => break Some(err),
                }
                // 1 GiB went to a stopped peer.
                if sent == 1024 {
                    break None;
                }
            };
            let _ = done.send((sent, failure));
        });
    }
    let (sent, failure) = result
        .recv_timeout(Duration::from_secs(120))
        .expect("sends to a stopped peer returned within 120 s");
    beam.resume();
    let failure = failure.expect("a send failed");
    assert!(
        matches!(failure, Error::Timeout { .. }),
        "after {sent} MiB: {failure}"
    );
    assert!(failure.to_string().contains("send_timeout"), "{failure}");
    let count = beam.eval_ok(&format!(
        "length(erldp_test:collected(sink, {sent}, 60000))."
    ));
    assert_eq!(count, sent.to_string(), "what was queued arrived");
}

/// Item 9: a peer that keeps asking for answers and reads nothing is
/// answered without the thread that reads from it waiting for room,
/// however long sends may wait; once it leaves the send queue limit unread,
/// and as much again of answers, it loses its connection. The asking is
/// `UNLINK_ID`s (each owed an `UNLINK_ID_ACK`) or pings (`net_kernel`'s
/// `is_auth` calls, each owed a reply). A real peer is served on.
#[test]
fn a_peer_that_asks_and_reads_nothing_loses_its_connection() {
    let (beam, node) = peer_and_node_with(|node| {
        node.send_queue_limit(1 << 20)
            .send_timeout(Duration::from_secs(3600))
    });
    let inbox = node.mailbox(None).expect("mailbox");
    for asking in ["UNLINK_ID", "ping"] {
        let (asker, name) = raw::connect_unread(&node, beam.cookie());
        let from = erldp::Pid {
            node: Atom::new(&name),
            id: 1,
            serial: 0,
            creation: raw::CREATION,
        };
        let frame = if asking == "UNLINK_ID" {
            let unlink = Term::tuple(vec![35.into(), 9.into(), from.into(), inbox.pid().into()]);
            raw::control_frame(&unlink, None)
        } else {
            let reg_send = Term::tuple(vec![
                6.into(),
                from.into(),
                Term::atom(""),
                Term::atom("net_kernel"),
            ]);
            let tag = erldp::Ref::new(from.node, raw::CREATION, &[1, 2, 3]).expect("ref");
            let is_auth = Term::tuple(vec![
                Term::atom("$gen_call"),
                Term::tuple(vec![from.into(), tag.into()]),
                Term::tuple(vec![Term::atom("is_auth"), Term::Atom(from.node)]),
            ]);
            raw::control_frame(&reg_send, Some(&is_auth))
        };
        let batch = raw::length_prefixed(&frame).repeat(1000);
        let (done, outcome) = std::sync::mpsc::channel();
        let mut writer = asker.try_clone().expect("clone");
        thread::spawn(move || {
            let mut sent = 0usize;
            let cut_off = loop {
                if writer.write_all(&batch).is_err() {
                    break true;
                }
                sent += batch.len();
                if sent >= 1 << 30 {
                    break false;
                }
            };
            let _ = done.send((cut_off, sent));
        });
        let (cut_off, sent) = outcome
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| {
                panic!("{asking}: the asker was neither cut off nor took 1 GiB of asking in 300 s")
            });
        assert!(
            cut_off,
            "{asking}: the asker kept its connection through {sent} bytes"
        );
        eventually("the asker to be gone", || {
            !node.nodes().contains(&Atom::new(&name))
        });
        drop(asker);
    }
    assert_rpc_answers(&node, beam.node(), "after the askers were cut off");
}

/// Item 9: links and monitors one peer holds on our processes are
/// bounded; past the bound the peer loses its connection (and with it
/// everything it held), and then starts again from nothing.
#[test]
fn links_and_monitors_per_peer_are_bounded() {
    let (mut beam, node) = peer_and_node_with(|node| node.max_monitors_per_peer(1000));
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    // Each command runs in a process of its own, whose monitors go when
    // it ends: a ping behind them shows whether the connection stood.
    let watch = |inbox: usize, rex: usize| {
        format!(
            "erlang:monitor_node('{us}', true), \
             [erlang:monitor(process, {{inbox, '{us}'}}) || _ <- lists:seq(1, {inbox})], \
             [erlang:monitor(process, {{rex, '{us}'}}) || _ <- lists:seq(1, {rex})], \
             receive {{nodedown, '{us}'}} -> dropped \
             after case net_adm:ping('{us}') of pong -> 0; pang -> 20000 end -> kept end."
        )
    };
    assert_eq!(beam.eval_ok(&watch(999, 0)), "kept");
    assert_eq!(beam.eval_ok(&watch(600, 401)), "dropped", "rex counts too");
    assert_eq!(beam.eval_ok(&watch(999, 0)), "kept", "after reconnecting");
    beam.eval_ok("erldp_test:collect(pids).");
    node.send(&erldp::Dest::name("pids", beam.node()), inbox.pid().into())
        .expect("send");
    beam.eval_ok("[Inbox] = erldp_test:collected(pids, 1, 30000).");
    let link = format!(
        "erlang:monitor_node('{us}', true), \
         Self = self(), \
         [spawn(fun() -> link(Inbox), Self ! linked, receive stop -> ok end end) \
          || _ <- lists:seq(1, 1001)], \
         [receive linked -> ok end || _ <- lists:seq(1, 1001)], \
         receive {{nodedown, '{us}'}} -> dropped \
         after case net_adm:ping('{us}') of pong -> 0; pang -> 20000 end -> kept end."
    );
    assert_eq!(beam.eval_ok(&link), "dropped", "links count");
}

/// Item 9, for processes a peer spawns on our node (`spawn_monitor/4`,
/// `erpc`): the monitor and link a spawn request asks for count against
/// the bound before the process starts, as the peer's own monitors do;
/// past it the peer loses its connection, and the process never runs.
#[test]
fn monitored_spawns_count_against_the_bound_before_they_start() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut beam = BeamPeer::start();
    let node = builder_for(&beam)
        .max_monitors_per_peer(2)
        // A visible node would have global and pg on the peer monitor it
        // too, at times of their own.
        .hidden(true)
        .start()
        .expect("node");
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let started = Arc::new(AtomicUsize::new(0));
    let _slow = {
        let started = Arc::clone(&started);
        node.expose_with(
            "slow",
            erldp::ServeOptions::default().concurrency(3),
            move |_| {
                started.fetch_add(1, Ordering::SeqCst);
                // Runs until the test ends (the sender goes), holding the
                // process and its monitor.
                let _ = released.lock().unwrap().recv_timeout(T);
                Ok(Term::atom("done"))
            },
        )
        .expect("expose")
    };
    let us = node.name();
    assert!(node.ping(beam.node()));
    beam.eval_ok(&format!(
        "[spawn_monitor('{us}', slow, wait, []) || _ <- [1, 2, 3]], ok."
    ));
    // Either the third spawn ran (its monitor over the bound) or the
    // peer lost its connection.
    let peer = Atom::new(beam.node());
    eventually("the third spawn to run or the peer to go", || {
        started.load(Ordering::SeqCst) >= 3 || !node.nodes().contains(&peer)
    });
    drop(release);
    assert!(
        !node.nodes().contains(&peer),
        "three monitored spawns ran within a bound of two"
    );
    assert!(started.load(Ordering::SeqCst) <= 2);
}

/// Item 9, from our side: a link of ours counts against the peer until it
/// is undone, and one whose unlink the peer has not acknowledged yet when
/// our process closes is released by the close (the acknowledgement finds
/// no process then). Else each such close would leave one behind, until a
/// well-behaved peer lost its connection for links nobody holds.
#[test]
fn links_being_undone_when_our_process_closes_are_released() {
    let (mut beam, node) = peer_and_node_with(|node| node.max_monitors_per_peer(3));
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    // A suspended process handles no signals: our unlinks stay
    // unacknowledged until it resumes, after our processes closed.
    beam.eval_ok(&format!(
        "register(keeper, spawn(fun() -> \
             P = spawn(fun() -> receive stop -> ok end end), erlang:suspend_process(P), \
             {{inbox, '{us}'}} ! P, \
             receive resume -> erlang:resume_process(P), P ! stop end end)), ok."
    ));
    let suspended = next(&inbox).as_pid().expect("a pid");
    for _ in 0..3 {
        let mailbox = node.mailbox(None).expect("mailbox");
        mailbox.link(suspended).expect("link");
        mailbox.unlink(suspended).expect("unlink");
        mailbox.close(Term::atom("normal"));
    }
    beam.eval_ok("keeper ! resume, ok.");
    // Three monitors fit the bound; the message behind them shows the
    // connection stood.
    beam.eval_ok(&format!(
        "[erlang:monitor(process, {{inbox, '{us}'}}) || _ <- [1, 2, 3]], \
         {{inbox, '{us}'}} ! monitored, ok."
    ));
    assert_eq!(next(&inbox), Term::atom("monitored"));
}

/// Item 13: a mailbox's queue limit drops the messages that arrive while
/// it is full and counts them; signals still arrive.
#[test]
fn a_mailbox_queue_limit_drops_messages_not_signals() {
    let (mut beam, node, inbox) = peer_node_inbox();
    inbox.set_queue_limit(Some(100));
    assert_eq!(inbox.queue_limit(), Some(100));
    beam.eval_ok("erldp_test:collect(target).");
    let target = {
        let probe = node.mailbox(Some("probe")).expect("mailbox");
        beam.eval_ok(&format!(
            "{{probe, '{}'}} ! whereis(target), ok.",
            node.name()
        ));
        next(&probe).as_pid().expect("pid")
    };
    let monitor = inbox.monitor(&erldp::Dest::Pid(target)).expect("monitor");
    let us = node.name();
    beam.eval_ok(&format!(
        "[{{inbox, '{us}'}} ! I || I <- lists:seq(1, 1000)], pong = net_adm:ping('{us}'), \
         exit(whereis(target), kill), ok."
    ));
    let deadline = std::time::Instant::now() + T;
    while inbox.len() < 101 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} queued",
            inbox.len()
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!((inbox.len(), inbox.dropped()), (101, 900));
    for i in 1..=100 {
        assert_eq!(next(&inbox), Term::from(i));
    }
    let down = inbox.recv_timeout(T).expect("receive").expect("the DOWN");
    assert_eq!(down.reference, Some(monitor));
    inbox.set_queue_limit(None);
    beam.eval_ok(&format!(
        "[{{inbox, '{us}'}} ! I || I <- lists:seq(1, 300)], ok."
    ));
    for i in 1..=300 {
        assert_eq!(next(&inbox), Term::from(i));
    }
    assert_eq!(inbox.dropped(), 900);
}

/// Item 13: exit signals sent with `exit/2` are not asked for, as those of
/// links and monitors are, and nothing else bounds their number: past a
/// mailbox's queue limit they are dropped and counted as messages are. A
/// link's exit still arrives past it.
#[test]
fn exit_signals_nobody_asked_for_count_against_the_queue_limit() {
    let (mut beam, node, inbox) = peer_node_inbox();
    inbox.set_queue_limit(Some(100));
    let (mut stream, name) = raw::connect(&node, beam.cookie());
    let sender = raw::pid(&name, 5);
    for i in 0..1000 {
        let reason = Term::tuple(vec![Term::atom("flood"), i.into()]);
        raw::send_control(
            &mut stream,
            &raw::signal(8, sender, inbox.pid(), reason),
            None,
        );
    }
    eventually("1000 exit signals handled", || {
        inbox.len() + inbox.dropped() as usize == 1000
    });
    assert_eq!((inbox.len(), inbox.dropped()), (100, 900));
    // The collector's pid comes as a message: to another mailbox than the full one.
    let probe = node.mailbox(Some("probe")).expect("mailbox");
    let linked = collector(&mut beam, "linked", &probe);
    inbox.link(linked).expect("link");
    // The LINK goes over the connection, the exit below over the peer's
    // shell: a ping's answer on the connection means the LINK is there.
    assert!(node.ping(beam.node()));
    beam.eval_ok("exit(whereis(linked), linked_reason).");
    eventually("the link's exit queued", || inbox.len() == 101);
    for i in 0..100 {
        let exit = inbox.recv_timeout(T).expect("receive").expect("an exit");
        assert_eq!(
            exit.reason,
            Some(Term::tuple(vec![Term::atom("flood"), i.into()]))
        );
    }
    let exit = inbox
        .recv_timeout(T)
        .expect("receive")
        .expect("the link's exit");
    assert_eq!(exit.reason, Some(Term::atom("linked_reason")));
}

/// Serving: a peer flooding a served name with calls, or an exposed module
/// with erpc calls (spawn requests), gets `ServeOptions::max_queue` of them
/// queued behind the one running and the rest refused at once with
/// `overload`; the node holds no more, and serves on once the handler is
/// free.
#[test]
fn calls_and_spawn_requests_past_max_queue_are_refused() {
    let (mut beam, node) = peer_and_node();
    let us = node.name();
    let (gate, hold) = gate();
    let _served = {
        let hold = hold.clone();
        node.serve_with("gate", erldp::ServeOptions::new().max_queue(3), move |_| {
            hold.hold();
            Ok(erldp::serve::Reply::Value(Term::atom("served")))
        })
        .expect("serve")
    };
    let _exposed = node
        .expose_with(
            "gated",
            erldp::ServeOptions::new().concurrency(1).max_queue(3),
            move |_| {
                hold.hold();
                Ok(Term::atom("exposed"))
            },
        )
        .expect("expose");
    for (first, flood) in [
        (
            format!("gen_server:call({{gate, '{us}'}}, first, infinity)"),
            format!("gen_server:call({{gate, '{us}'}}, more, infinity)"),
        ),
        (
            format!("erpc:call('{us}', gated, run, [], infinity)"),
            format!("erpc:call('{us}', gated, run, [], infinity)"),
        ),
    ] {
        // One request runs and holds the handler; ten more come while it does.
        beam.eval_ok(&format!(
            "erldp_test:collect(answers), spawn(fun() -> answers ! (catch {first}) end), ok."
        ));
        gate.started("the first request");
        beam.eval_ok(&format!(
            "[spawn(fun() -> answers ! (catch {flood}) end) || _ <- lists:seq(1, 10)], ok."
        ));
        // Seven are refused while the handler is still held: nothing else
        // can answer yet.
        let refused = beam.eval_ok("length([R || R <- erldp_test:collected(answers, 7, 30000), string:find(io_lib:format(\"~p\", [R]), \"overload\") =/= nomatch]).");
        assert_eq!(refused, "7", "{first}");
        for _ in 0..4 {
            gate.release();
        }
        for _ in 0..3 {
            gate.started("a queued request");
        }
        let served = beam.eval_ok(
            "length([R || R <- erldp_test:collected(answers, 11, 30000), \
             R =:= served orelse R =:= exposed]).",
        );
        assert_eq!(
            served, "4",
            "the running one and the three queued are answered"
        );
    }
}

/// What a peer sends global and pg waits for the one thread that handles
/// them, which the peer can outrun. Past `max_queued_per_peer` messages not
/// handled yet it loses its connection; the node and its pg go on. The
/// driver is kept busy for certain: the raw peer syncs 200,000 groups into
/// our pg scope, and the two joins behind that sync in the same write are
/// decoded long before the driver is through with it: three, over two.
#[test]
fn messages_a_peer_queues_for_global_and_pg_are_bounded() {
    queued_past_the_bound_cuts_the_peer_off(|peer_scope, _| {
        ["g1", "g2"]
            .map(|group| {
                let join = Term::tuple(vec![
                    Term::atom("join"),
                    peer_scope.clone(),
                    Term::atom(group),
                    Term::list(vec![peer_scope.clone()]),
                ]);
                (reg_send_to_pg(peer_scope), Some(join))
            })
            .to_vec()
    });
}

/// `exit/2` signals aimed at our pg process count as what a peer queued for
/// it too (the driver ignores them, as BEAM's pg, trapping exits, does): a
/// flood of them is bounded like one of messages.
#[test]
fn exit_signals_a_peer_queues_for_pg_are_bounded() {
    queued_past_the_bound_cuts_the_peer_off(|peer_scope, our_pg| {
        (0..2)
            .map(|_| {
                let exit2 = Term::tuple(vec![
                    8.into(),
                    peer_scope.clone(),
                    our_pg.clone(),
                    Term::atom("flood"),
                ]);
                (exit2, None)
            })
            .collect()
    });
}

/// A node that neither ticks a silent peer away nor gives up a send for 10
/// minutes: what a peer that reads nothing costs is then what its bound
/// says, not a timeout.
fn patient(node: erldp::NodeBuilder) -> erldp::NodeBuilder {
    node.net_ticktime(Duration::from_secs(600))
        .send_timeout(Duration::from_secs(600))
}

/// Checks that the node cut the raw peer `name` off and closed its socket.
fn assert_cut_off(node: &Node, stream: &mut TcpStream, name: &str) {
    eventually(&format!("{name} cut off"), || {
        !node.nodes().iter().any(|peer| peer.as_str() == name)
    });
    assert!(raw::closed_by_node(stream, T), "the socket closed");
}

/// The control message of a `REG_SEND` from `from` to our `pg`.
fn reg_send_to_pg(from: &Term) -> Term {
    Term::tuple(vec![
        6.into(),
        from.clone(),
        Term::atom(""),
        Term::atom("pg"),
    ])
}

/// Keeps our pg's driver busy with a large sync from a raw peer (see
/// `messages_a_peer_queues_for_global_and_pg_are_bounded`), writes what
/// `more` gives (control and message, given the peer's scope pid and our pg
/// process) behind it in the same write, with a bound of 2, and checks that
/// the peer is cut off and the rest goes on.
fn queued_past_the_bound_cuts_the_peer_off(
    more: impl Fn(&Term, &Term) -> Vec<(Term, Option<Term>)>,
) {
    let limits = erldp::ClusterLimits {
        max_queued_per_peer: 2,
        ..erldp::ClusterLimits::default()
    };
    let (beam, node) = peer_and_node_with(|node| patient(node.cluster_limits(limits)));
    let member = node.mailbox(None).expect("mailbox");
    member.join("pg", Term::atom("ours")).expect("join");
    let our_pg: Term = node.whereis("pg").expect("our pg scope").into();
    let (mut stream, name) = raw::handshake(&node, beam.cookie(), erldp::flags::SUPPORTED);
    eventually(&format!("{name} is up"), || {
        node.nodes().iter().any(|peer| peer.as_str() == name)
    });
    let peer_scope: Term = raw::pid(&name, 40).into();
    let groups = (0..200_000)
        .map(|i| {
            Term::tuple(vec![
                Term::tuple(vec![Term::atom("g"), i.into()]),
                Term::list(vec![peer_scope.clone()]),
            ])
        })
        .collect();
    let sync = Term::tuple(vec![
        Term::atom("$gen_cast"),
        Term::tuple(vec![
            Term::atom("sync"),
            peer_scope.clone(),
            Term::list(groups),
        ]),
    ]);
    let mut signals = vec![(reg_send_to_pg(&peer_scope), Some(sync))];
    signals.extend(more(&peer_scope, &our_pg));
    let mut bytes = Vec::new();
    for (control, message) in &signals {
        let mut frame = vec![131, 68, 0];
        frame.extend_from_slice(&erldp::term::encode(control).expect("control")[1..]);
        if let Some(message) = message {
            frame.extend_from_slice(&erldp::term::encode(message).expect("message")[1..]);
        }
        bytes.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&frame);
    }
    stream.write_all(&bytes).expect("one write");
    assert_cut_off(&node, &mut stream, &name);
    assert_eq!(
        node.members("pg", &Term::atom("ours")).expect("pg answers"),
        vec![member.pid()],
        "the driver went on"
    );
    assert!(node.ping(beam.node()), "another peer is served");
}

/// global's and pg's one thread never waits to send: a peer that discovers
/// our pg scope again and again and reads nothing loses its connection once
/// it leaves too much unread (each answer is a sync of 48 groups named by
/// 1 MiB binaries), and meanwhile the thread goes on serving the rest. Were
/// the answers sends that wait for room, the thread would wait on that peer
/// for the send timeout, 10 minutes here, at each one.
#[test]
fn a_peer_that_discovers_and_reads_nothing_stalls_no_one() {
    let (mut beam, node) = peer_and_node_with(patient);
    let member = node.mailbox(None).expect("mailbox");
    for i in 0..48u8 {
        member
            .join("pg", Term::binary(vec![i; 1 << 20]))
            .expect("join");
    }
    let (mut stream, name) = raw::connect_unread(&node, beam.cookie());
    let peer_scope: Term = raw::pid(&name, 40).into();
    let discover = Term::tuple(vec![Term::atom("discover"), peer_scope.clone()]);
    // Three answers past the limit cut the peer off; the writer may take one
    // or two before that into a batch it then cannot write (48 MiB do not
    // fit in the socket), and the count starts again: eight are enough.
    for _ in 0..8 {
        raw::send_control(&mut stream, &reg_send_to_pg(&peer_scope), Some(&discover));
    }
    assert_cut_off(&node, &mut stream, &name);

    beam.eval_ok(
        "case pg:start(pg) of {ok, _} -> ok; {error, {already_started, _}} -> ok end, \
         register(joiner, spawn(fun() -> pg:join(pg, theirs, self()), receive stop -> ok end end)), \
         ok.",
    );
    assert!(node.ping(beam.node()), "ping");
    eventually("the BEAM member here", || {
        node.members("pg", &Term::atom("theirs"))
            .is_ok_and(|members| members.len() == 1)
    });
}

/// A real pg that joins one process to 80,000 groups, one message each, as
/// fast as it can, stays connected under the default bound (65,536 not
/// handled yet): the driver keeps up, and each message is uncounted once
/// handled (were they not, the 65,537th would cut the peer off).
#[test]
fn a_busy_beam_pg_stays_within_the_default_bound() {
    for otp in erldp_testkit::Otp::available() {
        let mut beam = BeamPeer::builder().otp(otp.clone()).start();
        let node = common::builder_for(&beam).start().expect("node");
        let label = format!("{otp}");
        beam.eval_ok(
            "case pg:start(pg) of {ok, _} -> ok; {error, {already_started, _}} -> ok end.",
        );
        let ready = node.mailbox(None).expect("mailbox");
        ready.join("pg", Term::atom("ready")).expect("join");
        assert!(node.ping(beam.node()), "{label}: ping");
        // Our member reaches the BEAM's pg once each scope knows the other:
        // from then on its joins come to us one message each.
        beam.eval_ok(
            "W = fun W() -> case pg:get_members(pg, ready) of \
                 [] -> timer:sleep(10), W(); _ -> ok end end, W().",
        );
        beam.eval_ok(
            "Self = self(), \
             spawn(fun() -> \
                 [pg:join(pg, {g, I}, self()) || I <- lists:seq(1, 80000)], \
                 Self ! joined, receive stop -> ok end end), \
             receive joined -> ok end.",
        );
        eventually(&format!("{label}: 80,000 groups here"), || {
            node.groups("pg").expect("groups").len() == 80_001
        });
        assert!(
            node.nodes().iter().any(|peer| peer.as_str() == beam.node()),
            "{label}: still connected"
        );
    }
}
