//! The wire code against every OTP release the project supports: the
//! system OTP 25 and the OTP 27 and 29 chroots `make setup` builds. Each
//! release gets the same workout: handshakes both ways, rpc with results
//! and exceptions, the corpus both ways, a fragmented large message, a
//! `gen_server` call, links and monitors.

use std::time::Duration;

use erldp::{Dest, Error, MessageKind, Term};
use erldp_testkit::{BeamPeer, Otp};

mod common;
use common::node_for;

const T: Duration = Duration::from_secs(15);

fn workout(otp: Otp) {
    let label = otp.to_string();
    let mut peer = BeamPeer::builder().otp(otp).start();
    let node = node_for(&peer);
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let us = node.name();

    // The BEAM node connects to us first.
    assert!(peer.ping(us), "{label}");
    assert!(node.ping(peer.node()), "{label}");

    // rpc: a value and an exception.
    let sum = node
        .rpc(
            peer.node(),
            "lists",
            "sum",
            vec!["[1,2,3]".parse().expect("t")],
            T,
        )
        .expect("rpc");
    assert_eq!(sum, Term::from(6), "{label}");
    match node.rpc(peer.node(), "erlang", "error", vec![Term::atom("boom")], T) {
        Err(Error::Rpc { class, reason, .. }) => {
            assert_eq!(
                (class.as_str(), *reason),
                ("error", Term::atom("boom")),
                "{label}"
            )
        }
        other => panic!("{label}: expected an rpc error, got {other:?}"),
    }

    // The corpus both ways.
    let corpus = common::corpus();
    let (lines, terms): (Vec<&str>, Vec<Term>) = corpus
        .iter()
        .map(|entry| (entry.text.trim().trim_end_matches('.'), entry.term.clone()))
        .unzip();
    peer.eval_ok(&format!(
        "C = [{}], erldp_test:collect(sink), length(C).",
        lines.join(", ")
    ));
    let sink = Dest::name("sink", peer.node());
    for term in &terms {
        inbox.send(&sink, term.clone()).expect("send");
    }
    let n = terms.len();
    assert_eq!(
        peer.eval_ok(&format!("erldp_test:collected(sink, {n}, 20000) =:= C.")),
        "true",
        "{label}: corpus to BEAM"
    );
    peer.eval_ok(&format!("[{{inbox, '{us}'}} ! T || T <- C], ok."));
    for (i, expected) in terms.iter().enumerate() {
        let got = inbox
            .recv_timeout(T)
            .expect("recv")
            .expect("corpus term back")
            .term;
        assert_eq!(&got, expected, "{label}: corpus term {} from BEAM", i + 1);
    }

    // A message large enough for the BEAM to fragment, both ways.
    let digest = peer.eval_ok(&format!(
        "Big = binary:copy(<<\"0123456789abcdef\">>, 131072), {{inbox, '{us}'}} ! {{big, Big}}, erlang:phash2(Big)."
    ));
    let big = inbox
        .recv_timeout(T)
        .expect("recv")
        .expect("big message")
        .term;
    let Term::Tuple(fields) = &big else {
        panic!("{label}: unexpected message")
    };
    assert_eq!(
        fields[1].as_binary().map(<[u8]>::len),
        Some(2 << 20),
        "{label}"
    );
    inbox.send(&sink, big.clone()).expect("send big");
    let back = peer
        .eval_ok("lists:last(erldp_test:collected(sink, length(C) + 1, 20000)) =:= {big, Big}.");
    assert_eq!(back, "true", "{label}: big message to BEAM");
    assert!(!digest.is_empty());

    // gen_server call.
    peer.eval_ok("{ok, _} = erldp_test_server:start(compat_srv, 7).");
    let server = Dest::name("compat_srv", peer.node());
    assert_eq!(
        node.call(&server, Term::atom("state"), T).expect("call"),
        Term::from(7),
        "{label}"
    );

    // BEAM calls a mailbox of ours; the replies follow gen:reply. OTP 27 and later tag a
    // multi_call {Pid, [[alias | Alias] | Mon]}: a reply that comes after the caller gave up
    // goes to the dead alias and is dropped, instead of landing in the caller's mailbox
    // ahead of the marker sent after it.
    let srv = node.mailbox(Some("compat_rs")).expect("mailbox");
    let answering = std::thread::spawn(move || {
        let call = |srv: &erldp::Mailbox| match srv.recv_timeout(T).expect("recv") {
            Some(message) => match message.term {
                Term::Tuple(fields) if fields.len() == 3 && fields[0].is_atom("$gen_call") => {
                    (fields[1].clone(), fields[2].clone())
                }
                other => panic!("not a call: {other}"),
            },
            None => panic!("no call"),
        };
        for _ in 0..2 {
            let (from, request) = call(&srv);
            let reply = Term::tuple(vec![Term::atom("got"), request]);
            srv.node().reply(&from, reply).expect("reply");
        }
        let (late_from, _) = call(&srv);
        let caller = match srv.recv_timeout(T).expect("recv").map(|m| m.term) {
            Some(Term::Tuple(fields)) if fields[0].is_atom("timed_out") => {
                fields[1].as_pid().expect("pid")
            }
            other => panic!("expected timed_out, got {other:?}"),
        };
        srv.node()
            .reply(&late_from, Term::atom("late"))
            .expect("reply");
        srv.send(&Dest::Pid(caller), Term::atom("marker"))
            .expect("marker");
    });
    assert_eq!(
        peer.eval_ok(&format!("gen_server:call({{compat_rs, '{us}'}}, a, 5000).")),
        "{got,a}",
        "{label}"
    );
    assert_eq!(
        peer.eval_ok(&format!(
            "{{[{{_, Got}}], []}} = gen_server:multi_call(['{us}'], compat_rs, b), Got."
        )),
        "{got,b}",
        "{label}"
    );
    assert_eq!(
        peer.eval_ok(&format!(
            "{{[], ['{us}']}} = gen_server:multi_call(['{us}'], compat_rs, late, 300), \
             {{compat_rs, '{us}'}} ! {{timed_out, self()}}, \
             receive marker -> ok end, \
             receive Stray -> {{stray, Stray}} after 0 -> clean end."
        )),
        "clean",
        "{label}"
    );
    answering.join().expect("answered");

    // Links and monitors.
    peer.eval_ok(&format!(
        "P = spawn(fun() -> receive {{stop, R}} -> exit(R) end end), {{inbox, '{us}'}} ! {{proc, P}}, ok."
    ));
    let pid = match inbox.recv_timeout(T).expect("recv").expect("pid").term {
        Term::Tuple(fields) => fields[1].as_pid().expect("pid"),
        other => panic!("{label}: unexpected {other}"),
    };
    inbox.link(pid).expect("link");
    let reference = inbox.monitor(&Dest::Pid(pid)).expect("monitor");
    // The stop goes over the peer's stdin: make sure our link and monitor
    // have arrived before it.
    assert!(node.ping(peer.node()), "{label}");
    peer.eval_ok("P ! {stop, compat}.");
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let message = inbox.recv_timeout(T).expect("recv").expect("signal");
        assert_eq!(message.reason, Some(Term::atom("compat")), "{label}");
        if message.kind == MessageKind::Down {
            assert_eq!(message.reference, Some(reference), "{label}");
        }
        kinds.push(message.kind);
    }
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, vec![MessageKind::Down, MessageKind::Exit], "{label}");
}

#[test]
fn every_supported_otp_release_interoperates() {
    let releases = Otp::available();
    assert!(!releases.is_empty());
    for otp in releases {
        workout(otp);
    }
}
