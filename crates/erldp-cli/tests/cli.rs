//! The `erldp` command against real BEAM nodes: every subcommand, the exit
//! status of each class of failure, the `--json` shapes, the cookie sources,
//! hidden and visible nodes, logging, and a timing comparison with
//! `erl_call` (printed, never asserted).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Dest, Term};
use erldp_testkit::{random_cookie, random_name, short_hostname, BeamPeer, Otp, TlsFiles};
use serde_json::{json, Value};

/// The outcome of one run of `erldp`.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit status and returns stdout without its final newline.
    fn expect(&self, status: i32) -> &str {
        assert_eq!(
            self.status,
            Some(status),
            "exit status\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self.stdout.strip_suffix('\n').unwrap_or(&self.stdout)
    }

    /// Asserts the exit status and that stderr mentions `words`; returns stdout as
    /// [`expect`](Self::expect) does.
    fn expect_stderr(&self, status: i32, words: &str) -> &str {
        let out = self.expect(status);
        assert!(
            self.stderr.contains(words),
            "stderr does not mention {words:?}: {}",
            self.stderr
        );
        out
    }

    /// The exit status, stdout without its final newline, and stderr.
    fn printed(&self) -> (Option<i32>, &str, &str) {
        let out = self.stdout.strip_suffix('\n').unwrap_or(&self.stdout);
        (self.status, out, &self.stderr)
    }

    /// Asserts success and that stderr stayed quiet.
    fn ok(&self) -> &str {
        let out = self.expect(0);
        assert_eq!(self.stderr, "", "stderr of a successful run");
        out
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim_end())
            .unwrap_or_else(|err| panic!("{err}: not JSON: {}", self.stdout))
    }
}

fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_erldp"));
    // Only what a test sets: not the developer's cookie, log level or EPMD.
    for var in ["ERLDP_COOKIE", "ERLDP_LOG", "ERL_EPMD_PORT"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `erldp --cookie <the peer's> ARGS...`.
fn erldp(peer: &BeamPeer, args: &[&str]) -> Run {
    run(command().arg("--cookie").arg(peer.cookie()).args(args))
}

fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("running erldp"))
}

/// Runs `erldp <command> <case's arguments>` against `peer` for each case:
/// each succeeds quietly and prints the case's text. The assertion names the
/// case.
fn assert_prints(peer: &BeamPeer, command: &[&str], cases: &[(&[&str], &str)]) {
    for (arguments, want) in cases {
        let args = [command, arguments].concat();
        let run = erldp(peer, &args);
        assert_eq!(run.printed(), (Some(0), *want, ""), "erldp {args:?}");
    }
}

fn term_json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// Erlang term text compared as terms, not as spelling.
fn term(text: &str) -> Term {
    text.parse().unwrap_or_else(|err| panic!("{err}: {text}"))
}

#[test]
fn names_lists_the_nodes_in_epmd() {
    let mut peer = BeamPeer::start();
    let name = peer.node().split('@').next().expect("name").to_string();
    let port = peer.eval_ok(&format!(
        "{{ok, Names}} = net_adm:names(), proplists:get_value(\"{name}\", Names)."
    ));

    let plain = run(command().arg("names"));
    assert!(
        plain
            .ok()
            .lines()
            .any(|line| line == format!("{name}\t{port}")),
        "{}",
        plain.stdout
    );

    let listing = run(command().args(["--json", "names", "127.0.0.1"]));
    listing.ok();
    let entry = json!({"name": name, "port": port.parse::<u16>().expect("port")});
    assert!(
        listing.json().as_array().expect("array").contains(&entry),
        "{}",
        listing.stdout
    );

    // No EPMD on that port: a connection failure, named.
    let closed = free_port().to_string();
    let nobody = run(command().arg("names").env("ERL_EPMD_PORT", &closed));
    nobody.expect_stderr(4, &format!("EPMD at localhost:{closed}"));

    let bad = run(command().arg("names").env("ERL_EPMD_PORT", "ninety"));
    bad.expect_stderr(2, "ERL_EPMD_PORT");
}

#[test]
fn ping_answers_pong_or_pang_with_the_reason() {
    let peer = BeamPeer::start();
    assert_eq!(erldp(&peer, &["ping", peer.node()]).ok(), "pong");
    // A bare name is a node on this host.
    let name = peer.node().split('@').next().expect("name");
    assert_eq!(erldp(&peer, &["ping", name]).ok(), "pong");
    let answer = erldp(&peer, &["--json", "ping", peer.node()]);
    answer.ok();
    assert_eq!(
        answer.json(),
        json!({"node": peer.node(), "result": "pong"})
    );

    let missing = format!("{}@{}", random_name("absent"), short_hostname());
    let pang = erldp(&peer, &["ping", &missing]);
    assert_eq!(pang.expect_stderr(3, "not registered in EPMD"), "pang");

    let wrong = run(command().args(["--cookie", "WRONG", "ping", peer.node()]));
    assert_eq!(wrong.expect_stderr(5, "cookie did not match"), "pang");
    let wrong = run(command().args(["--cookie", "WRONG", "--json", "ping", peer.node()]));
    wrong.expect(5);
    let error = &wrong.json()["error"];
    assert_eq!(
        (error["kind"].as_str(), error["exit_status"].as_i64()),
        (Some("auth"), Some(5)),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains(peer.node()),
        "{error}"
    );
}

