//! TLS distribution through `Node`, against BEAM nodes started with `-proto_dist inet_tls
//! -ssl_dist_optfile FILE` on every OTP available, by name through EPMD: both directions with
//! rpc, messages, a fragmented large message and ticks; each option of `TlsConfig` against
//! what `ssl` makes of the same option; every way a certificate is refused, with the cause
//! named; and plain and TLS nodes telling each other apart. Certificates are made per test
//! (the test kit's `TlsFiles`).
//!
//! Refusals of incoming connections reach the program only through the log (the peer's
//! `net_kernel:connect_node/1` gets `false`): `incoming_refusals_are_logged_with_their_cause`
//! reads them from a log sink, and is the only test here that refuses incoming connections.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use erldp::logging::{self, Level, LevelFilter};
use erldp::tls::{TlsConfig, TlsVersion, Verify};
use erldp::{Dest, Error, MessageKind, Node, Term};
use erldp_testkit::{eventually, random_name, BeamPeer, Otp, TlsFiles, KEY_PASSWORD};

mod common;
use common::builder_for;

const T: Duration = Duration::from_secs(20);

/// Our options: `node.pem` in both roles, peers checked against `ca.pem` (and required to
/// present a certificate when they connect to us).
fn our_config(files: &TlsFiles) -> TlsConfig {
    TlsConfig::new(
        files.path("node.pem"),
        files.path("node.key"),
        files.path("ca.pem"),
    )
}

/// A BEAM peer with `-proto_dist inet_tls` and an option file of `server`/`client` options
/// (see `TlsFiles::optfile`).
fn tls_peer(otp: &Otp, files: &TlsFiles, server: &str, client: &str) -> BeamPeer {
    tls_peer_with(BeamPeer::builder(), otp, files, server, client)
}

fn tls_peer_with(
    builder: erldp_testkit::BeamPeerBuilder,
    otp: &Otp,
    files: &TlsFiles,
    server: &str,
    client: &str,
) -> BeamPeer {
    let optfile = files.optfile(&random_name("opt-"), server, client);
    builder.otp(otp.clone()).tls(optfile).start()
}

/// A BEAM peer that verifies and presents `node.pem` in both roles, as we do.
fn verifying_peer(otp: &Otp, files: &TlsFiles) -> BeamPeer {
    let opts = files.verifying_opts("node");
    tls_peer(otp, files, &opts, &opts)
}

fn tls_node(cookie: &str, config: TlsConfig) -> Node {
    Node::builder(random_name("rs"))
        .cookie(cookie)
        .tls(config)
        .start()
        .expect("a TLS node")
}

/// The options of a BEAM server presenting `cert` (a `TlsFiles` name), plus `extra`.
fn server_opts(cert: &str, extra: &str) -> String {
    format!(
        "[{{certfile, {{file, \"{cert}.pem\"}}}}, {{keyfile, {{file, \"{cert}.key\"}}}}, \
         {{cacertfile, {{file, \"ca.pem\"}}}}{extra}]"
    )
}

/// What `peer` says of its connection to `node`: `{Protocol, Family}` of its `net_address`
/// (`{tls, inet}` for inet_tls).
fn carried(peer: &mut BeamPeer, node: &Node) -> String {
    let us = node.name();
    peer.eval_ok(&format!(
        "erldp_test:wait_for(fun() -> lists:member('{us}', nodes(connected)) end, 10000), \
         (fun() -> \
             {{ok, Info}} = net_kernel:node_info('{us}'), \
             {{address, {{net_address, _, _, P, F}}}} = lists:keyfind(address, 1, Info), \
             {{P, F}} \
          end)()."
    ))
}

/// Connecting to a TLS BEAM node whose server role has `server` options fails; our error.
fn connect_error(otp: &Otp, files: &TlsFiles, server: &str, ours: TlsConfig) -> String {
    let peer = tls_peer(otp, files, server, "[]");
    let node = tls_node(peer.cookie(), ours);
    match node.connect(peer.node()) {
        Ok(()) => panic!("{otp}: connected to {} over TLS ({server})", peer.node()),
        Err(err @ Error::Connection { .. }) => err.to_string(),
        Err(other) => panic!("{otp}: not a connection error ({server}): {other:?}"),
    }
}

