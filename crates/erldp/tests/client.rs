//! The thread-free single-connection client against a real BEAM node.

use std::thread;
use std::time::{Duration, Instant};

use erldp::{Client, Dest, Error, Term};
use erldp_testkit::{random_cookie, BeamPeer};

const T: Duration = Duration::from_secs(10);

fn client_for(peer: &BeamPeer) -> Client {
    Client::builder()
        .cookie(peer.cookie())
        .connect(peer.node())
        .expect("client connects")
}

#[test]
fn rpc_values_and_exceptions() {
    let peer = BeamPeer::start();
    let mut client = client_for(&peer);
    assert_eq!(
        client.rpc("erlang", "node", vec![], T).expect("rpc"),
        Term::atom(peer.node())
    );
    let sum = client
        .rpc("lists", "sum", vec!["[1,2,3]".parse().expect("t")], T)
        .expect("rpc");
    assert_eq!(sum, Term::from(6));
    match client.rpc("erlang", "error", vec![Term::atom("boom")], T) {
        Err(Error::Rpc {
            class,
            reason,
            stacktrace,
            ..
        }) => {
            assert_eq!((class.as_str(), *reason), ("error", Term::atom("boom")));
            assert!(matches!(*stacktrace, Term::List(ref frames) if !frames.is_empty()));
        }
        other => panic!("expected an rpc error, got {other:?}"),
    }
    match client.rpc("erlang", "throw", vec![Term::atom("ball")], T) {
        Err(Error::Rpc { class, .. }) => assert_eq!(class.as_str(), "throw"),
        other => panic!("expected a throw, got {other:?}"),
    }
}

#[test]
fn rpc_output_goes_to_the_peer_and_does_not_hang() {
    let peer = BeamPeer::start();
    let mut client = client_for(&peer);
    let args = vec![
        "\"client says ~p~n\"".parse().expect("t"),
        "[7]".parse().expect("t"),
    ];
    assert_eq!(
        client.rpc("io", "format", args, T).expect("rpc"),
        Term::atom("ok")
    );
    peer.await_output("client says 7");
}

#[test]
fn a_timed_out_rpc_kills_its_worker() {
    let mut peer = BeamPeer::start();
    let mut client = client_for(&peer);
    let err = client
        .rpc(
            "timer",
            "sleep",
            vec![Term::from(60_000)],
            Duration::from_millis(300),
        )
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let sleepers = "length([P || P <- processes(), \
                    process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}]).";
    let deadline = Instant::now() + T;
    while peer.eval_ok(sleepers) != "0" {
        assert!(Instant::now() < deadline, "the worker survived");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        client.rpc("erlang", "node", vec![], T).expect("rpc"),
        Term::atom(peer.node())
    );
}

#[test]
fn call_ping_send_and_receive() {
    let mut peer = BeamPeer::start();
    let mut client = client_for(&peer);
    assert!(client.ping(T));
    peer.eval_ok("{ok, _} = erldp_test_server:start(kv, 3).");
    let server = Dest::name("kv", peer.node());
    assert_eq!(
        client.call(&server, Term::atom("state"), T).expect("call"),
        Term::from(3)
    );
    match client.call(&Dest::name("nobody", peer.node()), Term::atom("state"), T) {
        Err(Error::Rpc { class, reason, .. }) => {
            assert_eq!((class.as_str(), *reason), ("exit", Term::atom("noproc")))
        }
        other => panic!("expected noproc, got {other:?}"),
    }
    peer.eval_ok("erldp_test:echo_start(echo).");
    let me = client.pid();
    client
        .send(
            &Dest::name("echo", peer.node()),
            Term::tuple(vec![Term::Pid(me), Term::atom("hi")]),
        )
        .expect("send");
    let reply = client.receive(T).expect("receive").expect("a reply");
    assert_eq!(reply.term, "{echo, hi}".parse().expect("t"));
    assert!(client
        .receive(Duration::from_millis(100))
        .expect("receive")
        .is_none());
}

#[test]
fn connection_errors_name_their_cause() {
    let peer = BeamPeer::start();
    match Client::builder()
        .cookie(random_cookie())
        .connect(peer.node())
    {
        Err(Error::Auth { .. }) => {}
        other => panic!("expected an auth error, got {other:?}"),
    }
    let missing = format!("nobody_{}@{}", std::process::id(), erldp::short_hostname());
    match Client::builder().cookie("x").connect(&missing) {
        Err(err @ Error::NodeNotFound { .. }) => assert!(err.to_string().contains(&missing)),
        other => panic!("expected NodeNotFound, got {other:?}"),
    }
    assert!(matches!(
        Client::builder().connect("no-at-sign"),
        Err(Error::InvalidArgument(_))
    ));
}

/// A timeout as long as `Duration` allows means no deadline, in the
/// client's connect, its calls and its receive, as in a node's.
#[test]
fn timeouts_as_long_as_duration_allows_mean_no_deadline() {
    let peer = BeamPeer::start();
    let mut client = Client::builder()
        .cookie(peer.cookie())
        .timeout(Duration::MAX)
        .net_ticktime(Duration::MAX)
        .connect(peer.node())
        .expect("client connects");
    assert_eq!(
        client
            .rpc("erlang", "node", vec![], Duration::MAX)
            .expect("rpc"),
        Term::atom(peer.node())
    );
    assert!(client.ping(Duration::MAX));
}
