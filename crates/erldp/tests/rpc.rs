//! Remote calls against a real BEAM node: results, exceptions with class
//! and stack trace, output of rpc'd code, timeouts that leave nothing
//! behind, many callers at once, `gen_server` calls and casts, and what a
//! BEAM node gets when it asks us to spawn or rpc.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use erldp::{Dest, Error, Term};
use erldp_testkit::{eventually, random_name};

mod common;
use common::{assert_rpc_answers, peer_and_node};

const T: Duration = Duration::from_secs(10);

fn args(text: &str) -> Vec<Term> {
    match text.parse::<Term>().expect("args") {
        Term::List(items) => items,
        other => panic!("not a list: {other}"),
    }
}

#[test]
fn rpc_returns_the_value() {
    let (peer, node) = peer_and_node();
    assert_eq!(
        node.rpc(peer.node(), "erlang", "node", vec![], T)
            .expect("rpc"),
        Term::atom(peer.node())
    );
    assert_eq!(
        node.rpc(peer.node(), "lists", "sum", args("[[1,2,3]]"), T)
            .expect("rpc"),
        Term::from(6)
    );
    let reversed = node
        .rpc(
            peer.node(),
            "lists",
            "reverse",
            args("[[a, <<\"b\">>, {c}]]"),
            T,
        )
        .expect("rpc");
    assert_eq!(reversed, "[{c}, <<\"b\">>, a]".parse().expect("term"));
}

fn rpc_error(result: erldp::Result<Term>) -> (String, Term, Term) {
    match result {
        Err(Error::Rpc {
            class,
            reason,
            stacktrace,
            ..
        }) => (class.as_str().to_string(), *reason, *stacktrace),
        other => panic!("expected an Rpc error, got {other:?}"),
    }
}

#[test]
fn remote_exceptions_carry_class_reason_and_stacktrace() {
    let (peer, node) = peer_and_node();

    let (class, reason, stack) =
        rpc_error(node.rpc(peer.node(), "erlang", "error", args("[boom]"), T));
    assert_eq!((class.as_str(), reason), ("error", Term::atom("boom")));
    assert!(
        matches!(stack, Term::List(ref frames) if !frames.is_empty()),
        "stack: {stack}"
    );

    let (class, reason, _) =
        rpc_error(node.rpc(peer.node(), "erlang", "throw", args("[{ball, 1}]"), T));
    assert_eq!(
        (class.as_str(), reason),
        ("throw", "{ball, 1}".parse().expect("term"))
    );

    let (class, reason, _) = rpc_error(node.rpc(peer.node(), "erlang", "exit", args("[bye]"), T));
    assert_eq!((class.as_str(), reason), ("exit", Term::atom("bye")));

    let (class, reason, stack) =
        rpc_error(node.rpc(peer.node(), "no_such_module", "f", args("[1]"), T));
    assert_eq!((class.as_str(), reason), ("error", Term::atom("undef")));
    assert!(stack.to_string().contains("no_such_module"), "{stack}");

    let (class, reason, _) = rpc_error(node.rpc(peer.node(), "lists", "nth", args("[5, [a]]"), T));
    assert_eq!(class, "error");
    assert!(matches!(reason, Term::Atom(_) | Term::Tuple(_)), "{reason}");

    let err = node
        .rpc(peer.node(), "erlang", "error", args("[boom]"), T)
        .expect_err("error");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(
        err.rpc_term()
            .expect("rpc term")
            .as_tuple()
            .expect("tuple")
            .len(),
        3
    );
}

#[test]
fn rpc_of_code_that_prints_does_not_hang() {
    let (peer, node) = peer_and_node();
    // The output goes to the peer's standard output, through its `user`.
    for (function, rpc_args, printed) in [
        (
            "format",
            "[\"printed by rpc ~p~n\", [42]]",
            "printed by rpc 42",
        ),
        ("put_chars", "[<<\"bytes out\\n\">>]", "bytes out"),
    ] {
        let result = node.rpc(peer.node(), "io", function, args(rpc_args), T);
        assert_eq!(result.expect("rpc"), Term::atom("ok"), "io:{function}");
        peer.await_output(printed);
    }
}

#[test]
fn a_timed_out_rpc_leaves_nothing_behind() {
    let (mut peer, node) = peer_and_node();
    let err = node
        .rpc(
            peer.node(),
            "timer",
            "sleep",
            args("[60000]"),
            Duration::from_millis(300),
        )
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timer:sleep/1"), "{err}");
    assert!(err.to_string().contains("within 300 ms"), "{err}");
    assert_eq!(node.outstanding_requests(), 0);
    // The worker on the BEAM side was killed.
    let sleepers = "length([P || P <- processes(), \
                    process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}]).";
    eventually("the rpc worker to be killed", || {
        peer.eval_ok(sleepers) == "0"
    });
    assert_rpc_answers(&node, peer.node(), "after the timed-out one");
}