/// Asserts that `text` mentions every one of `words`; `what` names the case.
fn assert_mentions(what: impl std::fmt::Display, text: &str, words: &[&str]) {
    for word in words {
        assert!(
            text.contains(word),
            "{what}: {text:?} does not mention {word:?}"
        );
    }
}

/// Rpc, messages both ways, a large message (fragmented by BEAM), then BEAM connecting to us
/// by name.
#[test]
fn both_directions_on_every_otp() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let mut peer = verifying_peer(&otp, &files);
        let node = tls_node(peer.cookie(), our_config(&files));
        let us = node.name();

        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(carried(&mut peer, &node), "{tls,inet}", "{otp}");
        let sum = node
            .rpc(
                peer.node(),
                "lists",
                "sum",
                vec!["[1,2,3]".parse().unwrap()],
                T,
            )
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(sum, Term::from(6), "{otp}");

        peer.eval_ok("erldp_test:echo_start(echo).");
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        let big = Term::binary(vec![7u8; 3 << 20]);
        inbox
            .send(
                &Dest::name("echo", peer.node()),
                Term::tuple(vec![inbox.pid().into(), big.clone()]),
            )
            .expect("send");
        let echoed = inbox.recv_timeout(T).expect("recv").expect("the echo");
        assert_eq!(
            echoed.term,
            Term::tuple(vec![Term::atom("echo"), big]),
            "{otp}"
        );
        // Far more than a fragment (64 KiB) and than a TLS record (16 KiB).
        peer.eval_ok(&format!(
            "{{inbox, '{us}'}} ! {{big, binary:copy(<<\"tls\">>, 1000000)}}."
        ));
        let message = inbox.recv_timeout(T).expect("recv").expect("the message");
        let bytes = message.term.as_tuple().expect("{big, Bin}")[1]
            .as_binary()
            .expect("a binary")
            .to_vec();
        assert!(
            bytes.len() == 3_000_000 && bytes.chunks(3).all(|c| c == b"tls"),
            "{otp}"
        );

        // BEAM connects to us: it finds us in EPMD and checks our certificate.
        peer.eval_ok(&format!("erlang:disconnect_node('{us}')."));
        let deadline = Instant::now() + T;
        while !node.nodes().is_empty() {
            assert!(Instant::now() < deadline, "{otp}: still connected");
            thread::sleep(Duration::from_millis(20));
        }
        assert!(peer.ping(us), "{otp}");
        assert_eq!(carried(&mut peer, &node), "{tls,inet}", "{otp}");
        peer.eval_ok(&format!("{{inbox, '{us}'}} ! {{hello, over, tls}}."));
        let message = inbox.recv_timeout(T).expect("recv").expect("the message");
        assert_eq!(message.term, "{hello, over, tls}".parse().unwrap(), "{otp}");
    }
}

/// A certfile that holds only our certificate, its intermediate CA in our cacertfile: we send
/// the chain up to the root, as BEAM does, and a BEAM node that trusts only the root accepts
/// it in both roles.
#[test]
fn our_chain_is_completed_from_cacertfile() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let mut peer = verifying_peer(&otp, &files);
        let ours = TlsConfig::new(
            files.path("chained_leaf.pem"),
            files.path("chained.key"),
            files.path("ca_chain.pem"),
        );
        let node = tls_node(peer.cookie(), ours);
        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: our client chain: {e}"));
        let us = node.name();
        peer.eval_ok(&format!("erlang:disconnect_node('{us}')."));
        eventually("the peer disconnected", || node.nodes().is_empty());
        assert!(peer.ping(us), "{otp}: our server chain");
    }
}

