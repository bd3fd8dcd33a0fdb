//! BEAM calling into our node: `gen_server` calls, casts and messages to a
//! served name; `rpc`, `erpc` and remote `spawn` into exposed modules (and
//! what anything else gets); `rex`; ordering, concurrency, cancellation,
//! exceptions; links and monitors of served processes. Against real Erlang
//! and Elixir nodes (`compat.rs`'s OTP releases in
//! `every_otp_release_calls_into_our_node`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erldp::serve::{Exception, Frame, Invocation, Reply, Request, RequestKind};
use erldp::{Dest, Error, Node, ServeOptions, Term};
use erldp_testkit::{random_name, BeamPeer, Otp};

mod common;
use common::{gate, node_for, peer_and_node};

const T: Duration = Duration::from_secs(10);

/// Evaluates Elixir `code` on `peer` and returns its value as Erlang prints it.
fn elixir(peer: &mut BeamPeer, code: &str) -> String {
    let escaped = code.replace('\\', "\\\\").replace('"', "\\\"");
    erl(
        peer,
        &format!("{{V, _}} = 'Elixir.Code':eval_string(<<\"{escaped}\"/utf8>>), V."),
    )
}

/// Evaluates `code` on `peer` with no variables left from earlier commands.
fn erl(peer: &mut BeamPeer, code: &str) -> String {
    peer.eval_ok("f().");
    peer.eval_ok(code)
}

fn int(term: &Term) -> Option<i64> {
    term.as_i64()
}

/// `{add | sub | mul | div, A, B}` on integers; dividing by zero raises
/// `ArgumentError`.
fn calculate(request: &Term) -> Result<Term, Exception> {
    let Some([op, a, b]) = request.as_tuple() else {
        return Err(Exception::new(
            "ArgumentError",
            format!("unknown request {request}"),
        ));
    };
    let (Some(a), Some(b)) = (int(a), int(b)) else {
        return Err(Exception::new("ArgumentError", "not integers"));
    };
    let value = match op.as_atom().map(|op| op.as_str().to_string()).as_deref() {
        Some("add") => a + b,
        Some("sub") => a - b,
        Some("mul") => a * b,
        Some("div") if b == 0 => {
            return Err(Exception::new("ArgumentError", "bad x")
                .with_frame(Frame::new("Calculator", "div", 2).at("calc.rs", 42)))
        }
        Some("div") => a / b,
        _ => return Err(Exception::new("ArgumentError", format!("unknown op {op}"))),
    };
    Ok(Term::from(value))
}

fn calculator(request: Request) -> Result<Reply, Exception> {
    calculate(&request.message).map(Reply::Value)
}

/// `rust_math`: `double/1`, `add/2`, `fail/1` (raises `RuntimeError`).
fn rust_math(call: Invocation) -> Result<Term, Exception> {
    match (call.function.as_str(), call.args.as_slice()) {
        ("double", [n]) => int(n)
            .map(|n| Term::from(2 * n))
            .ok_or_else(|| Exception::new("ArgumentError", "not an integer")),
        ("add", [a, b]) => calculate(&Term::Tuple(vec![Term::atom("add"), a.clone(), b.clone()])),
        ("fail", [message]) => Err(Exception::new(
            "RuntimeError",
            String::from_utf8_lossy(message.as_binary().unwrap_or(b"?")),
        )
        .with_frame(Frame::new("RustMath", "fail", 1).at("math.rs", 7))),
        _ => Err(Exception::undef()),
    }
}

#[test]
fn elixir_calls_casts_and_sends_to_a_served_name() {
    let mut peer = BeamPeer::builder().elixir().start();
    let node = node_for(&peer);
    let us = node.name();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let served = {
        let seen = Arc::clone(&seen);
        node.serve("calc", move |request| {
            if request.message.is_atom("seen") {
                let seen = seen.lock().unwrap().join(" ");
                return Ok(Reply::Value(Term::from(seen.as_str())));
            }
            match request.kind {
                RequestKind::Call => calculator(request),
                kind => {
                    seen.lock()
                        .unwrap()
                        .push(format!("{} {}", kind.as_str(), request.message));
                    Ok(Reply::Value(Term::atom("ignored")))
                }
            }
        })
        .expect("serve")
    };
    let server = format!("{{:calc, :\"{us}\"}}");
    assert_eq!(
        elixir(
            &mut peer,
            &format!("GenServer.call({server}, {{:add, 2, 3}})")
        ),
        "5"
    );
    assert_eq!(
        elixir(
            &mut peer,
            &format!(
                "GenServer.cast({server}, {{:push, 1}}); send({server}, {{:push, 2}}); \
                 GenServer.call({server}, :seen)"
            )
        ),
        "<<\"cast {push,1} info {push,2}\">>"
    );
    // From Erlang, by pid too.
    peer.eval_ok("erldp_test:collect(pid).");
    node.send(&Dest::name("pid", peer.node()), Term::Pid(served.pid()))
        .expect("send the pid");
    let by_pid = erl(
        &mut peer,
        "[Pid] = erldp_test:collected(pid, 1, 5000), gen_server:call(Pid, {mul, 6, 7}).",
    );
    assert_eq!(by_pid, "42");
}

#[test]
fn a_raising_handler_exits_the_call_at_once_and_serving_goes_on() {
    let mut peer = BeamPeer::builder().elixir().start();
    let node = node_for(&peer);
    let us = node.name();
    let _served = node.serve("calc", calculator).expect("serve");
    // Erlang: the call exits with {{Class, Message}, {gen_server, call, ...}}
    // well before its 60 s timeout, whether or not the caller traps exits.
    let exited = peer.eval_ok(&format!(
        "try gen_server:call({{calc, '{us}'}}, {{'div', 1, 0}}, 60000) \
         catch exit:Reason -> Reason end."
    ));
    assert_eq!(
        exited,
        format!(
            "{{{{'ArgumentError',<<\"bad x\">>}},{{gen_server,call,[{{calc,{us}}},{{'div',1,0}},60000]}}}}"
        )
    );
    let trapping = peer.eval_ok(&format!(
        "process_flag(trap_exit, true), \
         R = (catch gen_server:call({{calc, '{us}'}}, {{'div', 1, 0}}, 60000)), \
         process_flag(trap_exit, false), R."
    ));
    assert!(
        trapping.starts_with("{'EXIT',{{'ArgumentError',<<\"bad x\">>}"),
        "{trapping}"
    );
    // What Elixir shows for it (README quotes this).
    let shown = elixir(
        &mut peer,
        &format!(
            "try do GenServer.call({{:calc, :\"{us}\"}}, {{:div, 1, 0}}) \
             catch :exit, reason -> Exception.format_exit(reason) end"
        ),
    );
    assert!(
        shown.contains("** (EXIT) {:ArgumentError, \\\"bad x\\\"}"),
        "{shown}"
    );
    assert_eq!(
        peer.eval_ok(&format!(
            "gen_server:call({{calc, '{us}'}}, {{'div', 7, 2}})."
        )),
        "3"
    );
}

/// A binding takes requests over into a queue of its own and may find the
/// name unserved before it runs one (Node.js unserved it on the event loop
/// meanwhile): `Responder::refuse` answers as the requests still waiting
/// when a name stops are answered. Before it, such a request could only be
/// raised, and its caller exited with an exception the program never raised.
#[test]
fn a_request_taken_over_and_refused_answers_as_if_its_name_had_stopped() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (taken, refusing) = mpsc::channel::<erldp::serve::Responder>();
    let to_serve = Mutex::new(taken.clone());
    let _served = node
        .serve_handoff("refusing", ServeOptions::new(), move |_, responder| {
            let _ = to_serve.lock().unwrap().send(responder);
        })
        .expect("serve_handoff");
    let to_expose = Mutex::new(taken);
    let _exposed = node
        .expose_handoff("refusing_mod", ServeOptions::new(), move |_, responder| {
            let _ = to_expose.lock().unwrap().send(responder);
        })
        .expect("expose_handoff");
    let refuser = std::thread::spawn(move || {
        for _ in 0..3 {
            refusing.recv_timeout(T).expect("a request").refuse();
        }
    });
    assert_eq!(
        erl(
            &mut peer,
            &format!(
                "try gen_server:call({{refusing, '{us}'}}, ping, 60000) catch exit:R -> R end."
            )
        ),
        format!("{{normal,{{gen_server,call,[{{refusing,{us}}},ping,60000]}}}}")
    );
    assert_eq!(
        erl(
            &mut peer,
            &format!("try erpc:call('{us}', refusing_mod, f, [1]) catch error:E -> E end.")
        ),
        "{exception,undef,[{refusing_mod,f,[1],[]}]}"
    );
    assert_eq!(
        erl(
            &mut peer,
            &format!("rpc:call('{us}', refusing_mod, f, [])."),
        ),
        "{badrpc,{'EXIT',{undef,[{refusing_mod,f,[],[]}]}}}"
    );
    refuser.join().expect("refuser");
}

