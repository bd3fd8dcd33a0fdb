//! Hostile peers, measured: the figures of issue 13's numbered items, one scenario per run.
//!
//! `cargo run --release -p erldp --example hostile -- ITEM` runs one scenario in this process
//! and prints `key value` lines; `-- all` runs every scenario, each in a fresh process, so that
//! the memory figures of one do not carry into the next. A scenario reports what happened (a
//! time, a memory growth, whether something was delivered); it asserts nothing: the tests do.
//!
//! Most scenarios play the hostile peer themselves (a raw socket that speaks as much of the
//! handshake and of the distribution protocol as it needs: [`raw`]); the atom flood uses a real
//! BEAM node started with a larger atom table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use erldp::term::{decode_bytes, encode};
use erldp::{EpmdMode, MessageKind, Node, Pid, Term};
use erldp_testkit::{random_cookie, random_name, BeamPeer};

const ITEMS: [(&str, &str); 14] = [
    (
        "nok",
        "1: a peer answers nok and goes; later connects to it",
    ),
    ("slow-handshakes", "2: clients that send one byte every 5 s"),
    ("squatter", "2: an unauthenticated peer holds a name"),
    (
        "handshake-names",
        "3: 2000 handshakes with 60,000-character names",
    ),
    ("forged-exit", "4: EXIT from a pid of a third node"),
    (
        "decode-nils",
        "5: one message of 15 MiB and one of 64 MB of []s",
    ),
    ("fragments", "6: 1M unfinished first fragments"),
    (
        "atom-flood",
        "7: a peer sends 1.1M new atoms; another then sends one",
    ),
    (
        "error-text",
        "8: a malformed control with a 20 MiB binary, 16 rpcs pending",
    ),
    ("bignum-display", "8: Display of a 300 KB integer"),
    (
        "rpc-timeout",
        "9: rpc with a 2 s timeout to an unreachable host",
    ),
    ("monitors", "9: 1M MONITOR_P to rex, then the peer leaves"),
    (
        "asks-unread",
        "9: a peer sends UNLINK_IDs and reads nothing; a mailbox closes",
    ),
    (
        "decode-shapes",
        "5: maps keyed by maps of maps (decode, encode, order), a list in 2000 tails",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("all") => {
            let exe = std::env::current_exe().expect("own path");
            for (item, what) in ITEMS {
                println!("== {item} ({what})");
                let status = Command::new(&exe)
                    .arg(item)
                    .status()
                    .expect("running a scenario");
                if !status.success() {
                    println!("{item}: failed ({status})");
                }
            }
        }
        Some(item) if ITEMS.iter().any(|(name, _)| *name == item) => run(item),
        _ => {
            eprintln!("usage: hostile all | ITEM, where ITEM is one of:");
            for (item, what) in ITEMS {
                eprintln!("  {item:16} {what}");
            }
            std::process::exit(2);
        }
    }
}

fn run(item: &str) {
    match item {
        "nok" => nok(),
        "slow-handshakes" => slow_handshakes(),
        "squatter" => squatter(),
        "handshake-names" => handshake_names(),
        "forged-exit" => forged_exit(),
        "decode-nils" => decode_nils(),
        "fragments" => fragments(),
        "atom-flood" => atom_flood(),
        "error-text" => error_text(),
        "bignum-display" => bignum_display(),
        "rpc-timeout" => rpc_timeout(),
        "monitors" => monitors(),
        "asks-unread" => asks_unread(),
        "decode-shapes" => decode_shapes(),
        _ => unreachable!("checked in main"),
    }
}

/// A node that nobody finds through EPMD: the scenarios connect by address.
fn lone_node(cookie: &str) -> Node {
    Node::builder(random_name("hostile"))
        .cookie(cookie)
        .epmd(EpmdMode::None)
        .start()
        .expect("starting a node")
}

fn host_of(node: &Node) -> String {
    node.host().to_string()
}

fn addr_of(node: &Node) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], node.port()))
}

