//! Sending and receiving terms with a real BEAM node: the whole term corpus
//! both ways (checked with `=:=` on the BEAM side), terms that only a BEAM
//! can make (pids, refs, ports, funs), sends to pids and aliases, messages
//! sent as ETF bytes, a 64 MiB binary each way, and large messages
//! written by their senders among other threads' messages.

use erldp::{Dest, Mailbox, Term};
use md5::{Digest, Md5};

mod common;
use common::{collector, next, peer_node_inbox};

/// The corpus's terms, in order.
fn corpus() -> Vec<Term> {
    common::corpus()
        .into_iter()
        .map(|entry| entry.term)
        .collect()
}

/// The corpus as an Erlang string, for `file:consult/1`.
fn corpus_file() -> String {
    common::erl_string(&common::corpus_path())
}

/// The start of `term` as text, for messages about terms that may be huge.
fn start_of(term: &Term) -> String {
    term.to_string().chars().take(80).collect()
}

/// The second element of the next message in `inbox`, a `{Tag, Value, ...}`
/// tuple.
fn next_value(inbox: &Mailbox) -> Term {
    match next(inbox) {
        Term::Tuple(mut fields) if fields.len() >= 2 => fields.swap_remove(1),
        other => panic!("not a {{Tag, Value}} tuple: {}", start_of(&other)),
    }
}

#[test]
fn the_corpus_round_trips_both_ways() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let terms = corpus();
    assert!(terms.len() >= 100, "the corpus is thorough");
    let n = terms.len();
    let file = corpus_file();
    peer.eval_ok(&format!(
        "{{ok, C}} = file:consult({file}), erldp_test:collect(sink), length(C)."
    ));

    // Rust -> BEAM: every term arrives =:= to what erl parsed.
    let sink = Dest::name("sink", peer.node());
    for term in &terms {
        inbox.send(&sink, term.clone()).expect("send");
    }
    let same = peer.eval_ok(&format!(
        "Got = erldp_test:collected(sink, {n}, 20000), Got =:= C."
    ));
    if same != "true" {
        let diff = peer.eval_ok(
            "[{I, A, B} || {I, A, B} <- lists:zip3(lists:seq(1, min(length(C), length(Got))), \
             lists:sublist(C, length(Got)), lists:sublist(Got, length(C))), A =/= B].",
        );
        panic!("terms differ after the trip to BEAM (index, sent, received): {diff}");
    }

    // BEAM -> Rust: every term decodes equal to our parse of the same text.
    let us = node.name();
    peer.eval_ok(&format!("[{{inbox, '{us}'}} ! T || T <- C], ok."));
    for (i, expected) in terms.iter().enumerate() {
        let got = next(&inbox);
        assert_eq!(&got, expected, "corpus term {} came back different", i + 1);
    }
}

#[test]
fn beam_only_terms_come_back_unchanged() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    peer.eval_ok("erldp_test:collect(back).");
    peer.eval_ok(
        "X = 42, \
         S = [self(), make_ref(), hd(erlang:ports()), fun(Y) -> X + Y end, fun lists:sum/1, \
              alias(), spawn(fun() -> ok end), erlang:make_ref(), {self(), [make_ref()]}, \
              #{self() => fun erlang:node/0}, term_to_binary(make_ref())], \
         length(S).",
    );
    let n: usize = peer
        .eval_ok(&format!("[{{inbox, '{us}'}} ! T || T <- S], length(S)."))
        .parse()
        .expect("count");
    let back = Dest::name("back", peer.node());
    for _ in 0..n {
        let term = next(&inbox);
        let reparsed: Term = term
            .to_string()
            .parse()
            .unwrap_or_else(|e| panic!("{term}: {e}"));
        assert_eq!(reparsed, term, "Display/FromStr round trip of {term}");
        inbox.send(&back, term).expect("send back");
    }
    assert_eq!(
        peer.eval_ok(&format!("erldp_test:collected(back, {n}, 10000) =:= S.")),
        "true"
    );
}

