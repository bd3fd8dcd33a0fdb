//! `make bench`: ErlDP (the Rust core, through C, Ruby and Node) side by side with a C node
//! on erl_interface and with BEAM to BEAM, against one BEAM peer, in one run: calls out of
//! our node, and BEAM calling into it (the serve rows).
//!
//! By hand, after `cargo build --release -p erldp-capi`:
//! `cargo run --release -p erldp --example bench [-- --rounds N] [--only S,..] [--impls I,..]`
//! (`--only send,big_in` runs those scenarios, `--impls core,c` those implementations, by the
//! names the clients and [`Impl::key`] use).
//!
//! Before/after: with `ERLDP_BENCH_BASELINE` naming the root of another checkout whose
//! `target/release` holds its `bench` example and `libErlDP.so` (built with `cargo build
//! --release -p erldp --example bench -p erldp-capi` there), that checkout's Rust core client
//! and its own bench/c/erldp_client.c join the rounds as two more implementations, on the
//! scenarios every version has had (send to codec), so that old and new alternate in one run.
//!
//! Each ErlDP/ei measurement runs a fresh client process (`bench client ...` for the Rust
//! core, bench/c/*.c, bench/ruby/client.rb, bench/node/client.js): they all take
//! `SCENARIO PEER COOKIE ARG` and print `key value` lines, so every implementation does the
//! same work and the peak RSS of a 64 MiB transfer is that of its own process. BEAM to BEAM
//! runs on a second BEAM node (the anchor) against the same peer. Rounds alternate the
//! implementations; the table gives the median and the min–max of the rounds.
//!
//! In the serve scenarios the client serves `bench_calc` (answering `{add, A, B}`) and exposes
//! `bench_math:add/2`, then asks the peer's `serve_driver` to call in and to send it the
//! result, which it prints; for ei that is bench/c/ei_server.c, a C node answering
//! `gen_server` calls by hand. An implementation takes part in a scenario when
//! [`Impl::runs`] says so: the Ruby and Node clients join the serve rows there.
//!
//! The TLS rows run the same send, receive and rpc work over TLS distribution (`inet_tls`):
//! the Rust core against a second BEAM peer started with `-proto_dist inet_tls`, beside BEAM to
//! BEAM between two such nodes, all with one option file (test certificates made for the run;
//! the client reads the file named by `ERLDP_BENCH_TLS`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use erldp::term::{decode, encode};
use erldp::tls::TlsConfig;
use erldp::{Dest, Exception, Node, Reply, ServeOptions, Term};
use erldp_testkit::{random_name, repo_root, BeamPeer, Otp, TlsFiles};

/// Five, not three: on a 2-core VM one round in three can be off by half (the BEAM peer and the
/// client share the cores), and the median of five stays put where that of three did not.
const ROUNDS: usize = 5;
const MESSAGES: usize = 200_000;
const RPCS: usize = 20_000;
const CALLERS: usize = 16;
const CALLS_PER_CALLER: usize = 2_000;
const BIG: usize = 64 << 20;
/// Sequential calls into our node, and each of the 16 callers' calls.
const SERVE_CALLS: usize = 20_000;
const SERVE_CALLS_PER_CALLER: usize = 2_000;
/// The option file a client connects over TLS with, when set.
const TLS_ENV: &str = "ERLDP_BENCH_TLS";
/// The root of a checkout to compare with (see the module documentation).
const BASELINE_ENV: &str = "ERLDP_BENCH_BASELINE";
/// A client that takes longer than this has hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);
/// Codec measurements repeat the corpus for at least this long.
const CODEC_TIME: Duration = Duration::from_millis(500);
/// BEAM's codec measurement repeats the corpus this many times.
const BEAM_CODEC_ROUNDS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        client::run(&args[1..]);
        return;
    }
    let usage = "usage: bench [--rounds N] [--only SCENARIO,..] [--impls IMPL,..]";
    let mut selection = Selection {
        rounds: ROUNDS,
        scenarios: SCENARIOS.to_vec(),
        impls: IMPLS.to_vec(),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().expect(usage);
        let names = || value.split(',').map(str::trim);
        match flag.as_str() {
            "--rounds" => selection.rounds = value.parse().expect("--rounds takes a number"),
            "--only" => {
                selection.scenarios = names()
                    .map(|name| {
                        *SCENARIOS
                            .iter()
                            .find(|s| s.key() == name)
                            .unwrap_or_else(|| panic!("no scenario {name}"))
                    })
                    .collect()
            }
            "--impls" => {
                selection.impls = names()
                    .map(|name| {
                        *IMPLS
                            .iter()
                            .find(|i| i.key() == name)
                            .unwrap_or_else(|| panic!("no implementation {name}"))
                    })
                    .collect()
            }
            _ => panic!("{usage}"),
        }
    }
    run(&selection);
}

/// What one run measures.
struct Selection {
    rounds: usize,
    scenarios: Vec<Scenario>,
    impls: Vec<Impl>,
}

/// The work each client does; `arg` is what it gets as ARG.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Scenario {
    /// `MESSAGES` `{seq, I, <<0:128>>}` to `sink`, timed until the sink has them all in order.
    Send,
    /// The blaster sends `MESSAGES` such messages to `inbox` on the client's node, timed from
    /// the request to the last one (each checked for order).
    Receive,
    /// `RPCS` sequential `erlang:node()` rpcs: median, p99, calls/s.
    Rpc,
    /// `CALLERS` threads, `CALLS_PER_CALLER` rpcs each, one node (ei: a node per thread).
    Concurrent,
    /// One `BIG`-byte binary to `bigsink`, timed until it reports the size; peak RSS.
    BigOut,
    /// One `BIG`-byte binary from the blaster, timed from the request to its arrival.
    BigIn,
    /// Encode and decode every term of the corpus (and JSON of the same data where a
    /// language has it): ns per term.
    Codec,
    /// BEAM calls in: `SERVE_CALLS` sequential `gen_server:call`s to the client's served
    /// `bench_calc`: median, p99, calls/s.
    ServeCall,
    /// `CALLERS` BEAM processes, `SERVE_CALLS_PER_CALLER` calls each, to `bench_calc`
    /// (served one at a time, as a `gen_server` is): calls/s.
    ServeConcurrent,
    /// `SERVE_CALLS` sequential `erpc:call`s into the client's exposed `bench_math:add/2`.
    ServeErpc,
    /// [`ServeCall`](Self::ServeCall) with the handler on the reader
    /// ([`ServeOptions::on_reader`](erldp::ServeOptions::on_reader)).
    ServeCallOnReader,
    /// [`ServeConcurrent`](Self::ServeConcurrent) with the handler on the reader.
    ServeConcurrentOnReader,
    /// [`Send`](Self::Send) over TLS, against the TLS peer.
    TlsSend,
    /// [`Receive`](Self::Receive) over TLS.
    TlsReceive,
    /// [`Rpc`](Self::Rpc) over TLS.
    TlsRpc,
}

