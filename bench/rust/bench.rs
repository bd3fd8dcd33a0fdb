//! Throughput and latency of the ErlDP Rust core against a real BEAM node,
//! with BEAM-to-BEAM anchors measured the same way in the same run.
//!
//! `make bench` runs it; by hand: `cargo run --release -p erldp --example bench`.
//! Each measurement runs `ROUNDS` times, alternating ErlDP and BEAM, and the
//! table shows the median with the min–max range.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, Node, Term};
use erldp_testkit::{random_name, BeamPeer};

const ROUNDS: usize = 3;
const MESSAGES: usize = 200_000;
const RPCS: usize = 20_000;
const CALLERS: usize = 16;
const CALLS_PER_CALLER: usize = 2_000;
const BIG: usize = 64 << 20;
const T: Duration = Duration::from_secs(120);

fn main() {
    let ebin = compile_bench_module();
    let start_peer = |cookie: Option<&str>| {
        let mut builder = BeamPeer::builder().arg("-pa").arg(&ebin);
        if let Some(cookie) = cookie {
            builder = builder.cookie(cookie);
        }
        builder.start()
    };
    let mut peer = start_peer(None);
    let mut anchor = start_peer(Some(peer.cookie()));
    let node = Node::builder(random_name("bench")).cookie(peer.cookie()).start().expect("node");
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let peer_name = peer.node().to_string();
    peer.eval_ok("erldp_bench:sink_start().");
    anchor.eval_ok(&format!("pong = net_adm:ping('{peer_name}')."));
    let payload = Term::binary(vec![0u8; 16]);

    let mut send = Row::new("one-way send, msgs/s");
    let mut receive = Row::new("receive, msgs/s");
    let mut rpc_median = Row::new("rpc erlang:node/0 median, µs");
    let mut rpc_p99 = Row::new("rpc erlang:node/0 p99, µs");
    let mut concurrent = Row::new("16 concurrent callers, calls/s");
    let mut big_out = Row::new("64 MiB binary to BEAM, MB/s");
    let mut big_in = Row::new("64 MiB binary from BEAM, MB/s");

    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        // One-way send: until the sink has every message (in order).
        let sink = Dest::name("sink", &peer_name);
        let started = Instant::now();
        for i in 1..=MESSAGES {
            let message = Term::Tuple(vec![Term::atom("seq"), Term::from(i as i64), payload.clone()]);
            inbox.send(&sink, message).expect("send");
        }
        let waited = node
            .rpc(&peer_name, "erldp_bench", "sink_wait", vec![Term::from(MESSAGES as i64), Term::from(60_000)], T)
            .expect("sink_wait");
        assert_eq!(waited, format!("{{{MESSAGES}, true}}").parse().expect("term"), "every message, in order");
        send.erldp.push(MESSAGES as f64 / started.elapsed().as_secs_f64());
        let micros: f64 = anchor
            .eval_ok(&format!("erldp_bench:beam_send('{peer_name}', {MESSAGES}, <<0:128>>)."))
            .parse()
            .expect("microseconds");
        send.beam.push(MESSAGES as f64 / (micros / 1e6));

        // Receive: the BEAM node blasts at our mailbox.
        let started = Instant::now();
        let blast = node
            .rpc_start(
                &peer_name,
                "erldp_bench",
                "blast",
                vec![Dest::name("inbox", node.name().as_str()).to_term(), Term::from(MESSAGES as i64), payload.clone()],
            )
            .expect("blast");
        for i in 1..=MESSAGES {
            let message = inbox.recv_timeout(T).expect("recv").expect("message in time");
            debug_assert_eq!(message.term.as_tuple().map(|t| t[1].clone()), Some(Term::from(i as i64)));
        }
        receive.erldp.push(MESSAGES as f64 / started.elapsed().as_secs_f64());
        blast.wait(T).expect("blast done");
        // BEAM to BEAM, the receiving side is a BEAM process: the same
        // measurement as the one-way anchor above.
        receive.beam.push(*send.beam.last().expect("measured above"));

        // rpc round trips, sequential.
        let mut times: Vec<f64> = (0..RPCS)
            .map(|_| {
                let started = Instant::now();
                node.rpc(&peer_name, "erlang", "node", vec![], T).expect("rpc");
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        rpc_median.erldp.push(times[times.len() / 2]);
        rpc_p99.erldp.push(times[times.len() * 99 / 100]);
        let beam: Vec<f64> = anchor
            .eval_ok(&format!(
                "L = erldp_bench:beam_rpc('{peer_name}', {RPCS}, 5000), \
                 {{lists:nth({} , L) / 1000, lists:nth({}, L) / 1000}}.",
                RPCS / 2 + 1,
                RPCS * 99 / 100 + 1
            ))
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|x| x.parse().expect("number"))
            .collect();
        rpc_median.beam.push(beam[0]);
        rpc_p99.beam.push(beam[1]);

        // Concurrent callers sharing one connection.
        let peer_arc: Arc<str> = peer_name.as_str().into();
        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let node = node.clone();
                let peer = Arc::clone(&peer_arc);
                thread::spawn(move || {
                    for _ in 0..CALLS_PER_CALLER {
                        node.rpc(&peer, "erlang", "node", vec![], T).expect("rpc");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().expect("caller");
        }
        concurrent.erldp.push((CALLERS * CALLS_PER_CALLER) as f64 / started.elapsed().as_secs_f64());

        // 64 MiB each way, and BEAM to BEAM.
        peer.eval_ok("erldp_test:collect(bigsink).");
        let big = Term::binary(vec![7u8; BIG]);
        let started = Instant::now();
        inbox.send(&Dest::name("bigsink", &peer_name), big).expect("send big");
        peer.eval_ok("[_] = erldp_test:collected(bigsink, 1, 60000), ok.");
        big_out.erldp.push(BIG as f64 / 1e6 / started.elapsed().as_secs_f64());
        peer.eval_ok(&format!("Big = binary:copy(<<7>>, {BIG}), ok."));
        let started = Instant::now();
        peer.eval_ok(&format!("{{inbox, '{}'}} ! Big, ok.", node.name()));
        let got = inbox.recv_timeout(T).expect("recv").expect("big in time");
        big_in.erldp.push(BIG as f64 / 1e6 / started.elapsed().as_secs_f64());
        assert_eq!(got.term.as_binary().map(<[u8]>::len), Some(BIG));
        drop(got);
        peer.eval_ok("f(Big).");
        peer.eval_ok("erldp_test:collect(bigsink).");
        let micros: f64 = anchor
            .eval_ok(&format!(
                "Big = binary:copy(<<7>>, {BIG}), T0 = erlang:monotonic_time(microsecond), \
                 {{bigsink, '{peer_name}'}} ! Big, \
                 [_] = erpc:call('{peer_name}', erldp_test, collected, [bigsink, 1, 60000]), \
                 erlang:monotonic_time(microsecond) - T0."
            ))
            .parse()
            .expect("microseconds");
        anchor.eval_ok("f().");
        big_out.beam.push(BIG as f64 / micros);
        big_in.beam.push(BIG as f64 / micros);
    }
    let rows = [send, receive, rpc_median, rpc_p99, concurrent, big_out, big_in];
    println!("{}", Row::table(&rows, peak_rss_mib()));
}

struct Row {
    name: &'static str,
    erldp: Vec<f64>,
    beam: Vec<f64>,
}

impl Row {
    fn new(name: &'static str) -> Row {
        Row { name, erldp: Vec::new(), beam: Vec::new() }
    }

    fn table(rows: &[Row], rss: f64) -> String {
        let mut out = format!("{:<34} {:>28} {:>28} {:>8}\n", "measurement", "ErlDP Rust core", "BEAM to BEAM", "ratio");
        for row in rows {
            let erldp = summary(&row.erldp);
            let beam = summary(&row.beam);
            let ratio = match (median(&row.erldp), median(&row.beam)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "-".into(),
            };
            out.push_str(&format!("{:<34} {:>28} {:>28} {:>8}\n", row.name, erldp, beam, ratio));
        }
        out.push_str(&format!("peak RSS of this process: {rss:.0} MiB\n"));
        out
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

fn summary(values: &[f64]) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    match median(&finite) {
        None => "-".into(),
        Some(m) => {
            let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{} ({}–{})", fmt(m), fmt(min), fmt(max))
        }
    }
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn compile_bench_module() -> PathBuf {
    let root = erldp_testkit::repo_root();
    let out = std::env::temp_dir().join(format!("erldp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("ebin dir");
    let status = Command::new("erlc")
        .arg("-o")
        .arg(&out)
        .arg(root.join("bench/erlang/erldp_bench.erl"))
        .status()
        .expect("erlc");
    assert!(status.success(), "erlc failed");
    out
}