/// Ticks go through TLS like any frame: an idle connection outlives twice the tick time,
/// and a peer that stops answering is declared down.
#[test]
fn ticks_keep_an_idle_connection_and_find_a_frozen_peer() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let opts = files.verifying_opts("node");
        let mut peer = tls_peer_with(
            BeamPeer::builder().net_ticktime(2),
            &otp,
            &files,
            &opts,
            &opts,
        );
        let node = builder_for(&peer)
            .tls(our_config(&files))
            .net_ticktime(Duration::from_secs(2))
            .start()
            .expect("node");
        let inbox = node.mailbox(None).expect("mailbox");
        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        inbox.monitor_node(peer.node()).expect("monitor node");
        thread::sleep(Duration::from_secs(5));
        assert!(
            inbox.try_recv().expect("recv").is_none(),
            "{otp}: no node_down while idle"
        );
        assert!(node.ping(peer.node()), "{otp}");

        peer.pause();
        let message = inbox.recv_timeout(T).expect("recv");
        peer.resume();
        let message = message.unwrap_or_else(|| panic!("{otp}: no node_down for a frozen peer"));
        assert_eq!(message.kind, MessageKind::NodeDown, "{otp}");
        let reason = message.reason.map(|r| r.to_string()).unwrap_or_default();
        assert!(reason.contains("noconnection"), "{otp}: {reason}");
    }
}

#[test]
fn server_certificates_we_refuse_are_named() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let host = erldp::short_hostname();
        // OTP 25 accepts a certificate that names the host in its common name only (cn_only);
        // so do we not (OTP 26 and later do not either).
        let wrong_host = format!("not valid for host {host}");
        let refusals: [(&str, &[&str]); 5] = [
            (
                "wrong_host",
                &[&wrong_host, "wrong host name", "wrong.example"],
            ),
            ("expired", &["has expired", "valid until 2001-01-01"]),
            ("future", &["not valid yet", "valid from 2090-01-01"]),
            (
                "unknown_ca",
                &["not signed by a CA in our cacertfile", "unknown CA"],
            ),
            ("cn_only", &["not valid for host", "it names no host"]),
        ];
        for (certificate, mentions) in refusals {
            let err = connect_error(
                &otp,
                &files,
                &server_opts(certificate, ""),
                our_config(&files),
            );
            assert_mentions(format!("{otp}, {certificate}"), &err, mentions);
        }

        // verify_none takes any of them.
        let peer = tls_peer(&otp, &files, &server_opts("wrong_host", ""), "[]");
        let node = tls_node(peer.cookie(), our_config(&files).verify(Verify::None));
        assert!(node.ping(peer.node()), "{otp}: verify_none");

        // {server_name_indication, disable} skips the host name, as on BEAM, not the chain.
        let no_sni = TlsConfig::parse_optfile(&format!(
            "[{{client, [{{certfile, {cert:?}}}, {{keyfile, {key:?}}}, {{cacertfile, {ca:?}}}, \
                         {{verify, verify_peer}}, {{server_name_indication, disable}}]}}, \
              {{server, [{{certfile, {cert:?}}}, {{keyfile, {key:?}}}]}}].",
            cert = files.path("node.pem").display().to_string(),
            key = files.path("node.key").display().to_string(),
            ca = files.path("ca.pem").display().to_string(),
        ))
        .expect("option file");
        let peer = tls_peer(&otp, &files, &server_opts("wrong_host", ""), "[]");
        let node = tls_node(peer.cookie(), no_sni.clone());
        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: no SNI, another host: {e}"));
        let err = connect_error(&otp, &files, &server_opts("unknown_ca", ""), no_sni);
        assert_mentions(&otp, &err, &["unknown CA"]);
    }
}

