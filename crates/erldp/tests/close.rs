//! Closing a node waits for the threads it started — each connection's
//! reader and writer, the accept loop, the timer, the cluster driver, the
//! threads that connect, accept and disconnect, the handler pool once its
//! handlers return — so that a program (a C program under valgrind) can
//! end right after: nothing of the node runs on. Closing from a callback
//! that runs on one of those threads (a handler among them) neither
//! deadlocks nor waits for itself; a later close from outside waits for
//! what is left.
//!
//! The threads are counted by name in the process, and another test's
//! node would be counted too: the tests take turns (`ONE_AT_A_TIME`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use erldp::{EpmdMode, Reply, Term};
use erldp_testkit::BeamPeer;

mod common;
use common::node_for;

const T: Duration = Duration::from_secs(30);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This test's turn, held until it ends; a test that failed while it held
/// the turn still passes it on.
fn take_turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The names (as the kernel keeps them: 15 bytes) of the node threads
/// alive in this process: every thread ErlDP names starts `erldp-`, but
/// an EPMD started in this process (`erldp-epmd-…`) is no node's.
fn node_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let comm = task.expect("a task").path().join("comm");
        // A thread that ended since the listing has no comm any more.
        if let Ok(name) = std::fs::read_to_string(comm) {
            let name = name.trim_end().to_string();
            if name.starts_with("erldp-") && !name.starts_with("erldp-epmd") {
                names.push(name);
            }
        }
    }
    names
}

/// No node thread is left. A thread that was joined can stay listed for a
/// moment while the kernel finishes its exit (the join returns once its
/// stack is released), so the list is read again for up to two seconds:
/// a thread that close did not wait for (blocked in a connect, a handler,
/// an idle pool) is still listed then.
fn assert_no_node_threads() {
    for _ in 0..100 {
        if node_threads().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        node_threads(),
        Vec::<String>::new(),
        "threads left after close"
    );
}

/// `gen_server:call({Name, Us}, go, infinity)` made on the peer, which
/// does not wait for it.
fn call_from(peer: &mut BeamPeer, name: &str, us: &str) {
    peer.eval_ok(&format!(
        "spawn(fun() -> catch gen_server:call({{{name}, '{us}'}}, go, infinity) end), ok."
    ));
}

/// A served name `slow` whose handler a peer has called and which runs
/// until the node closes, then takes a while and sets `finished` last: a
/// close that did not wait would return before it is set.
struct SlowCall {
    _served: erldp::Served,
    finished: Arc<AtomicBool>,
}

impl SlowCall {
    /// Asserts that the handler had returned when `close` (which close of
    /// the node) did.
    fn assert_returned_before(&self, close: &str) {
        assert!(
            self.finished.load(Ordering::SeqCst),
            "{close} returned before the handler did"
        );
    }
}

/// A new peer, a node of its own, and a [`SlowCall`] from the one to the
/// other.
fn slow_call_under_way() -> (BeamPeer, erldp::Node, SlowCall) {
    let mut peer = BeamPeer::start();
    let node = node_for(&peer);
    let (entered_tx, entered) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let waits = node.mailbox(None).expect("mailbox");
    let served = {
        let finished = Arc::clone(&finished);
        node.serve("slow", move |_| {
            entered_tx.send(()).expect("send");
            let woke = waits.recv();
            std::thread::sleep(Duration::from_millis(300));
            finished.store(woke.is_err(), Ordering::SeqCst);
            Ok(Reply::Value(Term::atom("late")))
        })
        .expect("serve")
    };
    call_from(&mut peer, "slow", node.name().as_str());
    entered.recv_timeout(T).expect("the handler runs");
    let slow = SlowCall {
        _served: served,
        finished,
    };
    (peer, node, slow)
}

