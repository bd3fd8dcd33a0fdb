//! How the node scales with its peers and its mailboxes (issue 15, "Scale"): one hub node in
//! this process, and 1, 10, then 200 ErlDP peer nodes in a child process (so that the hub's
//! RSS and thread count are its own), all on loopback without EPMD.
//!
//! `cargo run --release -p erldp --example scale [-- PEERS,PEERS,..]` (default `1,10,200`).
//!
//! For each count the hub reports, once every peer is connected and idle, its threads and RSS,
//! and against the hub before they came the threads, RSS and virtual memory per connection;
//! then the peers send `TOTAL` `{seq, I, <<0:128>>}` in all to one mailbox of the hub, each
//! from a thread of its own, and the hub reports messages/s (from the go to the last message)
//! and its RSS after. Last, 100,000 mailboxes:
//! RSS and threads per mailbox. The limits that bound the number of connections (open files,
//! threads, the stack each thread reserves) are printed with them.
//!
//! No assertion is made on a time; a missing or out-of-order message fails the run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, EpmdMode, Node, Term};
use erldp_testkit::random_name;

/// Messages per count of peers, split evenly between them.
const TOTAL: usize = 200_000;
const MAILBOXES: usize = 100_000;
const COOKIE: &str = "scale_cookie";
/// A wait that takes longer than this has hung.
const T: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("peers") => peers(&args[1..]),
        Some(counts) => hub(&counts
            .split(',')
            .map(|n| n.parse().expect("a count"))
            .collect::<Vec<usize>>()),
        None => hub(&[1, 10, 200]),
    }
}

/// `key: value` fields of /proc/self/status, in KiB or as counted.
fn status(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(f64::NAN)
}

fn rss_mib() -> f64 {
    status("VmRSS:") / 1024.0
}

fn threads() -> f64 {
    status("Threads:")
}

fn read_limit(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

/// The soft limit of `resource` from /proc/self/limits (its row's first number).
fn rlimit(row: &str) -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with(row))?;
            Some(line[row.len()..].split_whitespace().next()?.to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn hub(counts: &[usize]) {
    let hub = Node::builder(random_name("scale_hub"))
        .cookie(COOKIE)
        .epmd(EpmdMode::None)
        .start()
        .expect("hub");
    let sink = hub.mailbox(Some("sink")).expect("sink");
    let exe = std::env::current_exe().expect("own path");
    println!("hub alone: {:.1} MiB RSS, {} threads", rss_mib(), threads());
    println!();
    println!(
        "| peers | hub threads | hub RSS idle, MiB | per connection: threads, RSS KiB, \
         virtual KiB | msgs/s, {TOTAL} in all | hub RSS after, MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for &count in counts {
        // Measured again before each count: what earlier counts left (the
        // allocator keeps freed memory) is not theirs.
        let (base_rss, base_threads, base_virtual) = (rss_mib(), threads(), status("VmSize:"));
        let mut child = Command::new(&exe)
            .args([
                "peers",
                &count.to_string(),
                hub.name().as_str(),
                &hub.port().to_string(),
                &(TOTAL / count).to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the peers' process");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        assert_eq!(
            lines.next().and_then(Result::ok).as_deref(),
            Some("connected"),
            "the peers connect"
        );
        let started = Instant::now();
        while hub.nodes().len() < count {
            assert!(started.elapsed() < T, "{count} peers did not all connect");
            thread::sleep(Duration::from_millis(50));
        }
        let (idle_rss, idle_threads, idle_virtual) = (rss_mib(), threads(), status("VmSize:"));
        let mut stdin = child.stdin.take().expect("piped");
        let go = Instant::now();
        writeln!(stdin, "go").expect("go");
        let per_peer = TOTAL / count;
        let mut next = std::collections::HashMap::new();
        for _ in 0..per_peer * count {
            let message = sink
                .recv_timeout(T)
                .expect("recv")
                .expect("a message in time");
            let (Some(from), Some(seq)) = (
                message.from,
                message
                    .term
                    .as_tuple()
                    .and_then(|t| t.get(1))
                    .and_then(Term::as_i64),
            ) else {
                panic!("unexpected {}", message.term);
            };
            let expected = next.entry(from).or_insert(1);
            assert_eq!(seq, *expected, "each peer's messages in order");
            *expected += 1;
        }
        let rate = (per_peer * count) as f64 / go.elapsed().as_secs_f64();
        let after_rss = rss_mib();
        drop(stdin);
        child.wait().expect("the peers' process ends");
        println!(
            "| {count} | {idle_threads} | {idle_rss:.1} | {:.2}, {:.0}, {:.0} | {rate:.0} | \
             {after_rss:.1} |",
            (idle_threads - base_threads) / count as f64,
            (idle_rss - base_rss) * 1024.0 / count as f64,
            (idle_virtual - base_virtual) / count as f64,
        );
        let started = Instant::now();
        while !hub.nodes().is_empty() {
            assert!(started.elapsed() < T, "the peers did not all go");
            thread::sleep(Duration::from_millis(50));
        }
    }
    let (before_rss, before_threads) = (rss_mib(), threads());
    let boxes: Vec<_> = (0..MAILBOXES)
        .map(|_| hub.mailbox(None).expect("mailbox"))
        .collect();
    let (rss, threads_now) = (rss_mib(), threads());
    println!();
    println!(
        "{MAILBOXES} mailboxes: {:.1} MiB RSS more ({:.0} bytes each), {} threads more",
        rss - before_rss,
        (rss - before_rss) * 1048576.0 / MAILBOXES as f64,
        threads_now - before_threads
    );
    drop(boxes);
    println!(
        "limits: open files {} (soft; a connection holds one), threads {} (soft), kernel \
         threads-max {}, pid_max {} (each thread takes a pid); a thread spawned by Rust \
         reserves 2 MiB of stack (virtual: the pages it touches count)",
        rlimit("Max open files"),
        rlimit("Max processes"),
        read_limit("/proc/sys/kernel/threads-max"),
        read_limit("/proc/sys/kernel/pid_max"),
    );
    hub.close();
}

/// The child: `scale peers N HUB PORT MESSAGES`. Starts N nodes, connects each to the hub,
/// says `connected`, and on `go` has each send MESSAGES to the hub's `sink`; ends when its
/// standard input closes.
fn peers(args: &[String]) {
    let [count, hub, port, messages] = args else {
        panic!("usage: scale peers N HUB PORT MESSAGES");
    };
    let count: usize = count.parse().expect("a count");
    let messages: usize = messages.parse().expect("a count");
    let nodes: Vec<Node> = (0..count)
        .map(|_| {
            let node = Node::builder(random_name("scale_peer"))
                .cookie(COOKIE)
                .epmd(EpmdMode::None)
                .start()
                .expect("peer node");
            node.connect_to(hub, ("127.0.0.1", port.parse::<u16>().expect("a port")))
                .expect("connect to the hub");
            node
        })
        .collect();
    println!("connected");
    let mut lines = std::io::stdin().lock().lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("go"));
    let sink = Dest::name("sink", hub);
    thread::scope(|scope| {
        for node in &nodes {
            let sink = &sink;
            scope.spawn(move || {
                let payload = Term::binary(vec![0u8; 16]);
                for i in 1..=messages {
                    let message =
                        Term::Tuple(vec![Term::atom("seq"), Term::from(i), payload.clone()]);
                    node.send(sink, message).expect("send");
                }
            });
        }
    });
    for _ in lines {}
    for node in nodes {
        node.close();
    }
}