/// A BEAM server that demands a client certificate (`fail_if_no_peer_cert`) refuses ours,
/// or our lack of one; the TLS alert it sends is named.
#[test]
fn client_certificates_beam_refuses_are_named() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let demanding = server_opts(
            "node",
            ", {verify, verify_peer}, {fail_if_no_peer_cert, true}",
        );
        let no_cert = TlsConfig::parse_optfile(&format!(
            "[{{client, [{{cacertfile, {:?}}}, {{verify, verify_peer}}]}}, \
              {{server, [{{certfile, {:?}}}, {{keyfile, {:?}}}]}}].",
            files.path("ca.pem").display().to_string(),
            files.path("node.pem").display().to_string(),
            files.path("node.key").display().to_string(),
        ))
        .expect("option file");
        let err = connect_error(&otp, &files, &demanding, no_cert);
        assert_mentions(
            &otp,
            &err,
            &["demands a client certificate", "we have none"],
        );

        let other_ca = our_config(&files)
            .client_cert(files.path("unknown_ca.pem"), files.path("unknown_ca.key"));
        let err = connect_error(&otp, &files, &demanding, other_ca);
        assert_mentions(
            &otp,
            &err,
            &["does not trust our certificate", "unknown_ca"],
        );

        let expired =
            our_config(&files).client_cert(files.path("expired.pem"), files.path("expired.key"));
        let err = connect_error(&otp, &files, &demanding, expired);
        assert_mentions(&otp, &err, &["refused our certificate as expired"]);

        let server_only = our_config(&files)
            .client_cert(files.path("server_only.pem"), files.path("server_only.key"));
        let err = connect_error(&otp, &files, &demanding, server_only);
        assert_mentions(&otp, &err, &["extendedKeyUsage", "(clientAuth)"]);
    }
}

/// The log records of the process, for the refusals of incoming connections.
fn log_records() -> &'static Mutex<Vec<String>> {
    static RECORDS: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let records: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&records);
        logging::init(LevelFilter::Warn);
        logging::set_sink(Some(Box::new(move |record| {
            if record.level <= Level::Warn {
                sink.lock().unwrap().push(record.message);
            }
        })));
        records
    })
}

/// `peer` connects to `node`, which refuses: `connect_node` says false, and the warning we log
/// about the incoming connection is returned.
fn refused_incoming(otp: &Otp, peer: &mut BeamPeer, node: &Node) -> String {
    log_records().lock().unwrap().clear();
    let us = node.name();
    assert_eq!(
        peer.eval_ok(&format!("net_kernel:connect_node('{us}').")),
        "false",
        "{otp}"
    );
    let deadline = Instant::now() + T;
    loop {
        if let Some(found) = log_records()
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.starts_with("incoming connection"))
        {
            return found.clone();
        }
        assert!(Instant::now() < deadline, "{otp}: nothing logged");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Each way we refuse a BEAM node that connects to us, and each way BEAM refuses us as a
/// server, as our log tells them; and a plain BEAM node connecting to a TLS node of ours, or a
/// TLS one to a plain node of ours.
#[test]
fn incoming_refusals_are_logged_with_their_cause() {
    log_records();
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let node = tls_node("cookie", our_config(&files));
        let verifying_client = r#"[{cacertfile, {file, "ca.pem"}}, {verify, verify_peer}]"#;
        let cases: [(String, &[&str]); 3] = [
            (
                verifying_client.to_string(),
                &["presented no certificate", "fail_if_no_peer_cert"],
            ),
            (
                server_opts("unknown_ca", ", {verify, verify_peer}"),
                &["client's certificate is not signed by a CA in our cacertfile"],
            ),
            (
                server_opts("expired", ", {verify, verify_peer}"),
                &["client's certificate has expired"],
            ),
        ];
        for (client, words) in cases {
            let mut peer = tls_peer_with(
                BeamPeer::builder().cookie("cookie"),
                &otp,
                &files,
                &server_opts("node", ""),
                &client,
            );
            let logged = refused_incoming(&otp, &mut peer, &node);
            assert_mentions(&otp, &logged, words);
        }

        // A verifying BEAM client refuses our certificate for another host.
        let wrong_host = tls_node(
            "cookie",
            TlsConfig::new(
                files.path("wrong_host.pem"),
                files.path("wrong_host.key"),
                files.path("ca.pem"),
            ),
        );
        let mut peer = tls_peer_with(
            BeamPeer::builder().cookie("cookie"),
            &otp,
            &files,
            &server_opts("node", ""),
            &server_opts("node", ", {verify, verify_peer}"),
        );
        let logged = refused_incoming(&otp, &mut peer, &wrong_host);
        assert_mentions(&otp, &logged, &["the peer refused", "our certificate"]);

        // A plain node is not let in, and is told nothing it could take for a handshake.
        let mut plain = BeamPeer::builder()
            .otp(otp.clone())
            .cookie("cookie")
            .start();
        let logged = refused_incoming(&otp, &mut plain, &node);
        assert_mentions(&otp, &logged, &["does not speak TLS"]);

        // And the mirror: a TLS BEAM node connecting to a plain node of ours.
        let mut tls = verifying_peer(&otp, &files);
        let plain_node = builder_for(&tls).start().expect("node");
        let logged = refused_incoming(&otp, &mut tls, &plain_node);
        assert_mentions(&otp, &logged, &["began a TLS handshake"]);
    }
}