fn report(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

/// Our resident and peak resident memory, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts a new peak for [`rss_mib`].
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn nok() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    let addr = listener.local_addr().expect("address");
    let peer = format!("{}@{}", random_name("noker"), host_of(&node));
    // The peer: read the name, answer nok, and die.
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = raw::recv(&mut stream);
            let _ = raw::send(&mut stream, b"snok");
        }
    });
    let first = Instant::now();
    let result = node.connect_to(&peer, addr);
    report(
        "first_connect",
        format!(
            "{:?} after {:?}",
            result.err().map(|e| e.to_string()),
            first.elapsed()
        ),
    );
    let listener = TcpListener::bind(addr).expect("listening again on the same port");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A healthy peer now: it would complete a handshake, were one started.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let mut stream = stream;
            let _ = raw::recv(&mut stream);
        }
    });
    let second = Instant::now();
    let result = node.connect_to(&peer, addr);
    report(
        "second_connect",
        format!(
            "{:?} after {:?}",
            result.err().map(|e| e.to_string()),
            second.elapsed()
        ),
    );
}

fn slow_handshakes() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let addr = addr_of(&node);
    let fds_before = open_fds();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..450 {
        let Ok(stream) = TcpStream::connect(addr) else {
            break;
        };
        clients.push(stream);
    }
    report("clients_connected", clients.len());
    // The clients' own sockets are in this process too.
    let ours = clients.len();
    let dripper = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // One byte of a 65535-byte name message every 5 s per client.
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                for client in &mut clients {
                    let _ = client.write_all(&[if sent == 0 { 0xFF } else { b'N' }]);
                }
                sent += 1;
                thread::sleep(Duration::from_secs(5));
            }
            clients
        })
    };
    for seconds in [10, 20, 30] {
        thread::sleep(Duration::from_secs(10));
        report(
            &format!("node_fds_after_{seconds}s"),
            open_fds() - fds_before - ours,
        );
    }
    stop.store(true, Ordering::Relaxed);
    let _ = dripper.join();
}

fn squatter() {
    let mut beam = BeamPeer::builder().hidden(true).start();
    let node = Node::builder(random_name("hostile"))
        .cookie(beam.cookie())
        .setup_timeout(Duration::from_secs(3))
        .start()
        .expect("starting a node");
    // The squatter takes the BEAM node's name and never proves the cookie.
    let mut squatter = TcpStream::connect(addr_of(&node)).expect("connecting");
    raw::send(&mut squatter, &raw::name_message(beam.node())).expect("name");
    let status = raw::recv(&mut squatter).expect("status");
    report("squatter_status", String::from_utf8_lossy(&status));
    let started = Instant::now();
    let rpc = node.rpc(
        beam.node(),
        "erlang",
        "node",
        vec![],
        Duration::from_secs(10),
    );
    report(
        "rpc_to_squatted_name",
        format!(
            "{:?} after {:?}",
            rpc.map(|t| t.to_string()),
            started.elapsed()
        ),
    );
    let ping = beam.eval_ok(&format!("net_adm:ping('{}').", node.name()));
    report("beam_ping_of_us", ping);
    drop(squatter);
}

fn handshake_names() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let addr = addr_of(&node);
    let host = host_of(&node);
    let (before, _) = rss_mib();
    for i in 0..2000 {
        let name = format!("{}{i}@{host}", "n".repeat(60_000));
        let Ok(mut stream) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = raw::send(&mut stream, &raw::name_message(&name));
        let _ = raw::recv(&mut stream);
    }
    thread::sleep(Duration::from_secs(1));
    let (after, _) = rss_mib();
    report("rss_growth_mib", format!("{:.1}", after - before));
}

fn forged_exit() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let mailbox = node.mailbox(Some("victim")).expect("mailbox");
    let (mut stream, peer) = raw::connect(&node, &cookie);
    let ghost = Pid {
        node: erldp::Atom::new(&format!("ghost@{}", host_of(&node))),
        id: 77,
        serial: 0,
        creation: 1,
    };
    // LINK then EXIT, both claiming to come from a process on a third node.
    raw::control(
        &mut stream,
        &Term::tuple(vec![1.into(), ghost.into(), mailbox.pid().into()]),
    );
    raw::control(
        &mut stream,
        &Term::tuple(vec![
            3.into(),
            ghost.into(),
            mailbox.pid().into(),
            Term::atom("forged"),
        ]),
    );
    let got = mailbox
        .recv_timeout(Duration::from_secs(5))
        .expect("receive");
    report(
        "forged_exit_delivered",
        match got {
            Some(msg) if msg.kind == MessageKind::Exit => format!("yes: {}", msg.term),
            Some(msg) => format!("something else: {:?}", msg.kind),
            None => "no".into(),
        },
    );
    drop(peer);
}