/// The name of the thread a handler runs on.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_string()
}

#[test]
fn handlers_on_the_reader_answer_calls_and_rpcs_from_the_peers_reader_thread() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let on_reader = ServeOptions::new().on_reader(true);
    let _calc = {
        let threads = Arc::clone(&threads);
        node.serve_with("quick_calc", on_reader, move |request| {
            threads.lock().expect("threads").push(thread_name());
            if request.message.is_atom("boom") {
                panic!("boom");
            }
            calculator(request)
        })
        .expect("serve")
    };
    let _math = {
        let threads = Arc::clone(&threads);
        node.expose_with("quick_math", on_reader, move |call| {
            threads.lock().expect("threads").push(thread_name());
            rust_math(call)
        })
        .expect("expose")
    };
    let eval = |peer: &mut BeamPeer, code: &str| erl(peer, &code.replace("US", us.as_str()));
    assert_eq!(
        eval(
            &mut peer,
            "gen_server:call({quick_calc, 'US'}, {add, 2, 3})."
        ),
        "5"
    );
    assert_eq!(
        eval(&mut peer, "erpc:call('US', quick_math, double, [21])."),
        "42"
    );
    // A panic is the caller's exception; the reader and its connection live on.
    assert_eq!(
        eval(
            &mut peer,
            "try gen_server:call({quick_calc, 'US'}, boom) catch exit:{R, _} -> R end."
        ),
        "{panic,<<\"boom\">>}"
    );
    assert_eq!(
        eval(
            &mut peer,
            "gen_server:call({quick_calc, 'US'}, {mul, 6, 7})."
        ),
        "42"
    );
    let reader = format!("erldp-r-{}", peer.node());
    let threads = threads.lock().expect("threads").clone();
    assert_eq!(threads.len(), 4, "{threads:?}");
    assert!(
        threads.iter().all(|t| *t == reader),
        "{threads:?} (reader {reader})"
    );

    // Without the option, the same handler runs on the pool.
    let pooled = Arc::new(Mutex::new(String::new()));
    let _pooled = {
        let pooled = Arc::clone(&pooled);
        node.serve("pooled_calc", move |request| {
            *pooled.lock().expect("pooled") = thread_name();
            calculator(request)
        })
        .expect("serve")
    };
    assert_eq!(
        eval(
            &mut peer,
            "gen_server:call({pooled_calc, 'US'}, {add, 1, 1})."
        ),
        "2"
    );
    let pooled = pooled.lock().expect("pooled").clone();
    assert!(pooled.starts_with("erldp-h-"), "{pooled}");
}

/// A handler on the reader may wait for its own node: a call to a name
/// served on the pool, a call to its own name (with room for two), which
/// runs on the pool, and a thread it sends work to. Before, the reader held
/// back the dispatches the handler started until it returned, and the
/// wake-ups of the threads it sent to: each wait ran into its timeout; and
/// a first mend ran the call to its own name nested on the reader, inside
/// the call.
#[test]
fn a_handler_on_the_reader_may_wait_for_its_own_node() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let _echo = node
        .serve("echo", |request| Ok(Reply::Value(request.message)))
        .expect("serve");
    let worker = node.mailbox(Some("worker")).expect("mailbox");
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(Some(_)) = worker.recv_timeout(T) {
            if done_tx.send(()).is_err() {
                break;
            }
        }
    });
    let done = Mutex::new(done);
    let _relay = {
        let node = node.clone();
        let options = ServeOptions::new().on_reader(true).concurrency(2);
        node.clone()
            .serve_with("relay", options, move |request| {
                if request.message.is_atom("inner") {
                    return Ok(Reply::Value(Term::binary(thread_name())));
                }
                let here = |name: &str| Dest::name(name, us.as_str());
                let wait = Duration::from_secs(5);
                let answered = |result: erldp::Result<Term>| {
                    Term::atom(if result.is_ok() { "ok" } else { "timeout" })
                };
                let echo = answered(node.call(&here("echo"), Term::atom("ping"), wait));
                // Sent from our own node: on the pool, not nested on this reader.
                let own = match node.call(&here("relay"), Term::atom("inner"), wait) {
                    Ok(thread)
                        if thread
                            .as_binary()
                            .is_some_and(|t| t.starts_with(b"erldp-h-")) =>
                    {
                        Term::atom("ok")
                    }
                    Ok(thread) => thread,
                    Err(_) => Term::atom("timeout"),
                };
                node.send(&here("worker"), Term::atom("job")).expect("send");
                let worked = Term::atom(match done.lock().expect("done").recv_timeout(wait) {
                    Ok(()) => "ok",
                    Err(_) => "timeout",
                });
                Ok(Reply::Value(Term::Tuple(vec![echo, own, worked])))
            })
            .expect("serve")
    };
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{relay, '{us}'}}, go, 60000).")
        ),
        "{ok,ok,ok}"
    );
}

/// A handler on the reader that calls the peer whose connection it reads
/// is refused at once, saying why: only its own thread could read the
/// answer. Before, each call waited its whole timeout.
#[test]
fn a_handler_on_the_reader_cannot_wait_for_its_own_peer() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let them = peer.node().to_string();
    let _asker = {
        let node = node.clone();
        node.clone()
            .serve_with("asker", ServeOptions::new().on_reader(true), move |_| {
                let wait = Duration::from_secs(3);
                let rpc = node.rpc(&them, "erlang", "node", vec![], wait);
                let call = node.call(&Dest::name("nobody", &them), Term::atom("x"), wait);
                let started = node
                    .rpc_start(&them, "erlang", "node", vec![])
                    .and_then(|pending| pending.wait(wait));
                // A hidden node asks its peers' global servers, this one's
                // included: it used to wait 15 s for an answer it could not read.
                let global = node.call(&Dest::global("somebody"), Term::atom("x"), wait);
                let said = |result: erldp::Result<Term>| match result {
                    Ok(term) => term,
                    Err(err) => Term::binary(err.to_string()),
                };
                Ok(Reply::Value(Term::Tuple(vec![
                    said(rpc),
                    said(call),
                    said(started),
                    said(global),
                ])))
            })
            .expect("serve")
    };
    let answer = erl(
        &mut peer,
        &format!("gen_server:call({{asker, '{us}'}}, go, 60000)."),
    );
    assert_eq!(
        answer
            .matches("cannot wait on the thread that reads")
            .count(),
        4,
        "{answer}"
    );
}

/// A handler on the reader sends as any thread does, waiting for room while
/// the peer has the send queue limit unread, not as the reader's own answers
/// go, which never wait and past twice the limit end the connection. Before,
/// a handler streaming 64 MiB to its caller with a limit of 1 MiB cut the
/// connection: the call exited `nodedown` and the sink got a part.
#[test]
fn a_handler_on_the_reader_streams_as_any_thread_does() {
    let (mut peer, node) = common::peer_and_node_with(|node| node.send_queue_limit(1 << 20));
    let us = node.name();
    let _streamer = {
        let node = node.clone();
        node.clone()
            .serve_with(
                "streamer",
                ServeOptions::new().on_reader(true),
                move |request| {
                    let sink = Dest::Pid(request.message.as_pid().expect("a pid"));
                    let chunk = Term::binary(vec![7u8; 1 << 20]);
                    for _ in 0..64 {
                        let message = Term::Tuple(vec![Term::atom("chunk"), chunk.clone()]);
                        node.send(&sink, message)
                            .map_err(|err| Exception::new("send", err.to_string()))?;
                    }
                    Ok(Reply::Value(Term::atom("ok")))
                },
            )
            .expect("serve")
    };
    let answer = erl(
        &mut peer,
        &format!(
            "Count = fun Count(N) -> receive {{chunk, _}} -> Count(N + 1); \
               {{count, From}} -> From ! {{count, N}} end end, \
             Sink = spawn(fun() -> Count(0) end), \
             R = (catch gen_server:call({{streamer, '{us}'}}, Sink, 60000)), \
             Sink ! {{count, self()}}, \
             receive {{count, C}} -> {{R, C}} after 10000 -> {{R, no_count}} end."
        ),
    );
    assert_eq!(answer, "{ok,64}");
}