#[test]
fn connection_failures_and_timeouts_have_their_own_status() {
    let mut peer = BeamPeer::start();

    // A name EPMD knows whose port nobody listens on.
    let name = random_name("ghost");
    let epmd_port = erldp::epmd::port_from_env().expect("EPMD port");
    let _ghost = erldp::epmd::register(epmd_port, &name, free_port(), true, Duration::from_secs(5))
        .expect("register");
    let refused = erldp(&peer, &["ping", &name]);
    assert_eq!(refused.expect_stderr(4, "connect"), "pang");

    // A stopped node accepts the TCP connection but never answers the handshake.
    peer.pause();
    let silent = erldp(&peer, &["--timeout", "500ms", "ping", peer.node()]);
    peer.resume();
    assert_eq!(silent.expect_stderr(6, "timeout"), "pang");

    let slow = erldp(
        &peer,
        &[
            "--timeout",
            "300ms",
            "--json",
            "rpc",
            peer.node(),
            "timer:sleep(5000)",
        ],
    );
    slow.expect(6);
    assert_eq!(slow.json()["error"]["kind"], "timeout");
}

/// `--address` reaches a node without asking EPMD, as erl_call's -address does: by port
/// alone (the host of the node's name) and with a host, while no EPMD answers where
/// `ERL_EPMD_PORT` points. Not for the commands that reach no node.
#[test]
fn address_reaches_a_node_without_epmd() {
    let peer = BeamPeer::start();
    let alive = peer.node().split_once('@').expect("a node name").0;
    let epmd_port = erldp::epmd::port_from_env().expect("EPMD port");
    let port = erldp::epmd::port_please("127.0.0.1", epmd_port, alive, Duration::from_secs(10))
        .expect("the peer's port")
        .port;
    let no_epmd = free_port().to_string();
    let ping = |extra: &[&str]| {
        let mut cmd = command();
        cmd.env("ERL_EPMD_PORT", &no_epmd)
            .args(["--cookie", peer.cookie(), "ping", peer.node()])
            .args(extra);
        run(&mut cmd)
    };
    ping(&[]).expect_stderr(3, "EPMD");
    for address in [
        port.to_string(),
        format!("127.0.0.1:{port}"),
        format!("{}:{port}", short_hostname()),
    ] {
        assert_eq!(
            ping(&["--address", &address]).expect(0),
            "pong",
            "{address}"
        );
    }
    // Usage errors, found before connecting: no pang.
    for address in [
        "0",
        "::1",
        "2001:db8::1",
        "[]:9100",
        ":9100",
        "+9100",
        "h:[::1]",
    ] {
        let run = ping(&["--address", address]);
        assert_eq!(run.expect_stderr(2, "[HOST:]PORT"), "", "{address}");
    }
    erldp(&peer, &["--address", "9", "names"]).expect_stderr(2, "--address is for");
    erldp(&peer, &["--address", "localhost:9", "listen", "x"]).expect_stderr(2, "without a host");
}

/// `listen --address PORT` listens on that port, as the nodes of a cluster without EPMD do
/// (`-erl_epmd_port`): a BEAM node finds it there through the EPMD that answers, with which it
/// registers, and `send --address` reaches it at the port with no EPMD to ask.
#[test]
fn listen_with_an_address_listens_on_that_port() {
    let mut peer = BeamPeer::start();
    let port = free_port();
    let listener = Listener::start(
        &peer,
        "portbox",
        &["--address", &port.to_string(), "-n", "2"],
    );
    let (alive, host) = listener.node.split_once('@').expect("a node name");
    assert_eq!(
        peer.eval_ok(&format!(
            "{{port, P, _}} = erl_epmd:port_please(\"{alive}\", \"{host}\"), P."
        )),
        port.to_string()
    );
    peer.eval_ok(&format!("{{portbox, '{}'}} ! hello, ok.", listener.node));
    let mut send = command();
    send.env("ERL_EPMD_PORT", free_port().to_string()).args([
        "--cookie",
        peer.cookie(),
        "--address",
        &port.to_string(),
        "send",
        &listener.node,
        "portbox",
        "world",
    ]);
    run(&mut send).expect(0);
    let (status, _, stdout) = listener.finish();
    // Two senders: BEAM's `!` connects in the background, so either may come first.
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!((status, lines), (Some(0), vec!["hello", "world"]));
}