fn decode_nils() {
    for (label, count) in [("15MiB", 15 << 20), ("64MB", 64_000_000)] {
        let mut etf = Vec::with_capacity(count + 7);
        etf.extend_from_slice(&[131, 108]);
        etf.extend_from_slice(&(count as u32).to_be_bytes());
        etf.resize(6 + count, 106);
        etf.push(106);
        let etf = bytes::Bytes::from(etf);
        reset_peak();
        let (before, _) = rss_mib();
        let started = Instant::now();
        let result = decode_bytes(etf.clone()).map(|term| term.as_list().map_or(0, <[Term]>::len));
        let (_, peak) = rss_mib();
        report(
            &format!("decode_{label}"),
            format!(
                "{} in {:?}, peak RSS +{:.0} MiB",
                match result {
                    Ok(len) => format!("{len} elements"),
                    Err(err) => format!("error ({})", truncate(&err.to_string())),
                },
                started.elapsed(),
                peak - before
            ),
        );
    }
}

/// Terms whose decoding once cost far more than their size: maps of 16 keys whose keys are
/// such maps, differing only in their last value (each key was compared with every other, each
/// comparison doing the same a level down), and a list of 131,072 elements wrapped in 2000
/// one-element lists as tails (each tail was copied into the list around it).
fn decode_shapes() {
    fn keyed(depth: u32, last: i64) -> Term {
        if depth == 0 {
            return Term::Int(last);
        }
        Term::map(
            (0..16)
                .map(|j| {
                    (
                        keyed(depth - 1, j),
                        Term::Int(if j == 15 { last } else { 0 }),
                    )
                })
                .collect(),
        )
    }
    let mut tails = vec![131];
    for _ in 0..2000 {
        tails.extend_from_slice(&[108, 0, 0, 0, 1, 97, 1]);
    }
    tails.extend_from_slice(&encode(&Term::list(vec![Term::Int(7); 1 << 17])).expect("list")[1..]);
    let timed = |label: &str, work: &dyn Fn() -> String| {
        let started = Instant::now();
        let what = work();
        report(label, format!("{what} in {:?}", started.elapsed()));
    };
    let mut shapes = Vec::new();
    for depth in [4, 5] {
        let (term, other) = (keyed(depth, 0), keyed(depth, 1));
        timed(&format!("encode_map_keys_depth_{depth}"), &|| {
            format!("{} bytes", encode(&term).map_or(0, |etf| etf.len()))
        });
        timed(&format!("order_map_keys_depth_{depth}"), &|| {
            format!("{:?}", term.cmp(&other))
        });
        shapes.push((
            format!("map_keys_depth_{depth}"),
            encode(&term).expect("encodes"),
        ));
    }
    shapes.push(("list_in_2000_tails".to_string(), tails));
    for (label, etf) in shapes {
        let started = Instant::now();
        let result = decode_bytes(bytes::Bytes::from(etf.clone()));
        report(
            &format!("decode_{label}"),
            format!(
                "{} bytes: {} in {:?}",
                etf.len(),
                match result {
                    Ok(_) => "decoded".to_string(),
                    Err(err) => format!("error ({})", truncate(&err.to_string())),
                },
                started.elapsed()
            ),
        );
    }
}

fn fragments() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let (mut stream, peer) = raw::connect(&node, &cookie);
    let (before, _) = rss_mib();
    let mut frames = Vec::with_capacity(64 << 20);
    for sequence in 0..1_000_000u64 {
        // 131 69, sequence id, fragment id 2 of 2, no atom cache refs, a little of a control.
        let mut frame = vec![131, 69];
        frame.extend_from_slice(&sequence.to_be_bytes());
        frame.extend_from_slice(&2u64.to_be_bytes());
        frame.extend_from_slice(&[0, 104, 4, 97, 6]);
        frames.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        frames.extend_from_slice(&frame);
    }
    let started = Instant::now();
    let written = stream.write_all(&frames);
    drop(frames);
    thread::sleep(Duration::from_secs(3));
    let alive = node.nodes().iter().any(|n| n.as_str() == peer);
    let (after, _) = rss_mib();
    report(
        "fragments",
        format!(
            "written {:?} in {:?}; connection alive: {alive}; RSS +{:.0} MiB",
            written.is_ok(),
            started.elapsed(),
            after - before
        ),
    );
}