const SCENARIOS: [Scenario; 15] = [
    Scenario::Send,
    Scenario::Receive,
    Scenario::Rpc,
    Scenario::Concurrent,
    Scenario::BigOut,
    Scenario::BigIn,
    Scenario::Codec,
    Scenario::ServeCall,
    Scenario::ServeConcurrent,
    Scenario::ServeErpc,
    Scenario::ServeCallOnReader,
    Scenario::ServeConcurrentOnReader,
    Scenario::TlsSend,
    Scenario::TlsReceive,
    Scenario::TlsRpc,
];

impl Scenario {
    /// The client's name for the work (TLS or not).
    fn name(self) -> &'static str {
        match self {
            Scenario::Send | Scenario::TlsSend => "send",
            Scenario::Receive | Scenario::TlsReceive => "receive",
            Scenario::Rpc | Scenario::TlsRpc => "rpc",
            Scenario::Concurrent => "concurrent",
            Scenario::BigOut => "big_out",
            Scenario::BigIn => "big_in",
            Scenario::Codec => "codec",
            Scenario::ServeCall => "serve_call",
            Scenario::ServeConcurrent => "serve_concurrent",
            Scenario::ServeErpc => "serve_erpc",
            Scenario::ServeCallOnReader => "serve_call_on_reader",
            Scenario::ServeConcurrentOnReader => "serve_concurrent_on_reader",
        }
    }

    /// Whether BEAM calls into the client.
    fn serves(self) -> bool {
        matches!(
            self,
            Scenario::ServeCall
                | Scenario::ServeConcurrent
                | Scenario::ServeErpc
                | Scenario::ServeCallOnReader
                | Scenario::ServeConcurrentOnReader
        )
    }

    /// How `--only` names it: as the client does, with `tls_` before the TLS rows.
    fn key(self) -> &'static str {
        match self {
            Scenario::TlsSend => "tls_send",
            Scenario::TlsReceive => "tls_receive",
            Scenario::TlsRpc => "tls_rpc",
            other => other.name(),
        }
    }

    /// Whether it runs over TLS (the Rust core and BEAM only).
    fn tls(self) -> bool {
        matches!(
            self,
            Scenario::TlsSend | Scenario::TlsReceive | Scenario::TlsRpc
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Impl {
    Core,
    C,
    Ruby,
    Node,
    Ei,
    Beam,
    /// The Rust core of the `ERLDP_BENCH_BASELINE` checkout.
    BaselineCore,
    /// The C client and library of the `ERLDP_BENCH_BASELINE` checkout.
    BaselineC,
}

const IMPLS: [Impl; 8] = [
    Impl::Core,
    Impl::C,
    Impl::Ruby,
    Impl::Node,
    Impl::Ei,
    Impl::Beam,
    Impl::BaselineCore,
    Impl::BaselineC,
];

impl Impl {
    fn title(self) -> &'static str {
        match self {
            Impl::Core => "ErlDP Rust core",
            Impl::C => "ErlDP through C",
            Impl::Ruby => "Ruby",
            Impl::Node => "Node",
            Impl::Ei => "C node on ei",
            Impl::Beam => "BEAM to BEAM",
            Impl::BaselineCore => "baseline: Rust core",
            Impl::BaselineC => "baseline: through C",
        }
    }

    /// How `--impls` names it.
    fn key(self) -> &'static str {
        match self {
            Impl::Core => "core",
            Impl::C => "c",
            Impl::Ruby => "ruby",
            Impl::Node => "node",
            Impl::Ei => "ei",
            Impl::Beam => "beam",
            Impl::BaselineCore => "baseline_core",
            Impl::BaselineC => "baseline_c",
        }
    }

    /// Whether the implementation has `scenario`. ei has no term tree (no codec) and cannot
    /// answer spawn requests (no erpc into it). The Node client gets the serve scenarios
    /// (`serve_call`, `serve_concurrent`, `serve_erpc`, printing `median_us`, `p99_us` and
    /// `calls_per_s` as bench/c/erldp_client.c and bench/ruby/client.rb do) with its serve
    /// layer; add it here then. Over TLS: the Rust core and BEAM. Handlers on the reader: the
    /// Rust core and C, the two that have `on_reader`. A baseline runs the scenarios that
    /// every version of the clients since serving has had (one from before fails the serve
    /// rows, which come after the others).
    fn runs(self, scenario: Scenario) -> bool {
        if scenario.tls() {
            return matches!(self, Impl::Core | Impl::Beam);
        }
        if matches!(
            scenario,
            Scenario::ServeCallOnReader | Scenario::ServeConcurrentOnReader
        ) {
            return matches!(self, Impl::Core | Impl::C);
        }
        match self {
            Impl::Core | Impl::C | Impl::Beam | Impl::Ruby => true,
            Impl::BaselineCore | Impl::BaselineC => scenario <= Scenario::ServeErpc,
            Impl::Ei => !matches!(scenario, Scenario::Codec | Scenario::ServeErpc),
            Impl::Node => !scenario.serves(),
        }
    }
}

/// How to start an implementation's client, or why it cannot run here.
type Launcher = Result<Vec<String>, String>;

