//! What the node logs, seen by a logger the program installed itself (the
//! `log` facade is global, so this binary holds one test): connects and
//! handshakes both ways with their outcome, disconnects with the reason,
//! one trace line per frame, and `erldp::logging::init` leaving the
//! program's logger alone.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use erldp::logging::{self, LevelFilter};
use erldp::{Node, Term};
use erldp_testkit::{random_name, BeamPeer};

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}

/// Waits until a record containing every one of `needles` was logged.
fn expect_record(needles: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
            if records
                .iter()
                .any(|line| needles.iter().all(|needle| line.contains(needle)))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no record with {needles:?} among:\n{}",
                records.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connections_handshakes_disconnects_and_frames_are_logged() {
    log::set_logger(&Capture).expect("the first logger of this test binary");
    log::set_max_level(LevelFilter::Trace);
    // ErlDP's own logger must not replace the program's, nor panic.
    assert!(!logging::init(LevelFilter::Info));
    assert_eq!(log::max_level(), LevelFilter::Trace);

    let mut peer = BeamPeer::start();
    let node = Node::builder(random_name("log"))
        .cookie(peer.cookie())
        .start()
        .expect("node");
    let me = node.name().to_string();
    let them = peer.node().to_string();
    expect_record(&["INFO erldp::node", &format!("node {me} started on port")]);

    let sum = node.rpc(
        &them,
        "lists",
        "sum",
        vec!["[1,2]".parse().expect("term")],
        Duration::from_secs(10),
    );
    assert_eq!(sum.expect("rpc"), Term::from(3));
    expect_record(&["DEBUG erldp::epmd", "EPMD at ", "listens on port"]);
    expect_record(&[
        "DEBUG erldp::node",
        &format!("handshake with {them} (outgoing) succeeded; flags in use 0x"),
    ]);
    expect_record(&[
        "INFO erldp::node",
        &format!("connected to {them} (outgoing, creation "),
    ]);
    expect_record(&[
        "TRACE erldp::connection",
        &format!("-> {them} SPAWN_REQUEST ("),
    ]);
    expect_record(&[
        "TRACE erldp::connection",
        &format!("<- {them} SPAWN_REPLY ("),
    ]);

    // The peer drops the connection, then connects to us.
    peer.eval_ok(&format!("erlang:disconnect_node('{me}')."));
    expect_record(&["INFO erldp::node", &format!("connection to {them} down: ")]);
    assert!(peer.ping(&me));
    expect_record(&[
        "DEBUG erldp::node",
        &format!("handshake with {them} (incoming) succeeded"),
    ]);
    expect_record(&[
        "INFO erldp::node",
        &format!("connected to {them} (incoming, creation "),
    ]);
    expect_record(&["TRACE erldp::connection", &format!("<- {them} REG_SEND (")]);

    // A wrong cookie is refused, and says so, in both directions.
    let stranger = Node::builder(random_name("log"))
        .cookie("WRONG")
        .start()
        .expect("node");
    assert!(stranger.connect(&them).is_err());
    expect_record(&[
        "WARN erldp::node",
        &format!("connecting to {them} failed: authentication with {them} failed"),
    ]);
    assert!(!peer.ping(stranger.name()));
    expect_record(&[
        "WARN erldp::node",
        &format!("connection attempt from {them} rejected: the cookie did not match"),
    ]);

    node.close();
    expect_record(&[
        "INFO erldp::node",
        &format!("connection to {them} down: the node closed"),
    ]);
    expect_record(&["INFO erldp::node", &format!("node {me} closed")]);
}