fn atom_flood() {
    let mut flooder = BeamPeer::builder().arg("+t").arg("5000000").start();
    let mut other = BeamPeer::start();
    let node = Node::builder(random_name("hostile"))
        .cookie(flooder.cookie())
        .start()
        .expect("node");
    // The other peer needs our cookie: both peers get the flooder's.
    other.eval_ok(&format!(
        "erlang:set_cookie('{}', '{}').",
        node.name(),
        flooder.cookie()
    ));
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let (before, _) = rss_mib();
    let started = Instant::now();
    let batches = 110;
    flooder.eval_ok(&format!(
        "[{{inbox, '{}'}} ! [list_to_atom(\"flood_\" ++ integer_to_list(B * 10000 + I)) || I <- lists:seq(1, 10000)] || B <- lists:seq(1, {batches})], ok.",
        node.name()
    ));
    let mut received = 0;
    while let Ok(Some(_)) = inbox.recv_timeout(Duration::from_secs(20)) {
        received += 1;
        if received == batches {
            break;
        }
    }
    let (after, _) = rss_mib();
    report(
        "flood",
        format!(
            "{received} of {batches} batches of 10,000 new atoms in {:?}; RSS +{:.0} MiB",
            started.elapsed(),
            after - before
        ),
    );
    other.eval_ok(&format!(
        "{{inbox, '{}'}} ! {{hello, list_to_atom(\"other_\" ++ os:getpid())}}, ok.",
        node.name()
    ));
    let got = inbox
        .recv_timeout(Duration::from_secs(10))
        .expect("receive");
    report(
        "other_peer_new_atom",
        match got {
            Some(msg) => format!("delivered: {}", msg.term),
            None => "not delivered".into(),
        },
    );
    report(
        "other_peer_connected",
        node.nodes().iter().any(|n| n.as_str() == other.node()),
    );
}

fn error_text() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let (mut stream, peer) = raw::connect(&node, &cookie);
    reset_peak();
    let (before, _) = rss_mib();
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let node = node.clone();
            let peer = peer.clone();
            thread::spawn(move || node.rpc(&peer, "m", "f", vec![], Duration::from_secs(60)))
        })
        .collect();
    thread::sleep(Duration::from_secs(1));
    // A SEND with one field too many: {2, '', To, <<20 MiB>>}.
    let control = Term::tuple(vec![
        2.into(),
        Term::atom(""),
        node.pid().into(),
        Term::binary(vec![b'x'; 20 << 20]),
    ]);
    raw::control(&mut stream, &control);
    let lengths: Vec<usize> = callers
        .into_iter()
        .map(|caller| {
            caller
                .join()
                .expect("caller")
                .err()
                .map_or(0, |err| err.to_string().len())
        })
        .collect();
    let (_, peak) = rss_mib();
    report(
        "rpc_error_lengths",
        format!(
            "{:?} bytes; peak RSS +{:.0} MiB",
            lengths.iter().max(),
            peak - before
        ),
    );
}

fn bignum_display() {
    let mut magnitude = vec![0x5Au8; 300_000];
    magnitude[299_999] = 0x7F;
    let mut etf = vec![131, 111];
    etf.extend_from_slice(&(magnitude.len() as u32).to_be_bytes());
    etf.push(0);
    etf.extend_from_slice(&magnitude);
    let term = erldp::term::decode(&etf).expect("a bignum");
    let started = Instant::now();
    let text = term.to_string();
    report(
        "display_300kb_integer",
        format!("{} digits in {:?}", text.len(), started.elapsed()),
    );
    let started = Instant::now();
    let parsed: Term = text.parse().expect("digits");
    report(
        "parse_300kb_integer",
        format!("{:?} (equal: {})", started.elapsed(), parsed == term),
    );
    let started = Instant::now();
    let error = format!("{term:.1000}");
    report(
        "error_text_of_300kb_integer",
        format!("{} bytes in {:?}", error.len(), started.elapsed()),
    );
}

