//! Closing a node waits for the threads it started — each connection's
//! reader and writer, the accept loop, the timer, the cluster driver — so that a program (a C
//! program under valgrind) can end right after: nothing of the node runs
//! on. Closing from a callback that runs on one of those threads neither
//! deadlocks nor waits for itself; a later close from outside waits for
//! what is left.
//!
//! One test in this file: the threads are counted by name in the process,
//! and another test's node would be counted too.

use std::sync::mpsc;
use std::time::Duration;

use erldp::Term;
use erldp_testkit::BeamPeer;

mod common;
use common::node_for;

const T: Duration = Duration::from_secs(30);

/// The names (as the kernel keeps them: 15 bytes) of the node threads
/// alive in this process.
fn node_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let comm = task.expect("a task").path().join("comm");
        // A thread that ended since the listing has no comm any more.
        if let Ok(name) = std::fs::read_to_string(comm) {
            let name = name.trim_end().to_string();
            if [
                "erldp-r-",
                "erldp-w-",
                "erldp-accept",
                "erldp-timer",
                "erldp-cluster",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn closing_waits_for_the_nodes_threads() {
    let mut peer = BeamPeer::start();

    // Connections both ways and a timer waiting.
    let outgoing = node_for(&peer);
    outgoing.connect(peer.node()).expect("connect");
    let incoming = node_for(&peer);
    assert!(peer.ping(incoming.name()));
    let (tx, rx) = mpsc::channel();
    outgoing
        .rpc_start(peer.node(), "timer", "sleep", vec![Term::from(60_000)])
        .expect("rpc")
        .on_complete(Duration::from_secs(600), move |result| {
            tx.send(result.is_err()).expect("send")
        });
    assert!(
        node_threads().iter().any(|name| name == "erldp-cluster"),
        "the cluster driver runs: {:?}",
        node_threads()
    );
    outgoing.close();
    incoming.close();
    assert_eq!(
        node_threads(),
        Vec::<String>::new(),
        "threads left after close"
    );
    assert!(rx.recv_timeout(T).expect("the rpc failed on close"));

    // Closed by a callback on the connection's reader thread: it cannot
    // wait for itself; closing again from here waits for it.
    let node = node_for(&peer);
    let (tx, rx) = mpsc::channel();
    let closer = node.clone();
    node.rpc_start(peer.node(), "erlang", "node", vec![])
        .expect("rpc")
        .on_complete(T, move |result| {
            closer.close();
            tx.send(result.is_ok()).expect("send");
        });
    assert!(rx.recv_timeout(T).expect("the callback closed the node"));
    assert!(node.is_closed());
    node.close();
    assert_eq!(
        node_threads(),
        Vec::<String>::new(),
        "threads left after close"
    );

    // Closed by a timeout's callback, on the timer thread.
    let node = node_for(&peer);
    let (tx, rx) = mpsc::channel();
    let closer = node.clone();
    node.rpc_start(peer.node(), "timer", "sleep", vec![Term::from(60_000)])
        .expect("rpc")
        .on_complete(Duration::from_millis(50), move |result| {
            closer.close();
            tx.send(result.is_err()).expect("send");
        });
    assert!(rx.recv_timeout(T).expect("the timeout closed the node"));
    node.close();
    assert_eq!(
        node_threads(),
        Vec::<String>::new(),
        "threads left after close"
    );
}