/// A peer that replaces its connection while a handler holds the old one's
/// reader: what goes over the new connection lives on when the old reader
/// notices its end (the old connection's end is taken in as it is
/// replaced), and a call from the held handler to that peer goes over the
/// new connection. Before, the rpc over the new connection failed with
/// "replaced by a new connection", the monitor got `noconnection` once the
/// handler returned, and the handler's call was refused.
#[test]
fn a_connection_replaced_under_a_handler_on_its_reader_leaves_the_new_one_alone() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let them = peer.node().to_string();
    let (gate, hold) = gate();
    let (called_tx, called) = mpsc::channel();
    let called_tx = Mutex::new(called_tx);
    let _held = {
        let node = node.clone();
        let them = them.clone();
        node.clone()
            .serve_with("held", ServeOptions::new().on_reader(true), move |_| {
                hold.hold();
                let again = node.rpc(&them, "erlang", "node", vec![], Duration::from_secs(10));
                called_tx.lock().unwrap().send(again).ok();
                Ok(Reply::Value(Term::atom("ok")))
            })
            .expect("serve")
    };
    let events = node.mailbox(None).expect("mailbox");
    events.monitor_nodes().expect("monitor_nodes");
    erl(
        &mut peer,
        &format!("spawn(fun() -> catch gen_server:call({{held, '{us}'}}, go, 60000) end), ok."),
    );
    gate.started("the handler");
    erl(
        &mut peer,
        &format!(
            "register(keeper, spawn(fun() -> receive stop -> ok end end)), \
             true = erlang:disconnect_node('{us}'), true = net_kernel:connect_node('{us}')."
        ),
    );
    // The new connection is ours once it is reported up after the old one
    // down (the first up is the old one's).
    let mut went_down = false;
    loop {
        match common::next_message(&events).kind {
            erldp::MessageKind::NodeDown => went_down = true,
            erldp::MessageKind::NodeUp if went_down => break,
            _ => {}
        }
    }
    let watcher = node.mailbox(None).expect("mailbox");
    let monitor = watcher
        .monitor(&Dest::name("keeper", &them))
        .expect("monitor");
    let sleeping = node
        .rpc_start(&them, "timer", "sleep", vec![Term::from(1000)])
        .expect("rpc");
    gate.release();
    let again = called
        .recv_timeout(Duration::from_secs(30))
        .expect("the handler went on");
    let again = again.expect("the held handler's call");
    assert!(again.is_atom(&them), "{again}");
    let slept = sleeping
        .wait(Duration::from_secs(30))
        .expect("the rpc over the new connection");
    assert!(slept.is_atom("ok"), "{slept}");
    erl(&mut peer, "keeper ! stop, ok.");
    let down = common::next_message(&watcher);
    assert_eq!(down.reference, Some(monitor), "{}", down.term);
    assert!(down.term.to_string().ends_with(",normal}"), "{}", down.term);
}

/// A call abandoned after the program disconnected its peer, whose reader
/// a handler holds, undoes its monitor only over a connection that is up:
/// before, the abandon connected to the peer anew to send the demonitor,
/// and the node was connected to the peer it had just disconnected.
#[test]
fn a_call_abandoned_after_a_disconnect_does_not_connect_again() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let them = peer.node().to_string();
    let (gate, hold) = gate();
    let _held = node
        .serve_with("held", ServeOptions::new().on_reader(true), move |_| {
            hold.hold();
            Ok(Reply::Value(Term::atom("ok")))
        })
        .expect("serve");
    erl(
        &mut peer,
        &format!(
            "register(silent, spawn(fun() -> receive never -> ok end end)), \
             spawn(fun() -> catch gen_server:call({{held, '{us}'}}, go, 60000) end), ok."
        ),
    );
    gate.started("the handler");
    let waiting = node
        .call_start(&Dest::name("silent", &them), Term::atom("hello"))
        .expect("call");
    assert!(node.disconnect(&them));
    let waited = waiting.wait(Duration::from_secs(2));
    assert!(matches!(waited, Err(Error::Timeout { .. })), "{waited:?}");
    assert!(
        !node.nodes().iter().any(|n| n.as_str() == them),
        "{:?}",
        node.nodes()
    );
    gate.release();
}

/// A callback that runs as its connection goes down, on the thread that
/// read it, may call that peer again: over a new connection, which has a
/// reader of its own. (A first version of the check above refused it.)
#[test]
fn a_callback_run_as_its_connection_goes_down_may_call_that_peer_again() {
    let (mut peer, node) = peer_and_node();
    let them = peer.node().to_string();
    let (tx, rx) = mpsc::channel();
    let pending = node
        .rpc_start(&them, "timer", "sleep", vec![Term::from(60_000)])
        .expect("rpc");
    {
        let (node, them) = (node.clone(), them.clone());
        pending.on_complete(T, move |first| {
            let again = node.rpc(&them, "erlang", "node", vec![], T);
            tx.send((first.map(|t| t.to_string()), again.map(|t| t.to_string())))
                .ok();
        });
    }
    erl(
        &mut peer,
        &format!("erlang:disconnect_node('{}').", node.name()),
    );
    let (first, again) = rx.recv_timeout(T * 2).expect("the callback ran");
    assert!(first.is_err(), "{first:?}");
    assert_eq!(again.expect("called again").trim_matches('\''), them);
}

/// Only a request a reader brings while the name has room runs on that
/// reader: one sent from our own node, or one that waited behind another,
/// runs on the pool. Before, a local send ran the handler in the sender's
/// thread, and the requests queued behind a held call ran on the reader of
/// that call's peer, which read nothing from its peer meanwhile.
#[test]
fn requests_a_reader_did_not_bring_run_on_the_pool() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (gate, hold) = gate();
    let (ran_tx, ran) = mpsc::channel();
    let ran_tx = Mutex::new(ran_tx);
    let _slow = node
        .serve_with(
            "slow",
            ServeOptions::new().on_reader(true),
            move |request| {
                let what = request.message.to_string();
                ran_tx.lock().expect("ran").send((what, thread_name())).ok();
                if request.message.is_atom("hold") {
                    hold.hold();
                }
                Ok(Reply::Value(Term::atom("ok")))
            },
        )
        .expect("serve");
    let here = Dest::name("slow", us.as_str());
    let next = || ran.recv_timeout(T).expect("a request ran");
    node.cast(&here, Term::atom("first")).expect("cast");
    let first = next();
    erl(
        &mut peer,
        &format!("spawn(fun() -> gen_server:call({{slow, '{us}'}}, hold, 60000) end), ok."),
    );
    let held = next();
    gate.started("hold");
    for n in 1..=3 {
        node.cast(&here, Term::from(n)).expect("cast");
    }
    gate.release();
    let queued: Vec<(String, String)> = (0..3).map(|_| next()).collect();
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{slow, '{us}'}}, last).")
        ),
        "ok"
    );
    let last = next();
    let reader = format!("erldp-r-{}", peer.node());
    assert!(first.1.starts_with("erldp-h-"), "{first:?}");
    assert_eq!(held, ("hold".to_string(), reader.clone()));
    for (n, (what, thread)) in queued.iter().enumerate() {
        assert_eq!(*what, (n + 1).to_string());
        assert!(thread.starts_with("erldp-h-"), "{queued:?}");
    }
    assert_eq!(last, ("last".to_string(), reader));
}