#[test]
fn sixteen_threads_share_one_connection() {
    let (peer, node) = peer_and_node();
    node.connect(peer.node()).expect("connect");
    let peer_name: Arc<str> = peer.node().into();
    let threads: Vec<_> = (0..16i64)
        .map(|t| {
            let node = node.clone();
            let peer_name = Arc::clone(&peer_name);
            thread::spawn(move || {
                for i in 0..200i64 {
                    let got = node
                        .rpc(
                            &peer_name,
                            "erlang",
                            "+",
                            vec![Term::from(t * 1_000_000), Term::from(i)],
                            T,
                        )
                        .expect("rpc");
                    assert_eq!(got, Term::from(t * 1_000_000 + i), "thread {t} call {i}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread failed");
    }
    assert_eq!(node.outstanding_requests(), 0);
    assert_eq!(node.nodes().len(), 1, "one connection served every thread");
}

#[test]
fn async_rpc_and_call_complete_through_callbacks() {
    let (peer, node) = peer_and_node();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..50i64 {
        let tx = tx.clone();
        node.rpc_start(peer.node(), "erlang", "abs", vec![Term::from(-i)])
            .expect("start")
            .on_complete(T, move |result| tx.send((i, result)).expect("send"));
    }
    let mut seen = 0;
    for _ in 0..50 {
        let (i, result) = rx.recv_timeout(T).expect("callback");
        assert_eq!(result.expect("value"), Term::from(i));
        seen += 1;
    }
    assert_eq!(seen, 50);
    let tx2 = tx.clone();
    node.rpc_start(peer.node(), "timer", "sleep", args("[60000]"))
        .expect("start")
        .on_complete(Duration::from_millis(100), move |result| {
            tx2.send((-1, result)).expect("send")
        });
    let (_, result) = rx.recv_timeout(T).expect("timeout callback");
    assert!(matches!(result, Err(Error::Timeout { .. })));
    assert_eq!(node.outstanding_requests(), 0);
}

#[test]
fn gen_server_call_and_cast() {
    let (mut peer, node) = peer_and_node();
    peer.eval_ok("{ok, _} = erldp_test_server:start(counter, 10).");
    let server = Dest::name("counter", peer.node());
    assert_eq!(
        node.call(&server, Term::atom("state"), T).expect("call"),
        Term::from(10)
    );
    assert_eq!(
        node.call(&server, "{set, 11}".parse().expect("t"), T)
            .expect("call"),
        Term::atom("ok")
    );
    assert_eq!(
        node.call(&server, Term::atom("state"), T).expect("call"),
        Term::from(11)
    );
    let echoed: Term = "{echo, {deep, [1, 2.5, <<\"x\">>, #{a => b}]}}"
        .parse()
        .expect("t");
    assert_eq!(
        node.call(&server, echoed, T).expect("call"),
        "{deep, [1, 2.5, <<\"x\">>, #{a => b}]}".parse().expect("t")
    );

    node.cast(&server, "{set, 12}".parse().expect("t"))
        .expect("cast");
    assert_eq!(
        node.call(&server, Term::atom("casts"), T).expect("call"),
        "[{set, 12}]".parse().expect("t")
    );

    // By pid too.
    let pid = match node
        .rpc(peer.node(), "erlang", "whereis", args("[counter]"), T)
        .expect("whereis")
    {
        Term::Pid(pid) => pid,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(
        node.call(&Dest::Pid(pid), Term::atom("state"), T)
            .expect("call"),
        Term::from(12)
    );

    // A call that times out leaves no state; a late reply is dropped.
    let err = node
        .call(
            &server,
            "{sleep, 500}".parse().expect("t"),
            Duration::from_millis(100),
        )
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(node.outstanding_requests(), 0);
    thread::sleep(Duration::from_millis(600));
    assert_eq!(
        node.call(&server, Term::atom("state"), T).expect("call"),
        Term::from(12)
    );

    // No such server: exits with noproc (a wait for the timeout would end
    // in a timeout error instead).
    let missing = Dest::name("no_such_server", peer.node());
    let (class, reason, _) = rpc_error(node.call(&missing, Term::atom("state"), T));
    assert_eq!((class.as_str(), reason), ("exit", Term::atom("noproc")));

    // The server dies during the call: the monitor ends the wait.
    peer.eval_ok("{ok, _} = erldp_test_server:start(victim).");
    let caller = {
        let node = node.clone();
        let victim = Dest::name("victim", peer.node());
        thread::spawn(move || {
            node.call(
                &victim,
                "{sleep, 30000}".parse().expect("t"),
                Duration::from_secs(60),
            )
        })
    };
    thread::sleep(Duration::from_millis(300));
    peer.eval_ok("exit(whereis(victim), kill).");
    let (class, reason, _) = rpc_error(caller.join().expect("caller"));
    assert_eq!((class.as_str(), reason), ("exit", Term::atom("killed")));
    assert_eq!(node.outstanding_requests(), 0);
}

#[test]
fn beam_calls_a_mailbox_and_gets_our_reply() {
    let (mut peer, node) = peer_and_node();
    let server = node.mailbox(Some("rust_server")).expect("mailbox");
    let us = node.name();
    let answering = {
        let node = node.clone();
        thread::spawn(move || {
            let request = server.recv_timeout(T).expect("recv").expect("a call");
            match &request.term {
                Term::Tuple(fields) if fields.len() == 3 && fields[0].is_atom("$gen_call") => {
                    let reply = Term::tuple(vec![Term::atom("got"), fields[2].clone()]);
                    node.reply(&fields[1], reply).expect("reply");
                }
                other => panic!("not a call: {other}"),
            }
        })
    };
    let reply = peer.eval_ok(&format!(
        "gen_server:call({{rust_server, '{us}'}}, {{add, 1, 2}}, 5000)."
    ));
    assert_eq!(reply, "{got,{add,1,2}}");
    answering.join().expect("answered");
}

/// With nothing exposed, a spawn request gets a pid that exits at once with
/// `undef`, and `rpc:call` the `undef` of a node without the module
/// (`serve.rs` has the rest).
#[test]
fn spawn_requests_and_rpc_from_beam_get_undef() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let reply = peer.eval_ok(&format!(
        "R = spawn_request('{us}', erlang, node, [], [monitor]), \
         receive {{spawn_reply, R, ok, P}} -> \
             receive {{'DOWN', R, process, P, Reason}} -> Reason after 5000 -> no_down end \
         after 5000 -> no_reply end."
    ));
    assert_eq!(reply, "{undef,[{erlang,node,[],[]}]}");
    let rpc = peer.eval_ok(&format!("rpc:call('{us}', erlang, node, [], 5000)."));
    assert_eq!(rpc, "{badrpc,{'EXIT',{undef,[{erlang,node,[],[]}]}}}");
}

#[test]
fn ping_and_nodes() {
    let (peer, node) = peer_and_node();
    assert!(node.ping(peer.node()));
    assert!(node.ping(node.name().as_str()));
    let missing = format!("{}@{}", random_name("gone"), erldp::short_hostname());
    assert!(!node.ping(&missing));
    assert!(!node.ping("not a node"));
    assert_eq!(node.nodes(), vec![erldp::Atom::new(peer.node())]);
}

#[test]
fn closing_the_node_fails_pending_calls() {
    let (peer, node) = peer_and_node();
    let pending = node
        .rpc_start(peer.node(), "timer", "sleep", args("[60000]"))
        .expect("start");
    let closer = {
        let node = node.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            node.close();
        })
    };
    let err = pending.wait(T).expect_err("fails");
    assert!(matches!(err, Error::Closed), "{err}");
    closer.join().expect("closed");
    assert!(matches!(
        node.rpc(peer.node(), "erlang", "node", vec![], T),
        Err(Error::Closed)
    ));
    assert!(matches!(node.mailbox(None), Err(Error::Closed)));
}

/// A module or function name BEAM could not make an atom of is refused
/// before it becomes one of ours, which would stay in the table for good,
/// and before any connect: by a node and by a client alike.
#[test]
fn a_name_longer_than_an_atom_is_refused_before_it_becomes_one() {
    let (peer, node) = common::peer_and_node();
    let module = format!("m{}", erldp_testkit::random_cookie()).repeat(20);
    assert!(module.len() > erldp::term::MAX_ATOM_CHARS);
    match node.rpc(peer.node(), &module, "f", vec![], Duration::from_secs(10)) {
        Err(Error::InvalidArgument(reason)) => assert!(reason.contains("module"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(node.nodes().is_empty(), "no connect for a call refused");
    let function = format!("{module}f");
    match node.rpc_start(peer.node(), "erlang", &function, vec![]) {
        Err(Error::InvalidArgument(reason)) => assert!(reason.contains("function"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut client = erldp::Client::builder()
        .cookie(peer.cookie())
        .connect(peer.node())
        .expect("client");
    let client_module = format!("{module}c");
    assert!(matches!(
        client.rpc(&client_module, "f", vec![], Duration::from_secs(10)),
        Err(Error::InvalidArgument(_))
    ));
    for text in [&module, &function, &client_module] {
        assert!(
            !erldp::Atom::is_in_table(text),
            "{text:.20}... in the atom table"
        );
    }
}

/// An integer larger than the BEAM holds is refused as we encode it, naming
/// its size, where it went out and the BEAM dropped the connection as
/// garbage, failing every call in flight on it with "the peer closed the
/// connection". The largest it holds goes through.
#[test]
fn an_integer_larger_than_the_beam_holds_is_refused_before_it_is_sent() {
    let (peer, node) = peer_and_node();
    let largest = Term::BigInt(erldp::BigInt::from_magnitude(false, &[0xff; (1 << 22) - 8]));
    let answer = node
        .rpc(peer.node(), "erlang", "is_integer", vec![largest], T)
        .expect("the largest");
    assert!(answer.is_atom("true"), "{answer}");
    let larger = Term::BigInt(erldp::BigInt::from_magnitude(false, &[0xff; 1 << 22]));
    let err = node
        .rpc(peer.node(), "erlang", "is_integer", vec![larger], T)
        .expect_err("too large");
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    assert!(err.to_string().contains("at most 33554368 bits"), "{err}");
    assert_rpc_answers(&node, peer.node(), "after the refusal");
}