fn rpc_timeout() {
    let node = Node::builder(random_name("hostile"))
        .cookie("x")
        .start()
        .expect("node");
    // A node that EPMD knows and whose port accepts connections but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    let port = listener.local_addr().expect("address").port();
    let alive = random_name("stall");
    let _registration = raw::epmd_register(&alive, port);
    let peer = format!("{alive}@{}", host_of(&node));
    let started = Instant::now();
    let result = node.rpc(&peer, "erlang", "node", vec![], Duration::from_secs(2));
    report(
        "rpc_2s_timeout_returned_after",
        format!(
            "{:?} ({})",
            started.elapsed(),
            result.err().map_or(String::new(), |e| e.to_string())
        ),
    );
    drop(listener);
    let builder = Node::builder("debug").cookie("SECRETCOOKIE");
    report(
        "builder_debug_shows_cookie",
        format!("{builder:?}").contains("SECRETCOOKIE"),
    );
}

fn monitors() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let (before, _) = rss_mib();
    {
        let (mut stream, peer) = raw::connect(&node, &cookie);
        let from = Pid {
            node: erldp::Atom::new(&peer),
            id: 1,
            serial: 0,
            creation: 1,
        };
        let mut frames = Vec::new();
        for i in 0..1_000_000u32 {
            let reference = erldp::Ref::new(erldp::Atom::new(&peer), 1, &[i, 0, 0]).expect("ref");
            let control = Term::tuple(vec![
                19.into(),
                from.into(),
                Term::atom("rex"),
                reference.into(),
            ]);
            raw::frame_into(&mut frames, &control);
        }
        // A node that bounds monitors per peer closes the connection part way.
        let written = stream.write_all(&frames);
        thread::sleep(Duration::from_secs(3));
        let alive = node.nodes().iter().any(|n| n.as_str() == peer);
        report(
            "monitors_sent",
            format!(
                "all written: {}; connection alive: {alive}",
                written.is_ok()
            ),
        );
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    thread::sleep(Duration::from_secs(2));
    let (after, _) = rss_mib();
    report("rss_after_peer_left_mib", format!("+{:.0}", after - before));
}