/// `rpc` in both spellings (`M:F(Args)`, `M F [Args]`) and `eval` print
/// the value as Erlang writes it.
#[test]
fn rpc_in_both_spellings_and_eval_print_the_value() {
    let mut peer = BeamPeer::start();
    // As Erlang writes it, not as erldp does: the test checks erldp's spelling.
    let node_atom = peer.eval_ok("node().");
    let node = peer.node();
    assert_prints(
        &peer,
        &["rpc", node],
        &[
            (&["lists:sum([1,2,3])"], "6"),
            (&["lists", "sum", "[[1,2,3]]"], "6"),
            (&["erlang:abs(-7)."], "7"),
            (&["erlang", "abs", "[-7]"], "7"),
            (&["erlang", "node"], &node_atom),
            (
                &["lists:reverse([a, <<\"b\">>, {c, 1.5}, \"de\"])"],
                "[\"de\",{c,1.5},<<\"b\">>,a]",
            ),
        ],
    );
    assert_prints(
        &peer,
        &["eval", node],
        &[
            (&["A = 1, A + 1"], "2"),
            (&["X = [1,2,3], lists:sum(X) * 2."], "12"),
            (&["X = 2, % the comment\nX * 21"], "42"),
            (&["-1 + 0"], "-1"),
            (&["node()"], &node_atom),
        ],
    );
}

#[test]
fn rpc_json_renders_every_kind_of_term() {
    let peer = BeamPeer::start();
    let value = erldp(
        &peer,
        &[
            "--json",
            "rpc",
            peer.node(),
            "erlang:list_to_tuple([ok, true, 12345678901234567890123, -1.5, <<\"héllo\"/utf8>>, <<255>>, <<1:3>>, \"ab\", [1 | t], #{k => [v]}, nil])",
        ],
    );
    value.ok();
    assert_eq!(
        value.json(),
        term_json(
            r#"{"tuple": [{"atom": "ok"}, true, 12345678901234567890123, -1.5, "héllo", {"binary": [255]},
                {"bitstring": [32], "bits": 3}, [97, 98], {"improper_list": [1], "tail": {"atom": "t"}},
                {"map": [[{"atom": "k"}, [{"atom": "v"}]]]}, {"atom": "nil"}]}"#
        )
    );
    // Big integers keep every digit in the JSON text itself.
    assert!(
        value.stdout.contains("12345678901234567890123"),
        "{}",
        value.stdout
    );

    let pid = erldp(
        &peer,
        &["--json", "rpc", peer.node(), "erlang:whereis(init)"],
    );
    pid.ok();
    let text = pid.json()["pid"].as_str().expect("pid text").to_string();
    assert!(
        text.starts_with(&format!("#Pid<'{}'.0.", peer.node())),
        "{text}"
    );
    // The text reads back as the same pid.
    let back = erldp(
        &peer,
        &[
            "rpc",
            peer.node(),
            "erlang",
            "is_process_alive",
            &format!("[{text}]"),
        ],
    );
    assert_eq!(back.ok(), "true");
}

#[test]
fn rpc_errors_carry_the_remote_exception() {
    let peer = BeamPeer::start();
    let node = peer.node();
    let boom = erldp(&peer, &["rpc", node, "erlang:error({boom, 1})"]);
    assert_eq!(boom.expect_stderr(1, "remote error: {boom,1}"), "");

    let boom = erldp(&peer, &["--json", "rpc", node, "erlang:error({boom, 1})"]);
    boom.expect(1);
    let error = &boom.json()["error"];
    assert_eq!(
        (
            error["kind"].as_str(),
            error["exit_status"].as_i64(),
            error["class"].as_str()
        ),
        (Some("rpc"), Some(1), Some("error"))
    );
    assert_eq!(error["reason"], json!({"tuple": [{"atom": "boom"}, 1]}));
    assert!(
        !error["stacktrace"]
            .as_array()
            .expect("stacktrace")
            .is_empty(),
        "{error}"
    );

    let thrown = erldp(&peer, &["--json", "rpc", node, "erlang", "throw", "[ball]"]);
    thrown.expect(1);
    assert_eq!(
        (
            thrown.json()["error"]["class"].as_str(),
            &thrown.json()["error"]["reason"]
        ),
        (Some("throw"), &json!({"atom": "ball"}))
    );

    let undef = erldp(&peer, &["rpc", node, "no_such_module:f()"]);
    undef.expect_stderr(1, "undef");
}

