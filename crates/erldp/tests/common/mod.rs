//! Helpers shared by the integration tests: the term corpus, a way to run
//! the real `erl`, our node beside a BEAM peer, and a hand-driven peer
//! ([`raw`]).

#![allow(dead_code)] // each test binary uses a different part

pub mod raw;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erldp::{Mailbox, Message, Node, NodeBuilder, Pid, Term};
use erldp_testkit::{random_name, BeamPeer};

/// How long a message the test waits for may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(30);

/// A builder for our node, with a random name and `peer`'s cookie.
pub fn builder_for(peer: &BeamPeer) -> NodeBuilder {
    Node::builder(random_name("rs")).cookie(peer.cookie())
}

/// Our node, with a random name and `peer`'s cookie.
pub fn node_for(peer: &BeamPeer) -> Node {
    builder_for(peer).start().expect("node")
}

/// A BEAM peer on the system OTP and our node on its cookie: where most
/// tests start.
pub fn peer_and_node() -> (BeamPeer, Node) {
    peer_and_node_with(|node| node)
}

/// [`peer_and_node`] and a mailbox of ours registered as `inbox`, where the
/// peer's commands send to `{inbox, Us}`.
pub fn peer_node_inbox() -> (BeamPeer, Node, Mailbox) {
    let (peer, node) = peer_and_node();
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    (peer, node, inbox)
}

/// [`peer_and_node`], our node built with the options `configure` sets.
pub fn peer_and_node_with(configure: impl FnOnce(NodeBuilder) -> NodeBuilder) -> (BeamPeer, Node) {
    let peer = BeamPeer::start();
    let node = configure(builder_for(&peer)).start().expect("node");
    (peer, node)
}

/// Asserts that an rpc of `erlang:node()` from `node` to `peer` answers
/// with `peer`'s name: the connection (made anew when there is none)
/// serves calls. `when` says at what point of the test.
pub fn assert_rpc_answers(node: &Node, peer: &str, when: &str) {
    let answer = node
        .rpc(peer, "erlang", "node", vec![], ARRIVAL)
        .unwrap_or_else(|err| panic!("rpc {when}: {err}"));
    assert!(answer.is_atom(peer), "rpc {when}: {answer}");
}

/// Holds handlers (which run on the node's threads) until the test lets
/// them on: a handler calls [`Hold::hold`], which says that it started and
/// waits; the test sees each start with [`Gate::started`] and lets one held
/// handler on with [`Gate::release`]. When the gate goes, held handlers
/// fail their wait and so end.
pub struct Gate {
    started: Receiver<()>,
    release: Sender<()>,
}

/// The handlers' side of a [`Gate`]; clones share it.
#[derive(Clone)]
pub struct Hold(Arc<(Sender<()>, Mutex<Receiver<()>>)>);

/// A closed gate and the hold to give its handlers.
pub fn gate() -> (Gate, Hold) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    (
        Gate { started, release },
        Hold(Arc::new((started_tx, Mutex::new(released)))),
    )
}

impl Gate {
    /// Waits until a handler has come to the gate; `what` names it.
    pub fn started(&self, what: &str) {
        self.started
            .recv_timeout(ARRIVAL)
            .unwrap_or_else(|err| panic!("{what}: {err}"));
    }

    /// Lets one held handler (or the next to come) on.
    pub fn release(&self) {
        self.release.send(()).expect("a handler holds");
    }
}

impl Hold {
    /// Says that the handler started, then waits until the gate lets it on.
    pub fn hold(&self) {
        let (started, released) = &*self.0;
        started.send(()).expect("the gate is there");
        released
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv()
            .expect("released");
    }
}

/// The next message in `inbox`; fails when none arrives.
pub fn next_message(inbox: &Mailbox) -> Message {
    inbox
        .recv_timeout(ARRIVAL)
        .expect("receive")
        .expect("a message in time")
}

/// The term of the next message in `inbox`.
pub fn next(inbox: &Mailbox) -> Term {
    next_message(inbox).term
}

/// Starts a collector registered as `name` on `peer` (`erldp_test:collect/1`,
/// read back with `BeamPeer::collected`) and returns its pid, which the peer
/// sends to `inbox`, a mailbox of ours with a registered name.
pub fn collector(peer: &mut BeamPeer, name: &str, inbox: &Mailbox) -> Pid {
    let to = inbox.name().expect("inbox has a registered name");
    let us = inbox.pid().node;
    peer.eval_ok(&format!(
        "{{'{to}', '{us}'}} ! erldp_test:collect({name}), ok."
    ));
    next(inbox)
        .as_pid()
        .unwrap_or_else(|| panic!("the pid of collector {name}"))
}

/// One term of `tests/corpus.txt`.
pub struct Entry {
    /// 1-based line number in the corpus file.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// The term ErlDP parses from it.
    pub term: Term,
}

/// The path of the corpus at the repository root.
pub fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus.txt")
}

/// Every term of the corpus (blank and `%` comment lines skipped).
pub fn corpus() -> Vec<Entry> {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('%'))
        .map(|(index, line)| Entry {
            line: index + 1,
            text: line.to_owned(),
            term: line
                .parse()
                .unwrap_or_else(|err| panic!("corpus line {}: {err}\n{line}", index + 1)),
        })
        .collect()
}

/// A fresh directory for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("erldp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    dir
}

/// Runs `erl -noshell -eval <code>` and fails the test with erl's output
/// if it does not exit cleanly.
pub fn run_erl(code: &str) {
    let output = Command::new("erl")
        .args(["-noshell", "-eval", code])
        .output()
        .unwrap_or_else(|err| {
            panic!(
            "these tests compare with the real Erlang runtime, but `erl` could not be run ({err}); \
             install Erlang/OTP (Debian: apt-get install erlang-base) so that `erl` is on PATH"
        )
        });
    assert!(
        output.status.success(),
        "erl failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An Erlang string literal for a path.
pub fn erl_string(path: &Path) -> String {
    format!("{:?}", path.to_str().expect("UTF-8 path"))
}

pub fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}
