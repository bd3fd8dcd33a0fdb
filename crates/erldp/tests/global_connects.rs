//! The connects global makes to the nodes it learns of are bounded: a peer's `new_nodes` may
//! name 4,096 nodes, and each connect holds a thread for up to the setup time. Its own test
//! binary, since it counts the process's connect threads.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use erldp::Node;
use erldp_testkit::{eventually, random_name, BeamPeer};

/// The threads of this process named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn connects_to_the_nodes_a_peer_names_are_bounded() {
    // The nodes the peer names live on 127.0.0.2, whose EPMD port holds a listener that
    // never answers: each look-up waits for the whole setup time. The EPMD of the BEAM peer
    // and of our node listens on 127.0.0.1 alone.
    let silent = TcpListener::bind("127.0.0.2:0").expect("a listener on 127.0.0.2");
    let epmd_port = silent.local_addr().expect("address").port();
    let mut beam = BeamPeer::builder()
        .long_names(true)
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .start();
    let node = Node::builder(format!("{}@127.0.0.1", random_name("rs")))
        .cookie(beam.cookie())
        .hidden(false)
        .epmd_port(epmd_port)
        .max_pending_handshakes(4)
        .setup_timeout(Duration::from_secs(5))
        .start()
        .expect("node");
    assert!(node.ping(beam.node()), "ping");
    let us = node.name();
    eventually("a visible connection", || {
        beam.eval_ok("nodes().").contains(us.as_str())
    });

    let fakes: Vec<String> = (0..100).map(|i| format!("'fake{i}@127.0.0.2'")).collect();
    beam.eval_ok(&format!(
        "erlang:send({{global_name_server, {}}}, \
         {{'$gen_cast', {{new_nodes, node(), [], [], [{}], []}}}}), ok.",
        us,
        fakes.join(",")
    ));
    let mut most = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        most = most.max(threads_named("erldp-connect"));
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        (1..=4).contains(&most),
        "{most} connect threads at once for 100 nodes, with max_pending_handshakes 4"
    );
    assert!(node.ping(beam.node()), "the peer is still connected");
    drop(silent);
}