#[test]
fn bad_command_lines_are_usage_errors_found_before_connecting() {
    // None of these reach a node: the node named does not exist.
    let nowhere = format!("{}@{}", random_name("never"), short_hostname());
    for (args, says) in [
        (
            vec!["rpc", nowhere.as_str(), "1 + 1"],
            "Module:Function(Args...)",
        ),
        (
            vec!["rpc", nowhere.as_str(), "lists:sum([1,2,)"],
            "syntax error in the arguments of lists:sum at byte 15",
        ),
        (
            vec!["rpc", nowhere.as_str(), "lists", "sum", "{1}"],
            "must be a list",
        ),
        (
            vec!["send", nowhere.as_str(), "inbox", "{unclosed"],
            "the message",
        ),
        (vec!["ping", "a@b@c"], "not a node name"),
        (
            vec!["--timeout", "soon", "ping", nowhere.as_str()],
            "not a duration",
        ),
        (vec!["rpc", nowhere.as_str()], "Usage"),
        (vec!["frobnicate"], "Usage"),
    ] {
        let failed = run(command().args(&args));
        assert_eq!(failed.expect(2), "", "{args:?}");
        assert!(failed.stderr.contains(says), "{args:?}: {}", failed.stderr);
    }
    let failed = run(command().args(["--json", "rpc", &nowhere, "1 + 1"]));
    failed.expect(2);
    assert_eq!(failed.json()["error"]["kind"], "usage");
    assert!(run(command().arg("--help"))
        .expect(0)
        .contains("Exit status:"));
}

#[test]
fn eval_renders_json_and_reports_errors() {
    let peer = BeamPeer::start();
    let node = peer.node();
    let value = erldp(&peer, &["--json", "eval", node, "{ok, #{n => 1}}"]);
    value.ok();
    assert_eq!(
        value.json(),
        json!({"tuple": [{"atom": "ok"}, {"map": [[{"atom": "n"}, 1]]}]})
    );

    let syntax = erldp(&peer, &["eval", node, "1 +"]);
    syntax.expect_stderr(2, "syntax error at 1:");
    let syntax = erldp(&peer, &["eval", node, "\"open"]);
    syntax.expect_stderr(2, "unterminated string");

    let crash = erldp(&peer, &["--json", "eval", node, "1 / 0"]);
    crash.expect(1);
    assert_eq!(crash.json()["error"]["reason"], json!({"atom": "badarith"}));
    let unbound = erldp(&peer, &["eval", node, "Y + 1"]);
    unbound.expect_stderr(1, "unbound_var");
}

#[test]
fn send_delivers_to_a_registered_process() {
    let mut peer = BeamPeer::start();
    peer.eval_ok("erldp_test:collect(inbox).");
    let sent = erldp(
        &peer,
        &[
            "send",
            peer.node(),
            "inbox",
            "{hello, <<\"wörld\"/utf8>>, [1, 2.5]}",
        ],
    );
    assert_eq!(sent.ok(), "");
    let sent = erldp(&peer, &["--json", "send", peer.node(), "inbox", "-42"]);
    assert_eq!(sent.ok(), "");
    assert_eq!(
        peer.eval_ok("erldp_test:collected(inbox, 2, 5000)."),
        "[{hello,<<\"wörld\"/utf8>>,[1,2.5]},-42]"
    );
}

/// Registered names with dots (every Elixir module-named process) go as they
/// are, quoted as atoms or as Elixir aliases, and options may follow the
/// positional arguments.
#[test]
fn send_takes_elixir_names_and_options_after_the_arguments() {
    let mut peer = BeamPeer::start();
    peer.eval_ok("erldp_test:collect('Elixir.MyApp.Counter').");
    let node = peer.node().to_string();
    for args in [
        vec!["send", &node, "Elixir.MyApp.Counter", "{add,1}"],
        vec!["send", &node, "'Elixir.MyApp.Counter'", "{add,2}"],
        vec![
            "send",
            &node,
            "Elixir.MyApp.Counter",
            "{add,3}",
            "--sname",
            "sender_x",
        ],
        vec![
            "send",
            &node,
            "Elixir.MyApp.Counter",
            "{add,4}",
            "--timeout",
            "5s",
        ],
        vec!["send", &node, "MyApp.Counter", "{add,5}"],
    ] {
        assert_eq!(erldp(&peer, &args).ok(), "", "{args:?}");
    }
    assert_eq!(
        peer.eval_ok("erldp_test:collected('Elixir.MyApp.Counter', 5, 5000)."),
        "[{add,1},{add,2},{add,3},{add,4},{add,5}]"
    );
    let bad = erldp(&peer, &["send", &node, "'open", "hi"]);
    bad.expect_stderr(2, "not a registered name");

    let listener = Listener::start_as(&peer, "Elixir.MyApp.Inbox", &["-n", "1"], true);
    peer.eval_ok(&format!(
        "{{'Elixir.MyApp.Inbox', '{}'}} ! hello, ok.",
        listener.node
    ));
    let (status, _, stdout) = listener.finish();
    assert_eq!((status, stdout.as_str()), (Some(0), "hello\n"));
}