#[test]
fn rpc_and_erpc_reach_exposed_modules_and_only_them() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (cast_tx, casts) = mpsc::channel();
    let _math = node.expose("rust_math", rust_math).expect("expose");
    let _log = node
        .expose("rust_log", move |call| {
            cast_tx
                .send(format!("{}{}", call.function, Term::List(call.args)))
                .expect("record");
            Ok(Term::atom("ok"))
        })
        .expect("expose");
    let eval = |peer: &mut BeamPeer, code: &str| erl(peer, &code.replace("US", us.as_str()));
    assert_eq!(
        eval(&mut peer, "rpc:call('US', rust_math, double, [21])."),
        "42"
    );
    assert_eq!(
        eval(&mut peer, "erpc:call('US', rust_math, add, [2, 3])."),
        "5"
    );
    assert_eq!(
        eval(&mut peer, "rpc:call('US', rust_math, fail, [<<\"boom\">>])."),
        "{badrpc,{'EXIT',{{'RuntimeError',<<\"boom\">>},[{'RustMath',fail,1,[{file,\"math.rs\"},{line,7}]}]}}}"
    );
    assert_eq!(
        eval(
            &mut peer,
            "try erpc:call('US', rust_math, fail, [<<\"boom\">>]) catch C:R -> {C, R} end."
        ),
        "{error,{exception,{'RuntimeError',<<\"boom\">>},[{'RustMath',fail,1,[{file,\"math.rs\"},{line,7}]}]}}"
    );
    // Unexposed: exactly what this BEAM node answers for a module it lacks.
    assert_eq!(
        eval(
            &mut peer,
            "[rpc:call(N, nomod, f, [1]) || N <- ['US', node()]]."
        ),
        "[{badrpc,{'EXIT',{undef,[{nomod,f,[1],[]}]}}},{badrpc,{'EXIT',{undef,[{nomod,f,[1],[]}]}}}]"
    );
    assert_eq!(
        eval(
            &mut peer,
            "[try erpc:call(N, nomod, f, [1]) catch C:R -> {C, R} end || N <- ['US', node()]]."
        ),
        "[{error,{exception,undef,[{nomod,f,[1],[]}]}},{error,{exception,undef,[{nomod,f,[1],[]}]}}]"
    );
    // A function the handler does not have, or an arity it does not take:
    // what BEAM answers for a function its module lacks.
    assert_eq!(
        eval(
            &mut peer,
            "[rpc:call(N, M, nofun, [1]) || {N, M} <- [{'US', rust_math}, {node(), lists}]]."
        ),
        "[{badrpc,{'EXIT',{undef,[{rust_math,nofun,[1],[]}]}}},{badrpc,{'EXIT',{undef,[{lists,nofun,[1],[]}]}}}]"
    );
    assert_eq!(
        eval(
            &mut peer,
            "[try erpc:call(N, M, F, A) catch C:R -> {C, R} end \
              || {N, M, F, A} <- [{'US', rust_math, double, [1, 2]}, {node(), lists, reverse, [1, 2, 3]}]]."
        ),
        "[{error,{exception,undef,[{rust_math,double,[1,2],[]}]}},{error,{exception,undef,[{lists,reverse,[1,2,3],[]}]}}]"
    );
    // Multicalls over our node and the BEAM node, which lacks rust_math.
    assert_eq!(
        eval(
            &mut peer,
            "erpc:multicall(['US', node()], rust_math, double, [4])."
        ),
        "[{ok,8},{error,{exception,undef,[{rust_math,double,[4],[]}]}}]"
    );
    assert_eq!(
        eval(
            &mut peer,
            "rpc:multicall(['US', node()], rust_math, double, [4])."
        ),
        "{[8,{badrpc,{'EXIT',{undef,[{rust_math,double,[4],[]}]}}}],[]}"
    );
    assert_eq!(
        eval(
            &mut peer,
            "R = erpc:send_request('US', rust_math, double, [5]), erpc:receive_response(R, 5000)."
        ),
        "10"
    );
    // Casts run without anyone waiting.
    eval(&mut peer, "true = rpc:cast('US', rust_log, note, [1]).");
    eval(&mut peer, "ok = erpc:cast('US', rust_log, note, [2]).");
    let mut noted: Vec<String> = (0..2)
        .map(|_| casts.recv_timeout(T).expect("cast ran"))
        .collect();
    noted.sort();
    assert_eq!(noted, ["note[1]", "note[2]"]);
}

#[test]
fn two_hundred_erpc_calls_from_task_async_stream() {
    let mut peer = BeamPeer::builder().elixir().start();
    let node = node_for(&peer);
    let us = node.name();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let _math = {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        node.expose_with(
            "rust_math",
            ServeOptions::new().concurrency(50),
            move |call| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                rust_math(call)
            },
        )
        .expect("expose")
    };
    let sums = elixir(
        &mut peer,
        &format!(
            "1..200 \
             |> Task.async_stream(fn i -> :erpc.call(:\"{us}\", :rust_math, :double, [i]) end, max_concurrency: 50) \
             |> Enum.map(fn {{:ok, v}} -> v end) \
             |> Enum.with_index(1) \
             |> Enum.all?(fn {{v, i}} -> v == 2 * i end)"
        ),
    );
    assert_eq!(sums, "true");
    let most = most.load(Ordering::SeqCst);
    assert!((1..=50).contains(&most), "at most 50 at once: {most}");
}

/// Twenty calls at once to a name served one at a time: each handler runs
/// alone (no start before the previous end) in arrival order, and the counter
/// they bump read-modify-write without a lock ends at exactly 20.
#[test]
fn calls_to_one_name_run_one_at_a_time_in_order() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let counter = Arc::new(AtomicUsize::new(0));
    let _slow = {
        let (events, counter) = (Arc::clone(&events), Arc::clone(&counter));
        node.serve("slow", move |request| {
            let n = request.message.as_i64().unwrap_or(-1);
            events.lock().unwrap().push(format!("start {n}"));
            let seen = counter.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            counter.store(seen + 1, Ordering::SeqCst);
            events.lock().unwrap().push(format!("end {n}"));
            Ok(Reply::Value(Term::from(seen + 1)))
        })
        .expect("serve")
    };
    // Twenty calls outstanding at once, sent in order by one process.
    let replies = erl(
        &mut peer,
        &format!(
            "Reqs = [gen_server:send_request({{slow, '{us}'}}, I) || I <- lists:seq(1, 20)], \
             [begin {{reply, V}} = gen_server:wait_response(R, 30000), V end || R <- Reqs]."
        ),
    );
    assert_eq!(
        replies,
        format!(
            "[{}]",
            (1..=20)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    assert_eq!(counter.load(Ordering::SeqCst), 20);
    let expected: Vec<String> = (1..=20)
        .flat_map(|i| [format!("start {i}"), format!("end {i}")])
        .collect();
    assert_eq!(*events.lock().unwrap(), expected);
}

#[test]
fn a_slow_name_holds_up_neither_another_name_nor_concurrent_requests() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (blocking, hold) = gate();
    let _blocked = node
        .serve("blocked", move |_| {
            hold.hold();
            Ok(Reply::Value(Term::atom("released")))
        })
        .expect("serve");
    let _calc = node.serve("calc", calculator).expect("serve");
    let (wide_tx, wide) = mpsc::channel();
    let gate = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let _wide = {
        let gate = Arc::clone(&gate);
        node.serve_with("wide", ServeOptions::new().concurrency(3), move |_| {
            // Three handlers must be inside at once for any to return.
            let (count, all_in) = &*gate;
            let mut inside = count.lock().unwrap();
            *inside += 1;
            all_in.notify_all();
            while *inside < 3 {
                inside = all_in.wait(inside).unwrap();
            }
            wide_tx.send(()).expect("wide");
            Ok(Reply::Value(Term::atom("together")))
        })
        .expect("serve")
    };
    peer.eval_ok(&format!(
        "Self = self(), spawn(fun() -> Self ! gen_server:call({{blocked, '{us}'}}, go, infinity) end), ok."
    ));
    blocking.started("the blocked handler");
    assert_eq!(
        peer.eval_ok(&format!(
            "gen_server:call({{calc, '{us}'}}, {{add, 1, 1}})."
        )),
        "2"
    );
    assert_eq!(
        peer.eval_ok(&format!(
            "Self2 = self(), [spawn(fun() -> Self2 ! gen_server:call({{wide, '{us}'}}, go, 30000) end) || _ <- [1,2,3]], \
             [receive X -> X end || _ <- [1,2,3]]."
        )),
        "[together,together,together]"
    );
    for _ in 0..3 {
        wide.recv_timeout(T).expect("wide handler");
    }
    blocking.release();
}

#[test]
fn a_deferred_reply_answers_the_call() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (from_tx, froms) = mpsc::channel();
    let _later = node
        .serve("later", move |request| {
            from_tx
                .send((request.from.expect("a call"), request.message))
                .expect("send");
            Ok(Reply::NoReply)
        })
        .expect("serve");
    let answerer = {
        let node = node.clone();
        std::thread::spawn(move || {
            let (from, message) = froms.recv_timeout(T).expect("the call");
            node.reply(&from, Term::tuple(vec![Term::atom("later"), message]))
                .expect("reply");
        })
    };
    assert_eq!(
        peer.eval_ok(&format!(
            "gen_server:call({{later, '{us}'}}, hello, 10000)."
        )),
        "{later,hello}"
    );
    answerer.join().expect("answered");
}

