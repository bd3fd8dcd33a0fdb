//! The C ABI from C: compiles `tests/c/test_capi.c` and the programs in
//! `examples/c` with gcc against the libraries cargo just built
//! (`libErlDP.so` and `libErlDP.a`), and runs them against a real BEAM node,
//! plainly and under valgrind memcheck (no errors, nothing definitely or
//! possibly lost but the global atom table, which the shipped suppression
//! file covers: closing a node waits for its threads);
//! `tests/c/test_transport.c`, TLS and IPv6 through the node options, against
//! `inet_tls` and `inet6_tcp` BEAM nodes.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};

use erldp_testkit::{random_cookie, random_name, repo_root, BeamPeer, Otp, TlsFiles};

#[derive(Clone, Copy, Debug)]
enum Link {
    Shared,
    Static,
    /// The shared library as `make install` ships it: its debug information
    /// stripped, its symbol table kept.
    Installed,
}

/// The SONAME that build.rs gave the shared library.
const SONAME: &str = env!("ERLDP_SONAME");

/// Where cargo put the libraries: the profile directory above this test's
/// `deps/` directory.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// A source file of the library (the core's or the C ABI's) changed after
/// `built`, if there is one.
fn source_newer_than(built: std::time::SystemTime) -> Option<PathBuf> {
    let mut dirs = vec![
        repo_root().join("crates/erldp/src"),
        repo_root().join("crates/erldp-capi/src"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("reading the sources")
            .flatten()
        {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.modified().is_ok_and(|changed| changed > built) {
                return Some(path);
            }
        }
    }
    None
}

/// Compiles C sources into a program linked to the library as asked, with
/// warnings as errors.
fn compile(sources: &[PathBuf], program: &str, link: Link) -> PathBuf {
    let lib_dir = lib_dir();
    let library = lib_dir.join(match link {
        Link::Shared | Link::Installed => "libErlDP.so",
        Link::Static => "libErlDP.a",
    });
    let built = std::fs::metadata(&library)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: `cargo test` builds only the rlib; run `cargo build -p \
                 erldp-capi` with the same profile first (make test-c does)",
                library.display()
            )
        });
    if let Some(newer) = source_newer_than(built) {
        panic!(
            "{} is older than {}: `cargo test` rebuilds only the rlib, so the C programs would \
             test the library as it was; run `cargo build -p erldp-capi` with the same profile \
             first (make test-c does)",
            library.display(),
            newer.display()
        );
    }
    let out_dir = lib_dir.join("capi-c");
    std::fs::create_dir_all(&out_dir).expect("creating the output directory");
    let exe = out_dir.join(format!("{program}-{}", format!("{link:?}").to_lowercase()));
    let mut gcc = Command::new("gcc");
    gcc.args([
        "-std=c11",
        "-g",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-pthread",
    ])
    .arg("-I")
    .arg(repo_root().join("include"))
    .args(sources)
    .arg("-o")
    .arg(&exe);
    match link {
        // Programs linked to the library record its SONAME, which names no
        // file cargo writes: the link next to the programs does, as the one
        // `make install` makes.
        Link::Shared => {
            // Tests run side by side: the link is made once and never replaced.
            match std::os::unix::fs::symlink(&library, out_dir.join(SONAME)) {
                Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                    panic!("linking {SONAME}: {err}")
                }
                _ => {}
            }
            gcc.arg(format!("-L{}", lib_dir.display()))
                .arg(format!("-Wl,-rpath,{}", out_dir.display()))
                .arg("-lErlDP");
        }
        Link::Installed => {
            // Per program: tests that run side by side do not share the copy.
            let shipped = out_dir.join(format!("installed-{program}"));
            std::fs::create_dir_all(&shipped).expect("creating the installed library's directory");
            let copy = shipped.join(SONAME);
            std::fs::copy(&library, &copy).expect("copying the library");
            let strip = Command::new("strip")
                .arg("--strip-debug")
                .arg(&copy)
                .output()
                .expect("running strip (binutils)");
            assert!(strip.status.success(), "strip failed: {}", show(&strip));
            gcc.arg(&copy)
                .arg(format!("-Wl,-rpath,{}", shipped.display()));
        }
        // What `rustc --print native-static-libs` lists for a staticlib on Linux.
        Link::Static => {
            gcc.arg(lib_dir.join("libErlDP.a")).args([
                "-lgcc_s",
                "-lutil",
                "-lrt",
                "-lpthread",
                "-lm",
                "-ldl",
                "-lc",
            ]);
        }
    }
    gcc.arg("-lm");
    let output = gcc
        .output()
        .unwrap_or_else(|err| panic!("cannot run gcc ({err}); install gcc"));
    assert!(
        output.status.success(),
        "gcc failed for {program} ({link:?}):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// `program`, to run plainly, or (`valgrind`) under valgrind memcheck: any
/// error, or a leak of the kinds `leaks` names, makes it exit with 97;
/// `options` go to valgrind.
fn command(program: &Path, valgrind: bool, leaks: &str, options: &[String]) -> Command {
    if !valgrind {
        return Command::new(program);
    }
    let mut command = Command::new("valgrind");
    command
        .args(["--quiet", "--error-exitcode=97", "--leak-check=full"])
        .arg(format!("--show-leak-kinds={leaks}"))
        .arg(format!("--errors-for-leak-kinds={leaks}"))
        .args(options)
        .arg(program);
    command
}

/// examples/c/rpc_client.c, compiled as `program`.
fn rpc_client(program: &str, link: Link) -> PathBuf {
    compile(
        &[repo_root().join("examples/c/rpc_client.c")],
        program,
        link,
    )
}

/// A peer with what test_capi.c talks to: `echo` and the `srv` gen_server.
fn peer() -> BeamPeer {
    let mut peer = BeamPeer::start();
    peer.eval_ok("erldp_test:echo_start(echo).");
    peer.eval_ok("{ok, _} = erldp_test_server:start(srv).");
    peer
}

fn show(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the C tests linked as asked, under valgrind or not.
fn run_c_tests(link: Link, valgrind: bool) {
    let exe = compile(
        &[repo_root().join("crates/erldp-capi/tests/c/test_capi.c")],
        "test_capi",
        link,
    );
    let peer = peer();
    let corpus = repo_root().join("tests/corpus.txt");
    // Possibly lost blocks are errors too: a thread still running when the
    // program ends leaves one. The atom table, global and never freed, is
    // what the shipped suppressions cover.
    let suppressions = format!(
        "--suppressions={}",
        repo_root().join("crates/erldp-capi/erldp.supp").display()
    );
    let options = ["--num-callers=30".to_string(), suppressions];
    let mut command = command(&exe, valgrind, "definite,possible", &options);
    command.arg(peer.node()).arg(peer.cookie()).arg(&corpus);
    let output = command.output().unwrap_or_else(|err| {
        panic!(
            "cannot run {} ({err}){}",
            exe.display(),
            if valgrind { "; install valgrind" } else { "" }
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "the C tests failed ({link:?}{}):\n{}\npeer output:\n{}",
        if valgrind { ", under valgrind" } else { "" },
        show(&output),
        peer.output()
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "the C tests did not report:\n{}",
        show(&output)
    );
}

/// Runs `tests/c/test_transport.c` (TLS and IPv6 through the node options) against an
/// `inet_tls` and an `inet6_tcp` BEAM node, under valgrind or not.
fn run_transport_tests(valgrind: bool) {
    let exe = compile(
        &[repo_root().join("crates/erldp-capi/tests/c/test_transport.c")],
        "test_transport",
        Link::Shared,
    );
    let files = TlsFiles::generate(&Otp::System);
    let opts = files.verifying_opts("node");
    let optfile = files.optfile("opt.conf", &opts, &opts);
    let cookie = random_cookie();
    // The peer gives a TLS handshake net_setuptime (inet_tls_dist's ssl:handshake), 7 s by
    // default: under valgrind, with the other suites' valgrind runs beside it, ours takes longer.
    let tls = BeamPeer::builder()
        .cookie(&cookie)
        .tls(&optfile)
        .arg("-kernel")
        .arg("net_setuptime")
        .arg("60")
        .start();
    let inet6 = BeamPeer::builder()
        .cookie(&cookie)
        .proto_dist("inet6_tcp")
        .start();
    let mut command = command(&exe, valgrind, "definite", &[]);
    command
        .arg(tls.node())
        .arg(inet6.node())
        .arg(&cookie)
        .arg(optfile.parent().expect("the files' directory"));
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {} ({err})", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "the C transport tests failed{}:\n{}\nTLS peer output:\n{}\ninet6 peer output:\n{}",
        if valgrind { " under valgrind" } else { "" },
        show(&output),
        tls.output(),
        inet6.output()
    );
}

#[test]
fn c_transport_tests() {
    run_transport_tests(false);
}

#[test]
fn c_transport_tests_under_valgrind() {
    run_transport_tests(true);
}

#[test]
fn c_tests_with_the_shared_library() {
    run_c_tests(Link::Shared, false);
}

#[test]
fn c_tests_with_the_static_library() {
    run_c_tests(Link::Static, false);
}

#[test]
fn c_tests_with_the_shared_library_under_valgrind() {
    run_c_tests(Link::Shared, true);
}

#[test]
fn c_tests_with_the_static_library_under_valgrind() {
    run_c_tests(Link::Static, true);
}

/// The library has a SONAME, and what it ships keeps its symbol names but
/// not its debug information.
#[test]
fn the_shared_library_has_a_soname_and_ships_without_debug_information() {
    let readelf = |args: &[&str], file: &Path| {
        let output = Command::new("readelf")
            .args(args)
            .arg(file)
            .output()
            .expect("running readelf (binutils)");
        assert!(output.status.success(), "{}", show(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let built = lib_dir().join("libErlDP.so");
    let dynamic = readelf(&["-d"], &built);
    assert!(
        dynamic.contains(&format!("Library soname: [{SONAME}]")),
        "{dynamic}"
    );
    let program = rpc_client("rpc_client_shipped", Link::Installed);
    let shipped = program
        .parent()
        .expect("capi-c")
        .join("installed-rpc_client_shipped")
        .join(SONAME);
    let sections = readelf(&["-S", "-W"], &shipped);
    assert!(sections.contains(".symtab"), "{sections}");
    assert!(!sections.contains(".debug_"), "{sections}");
    let needed = readelf(&["-d"], &program);
    assert!(
        needed.contains(&format!("Shared library: [{SONAME}]")),
        "{needed}"
    );
}

/// Under valgrind with `--show-leak-kinds=definite,possible`, the atom
/// table (global, never freed) shows up as "possibly lost"; the shipped
/// suppression file (crates/erldp-capi/erldp.supp) hides it in the library
/// as `make install` ships it, with the main thread's handle; nothing else
/// is possibly lost.
#[test]
fn the_suppression_file_covers_the_global_tables_of_the_installed_library() {
    let program = rpc_client("rpc_client_suppressed", Link::Installed);
    let peer = peer();
    let output = Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--show-leak-kinds=definite,possible",
            "--num-callers=30",
        ])
        .arg(format!(
            "--suppressions={}",
            repo_root().join("crates/erldp-capi/erldp.supp").display()
        ))
        .arg(&program)
        .arg(peer.node())
        .arg(peer.cookie())
        .output()
        .expect("running valgrind; install valgrind");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", show(&output));
    assert!(
        report.contains("definitely lost: 0 bytes") || !report.contains("definitely lost:"),
        "{report}"
    );
    let suppressed = report
        .lines()
        .find_map(|line| line.split_once("suppressed: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no suppressed count:\n{report}"));
    assert!(
        !suppressed.starts_with("0 bytes"),
        "the suppressions matched nothing:\n{report}"
    );
    // Each piece after a record's heading is its stack (and the next heading).
    for stack in report.split("are possibly lost in loss record").skip(1) {
        assert!(
            !stack.contains("erldp::term::atom"),
            "an atom table block is reported:\n{report}"
        );
    }
    // Nothing else either: the node's threads ended when it closed.
    assert!(
        report.contains("possibly lost: 0 bytes") || !report.contains("possibly lost:"),
        "{report}"
    );
}

/// `ERLDP_LOG` turns on the log of a C program (on standard error), as it
/// does the `erldp` command's: the first `erldp_node_start` reads it.
#[test]
fn erldp_log_is_honoured_by_c_programs() {
    let program = rpc_client("rpc_client_logging", Link::Shared);
    let peer = peer();
    let run = |level: Option<&str>| {
        let mut command = Command::new(&program);
        command.arg(peer.node()).arg(peer.cookie());
        match level {
            Some(level) => command.env("ERLDP_LOG", level),
            None => command.env_remove("ERLDP_LOG"),
        };
        let output = command.output().expect("running rpc_client");
        assert!(output.status.success(), "{}", show(&output));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let logged = run(Some("info"));
    // The C program's main thread has no name Rust knows: "[unnamed]".
    assert!(
        logged
            .lines()
            .any(|line| line.contains(" INFO  erldp::node [")
                && line.contains(&format!("] connected to {} ", peer.node()))),
        "{logged}"
    );
    assert!(!logged.contains("DEBUG"), "{logged}");
    assert!(run(Some("debug")).contains(" DEBUG erldp::"));
    assert!(!run(None).contains("erldp::node"));
    let wrong = run(Some("loud"));
    assert!(
        wrong.contains("ERLDP_LOG=\"loud\" is not a log level")
            && wrong.contains("logging stays off"),
        "{wrong}"
    );
}

/// An example server, killed if the test fails before it stops.
struct Server {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// The node name it said it is ready as.
    node: String,
}

impl Server {
    /// Starts `command`, an example server, whose first line says
    /// "`program`: ready as NODE".
    fn start(mut command: Command, program: &str) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {program}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut server = Server {
            child,
            lines: BufReader::new(stdout).lines(),
            node: String::new(),
        };
        let ready = server
            .lines
            .next()
            .unwrap_or_else(|| panic!("{program} said nothing"))
            .unwrap_or_else(|err| panic!("reading {program}: {err}"));
        server.node = ready
            .strip_prefix(&format!("{program}: ready as "))
            .unwrap_or_else(|| panic!("unexpected: {ready}"))
            .to_string();
        server
    }

    /// Waits for the server to end: its exit status and the lines it wrote
    /// after the first.
    fn wait(&mut self) -> (ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("waiting for the server");
        let rest = self.lines.by_ref().map_while(Result::ok).collect();
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_c_examples_work_with_a_beam_node() {
    let examples = repo_root().join("examples/c");
    let rpc_client = rpc_client("rpc_client", Link::Shared);
    let echo_server = compile(
        &[examples.join("echo_server.c")],
        "echo_server",
        Link::Static,
    );
    let mut peer = peer();

    let output = Command::new(&rpc_client)
        .arg(peer.node())
        .arg(peer.cookie())
        .output()
        .expect("running rpc_client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rpc_client failed:\n{}",
        show(&output)
    );
    assert!(
        stdout.contains("lists:sum([1,2,3]) -> 6"),
        "{}",
        show(&output)
    );
    assert!(
        stdout.contains("badarg"),
        "the failing rpc shows its reason:\n{}",
        show(&output)
    );

    let name = random_name("c_echo_");
    let mut echo = Command::new(&echo_server);
    echo.arg(&name).arg(peer.cookie());
    let mut server = Server::start(echo, "echo_server");
    let node = server.node.clone();
    assert!(node.starts_with(&format!("{name}@")), "{node}");

    let echoed = peer.eval_ok(&format!(
        "{{echo, '{node}'}} ! {{self(), {{hello, [1, 2.5, <<\"bin\">>]}}}}, \
         receive {{echo, Msg}} -> Msg after 20000 -> no_reply end."
    ));
    assert_eq!(echoed, "{hello,[1,2.5,<<\"bin\">>]}");
    assert_eq!(
        peer.eval_ok(&format!(
            "gen_server:call({{echo, '{node}'}}, ping, 20000)."
        )),
        "{ok,ping}"
    );
    peer.eval_ok(&format!("{{echo, '{node}'}} ! stop."));
    let (status, rest) = server.wait();
    assert!(
        status.success(),
        "echo_server ended with {status}:\n{}",
        rest.join("\n")
    );
}

/// examples/c/calculator.c serves a calculator and exposes c_math (results
/// that do not fit in 64 bits refused, where the first version crashed on
/// `{'div', -1 bsl 63, -1}` and wrapped others); a BEAM
/// node calls both, sees a raise as the call's exit and an unexposed module
/// as undef, and stops it with a cast. Plainly and under valgrind.
#[test]
fn the_c_calculator_serves_a_beam_node() {
    let calculator = compile(
        &[repo_root().join("examples/c/calculator.c")],
        "calculator",
        Link::Shared,
    );
    let mut peer = peer();
    for valgrind in [false, true] {
        let name = random_name("c_calc_");
        let mut command = command(&calculator, valgrind, "definite", &[]);
        command.arg(&name).arg(peer.cookie());
        let mut server = Server::start(command, "calculator");
        let node = server.node.clone();
        let call = |peer: &mut BeamPeer, code: &str| peer.eval_ok(&code.replace("NODE", &node));
        let calls = [
            (
                "gen_server:call({calculator, 'NODE'}, {add, 2, 3}, 20000).",
                "5".to_string(),
            ),
            (
                "catch gen_server:call({calculator, 'NODE'}, {'div', 1, 0}, 20000).",
                format!(
                    "{{'EXIT',{{{{'ArgumentError',<<\"division by zero\">>}},{{gen_server,call,[{{calculator,{node}}},{{'div',1,0}},20000]}}}}}}"
                ),
            ),
            (
                "catch gen_server:call({calculator, 'NODE'}, {'div', -1 bsl 63, -1}, 20000).",
                format!(
                    "{{'EXIT',{{{{'ArgumentError',<<\"overflow\">>}},{{gen_server,call,[{{calculator,{node}}},{{'div',-9223372036854775808,-1}},20000]}}}}}}"
                ),
            ),
            (
                "catch gen_server:call({calculator, 'NODE'}, {add, 1 bsl 62, 1 bsl 62}, 20000).",
                format!(
                    "{{'EXIT',{{{{'ArgumentError',<<\"overflow\">>}},{{gen_server,call,[{{calculator,{node}}},{{add,4611686018427387904,4611686018427387904}},20000]}}}}}}"
                ),
            ),
            (
                "rpc:call('NODE', c_math, square, [12], 20000).",
                "144".to_string(),
            ),
            (
                "rpc:call('NODE', c_math, square, [1 bsl 32], 20000).",
                "{badrpc,{'EXIT',{{'ArgumentError',<<\"overflow\">>},[]}}}".to_string(),
            ),
            (
                "rpc:call('NODE', c_other, f, [], 20000).",
                "{badrpc,{'EXIT',{undef,[{c_other,f,[],[]}]}}}".to_string(),
            ),
        ];
        for (code, expected) in calls {
            assert_eq!(
                call(&mut peer, code),
                expected,
                "{code} (valgrind: {valgrind})"
            );
        }
        call(&mut peer, "gen_server:cast({calculator, 'NODE'}, stop).");
        let (status, rest) = server.wait();
        assert!(
            status.success() && rest == ["calculator: stopped"],
            "calculator ended with {status} (valgrind: {valgrind}):\n{}",
            rest.join("\n")
        );
    }
}