/// A peer sends `UNLINK_ID`s naming one of our mailboxes, each owed an `UNLINK_ID_ACK`, and
/// reads nothing, for at most 30 s; then the mailbox closes.
fn asks_unread() {
    let cookie = random_cookie();
    let node = lone_node(&cookie);
    let mailbox = node.mailbox(None).expect("mailbox");
    let (before, _) = rss_mib();
    reset_peak();
    let (stream, peer) = raw::handshake(&node, &cookie);
    let from = Pid {
        node: erldp::Atom::new(&peer),
        id: 1,
        serial: 0,
        creation: 1,
    };
    let control = Term::tuple(vec![35.into(), 9.into(), from.into(), mailbox.pid().into()]);
    let mut batch = Vec::new();
    for _ in 0..1000 {
        raw::frame_into(&mut batch, &control);
    }
    let (done, outcome) = std::sync::mpsc::channel();
    let mut writer = stream.try_clone().expect("clone");
    let start = Instant::now();
    thread::spawn(move || {
        let mut sent = 0usize;
        while writer.write_all(&batch).is_ok() {
            sent += batch.len();
        }
        let _ = done.send((sent, start.elapsed()));
    });
    match outcome.recv_timeout(Duration::from_secs(30)) {
        Ok((sent, took)) => report(
            "asker",
            format!(
                "cut off after sending {} MiB in {:.1} s",
                sent >> 20,
                took.as_secs_f64()
            ),
        ),
        Err(_) => report(
            "asker",
            "still connected after 30 s, its writes blocked: the node stopped reading from it",
        ),
    }
    let closing = Instant::now();
    drop(mailbox);
    report(
        "mailbox_close_ms",
        format!("{:.1}", closing.elapsed().as_secs_f64() * 1000.0),
    );
    let (_, peak) = rss_mib();
    report("rss_peak_mib", format!("+{:.0}", peak - before));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn truncate(text: &str) -> String {
    if text.len() > 200 {
        format!(
            "{}... ({} bytes)",
            &text[..text.floor_char_boundary(200)],
            text.len()
        )
    } else {
        text.to_string()
    }
}

/// Just enough of the protocol to play a peer: handshake messages, and frames with a
/// distribution header that references no cached atoms.
mod raw {
    use super::*;
    use md5::{Digest, Md5};

    pub fn send(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
        let mut framed = (message.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(message);
        stream.write_all(&framed)
    }

    pub fn recv(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut message)?;
        Ok(message)
    }

    pub fn name_message(name: &str) -> Vec<u8> {
        let mut message = vec![b'N'];
        message.extend_from_slice(&erldp::flags::SUPPORTED.to_be_bytes());
        message.extend_from_slice(&1u32.to_be_bytes());
        message.extend_from_slice(&(name.len() as u16).to_be_bytes());
        message.extend_from_slice(name.as_bytes());
        message
    }

    fn digest(challenge: u32, cookie: &str) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(cookie.as_bytes());
        md5.update(challenge.to_string().as_bytes());
        md5.finalize().into()
    }

    /// Connects to `node` as a new peer with the right cookie; returns the socket, after
    /// the handshake, and the peer's name. Nothing reads what the node writes.
    pub fn handshake(node: &Node, cookie: &str) -> (TcpStream, String) {
        let name = format!("{}@{}", random_name("raw"), host_of(node));
        let mut stream = TcpStream::connect(addr_of(node)).expect("connecting");
        send(&mut stream, &name_message(&name)).expect("name");
        let status = recv(&mut stream).expect("status");
        assert_eq!(status, b"sok", "status");
        let challenge = recv(&mut stream).expect("challenge");
        let theirs = u32::from_be_bytes(challenge[9..13].try_into().expect("4 bytes"));
        let mut reply = vec![b'r'];
        reply.extend_from_slice(&7u32.to_be_bytes());
        reply.extend_from_slice(&digest(theirs, cookie));
        send(&mut stream, &reply).expect("reply");
        let ack = recv(&mut stream).expect("ack");
        assert_eq!(ack[0], b'a', "ack");
        (stream, name)
    }

    /// [`handshake`], with what the node writes read and dropped.
    pub fn connect(node: &Node, cookie: &str) -> (TcpStream, String) {
        let (stream, name) = handshake(node, cookie);
        // Drained, so that the node never waits to write; not answered (a
        // tick written here could land inside a frame the scenario writes):
        // scenarios end long before the node misses a tick.
        let mut reader = stream.try_clone().expect("clone");
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
        (stream, name)
    }

    /// Registers `alive` at `port` with the EPMD on 4369; the name stays registered while
    /// the returned socket is open.
    pub fn epmd_register(alive: &str, port: u16) -> TcpStream {
        let mut request = vec![120];
        request.extend_from_slice(&port.to_be_bytes());
        request.extend_from_slice(&[77, 0, 0, 6, 0, 5]);
        request.extend_from_slice(&(alive.len() as u16).to_be_bytes());
        request.extend_from_slice(alive.as_bytes());
        request.extend_from_slice(&[0, 0]);
        let mut stream = TcpStream::connect("127.0.0.1:4369").expect("EPMD");
        send(&mut stream, &request).expect("ALIVE2_REQ");
        let mut response = [0u8; 4];
        stream.read_exact(&mut response).expect("ALIVE2 response");
        assert_eq!(response[1], 0, "EPMD refused the registration");
        stream
    }

    pub fn frame_into(out: &mut Vec<u8>, control: &Term) {
        let body = encode(control).expect("control encodes");
        out.extend_from_slice(&((body.len() - 1 + 3) as u32).to_be_bytes());
        out.extend_from_slice(&[131, 68, 0]);
        out.extend_from_slice(&body[1..]);
    }

    pub fn control(stream: &mut TcpStream, control: &Term) {
        let mut frame = Vec::new();
        frame_into(&mut frame, control);
        stream.write_all(&frame).expect("writing a frame");
    }
}