/// A caller that times out while its call waits behind a slow one is
/// skipped; the next call works.
#[test]
fn a_caller_that_timed_out_is_skipped_and_the_next_call_works() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (gate, hold) = gate();
    let ran = Arc::new(Mutex::new(Vec::<String>::new()));
    let _slow = {
        let ran = Arc::clone(&ran);
        node.serve("slow", move |request| {
            ran.lock().unwrap().push(request.message.to_string());
            if request.message.is_atom("first") {
                hold.hold();
            }
            Ok(Reply::Value(request.message))
        })
        .expect("serve")
    };
    peer.eval_ok(&format!(
        "erldp_test:collect(firsts), \
         spawn(fun() -> firsts ! gen_server:call({{slow, '{us}'}}, first, infinity) end), ok."
    ));
    gate.started("the first call");
    let timed_out = erl(
        &mut peer,
        &format!("catch gen_server:call({{slow, '{us}'}}, second, 200)."),
    );
    assert!(timed_out.starts_with("{'EXIT',{timeout,"), "{timed_out}");
    // The caller's DEMONITOR is on the connection before anything sent
    // after its timeout: once a ping made after it is answered, we have it.
    assert!(peer.ping(us));
    gate.release();
    assert_eq!(peer.collected("firsts", 1), "[first]");
    assert_eq!(
        peer.eval_ok(&format!("gen_server:call({{slow, '{us}'}}, third, 10000).")),
        "third"
    );
    assert_eq!(*ran.lock().unwrap(), ["first", "third"]);

    // An erpc call that times out, then one that works.
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Mutex::new(release);
    let _sleepy = node
        .expose("sleepy", move |call| {
            if call.function.as_str() == "wait" {
                release.lock().unwrap().recv().expect("released");
            }
            Ok(Term::atom("done"))
        })
        .expect("expose");
    assert_eq!(
        peer.eval_ok(&format!(
            "try erpc:call('{us}', sleepy, wait, [], 200) catch C:R -> {{C, R}} end."
        )),
        "{error,{erpc,timeout}}"
    );
    assert_eq!(
        peer.eval_ok(&format!("erpc:call('{us}', sleepy, now, [], 10000).")),
        "done"
    );
    release_tx.send(()).expect("release");
}

#[test]
fn remote_spawns_of_anything_not_exposed_exit_with_undef() {
    let mut peer = BeamPeer::builder().elixir().start();
    let node = node_for(&peer);
    let us = node.name();
    let (ran_tx, ran) = mpsc::channel();
    let _exposed = node
        .expose("rust_job", move |call| {
            ran_tx.send(call.args).expect("ran");
            Ok(Term::atom("ignored"))
        })
        .expect("expose");
    let down = erl(
        &mut peer,
        &format!(
            "{{P, M}} = spawn_monitor('{us}', nomod, f, [1, 2]), \
         receive {{'DOWN', M, process, P, R}} -> {{node(P), R}} after 10000 -> timeout end."
        ),
    );
    assert_eq!(down, format!("{{{us},{{undef,[{{nomod,f,[1,2],[]}}]}}}}"));
    let exit = erl(
        &mut peer,
        &format!(
            "process_flag(trap_exit, true), P = spawn_link('{us}', nomod, f, []), \
         R = receive {{'EXIT', P, Reason}} -> Reason after 10000 -> timeout end, \
         process_flag(trap_exit, false), R."
        ),
    );
    assert_eq!(exit, "{undef,[{nomod,f,[],[]}]}");
    let fun = elixir(
        &mut peer,
        &format!(
            "{{pid, ref}} = Node.spawn_monitor(:\"{us}\", fn -> :ok end); \
             receive do {{:DOWN, ^ref, :process, ^pid, {{:undef, [{{f, [], []}}]}}}} -> is_function(f) \
             after 10_000 -> :timeout end"
        ),
    );
    assert_eq!(fun, "true");
    let plain = erl(
        &mut peer,
        &format!("P = spawn('{us}', nomod, f, []), is_pid(P) andalso node(P) =:= '{us}'."),
    );
    assert_eq!(plain, "true");
    // An exposed module's function runs in the spawned process.
    let normal = erl(
        &mut peer,
        &format!(
            "{{P2, M2}} = spawn_monitor('{us}', rust_job, go, [7]), \
         receive {{'DOWN', M2, process, P2, R2}} -> R2 after 10000 -> timeout end."
        ),
    );
    assert_eq!(normal, "normal");
    assert_eq!(ran.recv_timeout(T).expect("ran"), vec![Term::from(7)]);
    // And the node goes on serving.
    let _calc = node.serve("calc", calculator).expect("serve");
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{calc, '{us}'}}, {{add, 1, 2}}).")
        ),
        "3"
    );
}

#[test]
fn rex_answers_block_call_like_the_erpc_path() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let _math = node.expose("rust_math", rust_math).expect("expose");
    let eval = |peer: &mut BeamPeer, code: &str| erl(peer, &code.replace("US", us.as_str()));
    for (args, expected) in [
        ("rust_math, double, [21]", "42".to_string()),
        (
            "rust_math, fail, [<<\"boom\">>]",
            "{badrpc,{'EXIT',{{'RuntimeError',<<\"boom\">>},[{'RustMath',fail,1,[{file,\"math.rs\"},{line,7}]}]}}}".to_string(),
        ),
        (
            "nomod, f, [1]",
            "{badrpc,{'EXIT',{undef,[{nomod,f,[1],[]}]}}}".to_string(),
        ),
    ] {
        let via_rex = eval(&mut peer, &format!("rpc:block_call('US', {args})."));
        let via_erpc = eval(&mut peer, &format!("rpc:call('US', {args})."));
        assert_eq!((via_rex.as_str(), via_erpc.as_str()), (expected.as_str(), expected.as_str()), "{args}");
    }
    // rpc:call before OTP 23 sent the same request; C nodes' ei_rpc sends it
    // as a plain message and expects {rex, Reply}.
    assert_eq!(
        eval(
            &mut peer,
            "gen_server:call({rex, 'US'}, {call, rust_math, double, [5], group_leader()})."
        ),
        "10"
    );
    assert_eq!(
        eval(
            &mut peer,
            "{rex, 'US'} ! {self(), {call, rust_math, double, [6], user}}, \
             receive {rex, R} -> R after 10000 -> timeout end."
        ),
        "12"
    );
    assert_eq!(
        eval(
            &mut peer,
            "{rex, 'US'} ! {self(), features_request}, \
             receive {features_reply, N, F} -> {N =:= 'US', F} after 10000 -> timeout end."
        ),
        "{true,[erpc]}"
    );
}

#[test]
fn served_processes_can_be_linked_and_monitored() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let watch = |peer: &mut BeamPeer, collector: &str, pid: erldp::Pid| {
        peer.eval_ok(&format!("erldp_test:collect({collector}_pid)."));
        node.send(
            &Dest::name(format!("{collector}_pid"), peer.node()),
            Term::Pid(pid),
        )
        .expect("send the pid");
        erl(peer, &format!(
            "erldp_test:collect({collector}), [Pid] = erldp_test:collected({collector}_pid, 1, 5000), \
             Self = self(), \
             spawn(fun() -> process_flag(trap_exit, true), link(Pid), \
                   M1 = monitor(process, Pid), M2 = monitor(process, {{calc, '{us}'}}), \
                   Self ! ready, \
                   [receive X -> {collector} ! {{X, M1, M2}} end || _ <- [1, 2, 3]] end), \
             receive ready -> ok end."
        ));
    };
    let served = node.serve("calc", calculator).expect("serve");
    watch(&mut peer, "unserved", served.pid());
    // A call after the monitors are set up: they stand on our side too.
    assert_eq!(
        peer.eval_ok(&format!(
            "gen_server:call({{calc, '{us}'}}, {{add, 1, 2}})."
        )),
        "3"
    );
    assert!(node.unserve("calc"));
    assert!(served.is_closed());
    let got = erl(
        &mut peer,
        "lists:sort([case X of {'EXIT', _, R} -> {exit, R}; \
                     {'DOWN', M, process, _, R} when M =:= M1 -> {down_pid, R}; \
                     {'DOWN', M, process, _, R} when M =:= M2 -> {down_name, R} end \
                     || {X, M1, M2} <- erldp_test:collected(unserved, 3, 5000)]).",
    );
    assert_eq!(got, "[{down_name,normal},{down_pid,normal},{exit,normal}]");
    assert!(!node.unserve("calc"));

    // The name can be served again; closing the node is a lost connection.
    let again = node.serve("calc", calculator).expect("serve again");
    watch(&mut peer, "closed", again.pid());
    peer.eval_ok("erldp_test:watch_nodes(nodes).");
    node.close();
    let got = erl(
        &mut peer,
        "lists:sort([case X of {'EXIT', _, R} -> {exit, R}; {'DOWN', _, _, _, R} -> {down, R} end \
                     || {X, _, _} <- erldp_test:collected(closed, 3, 10000)]).",
    );
    assert_eq!(
        got,
        "[{down,noconnection},{down,noconnection},{exit,noconnection}]"
    );
    let nodedown = erl(
        &mut peer,
        &format!(
            "[N || {{nodedown, N, _}} <- erldp_test:collected(nodes, 1, 10000)] =:= ['{us}']."
        ),
    );
    assert_eq!(nodedown, "true");
}