fn launchers(root: &Path, out: &Path) -> BTreeMap<Impl, Launcher> {
    let exe = std::env::current_exe()
        .expect("own path")
        .to_string_lossy()
        .into_owned();
    let mut map = BTreeMap::new();
    map.insert(Impl::Core, Ok(vec![exe, "client".into()]));
    map.insert(Impl::C, build_c_client(root, out));
    map.insert(Impl::Ei, build_ei(root, out, "ei_client"));
    map.insert(
        Impl::Ruby,
        binding(
            root,
            "ruby/lib/erldp.rb",
            &["ruby", "-I", "ruby/lib", "-e", "require 'erldp'"],
        )
        .map(|()| {
            vec![
                "ruby".into(),
                "-I".into(),
                "ruby/lib".into(),
                "bench/ruby/client.rb".into(),
            ]
        }),
    );
    map.insert(
        Impl::Node,
        binding(
            root,
            "node/package.json",
            &["node", "-e", "require('./node')"],
        )
        .map(|()| vec!["node".into(), "bench/node/client.js".into()]),
    );
    let baseline = std::env::var_os(BASELINE_ENV).map(PathBuf::from);
    let missing = || Err(format!("not asked for (set {BASELINE_ENV})"));
    map.insert(
        Impl::BaselineCore,
        baseline.as_ref().map_or_else(missing, |dir| {
            let exe = dir.join("target/release/examples/bench");
            if exe.exists() {
                Ok(vec![exe.to_string_lossy().into_owned(), "client".into()])
            } else {
                Err(format!("missing: {}", exe.display()))
            }
        }),
    );
    map.insert(
        Impl::BaselineC,
        baseline.as_ref().map_or_else(missing, |dir| {
            let out = out.join("baseline");
            std::fs::create_dir_all(&out).map_err(|err| format!("{}: {err}", out.display()))?;
            build_c_client(dir, &out)
        }),
    );
    map
}

/// A binding can run once it is on this branch and loads.
fn binding(root: &Path, marker: &str, load: &[&str]) -> Result<(), String> {
    if !root.join(marker).exists() {
        return Err(format!("missing: {marker} is not on this branch yet"));
    }
    let output = Command::new(load[0])
        .args(&load[1..])
        .current_dir(root)
        .output();
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "does not load: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => Err(format!("cannot run {}: {err}", load[0])),
    }
}