#[test]
fn rpc_takes_elixir_module_names() {
    let peer = BeamPeer::builder().elixir().start();
    let node = peer.node();
    assert_prints(
        &peer,
        &["rpc", node],
        &[
            (&["Enum:sum([1,2,3])"], "6"),
            (&["Elixir.String:upcase(<<\"ab\">>)"], "<<\"AB\">>"),
            (&["String", "upcase", "[<<\"ab\">>]"], "<<\"AB\">>"),
        ],
    );
    // A word after a whole call is a usage error, not a call of a module named by the call.
    erldp(&peer, &["rpc", node, "Enum:sum([1,2,3])", "extra"])
        .expect_stderr(2, "one word too many");
    // An Elixir exception reads as Elixir shows it; --json keeps the term.
    let raised = erldp(&peer, &["rpc", node, "String:to_integer(<<\"x\">>)"]);
    raised.expect(1);
    let raised = erldp(
        &peer,
        &[
            "--json",
            "rpc",
            node,
            "erlang:error(#{'__struct__' => 'Elixir.ArgumentError', '__exception__' => true, \
             message => <<\"bad x\">>})",
        ],
    );
    raised.expect(1);
    assert_eq!(
        raised.json()["error"]["message"],
        "remote error: ** (ArgumentError) bad x"
    );
    assert_eq!(
        raised.json()["error"]["reason"]["map"]
            .as_array()
            .expect("the exception struct")
            .len(),
        3
    );
}

#[test]
fn eval_elixir_runs_elixir_code_with_the_nodes_elixir() {
    let peer = BeamPeer::builder().elixir().start();
    let node = peer.node();
    let eval = |code: &str| erldp(&peer, &["eval", "--elixir", node, code]);
    assert_prints(
        &peer,
        &["eval", "--elixir", node],
        &[
            (&["Enum.map([1, 2], &(&1 * 2))"], "[2, 4]"),
            (
                &["x = 20\n%{answer: x + 22, name: \"erldp\"}"],
                "%{answer: 42, name: \"erldp\"}",
            ),
            (&["MyApp.Api"], "MyApp.Api"),
        ],
    );
    let value = erldp(&peer, &["eval", node, "--elixir", "{:ok, 1.5}", "--json"]);
    assert_eq!(value.ok(), "{\"tuple\":[{\"atom\":\"ok\"},1.5]}");

    let syntax = eval("1 +");
    syntax.expect_stderr(2, "** (TokenMissingError)");
    let raised = eval("raise ArgumentError, \"bad x\"");
    raised.expect_stderr(1, "remote error: ** (ArgumentError) bad x");
    // KeyError computes its message: the node is asked for it.
    let computed = eval("raise KeyError, key: :k, term: %{}");
    computed.expect_stderr(1, "** (KeyError) key :k not found in: %{}");

    let erlang_only = BeamPeer::start();
    let none = erldp(
        &erlang_only,
        &["eval", "--elixir", erlang_only.node(), "1 + 1"],
    );
    none.expect_stderr(7, "has no Elixir");
}

/// `erldp listen` in the background, with its readiness line read.
struct Listener {
    child: Child,
    node: String,
}

impl Listener {
    fn start(peer: &BeamPeer, name: &str, extra: &[&str]) -> Listener {
        Listener::start_as(peer, name, extra, false)
    }

    /// With `options_last`, our node's options come after `listen NAME`.
    fn start_as(peer: &BeamPeer, name: &str, extra: &[&str], options_last: bool) -> Listener {
        let ours = random_name("listen");
        let options = ["--cookie", peer.cookie(), "--sname", &ours];
        let mut cmd = command();
        if options_last {
            cmd.args(["listen", name]).args(options);
        } else {
            cmd.args(options).args(["listen", name]);
        }
        let mut child = cmd
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning erldp listen");
        let node = format!("{ours}@{}", short_hostname());
        let stderr = child.stderr.take().expect("stderr");
        let (ready_tx, ready) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = ready_tx.send(line);
            }
            lines.for_each(drop);
        });
        let line = ready
            .recv_timeout(Duration::from_secs(20))
            .expect("erldp listen did not say it was listening");
        assert_eq!(
            line,
            format!(
                "erldp: listening as {}; Ctrl-C to stop",
                Dest::name(name, &node)
            )
        );
        Listener { child, node }
    }

    /// Waits for the process to end; its exit status and stdout.
    fn finish(mut self) -> (Option<i32>, Option<i32>, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .expect("reading stdout");
        let status = self.child.wait().expect("waiting for erldp listen");
        (status.code(), status.signal(), stdout)
    }
}

#[test]
fn listen_prints_what_arrives() {
    let mut peer = BeamPeer::start();
    let listener = Listener::start(&peer, "inbox", &["--count", "3"]);
    peer.eval_ok(&format!(
        "D = {{inbox, '{}'}}, D ! hello, D ! {{two, <<\"b\">>}}, D ! [$x, 3.0], ok.",
        listener.node
    ));
    let (status, _, stdout) = listener.finish();
    assert_eq!(
        (status, stdout.as_str()),
        (Some(0), "hello\n{two,<<\"b\">>}\n[120,3.0]\n")
    );

    let listener = Listener::start(&peer, "jsonbox", &["--json", "-n", "1"]);
    peer.eval_ok(&format!(
        "{{jsonbox, '{}'}} ! {{from, self()}}, ok.",
        listener.node
    ));
    let (status, _, stdout) = listener.finish();
    assert_eq!(status, Some(0), "{stdout}");
    let line: Value = serde_json::from_str(stdout.trim_end()).expect("one JSON line");
    assert_eq!(line["kind"], "message");
    let from = line["from"]["pid"].as_str().expect("sender pid");
    assert_eq!(
        line["term"],
        json!({"tuple": [{"atom": "from"}, {"pid": from}]})
    );
}