/// A TLS node never falls back to plain TCP, and a plain node meeting a TLS node says so.
#[test]
fn plain_and_tls_nodes_tell_each_other_apart() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        // Our TLS node to a plain BEAM node: it reads our ClientHello as the length of a name
        // message and waits for the rest, until its handshake timer ends the connection.
        let plain = BeamPeer::builder()
            .otp(otp.clone())
            .arg("-kernel")
            .arg("net_setuptime")
            .arg("2")
            .start();
        let node = tls_node(plain.cookie(), our_config(&files));
        let err = node.connect(plain.node()).expect_err("TLS to a plain node");
        assert!(matches!(err, Error::Connection { .. }), "{otp}: {err:?}");
        assert_mentions(&otp, &err.to_string(), &["is it a TLS node"]);

        // Our plain node to a TLS BEAM node.
        let mut tls = verifying_peer(&otp, &files);
        let node = builder_for(&tls).start().expect("node");
        let err = node.connect(tls.node()).expect_err("plain to a TLS node");
        assert!(matches!(err, Error::Connection { .. }), "{otp}: {err:?}");
        assert_mentions(&otp, &err.to_string(), &["runs TLS distribution"]);

        // A TLS BEAM node to our plain node.
        let us = node.name();
        assert_eq!(
            tls.eval_ok(&format!("net_kernel:connect_node('{us}').")),
            "false",
            "{otp}"
        );
        assert!(node.nodes().is_empty(), "{otp}");
    }
}

