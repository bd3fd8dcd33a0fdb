//! Endurance against a real BEAM peer: many node lifetimes leave nothing
//! behind, and a soak of concurrent messages and rpcs loses and reorders
//! nothing. `make test` runs a short soak; `make soak` runs it for
//! `ERLDP_SOAK_SECONDS` (default 60 there, 5 here) and the cycles ten times
//! over.
//!
//! The tests count the process's threads, descriptors and memory: they run
//! one at a time.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, Node, Term};
use erldp_testkit::{random_name, BeamPeer};

const T: Duration = Duration::from_secs(30);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Threads, open descriptors, and resident memory in KiB.
fn footprint() -> (usize, usize, u64) {
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, Iterator::count);
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (count("/proc/self/task"), count("/proc/self/fd"), rss)
}

fn cycle(peer: &BeamPeer) {
    let node = Node::builder(random_name("cycle"))
        .cookie(peer.cookie())
        .start()
        .expect("node");
    let answer = node
        .rpc(peer.node(), "erlang", "node", vec![], T)
        .expect("rpc");
    assert!(answer.is_atom(peer.node()));
    node.close();
}

/// 1000 nodes (`ERLDP_CYCLES`) started, used for an rpc and closed, one
/// after the other: threads and descriptors come back to what they were,
/// and memory stays within a few MiB.
#[test]
fn start_rpc_close_cycles_leave_nothing_behind() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let peer = BeamPeer::start();
    // The first cycles set up what lives as long as the process (the
    // atom table, the logger, the allocator's arenas).
    for _ in 0..20 {
        cycle(&peer);
    }
    let settle = |(threads, fds, _): (usize, usize, u64)| {
        // Threads of closed nodes end a moment after `close` returns.
        let deadline = Instant::now() + T;
        loop {
            let now = footprint();
            if (now.0 <= threads && now.1 <= fds) || Instant::now() >= deadline {
                return now;
            }
            thread::sleep(Duration::from_millis(20));
        }
    };
    let before = settle(footprint());
    let cycles = env_number("ERLDP_CYCLES", 1000);
    for _ in 0..cycles {
        cycle(&peer);
    }
    let after = settle(before);
    assert!(
        after.0 <= before.0 && after.1 <= before.1,
        "threads {} -> {}, descriptors {} -> {} after {cycles} cycles",
        before.0,
        after.0,
        before.1,
        after.1
    );
    let grown = after.2.saturating_sub(before.2) / 1024;
    assert!(
        grown < 16,
        "resident memory grew by {grown} MiB over {cycles} cycles"
    );
}

/// Threads send numbered messages through a BEAM echo process while
/// others call rpcs, for `ERLDP_SOAK_SECONDS`: every message comes back,
/// in order, and every rpc answers.
#[test]
fn a_soak_loses_and_reorders_nothing() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut peer = BeamPeer::start();
    peer.eval_ok("erldp_test:echo_start(echo).");
    let node = Node::builder(random_name("soak"))
        .cookie(peer.cookie())
        .start()
        .expect("node");
    let seconds = env_number("ERLDP_SOAK_SECONDS", 5);
    let until = Instant::now() + Duration::from_secs(seconds);
    let echo = Dest::name("echo", peer.node());
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (node, echo) = (node.clone(), echo);
            thread::spawn(move || {
                let inbox = node.mailbox(None).expect("mailbox");
                let mut sent: i64 = 0;
                let mut received: i64 = 0;
                while Instant::now() < until {
                    // A window of 100 in flight, each checked in order.
                    for _ in 0..100 {
                        sent += 1;
                        let message = Term::tuple(vec![inbox.pid().into(), sent.into()]);
                        inbox.send(&echo, message).expect("send");
                    }
                    while received < sent {
                        received += 1;
                        let reply = inbox
                            .recv_timeout(T)
                            .expect("receive")
                            .unwrap_or_else(|| panic!("message {received} never came back"));
                        assert_eq!(
                            reply.term,
                            Term::tuple(vec![Term::atom("echo"), received.into()]),
                            "out of order or lost"
                        );
                    }
                }
                sent
            })
        })
        .collect();
    let callers: Vec<_> = (0..2)
        .map(|i| {
            let (node, peer) = (node.clone(), peer.node().to_string());
            thread::spawn(move || {
                let mut calls = 0;
                while Instant::now() < until {
                    let args = vec![Term::list(vec![i.into(), calls.into()])];
                    let sum = node
                        .rpc(&peer, "lists", "sum", args, T)
                        .expect("rpc during the soak");
                    assert_eq!(sum, Term::from(i + calls));
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let messages: i64 = senders.into_iter().map(|s| s.join().expect("sender")).sum();
    let calls: i64 = callers.into_iter().map(|c| c.join().expect("caller")).sum();
    eprintln!("soak of {seconds} s: {messages} messages echoed in order, {calls} rpcs");
    assert!(messages > 0 && calls > 0);
}