/// Ctrl-C during an rpc kills its remote worker, as the rpc's timeout does,
/// and the command exits 130. Before, the process died at once and the call
/// ran on on the node.
#[test]
fn ctrl_c_during_an_rpc_stops_it_on_the_node() {
    let mut peer = BeamPeer::start();
    let sleeping = "lists:any(fun(P) -> process_info(P, current_function) =:= \
                    {current_function, {timer, sleep, 1}} end, processes())";
    let child = command()
        .args([
            "--cookie",
            peer.cookie(),
            "rpc",
            peer.node(),
            "timer",
            "sleep",
            "[60000]",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running");
    peer.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> {sleeping} end, 10000)."
    ));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("the command ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // By the signal, once it has cleaned up, as a shell loop needs to stop.
    assert_eq!(out.status.signal(), Some(libc::SIGINT), "{stderr}");
    assert!(stderr.contains("Ctrl-C: rpc timer:sleep/1"), "{stderr}");
    peer.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> not ({sleeping}) end, 10000)."
    ));
}

#[test]
fn listen_ends_on_ctrl_c_or_when_idle_for_the_timeout() {
    let peer = BeamPeer::start();
    let listener = Listener::start(&peer, "forever", &[]);
    let ours = listener.node.split('@').next().expect("name").to_string();
    assert!(run(command().arg("names"))
        .ok()
        .lines()
        .any(|line| line.starts_with(&format!("{ours}\t"))));
    // SAFETY: signalling our own child process.
    assert_eq!(
        unsafe { libc::kill(listener.child.id() as i32, libc::SIGINT) },
        0
    );
    let (status, signal, stdout) = listener.finish();
    assert_eq!(
        (status, signal, stdout.as_str()),
        (None, Some(libc::SIGINT), "")
    );
    // The kernel closed the registration with the process.
    let deadline = Instant::now() + Duration::from_secs(5);
    while run(command().arg("names"))
        .ok()
        .lines()
        .any(|line| line.starts_with(&format!("{ours}\t")))
    {
        assert!(Instant::now() < deadline, "EPMD still lists {ours}");
        thread::sleep(Duration::from_millis(50));
    }

    let listener = Listener::start(&peer, "idle", &["--timeout", "300ms"]);
    let (status, _, stdout) = listener.finish();
    assert_eq!((status, stdout.as_str()), (Some(6), ""));
}

/// `--proto-dist` and `--ssl-dist-optfile` as `erl` spells them, with the option file a TLS
/// BEAM node reads: one-shot commands and `listen` over TLS and IPv6, and the errors.
#[test]
fn proto_dist_and_ssl_dist_optfile_as_erl_spells_them() {
    let files = TlsFiles::generate(&Otp::System);
    let opts = files.verifying_opts("node");
    let optfile = files.optfile("opt.conf", &opts, &opts);
    let optfile = optfile.to_str().expect("a UTF-8 path");
    let mut tls = BeamPeer::builder().tls(optfile).start();
    let tls_args = ["--proto-dist", "inet_tls", "--ssl-dist-optfile", optfile];

    let pinged = erldp(&tls, &[&tls_args[..], &["ping", tls.node()]].concat());
    assert_eq!(pinged.ok(), "pong");
    let called = erldp(
        &tls,
        &[&["rpc", tls.node(), "erlang", "node"], &tls_args[..]].concat(),
    );
    assert_eq!(called.ok(), tls.node());

    // listen: the BEAM node connects to us over TLS.
    let listener = Listener::start(&tls, "inbox", &[&["--count", "1"], &tls_args[..]].concat());
    tls.eval_ok(&format!("{{inbox, '{}'}} ! over_tls.", listener.node));
    let (status, _, stdout) = listener.finish();
    assert_eq!((status, stdout.as_str()), (Some(0), "over_tls\n"));

    // Plain to a TLS node, and TLS to a plain one: connection failures that say why.
    let plain = erldp(&tls, &["ping", tls.node()]);
    plain.expect_stderr(4, "runs TLS distribution");
    let plain_peer = BeamPeer::builder()
        .arg("-kernel")
        .arg("net_setuptime")
        .arg("2")
        .start();
    let refused = erldp(
        &plain_peer,
        &[&tls_args[..], &["rpc", plain_peer.node(), "erlang", "node"]].concat(),
    );
    refused.expect_stderr(4, "is it a TLS node");

    // Usage errors, found before connecting.
    let alone = erldp(&tls, &["--proto-dist", "inet_tls", "ping", tls.node()]);
    assert_eq!(alone.expect_stderr(2, "needs --ssl-dist-optfile"), "");
    let without = erldp(&tls, &["--ssl-dist-optfile", optfile, "ping", tls.node()]);
    without.expect_stderr(2, "is for --proto-dist inet_tls");
    let unknown = erldp(&tls, &["--proto-dist", "inet_sctp", "ping", tls.node()]);
    unknown.expect(2);
    let garbage = files.write("garbage.conf", "[{server, [{certfile, 42}]}].\n");
    let garbage = garbage.to_str().expect("a UTF-8 path");
    let bad = erldp(
        &tls,
        &[
            "--proto-dist",
            "inet_tls",
            "--ssl-dist-optfile",
            garbage,
            "ping",
            tls.node(),
        ],
    );
    bad.expect_stderr(2, "certfile");

    // IPv6: an inet6_tcp node, and TLS over IPv6.
    let inet6 = BeamPeer::builder().proto_dist("inet6_tcp").start();
    let called = erldp(
        &inet6,
        &[
            "--proto-dist",
            "inet6_tcp",
            "rpc",
            inet6.node(),
            "erlang",
            "node",
        ],
    );
    assert_eq!(called.ok(), inet6.node());
    let inet6_tls = BeamPeer::builder()
        .tls(optfile)
        .proto_dist("inet6_tls")
        .start();
    let called = erldp(
        &inet6_tls,
        &[
            "--proto-dist",
            "inet6_tls",
            "--ssl-dist-optfile",
            optfile,
            "rpc",
            inet6_tls.node(),
            "erlang",
            "node",
        ],
    );
    assert_eq!(called.ok(), inet6_tls.node());
}