#[test]
fn sends_to_a_pid_and_to_an_alias() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    let pid = collector(&mut peer, "sink", &inbox);
    inbox
        .send(&Dest::Pid(pid), Term::atom("to_the_pid"))
        .expect("send to pid");
    assert_eq!(peer.collected("sink", 1), "[to_the_pid]");

    // A message to an alias reaches the process that made it.
    peer.eval_ok(&format!(
        "erldp_test:collect(got_alias), Self = self(), \
         spawn(fun() -> Al = alias(), Self ! {{al, Al}}, receive M -> got_alias ! M end end), \
         receive {{al, Al2}} -> {{inbox, '{us}'}} ! {{alias, Al2}} end, ok."
    ));
    let alias2 = next_value(&inbox).as_reference().expect("alias");
    inbox
        .send(&Dest::Alias(alias2), Term::atom("via_alias"))
        .expect("send to alias");
    assert_eq!(peer.collected("got_alias", 1), "[via_alias]");
}

/// `erlang:unregister/1`: BEAM's sends to the name are dropped, the mailbox lives on, and the
/// name may be taken again.
#[test]
fn an_unregistered_name_is_free_and_its_mailbox_lives_on() {
    let (mut peer, node, _inbox) = peer_node_inbox();
    let us = node.name();
    let first = node.mailbox(Some("svc")).expect("mailbox");
    first.unregister();
    assert_eq!(first.name(), None);
    let second = node.mailbox(Some("svc")).expect("the name is free");
    peer.eval_ok(&format!("{{svc, '{us}'}} ! to_the_second, ok."));
    assert_eq!(next(&second), Term::atom("to_the_second"));
    assert!(!first.is_closed());
    assert!(first.try_recv().expect("recv").is_none());
    first.unregister();
}

#[test]
fn a_closed_mailbox_sends_nothing() {
    let (mut peer, node, inbox) = peer_node_inbox();
    peer.eval_ok("erldp_test:collect(sink).");
    let sender = node.mailbox(None).expect("mailbox");
    let sink = Dest::name("sink", peer.node());
    sender.close(Term::atom("normal"));
    assert!(matches!(
        sender.send(&sink, Term::atom("from_the_dead")),
        Err(erldp::Error::Closed)
    ));
    let etf = erldp::term::encode(&Term::atom("x")).expect("encode");
    assert!(matches!(
        sender.send_encoded(&sink, &etf),
        Err(erldp::Error::Closed)
    ));
    inbox
        .send(&sink, Term::atom("alive"))
        .expect("an open mailbox sends");
    assert_eq!(peer.collected("sink", 1), "[alive]");
}

#[test]
fn pre_encoded_messages_arrive_as_terms() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    peer.eval_ok("erldp_test:collect(sink).");
    let sink = Dest::name("sink", peer.node());
    // As term_to_binary writes them: Latin-1 atoms, and compressed.
    let plain = erldp::term::encode(
        &"{hello, [1, 2.5, <<\"bin\">>], #{k => v}}"
            .parse()
            .expect("term"),
    )
    .expect("encodes");
    inbox.send_encoded(&sink, &plain).expect("send plain");
    let compressed: Vec<u8> = peer
        .eval_ok(
            "binary_to_list(term_to_binary({squeezed, lists:duplicate(100, x)}, [compressed]))",
        )
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|byte| byte.trim().parse().expect("a byte"))
        .collect();
    node.send_encoded(&sink, &compressed)
        .expect("send compressed");
    assert_eq!(
        peer.eval_ok("erldp_test:collected(sink, 2, 5000) =:= [{hello, [1, 2.5, <<\"bin\">>], #{k => v}}, {squeezed, lists:duplicate(100, x)}]."),
        "true"
    );

    // Malformed bytes are an error and nothing goes out; the connection stays up.
    for bad in [
        &b""[..],
        &[131],
        &[131, 104, 2, 97, 1],
        &[131, 97, 1, 0],
        &[131, 82, 0],
        &[100, 97, 1],
    ] {
        let err = inbox.send_encoded(&sink, bad).expect_err("malformed");
        assert!(matches!(err, erldp::Error::Decode { .. }), "{err}");
    }
    inbox.send_encoded(&sink, &plain).expect("still connected");
    // The collector keeps everything: the two above and this one, none of the bad ones.
    assert_eq!(
        peer.eval_ok("length(erldp_test:collected(sink, 3, 5000))."),
        "3"
    );

    // To a mailbox of our own node, the bytes arrive as a term.
    inbox
        .send_encoded(&Dest::name("inbox", us.as_str()), &plain)
        .expect("send locally");
    assert!(matches!(next(&inbox), Term::Tuple(fields) if fields[0].is_atom("hello")));
}