#[test]
fn closing_waits_for_the_nodes_threads() {
    let _turn = take_turn();
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
    // A connect between our two nodes and a disconnect, each on a thread
    // of its own, under way or not when the nodes close.
    let _connecting = outgoing.connect_start(incoming.name().as_str());
    assert!(incoming.disconnect(peer.node()));
    outgoing.close();
    incoming.close();
    assert_no_node_threads();
    assert!(rx.recv_timeout(T).expect("the rpc failed on close"));

    // Closed by a callback on the connection's reader thread.
    let answer = closed_by_rpc_callback(&peer, ("erlang", "node", vec![]), T);
    assert!(answer.is_ok(), "the rpc's answer: {answer:?}");

    // Closed by a timeout's callback, on the timer thread.
    let sleep = ("timer", "sleep", vec![Term::from(60_000)]);
    let answer = closed_by_rpc_callback(&peer, sleep, Duration::from_millis(50));
    assert!(
        matches!(answer, Err(erldp::Error::Timeout { .. })),
        "the rpc's timeout: {answer:?}"
    );
}

/// Makes an rpc to `peer` from a node of its own, whose callback (given
/// the answer, or the end of `timeout`) closes the node: a close that
/// cannot wait for the thread it runs on. Closing again from here waits
/// for that thread too, and nothing of the node is left. What the
/// callback was given.
fn closed_by_rpc_callback(
    peer: &BeamPeer,
    (module, function, args): (&str, &str, Vec<Term>),
    timeout: Duration,
) -> erldp::Result<Term> {
    let node = node_for(peer);
    let (tx, rx) = mpsc::channel();
    let closer = node.clone();
    node.rpc_start(peer.node(), module, function, args)
        .expect("rpc")
        .on_complete(timeout, move |result| {
            closer.close();
            tx.send(result).expect("send");
        });
    let answer = rx.recv_timeout(T).expect("the callback closed the node");
    assert!(node.is_closed());
    node.close();
    assert_no_node_threads();
    answer
}

/// A handler in the middle of a call when the node closes from outside:
/// the close returns once the handler has returned, and nothing of the
/// node is left. A handler that closes the node returns at once (it cannot
/// wait for itself, nor for another handler that may wait for it); the
/// close from outside afterwards waits for both.
#[test]
fn closing_waits_for_the_handlers_that_run() {
    let _turn = take_turn();
    let (mut peer, node, slow) = slow_call_under_way();
    node.close();
    slow.assert_returned_before("close");
    assert_no_node_threads();

    // One handler closes the node while another is held in its call.
    let node = node_for(&peer);
    let us = node.name().to_string();
    let (entered_tx, entered) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let _held = {
        let finished = Arc::clone(&finished);
        let released = std::sync::Mutex::new(released);
        node.serve("held", move |_| {
            entered_tx.send(()).expect("send");
            released.lock().expect("lock").recv().expect("released");
            // Takes a while, so that a close that did not wait returns first.
            std::thread::sleep(Duration::from_millis(300));
            finished.store(true, Ordering::SeqCst);
            Ok(Reply::NoReply)
        })
        .expect("serve")
    };
    let (closed_tx, closed) = mpsc::channel();
    let closing = node.clone();
    let _closer = node
        .serve("closer", move |_| {
            closing.close();
            closed_tx.send(closing.is_closed()).expect("send");
            Ok(Reply::Value(Term::atom("closed")))
        })
        .expect("serve");
    call_from(&mut peer, "held", &us);
    entered.recv_timeout(T).expect("the held handler runs");
    call_from(&mut peer, "closer", &us);
    assert!(
        closed
            .recv_timeout(T)
            .expect("the handler's close returned"),
        "closed"
    );
    assert!(!finished.load(Ordering::SeqCst), "still held");
    // Released only now: the close from outside must wait for it.
    let releasing = std::thread::spawn(move || release.send(()).expect("release"));
    node.close();
    assert!(
        finished.load(Ordering::SeqCst),
        "close returned before the held handler did"
    );
    releasing.join().expect("released");
    assert_no_node_threads();
}