/// versions, ciphers, depth, a separate client certificate, an encrypted key, an option file
/// read directly, and the server's verify_none and fail_if_no_peer_cert false, each against
/// BEAM given the same options.
#[test]
fn options_mean_what_ssl_makes_of_them() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let release: u32 = otp.release().parse().unwrap();

        // versions: OTP 25 and 27 offer TLS 1.2 only to dist peers, 29 also 1.3.
        let peer = tls_peer(&otp, &files, &server_opts("node", ""), "[]");
        let tls12 = tls_node(
            peer.cookie(),
            our_config(&files).versions(&[TlsVersion::Tls12]),
        );
        assert!(tls12.ping(peer.node()), "{otp}: TLS 1.2");
        let tls13 = tls_node(
            peer.cookie(),
            our_config(&files).versions(&[TlsVersion::Tls13]),
        );
        match tls13.connect(peer.node()) {
            Ok(()) => assert!(release >= 29, "{otp} offers TLS 1.3 to its dist peers"),
            Err(err) => {
                assert!(release < 29, "{otp}: {err}");
                assert_mentions(&otp, &err.to_string(), &["no TLS version in common"]);
            }
        }
        drop(peer);

        // ciphers: one suite on each side, the same or not.
        let peer = tls_peer(
            &otp,
            &files,
            &server_opts(
                "node",
                ", {versions, ['tlsv1.2']}, {ciphers, [\"ECDHE-ECDSA-AES128-GCM-SHA256\"]}",
            ),
            "[]",
        );
        let same = tls_node(
            peer.cookie(),
            our_config(&files).ciphers(&["ECDHE-ECDSA-AES128-GCM-SHA256"]),
        );
        assert!(same.ping(peer.node()), "{otp}: one suite in common");
        let other = tls_node(
            peer.cookie(),
            our_config(&files)
                .versions(&[TlsVersion::Tls12])
                .ciphers(&["ECDHE-ECDSA-AES256-GCM-SHA384"]),
        );
        let err = other.connect(peer.node()).expect_err("no suite in common");
        assert_mentions(&otp, &err.to_string(), &["cipher suite in common"]);
        drop(peer);

        // depth: a chain with one intermediate CA; depth 1 takes it, depth 0 does not.
        let peer = tls_peer(&otp, &files, &server_opts("chained", ""), "[]");
        let deep = tls_node(peer.cookie(), our_config(&files).depth(1));
        assert!(deep.ping(peer.node()), "{otp}: depth 1");
        let shallow = tls_node(peer.cookie(), our_config(&files).depth(0));
        let err = shallow.connect(peer.node()).expect_err("depth 0");
        assert_mentions(&otp, &err.to_string(), &["more than depth 0 allows"]);
        drop(peer);
        // The root BEAM sends after a certificate it signed itself (node.pem) is no
        // intermediate: depth 0 takes it, as BEAM does, in both roles.
        let mut peer = verifying_peer(&otp, &files);
        let shallow = tls_node(peer.cookie(), our_config(&files).depth(0));
        shallow
            .connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: depth 0, the server's root: {e}"));
        let us = shallow.name();
        peer.eval_ok(&format!("erlang:disconnect_node('{us}')."));
        eventually("the peer disconnected", || shallow.nodes().is_empty());
        assert!(peer.ping(us), "{otp}: depth 0, the client's root");
        drop(peer);

        // A client certificate of its own, to a BEAM server that demands one, and an
        // encrypted key read by both with the same password.
        let encrypted = |extra: &str| {
            format!(
                "[{{certfile, {{file, \"node.pem\"}}}}, \
                 {{keyfile, {{file, \"node_encrypted.key\"}}}}, {{password, \"{KEY_PASSWORD}\"}}, \
                 {{cacertfile, {{file, \"ca.pem\"}}}}, {{verify, verify_peer}}{extra}]"
            )
        };
        // fail_if_no_peer_cert is a server option: OTP 26 and later refuse it for clients.
        let server = encrypted(", {fail_if_no_peer_cert, true}");
        let peer = tls_peer(&otp, &files, &server, &encrypted(""));
        let separate =
            our_config(&files).client_cert(files.path("client.pem"), files.path("client.key"));
        let node = tls_node(peer.cookie(), separate);
        assert!(
            node.ping(peer.node()),
            "{otp}: a separate client certificate"
        );
        let ours = TlsConfig::new(
            files.path("node.pem"),
            files.path("node_encrypted.key"),
            files.path("ca.pem"),
        )
        .password(KEY_PASSWORD);
        let mut peer = peer;
        let node = tls_node(peer.cookie(), ours.clone());
        assert!(node.ping(peer.node()), "{otp}: an encrypted key");
        let node = tls_node(peer.cookie(), ours);
        let us = node.name();
        assert!(
            peer.ping(us),
            "{otp}: BEAM with its encrypted key to our server"
        );
        drop(peer);

        // The option file BEAM reads, read by us (the system OTP sees our paths).
        if otp == Otp::System {
            let opts = files.verifying_opts("node");
            let optfile = files.optfile("same.conf", &opts, &opts);
            let peer = tls_peer(&otp, &files, &opts, &opts);
            let node = tls_node(
                peer.cookie(),
                TlsConfig::from_optfile(&optfile).expect("the option file"),
            );
            assert!(node.ping(peer.node()), "{otp}: the same option file");
        }

        // Our server with verify_none, or verify_peer without fail_if_no_peer_cert, takes a
        // BEAM client that has no certificate (which checks ours).
        let anonymous = r#"[{cacertfile, {file, "ca.pem"}}, {verify, verify_peer}]"#;
        for ours in [
            our_config(&files).verify(Verify::None),
            our_config(&files).fail_if_no_peer_cert(false),
        ] {
            let mut peer = tls_peer(&otp, &files, &server_opts("node", ""), anonymous);
            let node = tls_node(peer.cookie(), ours);
            let us = node.name();
            assert!(peer.ping(us), "{otp}");
        }
    }
}

