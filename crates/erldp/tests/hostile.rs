//! Hostile and faulty peers (issue 13), against real BEAM nodes: what one
//! peer sends may cost that peer its connection, never the node or the
//! other peers. Each test names the item of the issue it covers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use erldp::error::TERM_TEXT_IN_ERRORS;
use erldp::{Atom, BigInt, EpmdMode, Error, Mailbox, Node, Term};
use erldp_testkit::{random_cookie, random_name, BeamPeer};

const T: Duration = Duration::from_secs(30);

/// The atom tests look at the process's atom table; one at a time.
static ATOM_TABLE: Mutex<()> = Mutex::new(());

fn node_for(peer: &BeamPeer) -> Node {
    Node::builder(random_name("rs"))
        .cookie(peer.cookie())
        .start()
        .expect("node")
}

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

fn next(inbox: &Mailbox) -> Term {
    inbox
        .recv_timeout(T)
        .expect("receive")
        .expect("a message in time")
        .term
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
    let mut peer = BeamPeer::start();
    let node = node_for(&peer);
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();
    assert_eq!(
        send_and_watch(&mut peer, us, "lists:duplicate(9000000, [])"),
        "dropped"
    );
    assert_eq!(send_and_watch(&mut peer, us, "small"), "kept");
    assert_eq!(next(&inbox), Term::atom("small"));

    let roomy = Node::builder(random_name("rs"))
        .cookie(peer.cookie())
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
    assert_eq!(
        beam.eval_ok(&format!("net_adm:ping('{}').", node.name())),
        "pang"
    );
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
    let peer = BeamPeer::start();
    let node = node_for(&peer);
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
    raw::send_control(&mut peer, &control);
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
    raw::send_control(&mut peer, &flat);
    let text = rpc.wait(T).expect_err("the connection went").to_string();
    assert!(text.contains(",16#7F5A5A5A"), "{text}");
}

/// Just enough of the protocol to play a peer that BEAM cannot be: the
/// initiator's handshake, and frames with an empty atom cache header.
mod raw {
    use super::*;
    use md5::{Digest, Md5};

    fn send(stream: &mut TcpStream, message: &[u8]) {
        let mut framed = (message.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(message);
        stream
            .write_all(&framed)
            .expect("writing a handshake message");
    }

    pub fn recv(stream: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .expect("reading a handshake message");
        let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut message)
            .expect("reading a handshake message");
        message
    }

    fn digest(challenge: u32, cookie: &str) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(cookie.as_bytes());
        md5.update(challenge.to_string().as_bytes());
        md5.finalize().into()
    }

    /// Connects to `node` as a new peer that knows the cookie; returns the
    /// socket after the handshake, and the peer's name.
    pub fn connect(node: &Node, cookie: &str) -> (TcpStream, String) {
        let name = format!("{}@{}", random_name("raw"), node.host());
        let mut stream = start_handshake(node, &name);
        assert_eq!(recv(&mut stream), b"sok");
        let challenge = recv(&mut stream);
        let theirs = u32::from_be_bytes(challenge[9..13].try_into().expect("4 bytes"));
        let mut reply = vec![b'r'];
        reply.extend_from_slice(&7u32.to_be_bytes());
        reply.extend_from_slice(&digest(theirs, cookie));
        send(&mut stream, &reply);
        assert_eq!(recv(&mut stream)[0], b'a');
        // The node takes the connection into use just after its last
        // handshake message; until then an rpc to the peer would connect anew.
        let deadline = std::time::Instant::now() + T;
        while !node.nodes().iter().any(|peer| peer.as_str() == name) {
            assert!(std::time::Instant::now() < deadline, "{name} never came up");
            thread::sleep(Duration::from_millis(10));
        }
        // Drained, so that the node never waits to write; not answered: the
        // tests end long before a tick is missed.
        let mut reader = stream.try_clone().expect("clone");
        thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
        (stream, name)
    }

    /// Connects to `node` and sends the name message with `name`.
    pub fn start_handshake(node: &Node, name: &str) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", node.port())).expect("connecting");
        let mut hello = vec![b'N'];
        hello.extend_from_slice(&erldp::flags::SUPPORTED.to_be_bytes());
        hello.extend_from_slice(&1u32.to_be_bytes());
        hello.extend_from_slice(&(name.len() as u16).to_be_bytes());
        hello.extend_from_slice(name.as_bytes());
        send(&mut stream, &hello);
        stream
    }

    pub fn send_control(stream: &mut TcpStream, control: &Term) {
        let body = erldp::term::encode(control).expect("control encodes");
        let mut frame = ((body.len() - 1 + 3) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[131, 68, 0]);
        frame.extend_from_slice(&body[1..]);
        stream.write_all(&frame).expect("writing a frame");
    }
}