/// Above 64 KiB, ETF handed to `send_encoded` is checked without being
/// decoded into a term and framed as it is: the whole corpus in one message
/// arrives as erl parsed it, to a name, a pid and an alias, and large bytes
/// that are malformed anywhere are refused as small ones are.
#[test]
fn large_pre_encoded_messages_arrive_as_given_and_bad_ones_do_not() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    let terms = corpus();
    let pad = 100_000;
    let message = Term::Tuple(vec![
        Term::atom("corpus"),
        Term::List(terms),
        Term::binary(vec![7u8; pad]),
    ]);
    let etf = erldp::term::encode(&message).expect("encodes");
    assert!(etf.len() > 64 << 10, "large enough to be framed as given");
    let file = corpus_file();
    peer.eval_ok(&format!(
        "{{ok, C}} = file:consult({file}), \
         Want = {{corpus, C, binary:copy(<<7>>, {pad})}}, \
         erldp_test:collect(sink), ok."
    ));
    let sink = Dest::name("sink", peer.node());
    inbox.send_encoded(&sink, &etf).expect("to a name");
    peer.eval_ok(&format!("{{inbox, '{us}'}} ! {{sink, whereis(sink)}}, ok."));
    let pid = next_value(&inbox).as_pid().expect("pid");
    node.send_encoded(&Dest::Pid(pid), &etf).expect("to a pid");
    peer.eval_ok(&format!(
        "spawn(fun() -> Al = alias(), {{inbox, '{us}'}} ! {{alias, Al}}, \
         receive M -> sink ! M end end), ok."
    ));
    let alias = next_value(&inbox).as_reference().expect("alias");
    inbox
        .send_encoded(&Dest::Alias(alias), &etf)
        .expect("to an alias");
    assert_eq!(
        peer.eval_ok("[M =:= Want || M <- erldp_test:collected(sink, 3, 20000)]."),
        "[true,true,true]"
    );

    // Malformed at the end, in the middle, or in what a count claims: refused,
    // nothing sent, the connection up.
    let mut truncated = etf.clone();
    truncated.pop();
    let mut trailing = etf.clone();
    trailing.push(106);
    let mut bad_tag = etf.clone();
    let claims_more = {
        let mut bytes = vec![131, 109];
        bytes.extend_from_slice(&(pad as u32 + 1).to_be_bytes());
        bytes.extend_from_slice(&vec![0u8; pad]);
        bytes
    };
    let duplicate_keys = {
        let mut bytes = vec![131, 116, 0, 0, 0, 2, 97, 1, 109];
        bytes.extend_from_slice(&(pad as u32).to_be_bytes());
        bytes.extend_from_slice(&vec![0u8; pad]);
        bytes.extend_from_slice(&[97, 1, 106]);
        bytes
    };
    // A binary's length pointing past its end is garbage, wherever it is.
    let tail = bad_tag.len() - pad - 5;
    bad_tag[tail + 1..tail + 5].copy_from_slice(&u32::MAX.to_be_bytes());
    for (what, bad) in [
        ("truncated", &truncated),
        ("trailing bytes", &trailing),
        ("a length past the end", &bad_tag),
        ("a binary shorter than claimed", &claims_more),
        ("duplicate map keys", &duplicate_keys),
    ] {
        assert!(bad.len() > 64 << 10, "{what}: large");
        let err = inbox.send_encoded(&sink, bad).expect_err(what);
        assert!(matches!(err, erldp::Error::Decode { .. }), "{what}: {err}");
    }
    inbox.send_encoded(&sink, &etf).expect("still connected");
    assert_eq!(
        peer.eval_ok("[M =:= Want || M <- erldp_test:collected(sink, 4, 20000)]."),
        "[true,true,true,true]"
    );
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_64_mib_binary_travels_both_ways() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    const SIZE: usize = 64 << 20;

    // BEAM -> Rust
    let beam_md5 = peer.eval_ok(&format!(
        "B = binary:copy(<< <<(I rem 251)>> || I <- lists:seq(1, 65536) >>, {}), \
         {{inbox, '{us}'}} ! {{big, B}}, \
         binary:encode_hex(erlang:md5(B)).",
        SIZE / 65536
    ));
    let big = match next_value(&inbox) {
        Term::Binary(bytes) => bytes,
        other => panic!("not a binary: {}", start_of(&other)),
    };
    assert_eq!(big.len(), SIZE);
    assert_eq!(
        format!("<<\"{}\">>", md5_hex(&big).to_uppercase()),
        beam_md5
    );

    // Rust -> BEAM
    let payload: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 253) as u8).collect();
    let ours = md5_hex(&payload).to_uppercase();
    peer.eval_ok("erldp_test:collect(bigsink).");
    inbox
        .send(&Dest::name("bigsink", peer.node()), Term::binary(payload))
        .expect("send 64 MiB");
    let theirs = peer.eval_ok(
        "[Got] = erldp_test:collected(bigsink, 1, 30000), {byte_size(Got), binary:encode_hex(erlang:md5(Got))}.",
    );
    assert_eq!(theirs, format!("{{{SIZE},<<\"{ours}\">>}}"));
}