/// Serves `name` with a handler that hands each request's message over on
/// the receiver and answers a call with `answer` (a cast's or a message's
/// answer goes nowhere).
fn recording(node: &Node, name: &str, answer: &str) -> (erldp::Served, mpsc::Receiver<Term>) {
    let (heard_tx, heard) = mpsc::channel();
    let answer = Term::atom(answer);
    let served = node
        .serve(name, move |request: Request| {
            heard_tx.send(request.message.clone()).ok();
            Ok(Reply::Value(answer.clone()))
        })
        .expect("serve");
    (served, heard)
}

/// Serves `name` with a handler that hands each request's message over on
/// the receiver, then waits for a `()` on the sender before answering
/// `answer`: a handler the test holds running.
fn gated(
    node: &Node,
    name: &str,
    answer: &str,
) -> (erldp::Served, mpsc::Receiver<Term>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let answer = Term::atom(answer);
    let served = node
        .serve(name, move |request: Request| {
            started_tx.send(request.message.clone()).ok();
            gate.lock().unwrap().recv().ok();
            Ok(Reply::Value(answer.clone()))
        })
        .expect("serve");
    (served, started, release)
}

/// Stopping a served name lets the call its handler is running answer
/// before the process ends, as a gen_server stops after the call it is
/// handling; the name goes at once, and a call still waiting is refused at
/// once (its caller exits `normal`, its handler never runs). Before, the
/// running call's caller also got `exit {normal, ...}` while its handler
/// went on and did its work.
#[test]
fn unserving_lets_the_running_call_answer_before_the_process_ends() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (served, started, release) = gated(&node, "slow", "done");
    let sync = node.mailbox(Some("sync")).expect("mailbox");
    peer.eval_ok("erldp_test:collect(answers).");
    erl(
        &mut peer,
        &format!(
            "Self = self(), \
         spawn(fun() -> M = monitor(process, {{slow, '{us}'}}), Self ! go, \
               receive {{'DOWN', M, _, _, R}} -> answers ! {{down, R}} end end), \
         receive go -> ok end, \
         spawn(fun() -> R = (catch gen_server:call({{slow, '{us}'}}, first, 20000)), \
               answers ! {{first, R}} end)."
        ),
    );
    assert_eq!(
        started.recv_timeout(T).expect("the handler runs"),
        Term::atom("first")
    );
    // Sent after the second request on the same connection: once it is here,
    // so is that request, waiting behind the first.
    erl(&mut peer, &format!(
        "spawn(fun() -> Req = gen_server:send_request({{slow, '{us}'}}, second), \
               {{sync, '{us}'}} ! queued, \
               answers ! {{second, case gen_server:receive_response(Req, 20000) of \
                                     {{error, {{Why, _}}}} -> {{exit, Why}}; Other -> Other end}} end)."
    ));
    assert!(sync.recv_timeout(T).expect("receive").is_some());
    assert!(node.unserve("slow"));
    assert!(
        served.is_closed(),
        "the name is no longer served once unserved"
    );
    // At once, while the first call's handler still runs: the waiting call
    // exits `normal`, a new call by name finds nobody, and the name may be
    // served again.
    assert_eq!(
        erl(&mut peer, "erldp_test:collected(answers, 1, 10000)."),
        "[{second,{exit,normal}}]"
    );
    let late = erl(
        &mut peer,
        &format!(
            "{{'EXIT', {{Why, _}}}} = (catch gen_server:call({{slow, '{us}'}}, third, 5000)), Why."
        ),
    );
    assert_eq!(late, "noproc");
    let again = node
        .serve("slow", |_: Request| Ok(Reply::Value(Term::atom("again"))))
        .expect("the name is free while the old handler runs");
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{slow, '{us}'}}, hello).")
        ),
        "again"
    );
    release.send(()).expect("release the handler");
    // Two processes report these, so their order at the collector is theirs.
    let got = erl(
        &mut peer,
        "lists:sort(erldp_test:collected(answers, 3, 10000)).",
    );
    assert_eq!(got, "[{down,normal},{first,done},{second,{exit,normal}}]");
    assert!(started.try_recv().is_err(), "the waiting call never ran");
    drop(again);
}

/// `exit(Pid, kill)` ends a served name's process as it ends a gen_server
/// (`kill` cannot be trapped): watchers see `killed`, the name is gone, the
/// handle reads closed. Any other exit signal is a message to the handler,
/// and a mailbox, which is no gen_server, gets even `kill` as a message.
/// Before, the served name went on answering calls after the kill.
#[test]
fn exit_kill_ends_a_served_name_as_it_ends_a_gen_server() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (served, heard) = recording(&node, "victim", "alive");
    let mailbox = node.mailbox(None).expect("mailbox");
    peer.eval_ok("erldp_test:collect(pids).");
    for pid in [served.pid(), mailbox.pid()] {
        node.send(&Dest::name("pids", peer.node()), Term::Pid(pid))
            .expect("send a pid");
    }
    let got = erl(
        &mut peer,
        &format!(
            "[Pid, Box] = erldp_test:collected(pids, 2, 5000), \
         exit(Pid, shutdown), \
         alive = gen_server:call({{victim, '{us}'}}, ping), \
         erldp_test:collect(victim), Self = self(), \
         spawn(fun() -> process_flag(trap_exit, true), link(Pid), \
               monitor(process, {{victim, '{us}'}}), Self ! go, \
               [receive X -> victim ! X end || _ <- [1, 2]] end), \
         receive go -> ok end, \
         exit(Pid, kill), exit(Box, kill), \
         Seen = lists:sort([case X of {{'EXIT', _, R}} -> {{exit, R}}; \
                                      {{'DOWN', _, _, _, R}} -> {{down, R}} end \
                            || X <- erldp_test:collected(victim, 2, 5000)]), \
         {{'EXIT', {{Later, _}}}} = (catch gen_server:call({{victim, '{us}'}}, ping, 5000)), \
         {{Seen, Later}}."
        ),
    );
    assert_eq!(got, "{[{down,killed},{exit,killed}],noproc}");
    assert!(served.is_closed());
    let first = heard
        .recv_timeout(T)
        .expect("the handler heard the exit signal");
    assert!(
        matches!(first.as_tuple(), Some([tag, _, reason]) if tag.is_atom("EXIT") && reason.is_atom("shutdown")),
        "{first}"
    );
    let boxed = mailbox
        .recv_timeout(T)
        .expect("receive")
        .expect("the mailbox's exit signal");
    assert_eq!(boxed.reason, Some(Term::atom("kill")));
    assert!(!mailbox.is_closed());
}

/// A served name stopped while its handler runs can still be killed, as a
/// gen_server stuck in a call can: watchers see `killed`, and the handler's
/// late answer goes to nobody. Before, the kill found no served name (it had
/// been unregistered) and the process lived until the handler returned.
#[test]
fn a_stopped_name_still_running_a_call_can_be_killed() {
    let (mut peer, node) = peer_and_node();
    let (served, started, release) = gated(&node, "stuck", "late");
    peer.eval_ok("erldp_test:collect(pids).");
    node.send(&Dest::name("pids", peer.node()), Term::Pid(served.pid()))
        .expect("send the pid");
    peer.eval_ok("erldp_test:collect(stuck).");
    erl(
        &mut peer,
        "[Pid] = erldp_test:collected(pids, 1, 5000), Self = self(), \
         spawn(fun() -> M = monitor(process, Pid), Self ! go, \
               receive {'DOWN', M, _, _, R} -> stuck ! {down, R} end end), \
         receive go -> ok end, \
         spawn(fun() -> stuck ! {call, catch gen_server:call(Pid, go, 20000)} end).",
    );
    started.recv_timeout(T).expect("the handler runs");
    drop(served);
    let got = erl(
        &mut peer,
        "[Pid] = erldp_test:collected(pids, 1, 5000), exit(Pid, kill), \
         lists:sort([case X of {call, {'EXIT', {R, _}}} -> {call, R}; Y -> Y end \
                     || X <- erldp_test:collected(stuck, 2, 10000)]).",
    );
    assert_eq!(got, "[{call,killed},{down,killed}]");
    release.send(()).expect("release the handler");
}