#[test]
fn nodes_are_hidden_unless_asked_to_be_visible() {
    let peer = BeamPeer::start();
    let node = peer.node();
    let hidden = random_name("hid");
    let seen = erldp(
        &peer,
        &["--sname", &hidden, "eval", node, "{nodes(), nodes(hidden)}"],
    );
    assert_eq!(
        term(seen.ok()),
        term(&format!("{{[], ['{hidden}@{}']}}", short_hostname()))
    );

    let visible = random_name("vis");
    let seen = erldp(
        &peer,
        &["--sname", &visible, "--visible", "eval", node, "nodes()"],
    );
    assert_eq!(
        term(seen.ok()),
        term(&format!("['{visible}@{}']", short_hostname()))
    );
}

#[test]
fn cookie_comes_from_the_option_the_environment_or_the_cookie_file() {
    let peer = BeamPeer::start();
    let node = peer.node();
    let home = scratch_home();
    let with_home = |cmd: &mut Command| -> Run { run(cmd.env("HOME", &home)) };

    assert_eq!(
        with_home(command().args(["--cookie", peer.cookie(), "ping", node])).ok(),
        "pong"
    );
    assert_eq!(
        with_home(
            command()
                .env("ERLDP_COOKIE", peer.cookie())
                .args(["ping", node])
        )
        .ok(),
        "pong"
    );
    // The option wins over the environment.
    assert_eq!(
        with_home(command().env("ERLDP_COOKIE", "WRONG").args([
            "--cookie",
            peer.cookie(),
            "ping",
            node
        ]))
        .ok(),
        "pong"
    );
    std::fs::write(home.join(".erlang.cookie"), peer.cookie()).expect("writing the cookie file");
    assert_eq!(with_home(command().args(["ping", node])).ok(), "pong");
    // The environment wins over the file.
    with_home(
        command()
            .env("ERLDP_COOKIE", random_cookie())
            .args(["ping", node]),
    )
    .expect(5);
    std::fs::remove_dir_all(&home).expect("removing the scratch home");
}

#[test]
fn long_names_are_used_for_long_named_nodes() {
    let peer = BeamPeer::builder().long_names(true).start();
    assert!(peer.node().ends_with("@127.0.0.1"), "{}", peer.node());
    assert_eq!(erldp(&peer, &["ping", peer.node()]).ok(), "pong");
    let ours = format!("{}@127.0.0.1", random_name("long"));
    let seen = erldp(
        &peer,
        &["--name", &ours, "eval", peer.node(), "nodes(hidden)"],
    );
    assert_eq!(term(seen.ok()), term(&format!("['{ours}']")));
}

/// `--sname` and `--name` are checked for every command as `listen`'s node
/// is, and as BEAM checks `-sname` and `-name`: before, one-shot commands
/// took a short name with a dotted host as a long one and answered `pang`
/// (a connection error), where `listen` refused it.
#[test]
fn sname_and_name_are_checked_alike_for_every_command() {
    let peer = BeamPeer::start();
    let dotted = format!("{}@host.example", random_name("dotted"));
    for args in [
        vec!["ping", peer.node()],
        vec!["rpc", peer.node(), "erlang:node()"],
        vec!["listen", "box"],
    ] {
        let refused = run(command()
            .args(["--cookie", peer.cookie(), "--sname", &dotted])
            .args(&args));
        refused.expect_stderr(2, "cannot be a short node name: its host has dots");
    }
}

