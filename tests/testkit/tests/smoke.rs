//! The kit itself against real nodes: system OTP, and the OTP 27/29 chroots when present.

use std::fs;
use std::panic;
use std::thread;
use std::time::Duration;

use erldp_testkit::{compile_helpers, random_name, short_hostname, BeamPeer, Otp};

fn process_exists(pid: u32) -> bool {
    fs::metadata(format!("/proc/{pid}")).is_ok()
}

/// Processes whose command line mentions `needle` (the node name is unique per peer).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Processes below `pid` (the emulator's erl_child_setup and its port programs).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].to_string();
        found.extend(processes_where(|stat| {
            stat.split(' ').nth(1) == Some(parent.as_str())
        }));
        i += 1;
    }
    found.split_off(1)
}

/// Pids whose /proc/PID/stat, after the command name, satisfies `pred` ("STATE PPID ...").
fn processes_where(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| pred(&stat[stat.rfind(')').unwrap() + 2..]))
                .unwrap_or(false)
        })
        .collect()
}

fn process_state(pid: u32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The state follows the command name, which is in parentheses and may contain spaces.
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

/// The basic contract on one installation.
fn basics(otp: Otp) {
    let mut peer = BeamPeer::builder().otp(otp.clone()).start();
    let (name, host) = peer.node().split_once('@').expect("name@host");
    assert!(name.starts_with("erldp_t_"), "{}", peer.node());
    assert_eq!(host, short_hostname());
    assert_eq!(peer.eval_ok("node()."), peer.node());
    assert_eq!(
        peer.eval_ok("erlang:get_cookie()."),
        format!("'{}'", peer.cookie())
    );
    assert_eq!(
        peer.eval_ok("erlang:system_info(otp_release)."),
        format!("{:?}", otp.release())
    );
    assert_eq!(
        peer.eval_ok("list_to_integer(os:getpid())."),
        peer.os_pid().to_string()
    );

    assert_eq!(peer.eval("1 + 1."), Ok("2".into()));
    assert_eq!(
        peer.eval("2 * 3"),
        Ok("6".into()),
        "the final dot is optional"
    );
    assert_eq!(peer.eval_ok("X = 21."), "21");
    assert_eq!(peer.eval_ok("X * 2."), "42", "bindings persist");
    assert_eq!(peer.eval_ok("f(X)."), "ok");
    assert_eq!(peer.eval_ok("X = 5, X."), "5", "f(X) forgot X");
    assert_eq!(
        peer.eval_ok("A = 1,\n  B = 2,\n  A + B."),
        "3",
        "a command may span lines"
    );

    assert_eq!(
        peer.eval_ok(r#"io:format("noise~n"), io:format("no newline"), io:put_chars(standard_error, "err\n"), 7."#),
        "7",
        "other output is ignored"
    );
    assert_eq!(
        peer.eval_ok(r#""a\nb"."#),
        r#""a\nb""#,
        "a newline in a value stays escaped"
    );
    assert_eq!(
        peer.eval_ok(r#"<<"héllo\n"/utf8>>."#),
        r#"<<"héllo\n"/utf8>>"#
    );
    assert_eq!(peer.eval_ok("#{k => [1, {t}]}."), "#{k => [1,{t}]}");

    assert_eq!(peer.eval("1 = 2."), Err("error:{badmatch,2}".into()));
    assert_eq!(peer.eval("throw(x)."), Err("throw:x".into()));
    assert_eq!(peer.eval("exit(y)."), Err("exit:y".into()));
    assert_eq!(peer.eval("X."), Ok("5".into()), "bindings survive errors");
    let syntax = peer.eval("foo(.").unwrap_err();
    assert!(syntax.starts_with("error:{syntax,"), "{syntax}");
    assert_eq!(peer.eval_ok("ok."), "ok", "in step after a syntax error");
}

/// The Erlang helpers tests rely on.
fn helpers(otp: Otp) {
    let mut peer = BeamPeer::builder().otp(otp).start();
    assert_eq!(
        peer.eval_ok("erldp_test:echo_start(echo), echo ! {self(), hi}, receive {echo, M} -> M after 5000 -> none end."),
        "hi"
    );
    peer.eval_ok("echo ! not_echoed.");
    assert_eq!(
        peer.eval_ok("erldp_test:collected(echo, 1, 5000)."),
        "[not_echoed]"
    );

    peer.eval_ok("erldp_test:collect(inbox).");
    peer.eval_ok("inbox ! one.");
    peer.eval_ok("spawn(fun() -> timer:sleep(100), inbox ! two end).");
    assert_eq!(
        peer.eval_ok("erldp_test:collected(inbox, 2, 5000)."),
        "[one,two]"
    );
    assert_eq!(
        peer.eval_ok("erldp_test:collected(inbox, 3, 50)."),
        "[one,two]",
        "short on timeout"
    );
    peer.eval_ok("erldp_test:collect(inbox).");
    assert_eq!(
        peer.eval_ok("erldp_test:collected(inbox)."),
        "[]",
        "collect/1 starts afresh"
    );
    assert_eq!(
        peer.eval("erldp_test:collected(nobody)."),
        Err("error:{no_collector,nobody}".into())
    );

    peer.eval_ok("erldp_test:collect(trapper, [trap_exit]).");
    peer.eval_ok("spawn(fun() -> link(whereis(trapper)), exit(bye) end).");
    let exits = peer.eval_ok("erldp_test:collected(trapper, 1, 5000).");
    assert!(
        exits.starts_with("[{'EXIT',<") && exits.ends_with(",bye}]"),
        "{exits}"
    );

    assert_eq!(
        peer.eval_ok("erldp_test:wait_for(fun() -> whereis(inbox) =/= undefined end, 1000)."),
        "true"
    );
    assert_eq!(
        peer.eval("erldp_test:wait_for(fun() -> false end, 30)."),
        Err("error:{wait_for_timeout,30}".into())
    );

    assert!(peer
        .eval_ok("erldp_test_server:start(srv, 1).")
        .starts_with("{ok,<"));
    assert_eq!(peer.eval_ok("gen_server:call(srv, state)."), "1");
    assert_eq!(peer.eval_ok("gen_server:call(srv, {set, 2})."), "ok");
    assert_eq!(
        peer.eval_ok("gen_server:call(srv, {echo, {x, \"y\"}})."),
        "{x,\"y\"}"
    );
    peer.eval_ok("gen_server:cast(srv, {set, 3}), gen_server:cast(srv, hello), srv ! info.");
    assert_eq!(
        peer.eval_ok("gen_server:call(srv, casts)."),
        "[{set,3},hello]"
    );
    assert_eq!(peer.eval_ok("gen_server:call(srv, infos)."), "[info]");
    assert_eq!(peer.eval_ok("gen_server:call(srv, state)."), "3");
    assert_eq!(
        peer.eval_ok("gen_server:call(srv, what)."),
        "{unknown_call,what}"
    );
    let timeout = peer
        .eval("gen_server:call(srv, {sleep, 500}, 50).")
        .unwrap_err();
    assert!(
        timeout.starts_with("exit:{timeout,{gen_server,call,"),
        "{timeout}"
    );
    assert_eq!(peer.eval_ok("erldp_test_server:stop(srv)."), "ok");
}

#[test]
fn system_basics() {
    basics(Otp::System);
}

#[test]
fn system_helpers() {
    helpers(Otp::System);
}

#[test]
fn compat_otp_basics_and_helpers() {
    for otp in Otp::available().into_iter().filter(|o| *o != Otp::System) {
        eprintln!("testing on {otp}");
        basics(otp.clone());
        helpers(otp);
    }
}

/// Nodes of every installation reach each other, so cross-version tests can mix them.
#[test]
fn peers_ping_each_other_across_otp_releases() {
    let cookie = erldp_testkit::random_cookie();
    let mut peers: Vec<BeamPeer> = Otp::available()
        .into_iter()
        .map(|otp| BeamPeer::builder().otp(otp).cookie(&cookie).start())
        .collect();
    let nodes: Vec<String> = peers.iter().map(|p| p.node().to_string()).collect();
    for peer in &mut peers {
        for node in &nodes {
            assert_eq!(
                peer.eval_ok(&format!("net_adm:ping('{node}').")),
                "pong",
                "{} -> {node}",
                peer.node()
            );
        }
    }
}

#[test]
fn hidden_peer_is_not_in_nodes() {
    let cookie = erldp_testkit::random_cookie();
    let mut visible = BeamPeer::builder().cookie(&cookie).start();
    let mut hidden = BeamPeer::builder()
        .cookie(&cookie)
        .hidden(true)
        .net_ticktime(20)
        .start();
    assert_eq!(hidden.eval_ok("net_kernel:get_net_ticktime()."), "20");
    assert_eq!(
        hidden.eval_ok(&format!("net_adm:ping('{}').", visible.node())),
        "pong"
    );
    assert_eq!(visible.eval_ok("nodes()."), "[]");
    assert_eq!(
        visible.eval_ok("nodes(hidden)."),
        format!("[{}]", hidden.node())
    );
}

#[test]
fn eval_timeout_reports_and_recovers() {
    let mut peer = BeamPeer::builder()
        .eval_timeout(Duration::from_millis(200))
        .start();
    assert_eq!(
        peer.eval("timer:sleep(5000)."),
        Err("error:{erldp_eval_timeout,200}".into())
    );
    assert_eq!(peer.eval_ok("ok."), "ok");
}

#[test]
fn env_and_args_reach_the_node() {
    let mut peer = BeamPeer::builder()
        .env("ERLDP_TESTKIT_PROBE", "seen")
        .arg("-erldp_probe")
        .arg("flag")
        .name_prefix("erldp_probe_")
        .start();
    assert!(peer.node().starts_with("erldp_probe_"));
    assert_eq!(
        peer.eval_ok("os:getenv(\"ERLDP_TESTKIT_PROBE\")."),
        "\"seen\""
    );
    assert_eq!(
        peer.eval_ok("init:get_argument(erldp_probe)."),
        "{ok,[[\"flag\"]]}"
    );
}

#[test]
fn long_names() {
    let mut peer = BeamPeer::builder().long_names(true).start();
    assert!(peer.node().ends_with("@127.0.0.1"), "{}", peer.node());
    assert_eq!(peer.eval_ok("net_kernel:longnames()."), "true");
}

#[test]
fn kill9_leaves_no_process() {
    for otp in Otp::available() {
        let mut peer = BeamPeer::builder().otp(otp).start();
        // inet_gethost, a port program, starts with the first host name lookup.
        peer.eval_ok("inet:gethostbyname(\"localhost\").");
        let (pid, node) = (peer.os_pid(), peer.node().to_string());
        let helpers = descendants(pid);
        assert!(!helpers.is_empty(), "erl_child_setup runs below {pid}");
        peer.kill9();
        assert!(!process_exists(pid), "pid {pid} of {node} still exists");
        for helper in helpers {
            assert!(
                !process_exists(helper),
                "helper {helper} of {node} is left (reaped: no zombie)"
            );
        }
        assert_eq!(processes_mentioning(&node), Vec::<u32>::new(), "{node}");
    }
}

#[test]
fn drop_and_stop_end_the_node() {
    let peer = BeamPeer::start();
    let pid = peer.os_pid();
    drop(peer);
    assert!(!process_exists(pid));

    let peer = BeamPeer::start();
    let pid = peer.os_pid();
    peer.stop();
    assert!(!process_exists(pid));

    let mut pid = 0;
    let panicked = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        let peer = BeamPeer::start();
        pid = peer.os_pid();
        panic!("a failing test");
    }));
    assert!(panicked.is_err());
    assert!(
        pid != 0 && !process_exists(pid),
        "the peer of a panicking test is gone"
    );
}

#[test]
fn pause_and_resume() {
    let mut peer = BeamPeer::start();
    peer.pause();
    assert_eq!(process_state(peer.os_pid()), 'T');
    peer.resume();
    assert_eq!(peer.eval_ok("ok."), "ok");
    peer.pause();
    // Dropping a paused peer must still end it.
    let pid = peer.os_pid();
    drop(peer);
    assert!(!process_exists(pid));
}

#[test]
fn eval_failure_shows_recent_output() {
    let mut peer = BeamPeer::start();
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        peer.eval_ok(r#"io:format("marker-before-failure~n"), erlang:error(boom)."#);
    }));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("raised error:boom"), "{message}");
    assert!(message.contains("marker-before-failure"), "{message}");
}

#[test]
#[should_panic(expected = "run `make setup`")]
fn missing_erl_says_make_setup() {
    BeamPeer::builder().env("PATH", "/nonexistent").start();
}

#[test]
fn compile_helpers_is_shared_between_threads() {
    for otp in Otp::available() {
        let dirs: Vec<_> = (0..4)
            .map(|_| {
                let otp = otp.clone();
                thread::spawn(move || compile_helpers(&otp))
            })
            .map(|t| t.join().unwrap())
            .collect();
        assert!(dirs.iter().all(|d| *d == dirs[0]), "{dirs:?}");
        assert!(dirs[0].join("erldp_test.beam").is_file());
        assert!(dirs[0].join("erldp_test_server.beam").is_file());
        if let Otp::Chroot(root) = &otp {
            assert!(dirs[0].starts_with(root), "compiled inside the chroot");
        }
    }
}

#[test]
fn random_names_differ() {
    let (a, b) = (random_name("p_"), random_name("p_"));
    assert!(a.starts_with("p_") && a.len() == 12 && a != b, "{a} {b}");
}

#[test]
#[should_panic(expected = "exited while starting")]
fn node_that_dies_while_starting_is_reported() {
    BeamPeer::builder().arg("-eval").arg("halt(3).").start();
}