/// Files that cannot serve stop the node from starting, naming the file and the cause.
#[test]
fn unusable_files_stop_the_node_from_starting() {
    let files = TlsFiles::generate(&Otp::System);
    let start = |config: TlsConfig| {
        Node::builder(random_name("rs"))
            .cookie("cookie")
            .tls(config)
            .start()
            .expect_err("the node must not start")
    };
    let err = start(TlsConfig::new(
        files.path("node.pem"),
        files.path("client.key"),
        files.path("ca.pem"),
    ));
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("the key does not match the certificate"),
        "{err}"
    );
    let garbage = files.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    let err = start(TlsConfig::new(
        &garbage,
        files.path("node.key"),
        files.path("ca.pem"),
    ));
    assert!(
        err.to_string().contains("garbage.pem: unreadable PEM"),
        "{err}"
    );
    let err = start(TlsConfig::new(
        files.path("missing.pem"),
        files.path("node.key"),
        files.path("ca.pem"),
    ));
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    let err = start(
        TlsConfig::new(
            files.path("node.pem"),
            files.path("node_encrypted.key"),
            files.path("ca.pem"),
        )
        .password("guess"),
    );
    assert!(
        err.to_string()
            .contains("cannot decrypt the key with the password given"),
        "{err}"
    );
}

/// A TLS node with a setup timeout of 3 s and room for one handshake under way, and a BEAM
/// peer that can reach it: for the dribbling clients below.
fn dribble_target() -> (TlsFiles, BeamPeer, Node) {
    let files = TlsFiles::generate(&Otp::System);
    let peer = verifying_peer(&Otp::System, &files);
    let node = builder_for(&peer)
        .tls(our_config(&files))
        .setup_timeout(Duration::from_secs(3))
        .max_pending_handshakes(1)
        .start()
        .expect("a TLS node");
    (files, peer, node)
}

/// Writes `bytes` to `socket` one at a time, 200 ms apart (well within the setup timeout),
/// until the node closes the socket; whether it did.
fn dribble(socket: &mut std::net::TcpStream, bytes: impl IntoIterator<Item = u8>) -> bool {
    use std::io::Write;
    bytes.into_iter().any(|byte| {
        socket.write_all(&[byte]).is_err()
            || common::raw::closed_by_node(socket, Duration::from_millis(200))
    })
}

/// A client that sends its TLS hello a byte at a time, each well within the setup timeout,
/// is closed once the setup timeout has passed: the setup deadline covers the TLS handshake
/// as it covers the distribution handshake after it, or a peer could hold one of the
/// `max_pending_handshakes` for as long as it kept dribbling. The node accepts a real TLS
/// peer afterwards: once the handshake's slot is free again, which happens just after its
/// socket closed, so the peer may find it still taken at its first try.
#[test]
fn a_dribbled_tls_handshake_ends_at_the_setup_deadline() {
    use std::io::Write;
    use std::net::TcpStream;

    let (_files, mut peer, node) = dribble_target();
    let mut socket = TcpStream::connect(("127.0.0.1", node.port())).expect("connect");
    // The header of a 12 KiB handshake record, whose body never arrives whole: a minute of it.
    socket
        .write_all(&[0x16, 0x03, 0x01, 0x30, 0x00])
        .expect("record header");
    assert!(
        dribble(&mut socket, std::iter::repeat_n(0, 300)),
        "a dribbling TLS client kept its handshake open for a minute"
    );
    let us = node.name();
    eventually("the TLS peer to reach the node", || peer.ping(us));
}

/// A client that completes the TLS handshake and then sends its distribution name message a
/// byte at a time, each well within the setup timeout, is closed once the setup timeout has
/// passed: a record that takes many socket reads must still arrive within one read's time
/// (what is left of the setup deadline), or the dribbler would hold one of the
/// `max_pending_handshakes` for as long as it kept dribbling, before proving any cookie. The
/// node accepts a real TLS peer afterwards, as above.
#[test]
fn a_name_message_dribbled_over_tls_ends_at_the_setup_deadline() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::Write;
    use std::net::TcpStream;

    let (files, mut peer, node) = dribble_target();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(files.path("ca.pem")).expect("ca.pem") {
        roots.add(cert.expect("a CA certificate")).expect("a root");
    }
    let chain = CertificateDer::pem_file_iter(files.path("node.pem"))
        .expect("node.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("node certificates");
    let key = PrivateKeyDer::from_pem_file(files.path("node.key")).expect("node.key");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("a client config");
    let mut tls = rustls::ClientConnection::new(
        Arc::new(config),
        "localhost".try_into().expect("a server name"),
    )
    .expect("a client session");
    let mut socket = TcpStream::connect(("127.0.0.1", node.port())).expect("connect");
    while tls.is_handshaking() {
        tls.complete_io(&mut socket).expect("the TLS handshake");
    }
    while tls.wants_write() {
        tls.write_tls(&mut socket).expect("the last TLS records");
    }

    let name = format!("{}@{}", "d".repeat(200), node.host());
    tls.writer()
        .write_all(&common::raw::framed(&common::raw::name_message(
            erldp::flags::SUPPORTED,
            common::raw::CREATION,
            &name,
        )))
        .expect("the name message");
    let mut record = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut record)
            .expect("the encrypted name message");
    }
    // Nearly seven times the setup time, and the record is not whole yet.
    assert!(
        dribble(&mut socket, record.iter().copied().take(100)),
        "a name message dribbled over TLS for 20 s was still being read"
    );
    let us = node.name();
    eventually("the TLS peer to reach the node", || peer.ping(us));
}