#[test]
fn erldp_log_shows_connections_and_frames() {
    let peer = BeamPeer::start();
    let node = peer.node();
    let debug = run(command()
        .args(["--cookie", peer.cookie(), "ping", node])
        .env("ERLDP_LOG", "debug"));
    debug.expect(0);
    for needle in [
        "DEBUG erldp::epmd::client [main] EPMD at ".to_string(),
        format!("handshake with {node} (outgoing) succeeded"),
        "INFO  erldp::client [main] client erldp_".to_string(),
        format!(" connected to {node} (creation "),
    ] {
        assert!(
            debug.stderr.contains(&needle),
            "{needle:?} not in:\n{}",
            debug.stderr
        );
    }
    assert!(!debug.stderr.contains("TRACE"), "{}", debug.stderr);

    let trace = run(command()
        .args(["--cookie", peer.cookie(), "rpc", node, "erlang:node()"])
        .env("ERLDP_LOG", "trace"));
    trace.expect_stderr(0, &format!("-> {node} SPAWN_REQUEST ("));
    assert!(
        trace.stderr.contains(&format!("<- {node} SPAWN_REPLY (")),
        "{}",
        trace.stderr
    );

    let typo = run(command()
        .args(["--cookie", peer.cookie(), "ping", node])
        .env("ERLDP_LOG", "loud"));
    assert_eq!(
        typo.expect_stderr(0, "ERLDP_LOG=\"loud\" is not a log level"),
        "pong"
    );
}

/// Times `erldp rpc` against `erl_call -a` on the same node, alternating
/// runs, and prints the medians: a measurement, never an assertion.
#[test]
fn rpc_timing_against_erl_call() {
    let Some(erl_call) = find_erl_call() else {
        eprintln!("erl_call not found (it comes with Debian's erlang-base): no comparison");
        return;
    };
    let peer = BeamPeer::start();
    let mut ours = Command::new(env!("CARGO_BIN_EXE_erldp"));
    ours.args([
        "--cookie",
        peer.cookie(),
        "rpc",
        peer.node(),
        "lists",
        "sum",
        "[[1,2,3]]",
    ]);
    let mut theirs = Command::new(&erl_call);
    let name = peer.node().split('@').next().expect("name");
    theirs.args([
        "-sname",
        name,
        "-c",
        peer.cookie(),
        "-a",
        "lists sum [[1,2,3]]",
    ]);
    // Same answer first (erl_call prints no final newline).
    assert_eq!(Run::from(ours.output().expect("erldp")).ok(), "6");
    assert_eq!(Run::from(theirs.output().expect("erl_call")).expect(0), "6");

    const RUNS: usize = 20;
    let (mut erldp_runs, mut erl_call_runs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        erldp_runs.push(timed(&mut ours));
        erl_call_runs.push(timed(&mut theirs));
    }
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    eprintln!(
        "rpc lists:sum([1,2,3]), {RUNS} runs each; wall median (min), CPU median:\n  \
         erldp ({profile} build) {}\n  erl_call {}  ({})",
        summary(&mut erldp_runs),
        summary(&mut erl_call_runs),
        erl_call.display()
    );
}

/// One run with the output discarded: its wall time, and the CPU time
/// (user and system, all threads) of the process itself, which the
/// machine's other load disturbs less.
#[allow(
    clippy::zombie_processes,
    reason = "wait4 reaps the child: Child::wait would not give its resource usage"
)]
fn timed(cmd: &mut Command) -> (Duration, Duration) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: reaps our own child, which nothing else waits for (`child` is
    // never waited on), and gets its resource usage.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "wait status {status}"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (elapsed, time(usage.ru_utime) + time(usage.ru_stime))
}

fn summary(runs: &mut [(Duration, Duration)]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut cpu: Vec<Duration> = runs.iter().map(|(_, cpu)| *cpu).collect();
    cpu.sort();
    runs.sort();
    format!(
        "{:.1} ms ({:.1} ms), CPU {:.1} ms",
        ms(runs[runs.len() / 2].0),
        ms(runs[0].0),
        ms(cpu[cpu.len() / 2])
    )
}

fn find_erl_call() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("erl_call"));
    let bundled = std::fs::read_dir("/usr/lib/erlang/lib")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("erl_interface-")
        })
        .map(|entry| entry.path().join("bin/erl_call"));
    on_path.chain(bundled).find(|path| path.is_file())
}

/// A port with nothing listening on it (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding")
        .local_addr()
        .expect("address")
        .port()
}

fn scratch_home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("erldp-cli-home-{}", random_name("")));
    std::fs::create_dir_all(&dir).expect("creating a scratch home");
    dir
}