/// Two threads close the node at once while a handler runs: neither close
/// returns before the handler has (the second must not find the first's
/// work done and return early).
#[test]
fn two_closes_at_once_both_wait_for_the_handlers() {
    let _turn = take_turn();
    let (_peer, node, slow) = slow_call_under_way();
    let second = {
        let (node, finished) = (node.clone(), Arc::clone(&slow.finished));
        std::thread::spawn(move || {
            while !node.is_closed() {
                std::thread::yield_now();
            }
            node.close();
            finished.load(Ordering::SeqCst)
        })
    };
    node.close();
    slow.assert_returned_before("the first close");
    assert!(
        second.join().expect("second close"),
        "the second close returned before the handler did"
    );
    assert_no_node_threads();
}

/// A receive callback that closes the node, called with `Closed` on the
/// thread that closes it: its close cannot wait for what the outer close
/// has not stopped yet, and does not (it waited for ever); the outer close
/// then waits for everything.
#[test]
fn a_close_inside_a_close_does_not_wait_for_it() {
    let _turn = take_turn();
    let peer = BeamPeer::start();
    let node = node_for(&peer);
    node.connect(peer.node()).expect("connect");
    let (tx, rx) = mpsc::channel();
    let closer = node.clone();
    // Kept open until the node closes it.
    let inbox = node.mailbox(None).expect("mailbox");
    inbox.recv_async(Duration::from_secs(3600), move |result| {
        closer.close();
        tx.send(matches!(result, Err(erldp::Error::Closed)))
            .expect("send");
    });
    let closing = std::thread::spawn(move || node.close());
    assert!(
        rx.recv_timeout(T).expect("the callback's close returned"),
        "the callback got Closed"
    );
    closing.join().expect("closed");
    drop(inbox);
    assert_no_node_threads();
}

/// Connects and handshakes under way when the node closes: a peer that
/// connected and sends nothing, ours to a listener that answers nothing,
/// ours to a host that drops our SYNs (a listener whose accept queue is
/// full): close joins the threads that run them, and shuts their sockets
/// down rather than wait out a setup timeout of an hour.
#[test]
fn closing_cuts_silent_handshakes_short() {
    let _turn = take_turn();
    let node = erldp::Node::builder(format!("close_{}", std::process::id()))
        .cookie("silent")
        .setup_timeout(Duration::from_secs(3600))
        .start()
        .expect("start");

    let _incoming = TcpStream::connect(("127.0.0.1", node.port())).expect("connect to the node");
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let connecting = node
        .connect_to_start("silent@localhost", silent.local_addr().expect("address"))
        .expect("connect_to_start");
    let (_outgoing, _) = silent.accept().expect("our node connects");
    let full = TcpListener::bind("127.0.0.1:0").expect("bind");
    let full_addr = full.local_addr().expect("address");
    let mut queued = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&full_addr, Duration::from_millis(300)) {
        queued.push(stream);
        assert!(queued.len() < 10_000, "the accept queue never filled");
    }
    let dropped = node
        .connect_to_start("dropped@localhost", full_addr)
        .expect("connect_to_start");
    // Our connect is in its handshake once the listener accepted it; the
    // peer's is once its thread runs.
    for _ in 0..3000 {
        if node_threads().iter().any(|name| name == "erldp-handshake") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        node_threads().iter().any(|name| name == "erldp-handshake"),
        "the incoming handshake runs: {:?}",
        node_threads()
    );

    close_cutting_short(&node, "the silent handshakes");
    fails_as_closed(connecting, "the connect under way");
    fails_as_closed(dropped, "the connect whose SYNs are dropped");
}

/// Closes `node` from a thread of its own, which must return within `T`
/// (not wait out the setup timeout for `what`), and leave nothing of the
/// node running.
fn close_cutting_short(node: &erldp::Node, what: &str) {
    let (tx, rx) = mpsc::channel();
    let closer = node.clone();
    std::thread::spawn(move || {
        closer.close();
        tx.send(()).expect("send");
    });
    rx.recv_timeout(T)
        .unwrap_or_else(|_| panic!("close waited for {what}"));
    assert_no_node_threads();
}

