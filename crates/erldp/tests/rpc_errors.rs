//! Remote errors read as their node would put them, against a BEAM node
//! with Elixir's modules: an Elixir exception as Elixir shows it (its
//! message asked of the node when the struct has none), in every way of
//! waiting — blocking, a callback, [`Client`]; an `undef` whose module
//! exists under its Elixir name says so; a failed `gen_server` call names
//! its server. The error's terms stay as the node sent them.

use std::sync::mpsc;
use std::time::Duration;

use erldp::{Client, Dest, Error, Term};
use erldp_testkit::BeamPeer;

mod common;
use common::node_for;

const T: Duration = Duration::from_secs(10);

/// A BEAM node with Elixir's modules in its code path and Elixir started,
/// as an Elixir release has them.
fn elixir_peer() -> BeamPeer {
    let mut peer = BeamPeer::builder().elixir().start();
    peer.eval_ok("{ok, _} = application:ensure_all_started(elixir).");
    peer
}

fn term(text: &str) -> Term {
    text.parse().expect("term")
}

/// `Keyword.fetch!([], :k)` raises a KeyError, whose struct has no message:
/// `KeyError.message/1` computes it.
const KEY_ERROR: (&str, &str, &str) = ("Elixir.Keyword", "fetch!", "[[], k]");

fn rpc_args(text: &str) -> Vec<Term> {
    match term(text) {
        Term::List(args) => args,
        other => panic!("not a list: {other}"),
    }
}

#[test]
fn elixir_exceptions_read_as_elixir_shows_them() {
    let peer = elixir_peer();
    let node = node_for(&peer);
    let raised = term(
        "#{'__struct__' => 'Elixir.MyApp.NotFound', '__exception__' => true, id => 7, \
         message => <<\"user 7 not found\">>}",
    );
    let err = node
        .rpc(peer.node(), "erlang", "error", vec![raised.clone()], T)
        .expect_err("raised");
    assert_eq!(
        err.to_string(),
        "remote error: ** (MyApp.NotFound) user 7 not found"
    );
    match &err {
        Error::Rpc { class, reason, .. } => {
            assert_eq!(
                (class.as_str(), &**reason),
                ("error", &raised),
                "the raw term stays"
            );
        }
        other => panic!("not an rpc error: {other:?}"),
    }

    let (module, function, args) = KEY_ERROR;
    let err = node
        .rpc(peer.node(), module, function, rpc_args(args), T)
        .expect_err("raised");
    assert_eq!(
        err.to_string(),
        "remote error: ** (KeyError) key :k not found in: []"
    );
    let exception = err.rpc_term().expect("the remote term");
    assert!(
        erldp::elixir::Exception::from_term(&exception.as_tuple().expect("a tuple")[1]).is_some(),
        "{exception}"
    );
    assert_eq!(node.outstanding_requests(), 0, "the question was answered");
}

#[test]
fn callbacks_and_clients_get_the_same_words() {
    let peer = elixir_peer();
    let node = node_for(&peer);
    let (module, function, args) = KEY_ERROR;
    let (tx, rx) = mpsc::channel();
    node.rpc_start(peer.node(), module, function, rpc_args(args))
        .expect("started")
        .on_complete(T, move |result| tx.send(result).expect("send"));
    let err = rx.recv().expect("called").expect_err("raised");
    assert_eq!(
        err.to_string(),
        "remote error: ** (KeyError) key :k not found in: []"
    );

    let mut client = Client::builder()
        .cookie(peer.cookie())
        .connect(peer.node())
        .expect("client");
    let err = client
        .rpc(module, function, rpc_args(args), T)
        .expect_err("raised");
    assert_eq!(
        err.to_string(),
        "remote error: ** (KeyError) key :k not found in: []"
    );
    let err = client
        .rpc("String", "upcase", rpc_args("[<<\"x\">>]"), T)
        .expect_err("undef");
    assert!(
        err.to_string()
            .contains("(no module 'String' there, but Elixir's String is 'Elixir.String')"),
        "{err}"
    );
}

/// A caller whose timeout passes before the node has put the exception in
/// words gets the error as it stands, not a timeout: here the exception's
/// message never comes.
#[test]
fn a_caller_that_stops_waiting_gets_the_error_as_it_stands() {
    let mut peer = elixir_peer();
    peer.eval_ok(
        "'Elixir.Code':eval_string(<<\"defmodule Stuck do defexception [:id]; \
         def message(_), do: Process.sleep(:infinity) end\">>).",
    );
    let node = node_for(&peer);
    let stuck = term("[#{'__struct__' => 'Elixir.Stuck', '__exception__' => true, id => 1}]");
    let err = node
        .rpc(
            peer.node(),
            "erlang",
            "error",
            stuck.as_list().expect("args").to_vec(),
            Duration::from_secs(1),
        )
        .expect_err("raised");
    assert!(
        err.to_string().starts_with("remote error: ** (Stuck) #{"),
        "{err}"
    );

    let (tx, rx) = mpsc::channel();
    node.rpc_start(
        peer.node(),
        "erlang",
        "error",
        stuck.as_list().expect("args").to_vec(),
    )
    .expect("started")
    .on_complete(Duration::from_secs(1), move |result| {
        tx.send(result).expect("send")
    });
    let err = rx.recv().expect("called").expect_err("raised");
    assert!(matches!(err, Error::Rpc { .. }), "{err}");
}

#[test]
fn an_undefined_module_with_an_elixir_namesake_says_so() {
    let peer = elixir_peer();
    let node = node_for(&peer);
    let err = node
        .rpc(peer.node(), "MyApp.Nowhere", "f", vec![], T)
        .expect_err("undef");
    assert!(
        err.to_string()
            .starts_with("remote error: undef; stacktrace:"),
        "{err}"
    );

    let err = node
        .rpc(peer.node(), "String", "upcase", rpc_args("[<<\"x\">>]"), T)
        .expect_err("undef");
    assert!(
        err.to_string().starts_with(
            "remote error: undef (no module 'String' there, but Elixir's String is \
             'Elixir.String'); stacktrace: [{'String',upcase,"
        ),
        "{err}"
    );
    assert_eq!(
        node.rpc(
            peer.node(),
            "Elixir.String",
            "upcase",
            rpc_args("[<<\"x\">>]"),
            T
        )
        .expect("the module as Elixir names it"),
        Term::binary(b"X".to_vec())
    );
}

#[test]
fn a_failed_call_names_its_server() {
    let peer = elixir_peer();
    let node = node_for(&peer);
    let missing = Dest::name("no_such_server", peer.node());
    let err = node
        .call(&missing, Term::atom("get"), T)
        .expect_err("noproc");
    assert_eq!(
        err.to_string(),
        format!(
            "remote exit: noproc (no process {{no_such_server,{}}} to call)",
            peer.node()
        )
    );
    assert_eq!(err.rpc_term(), Some(term("{exit, noproc, []}")));

    let ours = Dest::name("nobody_here", node.name().as_str());
    let err = node.call(&ours, Term::atom("get"), T).expect_err("noproc");
    assert!(
        err.to_string().contains("(no process {nobody_here,"),
        "{err}"
    );
}
