//! Faults ErlDP already weathers (issue 13, "what holds today"), kept
//! holding against real BEAM peers: a restarted peer gets nothing meant for
//! the node that died under its name, stalled and garbage sockets are
//! closed while the node goes on serving, and 32 threads of rpcs and
//! messages survive their peer being killed twice. The rest of the fault
//! suite: `kill -9` and a stopped peer in `signals.rs`, wrong cookies in
//! `connect.rs`, start/rpc/close cycles and soaks in `endurance.rs`, a
//! network partition in `partition.rs`, hostile peers in `hostile.rs`.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, Node, Term};
use erldp_testkit::{eventually, random_name, BeamPeer};

mod common;
use common::{assert_rpc_answers, collector, peer_and_node_with, raw};

const T: Duration = Duration::from_secs(30);

/// A peer killed with `kill -9` and started again under the same name (a
/// new creation) gets nothing from us that was meant for the node that
/// died: messages to the dead node's pids are dropped on arrival, and what
/// was queued for the old connection went with it.
#[test]
fn a_restarted_peer_gets_nothing_meant_for_its_earlier_life() {
    let alive = random_name("restarted");
    let mut first = BeamPeer::builder().name(&alive).start();
    let cookie = first.cookie().to_string();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .start()
        .expect("node");
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let old = collector(&mut first, "collector", &inbox);
    inbox
        .send(&Dest::Pid(old), Term::atom("before"))
        .expect("send");
    assert_eq!(first.collected("collector", 1), "[before]");
    let peer = first.node().to_string();
    first.kill9();
    eventually("the dead peer to be noticed", || node.nodes().is_empty());

    let mut second = BeamPeer::builder()
        .name(&alive)
        .cookie(&cookie)
        .start()
        .expect_node(&peer);
    let new = collector(&mut second, "collector", &inbox);
    assert_ne!(new.creation, old.creation, "a new incarnation");
    for _ in 0..10 {
        inbox
            .send(&Dest::Pid(old), Term::atom("stale"))
            .expect("send");
    }
    inbox
        .send(&Dest::name("collector", &peer), Term::atom("fresh"))
        .expect("send");
    assert_eq!(second.collected("collector", 1), "[fresh]");
}

trait ExpectNode {
    fn expect_node(self, node: &str) -> Self;
}

impl ExpectNode for BeamPeer {
    fn expect_node(self, node: &str) -> BeamPeer {
        assert_eq!(self.node(), node, "started under another name");
        self
    }
}

/// 500 sockets that send nothing, garbage, or a name message and then
/// nothing, are all closed by the node, which meanwhile answers its peers.
#[test]
fn stalled_and_garbage_sockets_are_closed_while_the_node_serves() {
    let (mut beam, node) = peer_and_node_with(|node| node.setup_timeout(Duration::from_secs(2)));
    assert!(node.ping(beam.node()));
    let stalled_name = format!("{}@{}", random_name("stall"), node.host());
    let framed = raw::framed(&raw::name_message(
        erldp::flags::SUPPORTED,
        raw::CREATION,
        &stalled_name,
    ));
    let mut sockets: Vec<TcpStream> = (0..500)
        .map(|i| {
            let mut socket = TcpStream::connect(("127.0.0.1", node.port())).expect("connect");
            let _ = match i % 3 {
                0 => Ok(()),
                1 => socket.write_all(&[0xFF; 3000]),
                _ => socket.write_all(&framed),
            };
            socket
        })
        .collect();
    let us = node.name();
    for _ in 0..20 {
        assert_rpc_answers(&node, beam.node(), "while the sockets stall");
    }
    assert!(beam.ping(us));
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert!(raw::closed_by_node(socket, T), "socket {i} is still open");
    }
    let mut later = BeamPeer::builder().cookie(beam.cookie()).start();
    assert!(later.ping(us));
}

/// 32 threads call and message a peer that is killed with `kill -9` and
/// started again, twice. During each outage calls fail; no thread panics or
/// hangs, and after each restart every thread gets through again.
#[test]
fn thirty_two_threads_survive_their_peer_being_killed_twice() {
    let alive = random_name("killed");
    let mut peer = BeamPeer::builder().name(&alive).start();
    peer.eval_ok("erldp_test:echo_start(echo).");
    let cookie = peer.cookie().to_string();
    let target = peer.node().to_string();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .setup_timeout(Duration::from_secs(2))
        .start()
        .expect("node");
    let stop = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicUsize>> = Arc::new((0..32).map(|_| AtomicUsize::new(0)).collect());
    let (done, finished) = mpsc::channel();
    for worker in 0..32 {
        let (node, target, stop, progress, done) = (
            node.clone(),
            target.clone(),
            Arc::clone(&stop),
            Arc::clone(&progress),
            done.clone(),
        );
        thread::spawn(move || {
            let inbox = node.mailbox(None).expect("mailbox");
            let echo = Dest::name("echo", &target);
            let mut round: i64 = 0;
            while !stop.load(Ordering::Acquire) {
                round += 1;
                let called = node
                    .rpc(&target, "erlang", "node", vec![], Duration::from_secs(5))
                    .is_ok_and(|answer| answer.is_atom(&target));
                let message = Term::tuple(vec![inbox.pid().into(), round.into()]);
                let echoed = inbox.send(&echo, message).is_ok()
                    && loop {
                        match inbox.recv_timeout(Duration::from_secs(5)) {
                            Ok(Some(reply)) => {
                                // Echoes of rounds lost to an outage may come late.
                                if reply.term == Term::tuple(vec![Term::atom("echo"), round.into()])
                                {
                                    break true;
                                }
                            }
                            _ => break false,
                        }
                    };
                if called && echoed {
                    progress[worker].fetch_add(1, Ordering::AcqRel);
                } else {
                    thread::sleep(Duration::from_millis(50));
                }
            }
            let _ = done.send(worker);
        });
    }
    let everyone_got_through = |after: &[usize]| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let now: Vec<usize> = progress.iter().map(|p| p.load(Ordering::Acquire)).collect();
            if now.iter().zip(after).all(|(now, before)| now > before) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "threads without progress: {:?}",
                now.iter()
                    .zip(after)
                    .enumerate()
                    .filter(|(_, (now, before))| now <= before)
                    .map(|(worker, _)| worker)
                    .collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    let mut seen = everyone_got_through(&[0; 32]);
    for _ in 0..2 {
        peer.kill9();
        peer = BeamPeer::builder()
            .name(&alive)
            .cookie(&cookie)
            .start()
            .expect_node(&target);
        peer.eval_ok("erldp_test:echo_start(echo).");
        seen = everyone_got_through(&seen);
    }
    stop.store(true, Ordering::Release);
    for _ in 0..32 {
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("every thread ends");
    }
}