/// `sys` requests reach a served name's handler as `{system, From,
/// Request}` messages, and `Node::reply` answers them as a gen_server's
/// `sys` code would (API.md says so).
#[test]
fn sys_requests_reach_the_handler_and_can_be_answered() {
    let (mut peer, node) = peer_and_node();
    let us = node.name();
    let (_served, heard) = recording(&node, "sysd", "ignored");
    peer.eval_ok("erldp_test:collect(sys_answers).");
    peer.eval_ok(&format!(
        "spawn(fun() -> sys_answers ! sys:get_state({{sysd, '{us}'}}, 10000) end)."
    ));
    let system = heard.recv_timeout(T).expect("the system message");
    let Some([tag, from, what]) = system.as_tuple() else {
        panic!("not {{system, From, Request}}: {system}");
    };
    assert_eq!(
        (tag, what),
        (&Term::atom("system"), &Term::atom("get_state"))
    );
    node.reply(from, Term::atom("my_state")).expect("reply");
    assert_eq!(
        erl(&mut peer, "erldp_test:collected(sys_answers, 1, 10000)."),
        "[my_state]"
    );
}

/// A node that neither registers nor looks up: for calls into itself.
fn local_node(prefix: &str) -> Node {
    Node::builder(random_name(prefix) + "@localhost")
        .cookie("secret")
        .epmd(erldp::EpmdMode::None)
        .start()
        .expect("node")
}

#[test]
fn serving_works_from_inside_handlers_and_in_our_own_node() {
    let node = local_node("self");
    let us = node.name();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let kept_modules = Arc::new(Mutex::new(Vec::new()));
    let _admin = {
        let (node2, kept) = (node.clone(), Arc::clone(&kept));
        let kept_modules = Arc::clone(&kept_modules);
        node.serve("admin", move |request| match request.message.as_tuple() {
            Some([op, name]) if op.is_atom("serve") => {
                let name = name.as_atom().expect("an atom");
                let served = node2
                    .serve(name.as_str(), calculator)
                    .map_err(|e| Exception::new("ArgumentError", e.to_string()))?;
                kept.lock().unwrap().push(served);
                Ok(Reply::Value(Term::atom("ok")))
            }
            Some([op, name]) if op.is_atom("unserve") => Ok(Reply::Value(Term::from(
                node2.unserve(name.as_atom().expect("atom").as_str()),
            ))),
            Some([op, module]) if op.is_atom("expose") => {
                let exposed = node2
                    .expose(module.as_atom().expect("atom").as_str(), rust_math)
                    .map_err(|e| Exception::new("ArgumentError", e.to_string()))?;
                kept_modules.lock().unwrap().push(exposed);
                Ok(Reply::Value(Term::atom("ok")))
            }
            _ => {
                let from = request.from.expect("a call");
                node2
                    .reply(&from, Term::atom("replied_inside"))
                    .map_err(|e| Exception::new("RuntimeError", e.to_string()))?;
                Ok(Reply::NoReply)
            }
        })
        .expect("serve")
    };
    let call = |name: &str, request: &str| {
        node.call(
            &Dest::name(name, us.as_str()),
            request.parse().expect("term"),
            T,
        )
    };
    assert_eq!(
        call("admin", "{serve, calc}").expect("call"),
        Term::atom("ok")
    );
    assert_eq!(call("calc", "{add, 2, 2}").expect("call"), Term::from(4));
    let err = call("admin", "{serve, calc}").expect_err("taken");
    assert!(
        matches!(&err, Error::Rpc { reason, .. } if reason.to_string().contains("already registered")),
        "{err}"
    );
    // A raise reaches a caller on our own node as an exit.
    let err = call("calc", "{'div', 1, 0}").expect_err("raised");
    assert_eq!(
        err.rpc_term(),
        Some(
            "{exit, {'ArgumentError', <<\"bad x\">>}, []}"
                .parse()
                .expect("term")
        )
    );
    assert_eq!(
        call("admin", "whatever").expect("call"),
        Term::atom("replied_inside")
    );
    assert_eq!(
        call("admin", "{unserve, calc}").expect("call"),
        Term::from(true)
    );
    let err = call("calc", "{add, 2, 2}").expect_err("gone");
    assert_eq!(
        err.rpc_term(),
        Some("{exit, noproc, []}".parse().expect("term"))
    );
    assert_eq!(
        call("admin", "{expose, inner_math}").expect("call"),
        Term::atom("ok")
    );
    // Reserved and taken names are refused; the handle stops serving.
    assert!(node.serve("rex", calculator).is_err());
    let _mailbox = node.mailbox(Some("taken")).expect("mailbox");
    assert!(node.serve("taken", calculator).is_err());
    assert!(node.expose("inner_math", rust_math).is_err());
    assert!(node.unexpose("inner_math"));
    let calc = node.serve("calc", calculator).expect("serve");
    drop(calc);
    assert_eq!(node.whereis("calc"), None);
    node.close();
    assert!(matches!(node.serve("calc", calculator), Err(Error::Closed)));
    assert!(matches!(node.expose("m", rust_math), Err(Error::Closed)));
}

/// A name that is empty or too long for an atom is refused before it becomes
/// one, the same way wherever a program names something, and the error
/// names what it was without repeating a megabyte of it.
#[test]
fn names_that_cannot_be_atoms_are_refused_alike_and_briefly() {
    let node = local_node("names");
    let huge = "n".repeat(1 << 20);
    type Naming<'a> = &'a dyn Fn(&str) -> erldp::Result<()>;
    let refusals: [(&str, Naming); 4] = [
        ("module", &|name| node.expose(name, rust_math).map(drop)),
        ("registered name", &|name| {
            node.serve(name, calculator).map(drop)
        }),
        ("registered name", &|name| {
            node.mailbox(Some(name)).map(drop)
        }),
        ("pg scope name", &|name| {
            node.mailbox(None)?.join(name, Term::atom("group"))
        }),
    ];
    for (what, refused) in refusals {
        for (name, says) in [
            ("", "is empty"),
            (&huge[..], "is longer than an atom may be"),
        ] {
            let err = refused(name).expect_err("refused");
            assert_eq!(err.kind(), erldp::ErrorKind::InvalidArgument, "{err}");
            let text = err.to_string();
            assert!(text.contains(what) && text.contains(says), "{text}");
            assert!(text.len() < 200, "{} bytes of error text", text.len());
        }
    }
    assert_eq!(node.whereis(""), None);
}

/// The same calls against every OTP release the tests have.
#[test]
fn every_otp_release_calls_into_our_node() {
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for otp in Otp::available() {
        let mut peer = BeamPeer::builder().otp(otp.clone()).start();
        let node = node_for(&peer);
        let us = node.name().to_string();
        let _calc = node.serve("calc", calculator).expect("serve");
        let _math = node.expose("rust_math", rust_math).expect("expose");
        let on_reader = ServeOptions::new().on_reader(true);
        let _quick_calc = node
            .serve_with("quick_calc", on_reader, calculator)
            .expect("serve");
        let _quick_math = node
            .expose_with("quick_math", on_reader, rust_math)
            .expect("expose");
        let mut got = Vec::new();
        for code in [
            "gen_server:call({calc, 'US'}, {add, 2, 3}).",
            "catch gen_server:call({calc, 'US'}, {'div', 1, 0}, 60000).",
            "{Replies, Bad} = gen_server:multi_call(['US'], calc, {mul, 300, 4}, 10000), {[R || {_, R} <- Replies], Bad}.",
            "rpc:call('US', rust_math, double, [21]).",
            "try erpc:call('US', rust_math, fail, [<<\"x\">>]) catch C:R -> {C, R} end.",
            "erpc:multicall(['US'], rust_math, add, [1, 2]).",
            "rpc:block_call('US', rust_math, double, [4]).",
            "rpc:call('US', nomod, f, [1]).",
            "{P, M} = spawn_monitor('US', nomod, f, []), receive {'DOWN', M, process, P, R} -> R end.",
            // Handlers on the reader answer as those on the pool do.
            "gen_server:call({quick_calc, 'US'}, {add, 2, 3}).",
            "catch gen_server:call({quick_calc, 'US'}, {'div', 1, 0}, 60000).",
            "rpc:call('US', quick_math, double, [21]).",
            "try erpc:call('US', quick_math, fail, [<<\"x\">>]) catch C:R -> {C, R} end.",
        ] {
            let code = code.replace("US", &us);
            let answer = erl(&mut peer, &code);
            got.push(answer.replace(&us, "US"));
        }
        answers.insert(otp.to_string(), got);
    }
    let mut releases = answers.iter();
    let (first, expected) = releases.next().expect("the system OTP");
    assert!(expected[0] == "5" && expected[3] == "42", "{expected:?}");
    assert!(
        expected[1].starts_with("{'EXIT',{{'ArgumentError',<<\"bad x\">>},{gen_server,call,"),
        "{expected:?}"
    );
    assert_eq!(expected[2], "{[1200],[]}");
    assert_eq!(expected[7], "{badrpc,{'EXIT',{undef,[{nomod,f,[1],[]}]}}}");
    assert_eq!(expected[8], "{undef,[{nomod,f,[],[]}]}");
    for (otp, got) in &answers {
        for (quick, pooled) in [(9, 0), (10, 1), (11, 3), (12, 4)] {
            assert_eq!(
                got[quick].replace("quick_calc", "calc"),
                got[pooled],
                "{otp}"
            );
        }
    }
    for (otp, got) in releases {
        assert_eq!(got, expected, "{otp} answers differ from {first}'s");
    }
}