/// The option BEAM's client needs to accept a server certificate that names its host through
/// a wildcard only.
const HTTPS_MATCH: &str = "{customize_hostname_check, \
     [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}";

/// A certificate that names the host through a wildcard only (`*.example.com` for
/// `a.example.com`, the SNI the client sets): `ssl`'s default host check matches names exactly
/// and refuses it, and matches wildcards with `HTTPS_MATCH`; so do we, from the same option file.
/// OTP 25's `inet_tls_dist` puts the node's host in its SNI whatever the file says, so that
/// BEAM clients are tried from OTP 26 on (OTP 25's `ssl` refuses and accepts the same).
#[test]
fn wildcard_names_match_only_where_the_option_file_asks_as_on_beam() {
    let sni = r#", {server_name_indication, "a.example.com"}"#;
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let release: u32 = otp.release().parse().unwrap();

        // BEAM as the client of our node presenting the wildcard certificate.
        let node = tls_node(
            "cookie",
            TlsConfig::new(
                files.path("wildcard.pem"),
                files.path("wildcard.key"),
                files.path("ca.pem"),
            ),
        );
        let us = node.name();
        let beam_clients = [("", "pang"), (&format!(", {HTTPS_MATCH}") as &str, "pong")];
        for (extra, answer) in beam_clients.into_iter().filter(|_| release >= 26) {
            let mut peer = tls_peer_with(
                BeamPeer::builder().cookie("cookie"),
                &otp,
                &files,
                &server_opts("node", ""),
                &server_opts("node", &format!(", {{verify, verify_peer}}{sni}{extra}")),
            );
            assert_eq!(
                peer.eval_ok(&format!("net_adm:ping('{us}').")),
                answer,
                "{otp}: BEAM client, {extra:?}"
            );
        }

        // Our node as the client of a BEAM node presenting it.
        let ours = |extra: &str| {
            TlsConfig::parse_optfile(&format!(
                "[{{client, [{{certfile, {cert:?}}}, {{keyfile, {key:?}}}, \
                             {{cacertfile, {ca:?}}}, {{verify, verify_peer}}{sni}{extra}]}}, \
                  {{server, [{{certfile, {cert:?}}}, {{keyfile, {key:?}}}]}}].",
                cert = files.path("node.pem").display().to_string(),
                key = files.path("node.key").display().to_string(),
                ca = files.path("ca.pem").display().to_string(),
            ))
            .expect("option file")
        };
        let err = connect_error(&otp, &files, &server_opts("wildcard", ""), ours(""));
        assert_mentions(
            &otp,
            &err,
            &[
                "a.example.com",
                "only through the wildcard *.example.com",
                "match_fun",
            ],
        );
        let peer = tls_peer(&otp, &files, &server_opts("wildcard", ""), "[]");
        let node = tls_node(peer.cookie(), ours(&format!(", {HTTPS_MATCH}")));
        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: the wildcard with match_fun: {e}"));
        let node = tls_node(peer.cookie(), ours("").match_wildcards(true));
        node.connect(peer.node())
            .unwrap_or_else(|e| panic!("{otp}: the wildcard with match_wildcards: {e}"));
    }
}