/// `connecting`, under way when its node closed, fails as closed.
fn fails_as_closed(connecting: erldp::Pending<()>, what: &str) {
    let connected = connecting.wait(T);
    assert!(
        matches!(connected, Err(erldp::Error::Closed)),
        "{what} fails as closed: {connected:?}"
    );
}

/// An EPMD that registers a node and never answers a look-up: the
/// requests it takes, by their first byte.
fn epmd_that_answers_no_look_up() -> (u16, mpsc::Receiver<u8>) {
    const ALIVE2_REQ: u8 = 120;
    const ALIVE2_X_RESP: u8 = 118;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (mut stream, tx) = (stream.expect("accept"), tx.clone());
            std::thread::spawn(move || {
                let mut len = [0; 2];
                stream.read_exact(&mut len).expect("request length");
                let mut request = vec![0; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut request).expect("request");
                if request[0] == ALIVE2_REQ {
                    stream
                        .write_all(&[ALIVE2_X_RESP, 0, 0, 0, 0, 1])
                        .expect("ALIVE2_X_RESP");
                }
                let _ = tx.send(request[0]);
                // Held until the node closes its end: the registration
                // lives as long as it, and the look-up waits for ever.
                let _ = stream.read(&mut [0; 1]);
            });
        }
    });
    (port, rx)
}

/// A connect whose EPMD look-up gets no answer when the node closes: close
/// shuts the look-up's socket down rather than wait out a setup timeout of
/// an hour, and the connect fails as closed.
#[test]
fn closing_cuts_an_epmd_look_up_short() {
    const PORT_PLEASE2_REQ: u8 = 122;
    let _turn = take_turn();
    let (epmd_port, requests) = epmd_that_answers_no_look_up();
    let node = erldp::Node::builder(format!("close_epmd_{}", std::process::id()))
        .cookie("silent")
        .epmd(EpmdMode::External)
        .epmd_port(epmd_port)
        .setup_timeout(Duration::from_secs(3600))
        .start()
        .expect("start, registered in the EPMD of the test");
    let connecting = node
        .connect_start("ghost@localhost")
        .expect("connect_start");
    let looked_up = requests.iter().find(|&request| request == PORT_PLEASE2_REQ);
    assert_eq!(looked_up, Some(PORT_PLEASE2_REQ), "the node looks ghost up");

    close_cutting_short(&node, "the EPMD that does not answer");
    fails_as_closed(connecting, "the connect under way");
}

/// The inode of the socket listening on `port` (`/proc/net/tcp` and
/// `tcp6`, state 0A), if one does.
fn listening_socket(port: u16) -> Option<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            text.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit(':').next()?;
                let listening = u16::from_str_radix(local_port, 16).ok() == Some(port)
                    && fields.get(3) == Some(&"0A");
                listening.then(|| fields.get(9).map(|inode| inode.to_string()))?
            })
        })
}

/// Whether one of this process's descriptors is socket `inode`.
fn holds_socket(inode: &str) -> bool {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .any(|target| target.to_string_lossy() == wanted)
}

/// A closed node that the program still holds (as a binding's object that
/// its garbage collector has not taken yet) keeps no descriptor of its
/// listening socket: it used to keep the one that stops the accept loop
/// until the last handle dropped, one socket for every node a program
/// started and closed.
#[test]
fn a_closed_node_still_held_keeps_no_listening_socket() {
    let _turn = take_turn();
    let node = erldp::Node::builder(format!("close_fd_{}", std::process::id()))
        .cookie("fd")
        .epmd(EpmdMode::None)
        .start()
        .expect("start");
    let inode = listening_socket(node.port()).expect("the node's listening socket");
    assert!(
        holds_socket(&inode),
        "an open node holds its listening socket"
    );
    node.close();
    assert!(
        !holds_socket(&inode),
        "the closed node still holds its listening socket (inode {inode})"
    );
    drop(node);
}
