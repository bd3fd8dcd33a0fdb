//! Hostile and faulty peers (issue 13), against real BEAM nodes: what one
//! peer sends may cost that peer its connection, never the node or the
//! other peers. Each test names the item of the issue it covers.

use std::sync::Mutex;
use std::time::Duration;

use erldp::{Atom, Mailbox, Node, Term};
use erldp_testkit::{random_name, BeamPeer};

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