/// Messages holding a large binary, or given as large ETF, are written by
/// their sender from where their bytes lie rather than queued as a copy:
/// sent from four threads at once between small messages, each with an atom
/// of its own (so that the atom cache's header entries must reach the peer
/// before the frames that use them), every message arrives whole, and each
/// thread's in its order.
#[test]
fn large_and_small_messages_from_many_threads_arrive_whole_and_in_order() {
    let (mut peer, node, _inbox) = peer_node_inbox();
    const THREADS: u8 = 4;
    const EACH: u8 = 30;
    peer.eval_ok("erldp_test:collect(sink).");
    let sink = Dest::name("sink", peer.node());
    std::thread::scope(|scope| {
        for thread in 1..=THREADS {
            let (node, sink) = (&node, &sink);
            scope.spawn(move || {
                let mailbox = node.mailbox(None).expect("mailbox");
                for i in 1..=EACH {
                    // Every other message is large: 256 KiB and a bit.
                    let pairs = if i % 2 == 0 {
                        (128 << 10) + usize::from(i)
                    } else {
                        8
                    };
                    let bytes = [thread, i].repeat(pairs);
                    let message = Term::Tuple(vec![
                        Term::from(i64::from(thread)),
                        Term::from(i64::from(i)),
                        Term::atom(&format!("a{thread}_{i}")),
                        Term::binary(bytes),
                    ]);
                    // The last thread gives its messages as ETF, as C does.
                    let sent = if thread == THREADS {
                        let etf = erldp::term::encode(&message).expect("encodes");
                        mailbox.send_encoded(sink, &etf)
                    } else {
                        mailbox.send(sink, message)
                    };
                    sent.expect("send");
                }
            });
        }
    });
    let total = usize::from(THREADS) * usize::from(EACH);
    let verdict = peer.eval_ok(&format!(
        "Msgs = erldp_test:collected(sink, {total}, 60000), \
         Whole = [ok || {{T, I, A, B}} <- Msgs, \
                  A =:= list_to_atom(lists:flatten(io_lib:format(\"a~b_~b\", [T, I]))), \
                  B =:= binary:copy(<<T, I>>, byte_size(B) div 2)], \
         Orders = [[I || {{T2, I, _, _}} <- Msgs, T2 =:= T] || T <- lists:seq(1, {THREADS})], \
         {{length(Msgs), length(Whole), Orders =:= [lists:seq(1, {EACH}) || _ <- Orders]}}."
    ));
    assert_eq!(verdict, format!("{{{total},{total},true}}"));
}

#[test]
fn many_messages_arrive_in_order() {
    let (mut peer, node, inbox) = peer_node_inbox();
    let us = node.name();
    const N: usize = 20_000;
    peer.eval_ok(&format!(
        "[{{inbox, '{us}'}} ! {{seq, I, <<0:128>>}} || I <- lists:seq(1, {N})], ok."
    ));
    for i in 1..=N {
        assert_eq!(next_value(&inbox), Term::from(i as i64));
    }
    peer.eval_ok("erldp_test:collect(count).");
    let dest = Dest::name("count", peer.node());
    for i in 1..=N {
        inbox
            .send(
                &dest,
                Term::tuple(vec![Term::atom("seq"), Term::from(i as i64)]),
            )
            .expect("send");
    }
    let ordered = peer.eval_ok(&format!(
        "Got = erldp_test:collected(count, {N}, 20000), [I || {{seq, I}} <- Got] =:= lists:seq(1, {N})."
    ));
    assert_eq!(ordered, "true");
}
