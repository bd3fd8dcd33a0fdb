//! The connects global makes are bounded: a peer's `new_nodes` may name 4,096 nodes, and each
//! connect holds a thread for up to the setup time; the nodes of pids a peer names get none.
//! Its own test binary, since it counts the process's connect threads (one test at a time).

use std::net::TcpListener;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Node, Term};
use erldp_testkit::{eventually, random_name, BeamPeer};

/// The tests count the process's connect threads: one at a time.
static CONNECT_THREADS: Mutex<()> = Mutex::new(());

/// The threads of this process named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// The most connect threads seen at once over `window`.
fn most_connect_threads(window: Duration) -> usize {
    let mut most = 0;
    let until = Instant::now() + window;
    while Instant::now() < until {
        most = most.max(threads_named("erldp-connect"));
        thread::sleep(Duration::from_millis(20));
    }
    most
}

/// A BEAM peer and our visible node, connected, where nodes on 127.0.0.2 cannot be reached
/// in less than the setup time: 127.0.0.2's EPMD port holds a listener that never answers
/// (returned, to be kept open), and the EPMD of the BEAM peer and of our node listens on
/// 127.0.0.1 alone.
fn beside_a_silent_host() -> (TcpListener, BeamPeer, Node) {
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
    (silent, beam, node)
}

#[test]
fn connects_to_the_nodes_a_peer_names_are_bounded() {
    let _one = CONNECT_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let (silent, mut beam, node) = beside_a_silent_host();
    let fakes: Vec<String> = (0..100).map(|i| format!("'fake{i}@127.0.0.2'")).collect();
    beam.eval_ok(&format!(
        "erlang:send({{global_name_server, {}}}, \
         {{'$gen_cast', {{new_nodes, node(), [], [], [{}], []}}}}), ok.",
        node.name(),
        fakes.join(",")
    ));
    let most = most_connect_threads(Duration::from_secs(3));
    assert!(
        (1..=4).contains(&most),
        "{most} connect threads at once for 100 nodes, with max_pending_handshakes 4"
    );
    assert!(node.ping(beam.node()), "the peer is still connected");
    drop(silent);
}

/// Names whose pids are on nodes global neither knows nor is meeting make no connect: their
/// monitors fire `noconnection`, and the names go. (Names of nodes global meets wait for the
/// connect, as `erlang:monitor/2` does: `cluster.rs`,
/// `names_a_peer_brings_from_nodes_we_have_not_met_yet_stay`.) Else one `new_nodes` could send
/// us connecting to a million hosts of a peer's choosing.
#[test]
fn the_nodes_of_pids_a_peer_names_get_no_connect() {
    let _one = CONNECT_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let (silent, mut beam, node) = beside_a_silent_host();
    beam.eval_ok("ok = global:sync().");
    // Pids of ghost<i>@127.0.0.2, written as NEW_PID_EXT.
    beam.eval_ok(&format!(
        "(fun() -> \
           Ghost = fun(I) -> N = list_to_binary(lists:concat([ghost, I, '@127.0.0.2'])), \
                     binary_to_term(<<131, 88, 100, (byte_size(N)):16, N/binary, 1:32, 0:32, 1:32>>) end, \
           Ops = [{{insert, {{{{ghost, I}}, Ghost(I), m}}}} || I <- lists:seq(1, 20)], \
           erlang:send({{global_name_server, {}}}, {{'$gen_cast', {{new_nodes, node(), Ops, [], [], []}}}}), ok \
         end)().",
        node.name()
    ));
    let most = most_connect_threads(Duration::from_secs(2));
    assert_eq!(most, 0, "connect threads for the nodes of 20 ghost pids");
    let ghost = Term::tuple(vec![Term::atom("ghost"), Term::Int(1)]);
    eventually("the ghosts' names are gone", || {
        node.whereis_global(&ghost).expect("whereis").is_none()
    });
    drop(silent);
}