/// A handler that closes the node runs on a handler thread: closing from
/// there neither waits for that thread nor for a connection thread that
/// waits on it, and the call that ran it sees the node go. A close from
/// outside afterwards waits for what is left.
#[test]
fn a_handler_that_closes_the_node_returns_and_so_does_the_close() {
    let mut peer = BeamPeer::start();
    for via in ["call", "erpc"] {
        let node = node_for(&peer);
        let us = node.name();
        let (tx, rx) = mpsc::channel();
        let closer = {
            let (node, tx) = (node.clone(), tx.clone());
            move || {
                node.close();
                tx.send(node.is_closed()).expect("send");
            }
        };
        let _handle: Box<dyn std::any::Any> = if via == "call" {
            Box::new(
                node.serve("closer", move |_| {
                    closer();
                    Ok(Reply::Value(Term::atom("closed")))
                })
                .expect("serve"),
            )
        } else {
            Box::new(
                node.expose("closer", move |_| {
                    closer();
                    Ok(Term::atom("closed"))
                })
                .expect("expose"),
            )
        };
        let code = if via == "call" {
            format!("catch gen_server:call({{closer, '{us}'}}, go, 10000).")
        } else {
            format!("catch erpc:call('{us}', closer, go, [], 10000).")
        };
        let answer = erl(&mut peer, &code);
        assert!(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("the handler's close returned"),
            "{via}: closed"
        );
        assert!(
            ["nodedown", "noconnection", "closed"]
                .iter()
                .any(|end| answer.contains(end)),
            "{via}: {answer}"
        );
        node.close();
        assert!(node.is_closed());
    }
}

/// A call whose `From` is a process of `caller`'s node, sent to `served` on
/// `node` from one of our own mailboxes: a call forwarded through another
/// node, as the served name sees it.
fn forwarded_call(node: &Node, served: &str, caller: erldp::Pid, tag: &str, request: Term) {
    let call = Term::Tuple(vec![
        Term::atom("$gen_call"),
        Term::Tuple(vec![Term::Pid(caller), Term::atom(tag)]),
        request,
    ]);
    node.send(&Dest::name(served, node.name().as_str()), call)
        .expect("send the call");
}

/// The reply to a caller on a node we are not connected to connects
/// without holding the handler, as BEAM's send connects without holding
/// the sender: a caller whose node takes long to reach (here one that
/// accepts and never answers) delays no other caller of a served name that
/// answers one request at a time.
#[test]
fn a_reply_to_a_caller_we_must_connect_to_holds_no_handler() {
    let (mut peer, node) =
        common::peer_and_node_with(|node| node.setup_timeout(Duration::from_secs(120)));
    let _calc = node.serve("calc", calculator).expect("serve");
    let silent = Silent::start(node.host());
    forwarded_call(
        &node,
        "calc",
        silent.process(),
        "silent",
        "{add, 1, 2}".parse().expect("term"),
    );
    let _accepted = silent
        .listener
        .accept()
        .expect("our node connects to the silent caller's node");
    let us = node.name();
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{calc, '{us}'}}, {{mul, 6, 7}}, 60000).")
        ),
        "42",
        "answered while the reply to the silent node's caller waits for its connection"
    );
}

/// A node that EPMD knows and that accepts connections and answers nothing.
struct Silent {
    listener: std::net::TcpListener,
    _registered: erldp::epmd::Registration,
    name: String,
}

impl Silent {
    fn start(host: &str) -> Silent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let alive = random_name("silent");
        let registered = erldp::epmd::register(
            erldp::epmd::DEFAULT_PORT,
            &alive,
            listener.local_addr().expect("address").port(),
            true,
            T,
        )
        .expect("the silent node registers with EPMD");
        Silent {
            listener,
            _registered: registered,
            name: format!("{alive}@{host}"),
        }
    }

    fn process(&self) -> erldp::Pid {
        common::raw::pid(&self.name, 7)
    }

    /// Whether someone connected to it (without waiting for anyone).
    fn reached(&self) -> bool {
        self.listener.set_nonblocking(true).expect("nonblocking");
        let reached = self.listener.accept().is_ok();
        self.listener.set_nonblocking(false).expect("blocking");
        reached
    }
}

/// The connects that replies start are bounded as incoming handshakes are
/// (`max_pending_handshakes`): past them a reply is dropped, as a message
/// to a node that cannot be reached is lost, and once one ends another may
/// start.
#[test]
fn connects_to_reach_callers_are_bounded() {
    let (mut peer, node) = common::peer_and_node_with(|node| {
        node.setup_timeout(Duration::from_secs(120))
            .max_pending_handshakes(1)
    });
    let _calc = node.serve("calc", calculator).expect("serve");
    let (first, second, third) = (
        Silent::start(node.host()),
        Silent::start(node.host()),
        Silent::start(node.host()),
    );
    let add: Term = "{add, 1, 2}".parse().expect("term");
    forwarded_call(&node, "calc", first.process(), "first", add.clone());
    let held = first
        .listener
        .accept()
        .expect("the first caller's node is reached");
    forwarded_call(&node, "calc", second.process(), "second", add.clone());
    // Answered after the second call, one at a time: its reply has been
    // dealt with.
    let us = node.name();
    assert_eq!(
        erl(
            &mut peer,
            &format!("gen_server:call({{calc, '{us}'}}, {{add, 0, 0}}).")
        ),
        "0"
    );
    // The first connect ends when its peer goes away, and leaves room for
    // another once our node has seen it fail: until then a reply to the
    // third caller is dropped too, so each poll asks again.
    drop(held);
    erldp_testkit::eventually("a reply reaches the third caller's node", || {
        forwarded_call(&node, "calc", third.process(), "third", add.clone());
        third.reached()
    });
    assert!(
        !second.reached(),
        "the second reply came while the first connect ran, and was dropped"
    );
}

/// And the replies reach the caller once connected, in the order they
/// were sent, however many wait for the one connect: a process of a second
/// BEAM node that has never talked to us.
#[test]
fn replies_reach_a_caller_on_a_node_not_yet_connected_in_order() {
    let mut other = BeamPeer::start();
    let node = common::builder_for(&other)
        .max_pending_handshakes(1)
        .start()
        .expect("node");
    let _calc = node.serve("calc", calculator).expect("serve");
    let pid_etf = other.eval_ok("binary:encode_hex(term_to_binary(erldp_test:collect(caller))).");
    let pid_etf = common::from_hex(pid_etf.trim_matches(|c| c == '<' || c == '>' || c == '"'));
    let caller = erldp::term::decode(&pid_etf)
        .expect("a pid")
        .as_pid()
        .expect("a pid");
    assert!(
        node.nodes().is_empty(),
        "not connected to the caller's node"
    );
    for n in 1..=5 {
        forwarded_call(
            &node,
            "calc",
            caller,
            &format!("call{n}"),
            format!("{{add, {n}, 0}}").parse().expect("term"),
        );
    }
    assert_eq!(
        other.eval_ok("erldp_test:collected(caller, 5, 10000)."),
        "[{call1,1},{call2,2},{call3,3},{call4,4},{call5,5}]"
    );
}