fn gcc(args: &[&str]) -> Result<(), String> {
    let output = Command::new("gcc")
        .args(args)
        .output()
        .map_err(|err| format!("cannot run gcc: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "gcc failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn build_c_client(root: &Path, out: &Path) -> Launcher {
    let lib = root.join("target/release");
    if !lib.join("libErlDP.so").exists() {
        return Err(
            "missing: target/release/libErlDP.so (cargo build --release -p erldp-capi)".into(),
        );
    }
    // The client records the library's SONAME, which names no file cargo
    // writes: a link by that name next to the client does. A library built
    // before it had one (a baseline) is recorded by its file name.
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libErlDP.so"))
        .output()
        .map_err(|err| format!("cannot run readelf: {err}"))?;
    let soname = String::from_utf8_lossy(&dynamic.stdout)
        .lines()
        .find_map(|line| {
            Some(
                line.split_once("Library soname: [")?
                    .1
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .unwrap_or_else(|| "libErlDP.so".into());
    let link = out.join(&soname);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(lib.join("libErlDP.so"), &link)
        .map_err(|err| format!("linking {soname}: {err}"))?;
    let exe = out.join("erldp_client");
    gcc(&[
        "-O2",
        "-Wall",
        "-I",
        &root.join("include").to_string_lossy(),
        "-o",
        &exe.to_string_lossy(),
        &root.join("bench/c/erldp_client.c").to_string_lossy(),
        "-L",
        &lib.to_string_lossy(),
        "-lErlDP",
        &format!("-Wl,-rpath,{}", out.display()),
        "-pthread",
    ])?;
    Ok(vec![exe.to_string_lossy().into_owned()])
}

/// Builds `bench/c/{program}.c` against erlang-dev's libei.
fn build_ei(root: &Path, out: &Path, program: &str) -> Launcher {
    let ei = std::fs::read_dir("/usr/lib/erlang/lib")
        .map_err(|err| format!("no OTP under /usr/lib/erlang: {err}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("erl_interface-"))
        })
        .ok_or("missing: erl_interface (apt-get install erlang-dev)")?;
    let exe = out.join(program);
    gcc(&[
        "-O2",
        "-Wall",
        "-I",
        &ei.join("include").to_string_lossy(),
        "-o",
        &exe.to_string_lossy(),
        &root.join(format!("bench/c/{program}.c")).to_string_lossy(),
        &ei.join("lib/libei.a").to_string_lossy(),
        "-pthread",
    ])?;
    Ok(vec![exe.to_string_lossy().into_owned()])
}

/// What one measurement printed, by key.
type Sample = BTreeMap<String, f64>;

/// Runs one client; `tls` is the option file it connects with, for TLS scenarios.
fn run_client(
    command: &[String],
    root: &Path,
    scenario: Scenario,
    peer: &str,
    cookie: &str,
    arg: &str,
    tls: Option<&Path>,
) -> Result<Sample, String> {
    let mut child = Command::new(&command[0]);
    child.env_remove(TLS_ENV);
    if let Some(optfile) = tls {
        child.env(TLS_ENV, optfile);
    }
    let mut child = child
        .args(&command[1..])
        .args([scenario.name(), peer, cookie, arg])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", command[0]))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} {} timed out",
                command.join(" "),
                scenario.name()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{} {} failed ({status}): {}",
            command.join(" "),
            scenario.name(),
            err.trim()
        ));
    }
    Ok(out
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect())
}

/// The anchor's measurement of `scenario`, BEAM to BEAM.
fn run_beam(
    anchor: &mut BeamPeer,
    scenario: Scenario,
    peer: &str,
    corpus_text: &Path,
) -> Result<Sample, String> {
    let numbers = |text: String| -> Vec<f64> {
        text.trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect()
    };
    let eval = |anchor: &mut BeamPeer, expr: String| anchor.eval(&expr).map(numbers);
    let sample = |pairs: &[(&str, f64)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<Sample>()
    };
    Ok(match scenario {
        Scenario::Send | Scenario::TlsSend => {
            let v = eval(
                anchor,
                format!("erldp_bench:beam_send('{peer}', {MESSAGES})."),
            )?;
            sample(&[("msgs_per_s", v[0])])
        }
        Scenario::Receive | Scenario::TlsReceive => {
            let v = eval(
                anchor,
                format!("erldp_bench:beam_receive('{peer}', {MESSAGES})."),
            )?;
            sample(&[("msgs_per_s", v[0])])
        }
        Scenario::Rpc | Scenario::TlsRpc => {
            let v = eval(anchor, format!("erldp_bench:beam_rpc('{peer}', {RPCS})."))?;
            sample(&[("median_us", v[0]), ("p99_us", v[1]), ("calls_per_s", v[2])])
        }
        Scenario::Concurrent => {
            let v = eval(
                anchor,
                format!("erldp_bench:beam_concurrent('{peer}', {CALLERS}, {CALLS_PER_CALLER})."),
            )?;
            sample(&[("calls_per_s", v[0])])
        }
        Scenario::BigOut => {
            let v = eval(anchor, format!("erldp_bench:beam_big_out('{peer}')."))?;
            sample(&[("mb_per_s", v[0])])
        }
        Scenario::BigIn => {
            let v = eval(anchor, format!("erldp_bench:beam_big_in('{peer}')."))?;
            sample(&[("mb_per_s", v[0])])
        }
        Scenario::Codec => {
            let v = eval(
                anchor,
                format!(
                    "erldp_bench:beam_codec(\"{}\", {BEAM_CODEC_ROUNDS}).",
                    corpus_text.display()
                ),
            )?;
            sample(&[("encode_ns", v[0]), ("decode_ns", v[1])])
        }
        Scenario::ServeCall
        | Scenario::ServeConcurrent
        | Scenario::ServeErpc
        | Scenario::ServeCallOnReader
        | Scenario::ServeConcurrentOnReader => {
            let (kind, calls, callers) = match scenario {
                Scenario::ServeCall | Scenario::ServeCallOnReader => ("call", SERVE_CALLS, 1),
                Scenario::ServeConcurrent | Scenario::ServeConcurrentOnReader => {
                    ("call", SERVE_CALLS_PER_CALLER, CALLERS)
                }
                _ => ("erpc", SERVE_CALLS, 1),
            };
            let v = eval(
                anchor,
                format!("erldp_bench:beam_serve({kind}, '{peer}', {calls}, {callers})."),
            )?;
            sample(&[("median_us", v[0]), ("p99_us", v[1]), ("calls_per_s", v[2])])
        }
    })
}

fn arg_for(scenario: Scenario, corpus: &Path) -> String {
    match scenario {
        Scenario::Send | Scenario::Receive | Scenario::TlsSend | Scenario::TlsReceive => {
            MESSAGES.to_string()
        }
        Scenario::Rpc | Scenario::TlsRpc => RPCS.to_string(),
        Scenario::Concurrent => CALLS_PER_CALLER.to_string(),
        Scenario::BigOut | Scenario::BigIn => BIG.to_string(),
        Scenario::Codec => corpus.to_string_lossy().into_owned(),
        Scenario::ServeCall | Scenario::ServeErpc | Scenario::ServeCallOnReader => {
            SERVE_CALLS.to_string()
        }
        Scenario::ServeConcurrent | Scenario::ServeConcurrentOnReader => {
            SERVE_CALLS_PER_CALLER.to_string()
        }
    }
}

/// The first three fields of /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// Cores and CPU model, from the kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores, {model}")
}

fn run(selection: &Selection) {
    let rounds = selection.rounds;
    let started = Instant::now();
    let load_before = load_average();
    let root = repo_root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let ebin = compile_bench_module(&out);
    let corpus_text = root.join("tests/corpus.txt");
    let corpus = write_corpus(&corpus_text, &out.join("corpus.etf"));
    let launchers = launchers(&root, &out);
    let ei_server = build_ei(&root, &out, "ei_server");

    // Test certificates, and the option file both BEAM nodes and our client read.
    let tls_files = TlsFiles::generate(&Otp::System);
    let tls_opts = tls_files.verifying_opts("node");
    let optfile = tls_files.optfile("bench.conf", &tls_opts, &tls_opts);

    let start_peer = |cookie: Option<&str>, tls: bool| {
        let mut builder = BeamPeer::builder()
            .name_prefix("erldp_bench_")
            .arg("-pa")
            .arg(&ebin)
            .eval_timeout(CLIENT_TIMEOUT);
        if let Some(cookie) = cookie {
            builder = builder.cookie(cookie);
        }
        if tls {
            builder = builder.tls(&optfile);
        }
        builder.start()
    };
    let mut peer = start_peer(None, false);
    let mut anchor = start_peer(Some(peer.cookie()), false);
    let peer_name = peer.node().to_string();
    let cookie = peer.cookie().to_string();
    peer.eval_ok("erldp_bench:start().");
    // The TLS pair: a peer and an anchor of their own, only when a TLS row runs.
    let mut tls = selection.scenarios.iter().any(|s| s.tls()).then(|| {
        let mut tls_peer = start_peer(Some(&cookie), true);
        let mut tls_anchor = start_peer(Some(&cookie), true);
        let name = tls_peer.node().to_string();
        tls_peer.eval_ok("erldp_bench:start().");
        tls_anchor.eval_ok(&format!("pong = net_adm:ping('{name}')."));
        (tls_peer, tls_anchor, name)
    });
    let otp = peer.eval_ok(
        "erlang:system_info(otp_release) ++ \" (erts \" ++ erlang:system_info(version) ++ \")\".",
    );
    anchor.eval_ok(&format!("pong = net_adm:ping('{peer_name}')."));

    let mut results: BTreeMap<(Scenario, Impl), Vec<Sample>> = BTreeMap::new();
    let mut failures: BTreeMap<Impl, String> = BTreeMap::new();
    for round in 0..rounds {
        // Rotate who goes first, so no implementation always follows the same one.
        let mut order = selection.impls.clone();
        let first = round % order.len().max(1);
        order.rotate_left(first);
        for &scenario in &selection.scenarios {
            eprintln!("round {}/{rounds}: {}", round + 1, scenario.name());
            for &imp in &order {
                if failures.contains_key(&imp) {
                    continue;
                }
                if !imp.runs(scenario) {
                    continue;
                }
                let launcher = match imp {
                    Impl::Ei if scenario.serves() => Some(&ei_server),
                    _ => launchers.get(&imp),
                };
                let (peer_name, anchor, tls) = match (&mut tls, scenario.tls()) {
                    (Some((_, tls_anchor, tls_peer_name)), true) => {
                        (&*tls_peer_name, tls_anchor, Some(optfile.as_path()))
                    }
                    _ => (&peer_name, &mut anchor, None),
                };
                let result = match (imp, launcher) {
                    (Impl::Beam, _) => run_beam(anchor, scenario, peer_name, &corpus_text),
                    (_, Some(Ok(command))) => run_client(
                        command,
                        &root,
                        scenario,
                        peer_name,
                        &cookie,
                        &arg_for(scenario, &corpus),
                        tls,
                    ),
                    _ => continue,
                };
                match result {
                    Ok(sample) => results.entry((scenario, imp)).or_default().push(sample),
                    Err(err) => {
                        eprintln!("{}: {err}", imp.title());
                        failures.insert(imp, err);
                    }
                }
            }
        }
    }
    let mut absent: BTreeMap<Impl, String> = launchers
        .into_iter()
        .filter(|(imp, _)| selection.impls.contains(imp))
        .filter_map(|(imp, launcher)| launcher.err().map(|why| (imp, why)))
        .collect();
    if let Err(why) = ei_server {
        absent.insert(Impl::Ei, format!("ei_server: {why}"));
    }
    absent.extend(
        failures
            .into_iter()
            .map(|(imp, err)| (imp, format!("failed: {err}"))),
    );
    println!("{}", report(&results, &absent, rounds, started.elapsed()));
    println!(
        "Machine: {}; OTP {}; load average (1, 5, 15 min) {load_before} at the start, {} at the end.",
        machine(),
        otp.trim_matches('"'),
        load_average()
    );
}

/// One line of the table: a key of one scenario's output (the title says its unit).
struct Row {
    title: &'static str,
    scenario: Scenario,
    key: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        title: "one-way send, msgs/s",
        scenario: Scenario::Send,
        key: "msgs_per_s",
    },
    Row {
        title: "receive, msgs/s",
        scenario: Scenario::Receive,
        key: "msgs_per_s",
    },
    Row {
        title: "rpc erlang:node/0 median, µs",
        scenario: Scenario::Rpc,
        key: "median_us",
    },
    Row {
        title: "rpc erlang:node/0 p99, µs",
        scenario: Scenario::Rpc,
        key: "p99_us",
    },
    Row {
        title: "rpc, 1 caller, calls/s",
        scenario: Scenario::Rpc,
        key: "calls_per_s",
    },
    Row {
        title: "rpc, 16 callers, calls/s",
        scenario: Scenario::Concurrent,
        key: "calls_per_s",
    },
    Row {
        title: "64 MiB binary to BEAM, MB/s",
        scenario: Scenario::BigOut,
        key: "mb_per_s",
    },
    Row {
        title: "  peak RSS, MiB",
        scenario: Scenario::BigOut,
        key: "peak_rss_mib",
    },
    Row {
        title: "64 MiB binary from BEAM, MB/s",
        scenario: Scenario::BigIn,
        key: "mb_per_s",
    },
    Row {
        title: "  peak RSS, MiB",
        scenario: Scenario::BigIn,
        key: "peak_rss_mib",
    },
    Row {
        title: "TLS (inet_tls): one-way send, msgs/s",
        scenario: Scenario::TlsSend,
        key: "msgs_per_s",
    },
    Row {
        title: "TLS (inet_tls): receive, msgs/s",
        scenario: Scenario::TlsReceive,
        key: "msgs_per_s",
    },
    Row {
        title: "TLS (inet_tls): rpc erlang:node/0 median, µs",
        scenario: Scenario::TlsRpc,
        key: "median_us",
    },
    Row {
        title: "ETF encode, ns/term",
        scenario: Scenario::Codec,
        key: "encode_ns",
    },
    Row {
        title: "ETF decode, ns/term",
        scenario: Scenario::Codec,
        key: "decode_ns",
    },
    Row {
        title: "JSON encode (same data), ns/term",
        scenario: Scenario::Codec,
        key: "json_encode_ns",
    },
    Row {
        title: "JSON decode (same data), ns/term",
        scenario: Scenario::Codec,
        key: "json_decode_ns",
    },
    Row {
        title: "BEAM calls us: gen_server:call median, µs",
        scenario: Scenario::ServeCall,
        key: "median_us",
    },
    Row {
        title: "BEAM calls us: gen_server:call p99, µs",
        scenario: Scenario::ServeCall,
        key: "p99_us",
    },
    Row {
        title: "BEAM calls us: gen_server:call, 1 caller, calls/s",
        scenario: Scenario::ServeCall,
        key: "calls_per_s",
    },
    Row {
        title: "BEAM calls us: gen_server:call, 16 callers, calls/s",
        scenario: Scenario::ServeConcurrent,
        key: "calls_per_s",
    },
    Row {
        title: "BEAM calls us: erpc:call median, µs",
        scenario: Scenario::ServeErpc,
        key: "median_us",
    },
    Row {
        title: "BEAM calls us: erpc:call, calls/s",
        scenario: Scenario::ServeErpc,
        key: "calls_per_s",
    },
    Row {
        title: "BEAM calls us, handler on the reader: gen_server:call median, µs",
        scenario: Scenario::ServeCallOnReader,
        key: "median_us",
    },
    Row {
        title: "BEAM calls us, handler on the reader: gen_server:call, 1 caller, calls/s",
        scenario: Scenario::ServeCallOnReader,
        key: "calls_per_s",
    },
    Row {
        title: "BEAM calls us, handler on the reader: gen_server:call, 16 callers, calls/s",
        scenario: Scenario::ServeConcurrentOnReader,
        key: "calls_per_s",
    },
];

fn values(
    results: &BTreeMap<(Scenario, Impl), Vec<Sample>>,
    scenario: Scenario,
    imp: Impl,
    key: &str,
) -> Vec<f64> {
    results
        .get(&(scenario, imp))
        .map(|samples| samples.iter().filter_map(|s| s.get(key).copied()).collect())
        .unwrap_or_default()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn cell(values: &[f64]) -> String {
    match median(values) {
        None => "–".into(),
        Some(m) if values.len() == 1 => fmt(m),
        Some(m) => {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{} ({}–{})", fmt(m), fmt(min), fmt(max))
        }
    }
}

/// `a / b` of the medians: how many times the anchor's value the core's is.
fn ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    match (median(a), median(b)) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn report(
    results: &BTreeMap<(Scenario, Impl), Vec<Sample>>,
    absent: &BTreeMap<Impl, String>,
    rounds: usize,
    took: Duration,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{rounds} rounds, median (min–max); ratios are of medians, ErlDP Rust core ÷ anchor.\n\n"
    ));
    // Columns and rows that something was measured for (a run of `--only` or `--impls` has
    // fewer); the baseline's ratio only when one ran.
    let measured = |imp: Impl| results.keys().any(|&(_, i)| i == imp);
    let columns: Vec<Impl> = IMPLS.into_iter().filter(|&imp| measured(imp)).collect();
    let mut anchors = vec![(Impl::Ei, "core ÷ ei"), (Impl::Beam, "core ÷ BEAM")];
    if measured(Impl::BaselineCore) {
        anchors.push((Impl::BaselineCore, "core ÷ baseline core"));
    }
    out.push_str("| measurement |");
    for imp in &columns {
        out.push_str(&format!(" {} |", imp.title()));
    }
    for (_, title) in &anchors {
        out.push_str(&format!(" {title} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len() + anchors.len()));
    out.push('\n');
    for row in ROWS {
        if columns
            .iter()
            .all(|&imp| values(results, row.scenario, imp, row.key).is_empty())
        {
            continue;
        }
        out.push_str(&format!("| {} |", row.title));
        for &imp in &columns {
            out.push_str(&format!(
                " {} |",
                cell(&values(results, row.scenario, imp, row.key))
            ));
        }
        let core = values(results, row.scenario, Impl::Core, row.key);
        for &(anchor, _) in &anchors {
            let r = ratio(&core, &values(results, row.scenario, anchor, row.key));
            out.push_str(&format!(
                " {} |",
                r.map_or("–".into(), |r| format!("{r:.2}"))
            ));
        }
        out.push('\n');
    }
    for (imp, why) in absent {
        out.push_str(&format!("\n{}: {why}", imp.title()));
    }
    out.push_str("\n\nTargets (this run):\n");
    let get = |scenario, imp, key| values(results, scenario, imp, key);
    let mut target = |text: &str, value: Option<f64>, goal: f64, at_least: bool| {
        // A run of `--only` or `--impls` measures some of them.
        let verdict = match value {
            None => return,
            Some(v) if (at_least && v >= goal) || (!at_least && v <= goal) => {
                format!("{v:.2} — met")
            }
            Some(v) => format!("{v:.2} — NOT met"),
        };
        out.push_str(&format!("- {text}: {verdict}\n"));
    };
    use Impl::*;
    use Scenario::*;
    target(
        "core send ÷ ei send ≥ 2",
        ratio(&get(Send, Core, "msgs_per_s"), &get(Send, Ei, "msgs_per_s")),
        2.0,
        true,
    );
    target(
        "core send ÷ BEAM send ≥ 1",
        ratio(
            &get(Send, Core, "msgs_per_s"),
            &get(Send, Beam, "msgs_per_s"),
        ),
        1.0,
        true,
    );
    target(
        "core receive ÷ BEAM receive ≥ 1",
        ratio(
            &get(Receive, Core, "msgs_per_s"),
            &get(Receive, Beam, "msgs_per_s"),
        ),
        1.0,
        true,
    );
    target(
        "core rpc median ÷ ei_rpc median ≤ 1",
        ratio(&get(Rpc, Core, "median_us"), &get(Rpc, Ei, "median_us")),
        1.0,
        false,
    );
    target(
        "core 16 callers ÷ core 1 caller ≥ 4",
        ratio(
            &get(Concurrent, Core, "calls_per_s"),
            &get(Rpc, Core, "calls_per_s"),
        ),
        4.0,
        true,
    );
    target(
        "core 64 MiB out ÷ BEAM ≥ 1",
        ratio(
            &get(BigOut, Core, "mb_per_s"),
            &get(BigOut, Beam, "mb_per_s"),
        ),
        1.0,
        true,
    );
    target(
        "core 64 MiB in ÷ BEAM ≥ 1",
        ratio(&get(BigIn, Core, "mb_per_s"), &get(BigIn, Beam, "mb_per_s")),
        1.0,
        true,
    );
    target(
        "core TLS send ÷ BEAM TLS send ≥ 1",
        ratio(
            &get(TlsSend, Core, "msgs_per_s"),
            &get(TlsSend, Beam, "msgs_per_s"),
        ),
        1.0,
        true,
    );
    target(
        "core TLS receive ÷ BEAM TLS receive ≥ 1",
        ratio(
            &get(TlsReceive, Core, "msgs_per_s"),
            &get(TlsReceive, Beam, "msgs_per_s"),
        ),
        1.0,
        true,
    );
    target(
        "core TLS rpc median ÷ BEAM TLS rpc median ≤ 1",
        ratio(
            &get(TlsRpc, Core, "median_us"),
            &get(TlsRpc, Beam, "median_us"),
        ),
        1.0,
        false,
    );
    let payload = BIG as f64 / (1 << 20) as f64;
    for (scenario, what) in [(BigOut, "out"), (BigIn, "in")] {
        target(
            &format!("core peak RSS, 64 MiB {what}, ÷ payload ≤ 3"),
            median(&get(scenario, Core, "peak_rss_mib")).map(|m| m / payload),
            3.0,
            false,
        );
    }
    target(
        "core served gen_server:call median ÷ ei C node's ≤ 1",
        ratio(
            &get(ServeCall, Core, "median_us"),
            &get(ServeCall, Ei, "median_us"),
        ),
        1.0,
        false,
    );
    target(
        "core served gen_server:call, 16 callers ÷ ei C node's ≥ 1",
        ratio(
            &get(ServeConcurrent, Core, "calls_per_s"),
            &get(ServeConcurrent, Ei, "calls_per_s"),
        ),
        1.0,
        true,
    );
    // ei's C node answers on the thread that reads, as on_reader does.
    target(
        "core served gen_server:call on the reader, median ÷ ei C node's ≤ 1",
        ratio(
            &get(ServeCallOnReader, Core, "median_us"),
            &get(ServeCall, Ei, "median_us"),
        ),
        1.0,
        false,
    );
    target(
        "core served gen_server:call on the reader, 16 callers ÷ ei C node's ≥ 1",
        ratio(
            &get(ServeConcurrentOnReader, Core, "calls_per_s"),
            &get(ServeConcurrent, Ei, "calls_per_s"),
        ),
        1.0,
        true,
    );
    for binding in [Ruby, Node] {
        for scenario in [ServeCall, ServeErpc] {
            target(
                &format!(
                    "{} {} calls/s ÷ core's ≥ 0.5",
                    binding.title(),
                    scenario.name()
                ),
                ratio(
                    &get(scenario, binding, "calls_per_s"),
                    &get(scenario, Core, "calls_per_s"),
                ),
                0.5,
                true,
            );
        }
        target(
            &format!("{} send ÷ core send ≥ 0.5", binding.title()),
            ratio(
                &get(Send, binding, "msgs_per_s"),
                &get(Send, Core, "msgs_per_s"),
            ),
            0.5,
            true,
        );
        for (key, json) in [
            ("encode_ns", "json_encode_ns"),
            ("decode_ns", "json_decode_ns"),
        ] {
            target(
                &format!("{} ETF {} time ÷ JSON's ≤ 1", binding.title(), &key[..6]),
                ratio(&get(Codec, binding, key), &get(Codec, binding, json)),
                1.0,
                false,
            );
        }
    }
    out.push_str(&format!("\nThe run took {:.0} s.", took.as_secs_f64()));
    out
}

fn compile_bench_module(out: &Path) -> PathBuf {
    let ebin = out.join("ebin");
    std::fs::create_dir_all(&ebin).expect("ebin dir");
    let status = Command::new("erlc")
        .arg("-o")
        .arg(&ebin)
        .arg(repo_root().join("bench/erlang/erldp_bench.erl"))
        .status()
        .expect("erlc");
    assert!(status.success(), "erlc failed");
    ebin
}

/// Writes the corpus (Erlang text, one term a line) as ETF for the clients: each term as a
/// 4-byte big-endian length and `term_to_binary` bytes.
fn write_corpus(text: &Path, etf: &Path) -> PathBuf {
    let source = std::fs::read_to_string(text).expect("tests/corpus.txt");
    let mut bytes = Vec::new();
    for line in source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('%'))
    {
        let term: Term = line.parse().unwrap_or_else(|err| panic!("{err}: {line}"));
        let encoded = encode(&term).expect("corpus term encodes");
        bytes.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&encoded);
    }
    std::fs::write(etf, bytes).expect("write corpus.etf");
    etf.to_path_buf()
}

/// Reads what [`write_corpus`] wrote.
fn read_corpus(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("corpus.etf");
    let mut terms = Vec::new();
    let mut rest = &bytes[..];
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        terms.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    terms
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The Rust core's client: `bench client SCENARIO PEER COOKIE ARG`.
mod client {
    use super::*;

    pub fn run(args: &[String]) {
        let [scenario, peer, cookie, arg] = args else {
            panic!("usage: bench client SCENARIO PEER COOKIE ARG");
        };
        if scenario == "codec" {
            codec(Path::new(arg));
            return;
        }
        let mut builder = Node::builder(random_name("bench_rs")).cookie(cookie.as_str());
        if let Some(optfile) = std::env::var_os(TLS_ENV) {
            builder = builder.tls(TlsConfig::from_optfile(optfile).expect("the TLS option file"));
        }
        let node = builder.start().expect("node");
        node.connect(peer).expect("connect");
        let n: usize = arg.parse().expect("a number");
        match scenario.as_str() {
            "send" => send(&node, peer, n),
            "receive" => receive(&node, peer, n),
            "rpc" => rpc(&node, peer, n),
            "concurrent" => concurrent(&node, peer, n),
            "big_out" => big_out(&node, peer, n),
            "big_in" => big_in(&node, peer, n),
            "serve_call" => serve(&node, peer, "call", n, 1, false),
            "serve_concurrent" => serve(&node, peer, "call", n, CALLERS, false),
            "serve_erpc" => serve(&node, peer, "erpc", n, 1, false),
            "serve_call_on_reader" => serve(&node, peer, "call", n, 1, true),
            "serve_concurrent_on_reader" => serve(&node, peer, "call", n, CALLERS, true),
            other => panic!("unknown scenario {other}"),
        }
        node.close();
    }

    /// `{add, A, B}` or `[A, B]` → `A + B`.
    fn add(terms: &[Term]) -> Result<Term, Exception> {
        match terms {
            [a, b] => match (a.as_i64(), b.as_i64()) {
                (Some(a), Some(b)) => Ok(Term::from(a + b)),
                _ => Err(Exception::new("ArgumentError", "add takes integers")),
            },
            _ => Err(Exception::new("ArgumentError", "add takes two arguments")),
        }
    }

    /// Serves `bench_calc` and exposes `bench_math`, and has the peer's `serve_driver` call
    /// in: `callers` processes, `calls` calls each, of `kind` `call` or `erpc`; the handlers
    /// run on the reader when `on_reader`.
    fn serve(node: &Node, peer: &str, kind: &str, calls: usize, callers: usize, on_reader: bool) {
        let options = ServeOptions::new().on_reader(on_reader);
        let _calc = node
            .serve_with("bench_calc", options, |request| {
                match request.message.as_tuple() {
                    Some([_, rest @ ..]) => add(rest).map(Reply::Value),
                    _ => Err(Exception::new("ArgumentError", "not {add, A, B}")),
                }
            })
            .expect("serve");
        let _math = node
            .expose_with("bench_math", options, |call| add(&call.args))
            .expect("expose");
        let result = node.mailbox(Some("bench_result")).expect("mailbox");
        let us = Term::Atom(node.name());
        let target = match kind {
            "call" => Term::Tuple(vec![Term::atom("bench_calc"), us.clone()]),
            _ => Term::Tuple(vec![us.clone(), Term::atom("bench_math")]),
        };
        let request = Term::Tuple(vec![
            Term::atom(kind),
            target,
            Term::from(calls),
            Term::from(callers),
            Term::Tuple(vec![Term::atom("bench_result"), us]),
        ]);
        node.send(&Dest::name("serve_driver", peer), request)
            .expect("send");
        let message = result.recv_timeout(T).expect("recv").expect("a result");
        let values: Vec<f64> = message
            .term
            .as_tuple()
            .map(|t| t[1..].iter().filter_map(Term::as_f64).collect())
            .unwrap_or_default();
        let [median, p99, rate] = values[..] else {
            panic!("unexpected result {}", message.term);
        };
        println!("median_us {median:.2}");
        println!("p99_us {p99:.2}");
        println!("calls_per_s {rate:.1}");
    }

    const T: Duration = Duration::from_secs(120);

    fn send(node: &Node, peer: &str, n: usize) {
        let sink = Dest::name("sink", peer);
        let payload = Term::binary(vec![0u8; 16]);
        let started = Instant::now();
        for i in 1..=n {
            let message = Term::Tuple(vec![
                Term::Atom(erldp::atom!("seq")),
                Term::from(i),
                payload.clone(),
            ]);
            node.send(&sink, message).expect("send");
        }
        let args = vec![Term::from(n), Term::from(60_000)];
        let waited = node
            .rpc(peer, "erldp_bench", "sink_wait", args, T)
            .expect("sink_wait");
        let elapsed = started.elapsed();
        assert_eq!(
            waited,
            Term::Tuple(vec![Term::from(n), Term::from(true)]),
            "every message, in order"
        );
        println!("msgs_per_s {:.1}", n as f64 / elapsed.as_secs_f64());
    }

    fn inbox_of(node: &Node) -> Term {
        Dest::name("inbox", node.name().as_str()).to_term()
    }

    fn receive(node: &Node, peer: &str, n: usize) {
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        let request = Term::Tuple(vec![Term::atom("blast"), inbox_of(node), Term::from(n)]);
        let started = Instant::now();
        node.send(&Dest::name("blaster", peer), request)
            .expect("send");
        for i in 1..=n {
            let message = inbox
                .recv_timeout(T)
                .expect("recv")
                .expect("message in time");
            let seq = message
                .term
                .as_tuple()
                .and_then(|t| t.get(1))
                .and_then(Term::as_i64);
            assert_eq!(seq, Some(i as i64), "messages in order");
        }
        println!(
            "msgs_per_s {:.1}",
            n as f64 / started.elapsed().as_secs_f64()
        );
    }

    fn rpc(node: &Node, peer: &str, n: usize) {
        let started = Instant::now();
        let mut times: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                node.rpc(peer, "erlang", "node", vec![], T).expect("rpc");
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let total = started.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        println!("median_us {:.2}", times[n / 2]);
        println!("p99_us {:.2}", times[n * 99 / 100]);
        println!("calls_per_s {:.1}", n as f64 / total);
    }

    fn concurrent(node: &Node, peer: &str, per_caller: usize) {
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..CALLERS {
                scope.spawn(|| {
                    for _ in 0..per_caller {
                        node.rpc(peer, "erlang", "node", vec![], T).expect("rpc");
                    }
                });
            }
        });
        println!(
            "calls_per_s {:.1}",
            (CALLERS * per_caller) as f64 / started.elapsed().as_secs_f64()
        );
    }

    fn big_out(node: &Node, peer: &str, bytes: usize) {
        let big = Term::binary(vec![7u8; bytes]);
        let started = Instant::now();
        node.send(&Dest::name("bigsink", peer), big).expect("send");
        let size = node
            .rpc(peer, "erldp_bench", "big_wait", vec![Term::from(60_000)], T)
            .expect("big_wait");
        let elapsed = started.elapsed();
        assert_eq!(size, Term::from(bytes));
        println!("mb_per_s {:.1}", bytes as f64 / 1e6 / elapsed.as_secs_f64());
        println!("peak_rss_mib {:.1}", peak_rss_mib());
    }

    fn big_in(node: &Node, peer: &str, bytes: usize) {
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        let request = Term::Tuple(vec![Term::atom("big"), inbox_of(node)]);
        let started = Instant::now();
        node.send(&Dest::name("blaster", peer), request)
            .expect("send");
        let message = inbox
            .recv_timeout(T)
            .expect("recv")
            .expect("binary in time");
        let elapsed = started.elapsed();
        assert_eq!(message.term.as_binary().map(<[u8]>::len), Some(bytes));
        println!("mb_per_s {:.1}", bytes as f64 / 1e6 / elapsed.as_secs_f64());
        println!("peak_rss_mib {:.1}", peak_rss_mib());
    }

    /// Encodes the decoded corpus with `encode` (as `term_to_binary/1` does) and decodes its
    /// bytes with `decode`, each for at least `CODEC_TIME`.
    fn codec(path: &Path) {
        let encoded = read_corpus(path);
        let terms: Vec<Term> = encoded
            .iter()
            .map(|bytes| decode(bytes).expect("corpus decodes"))
            .collect();
        let per_term = |work: &dyn Fn()| {
            let started = Instant::now();
            let mut rounds = 0;
            while started.elapsed() < CODEC_TIME {
                work();
                rounds += 1;
            }
            started.elapsed().as_secs_f64() * 1e9 / (rounds * terms.len()) as f64
        };
        let encode_ns = per_term(&|| {
            for term in &terms {
                std::hint::black_box(encode(term).expect("encodes"));
            }
        });
        let decode_ns = per_term(&|| {
            for bytes in &encoded {
                std::hint::black_box(decode(bytes).expect("decodes"));
            }
        });
        println!("encode_ns {encode_ns:.1}");
        println!("decode_ns {decode_ns:.1}");
    }
}
