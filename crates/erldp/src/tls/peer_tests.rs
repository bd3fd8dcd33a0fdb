//! TLS against real BEAM nodes started with `-proto_dist inet_tls`, on every OTP available:
//! our TLS and our distribution handshake over it, in both directions, and each way a
//! certificate can be refused. These run below the node (the transport seam is not there
//! yet): a TCP socket, [`TlsStream`], and [`handshake`] with [`Framing::Tls`].

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use erldp_testkit::{random_name, short_hostname, BeamPeer, Otp, TlsFiles};

use super::stream::TlsStream;
use super::TlsConfig;
use crate::handshake::{self, flags, Admission, Framing, Local};
use crate::term::{Decoder, Term};
use crate::{epmd, Error};

const TIMEOUT: Duration = Duration::from_secs(30);

fn local_name() -> String {
    format!("{}@{}", random_name("erldp_tls_"), short_hostname())
}

/// A BEAM peer with `-proto_dist inet_tls` and an option file of `server`/`client` options.
fn tls_peer(otp: &Otp, files: &TlsFiles, server: &str, client: &str) -> BeamPeer {
    let optfile = files.optfile(&random_name("opt-"), server, client);
    BeamPeer::builder().otp(otp.clone()).tls(optfile).start()
}

/// Our TLS options with `node.pem` in both roles, from the host paths of `files`.
fn our_config(files: &TlsFiles) -> TlsConfig {
    TlsConfig::new(
        files.path("node.pem"),
        files.path("node.key"),
        files.path("ca.pem"),
    )
}

/// TCP to the peer's distribution port (from EPMD), then TLS as a client.
fn tls_connect(peer: &BeamPeer, config: &TlsConfig) -> crate::Result<TlsStream> {
    let (name, host) = peer.node().split_once('@').expect("name@host");
    let info = epmd::port_please(host, epmd::DEFAULT_PORT, name, TIMEOUT)?;
    let socket = TcpStream::connect(("127.0.0.1", info.port))?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.set_write_timeout(Some(TIMEOUT))?;
    TlsStream::connect(socket, &config.client()?, host, peer.node())
}

/// Reads one 4-byte framed distribution message (skipping ticks) and decodes its control
/// and message terms; we offer no atom cache, so BEAM sends them as pass-through (112).
fn read_message(stream: &TlsStream) -> (Term, Term) {
    let mut reader = stream;
    loop {
        let mut len = [0u8; 4];
        reader.read_exact(&mut len).expect("frame length");
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        reader.read_exact(&mut frame).expect("frame");
        if frame.is_empty() {
            continue;
        }
        assert_eq!(frame[0], 112, "pass-through frame: {frame:?}");
        let mut decoder = Decoder::new(&frame[1..]);
        let control = decoder.versioned_term().expect("control");
        let message = decoder.versioned_term().expect("message");
        return (control, message);
    }
}

#[test]
fn our_handshake_runs_over_tls_to_beam_nodes() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let opts = files.verifying_opts("node");
        let mut peer = tls_peer(&otp, &files, &opts, &opts);
        let stream =
            tls_connect(&peer, &our_config(&files)).unwrap_or_else(|e| panic!("{otp}: {e}"));
        // OTP 29's inet_tls_dist offers TLS 1.3 and 1.2, older ones 1.2 only.
        let expected = if otp.release().parse::<u32>().unwrap() >= 29 {
            rustls::ProtocolVersion::TLSv1_3
        } else {
            rustls::ProtocolVersion::TLSv1_2
        };
        assert_eq!(stream.protocol_version(), Some(expected), "{otp}");

        let name = local_name();
        let local = Local {
            name: &name,
            flags: flags::MANDATORY,
            creation: 7,
            cookie: peer.cookie(),
        };
        let outcome = handshake::initiate(&mut &stream, Framing::Tls, &local, peer.node(), || true)
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        let handshake::Outcome::Connected(theirs) = outcome else {
            panic!("{otp}: lost a simultaneous connect that did not happen");
        };
        assert_eq!(theirs.name.as_str(), peer.node());

        peer.eval_ok(&format!(
            "erldp_test:wait_for(fun() -> lists:member('{name}', nodes(hidden)) end, 10000)"
        ));
        peer.eval_ok(&format!("{{inbox, '{name}'}} ! {{hello, over, tls}}"));
        let (control, message) = read_message(&stream);
        assert_eq!(message, "{hello, over, tls}".parse().unwrap(), "{otp}");
        let control = control.as_tuple().expect("control tuple").to_vec();
        assert_eq!(
            control.last(),
            Some(&Term::atom("inbox")),
            "{otp}: {control:?}"
        );
        // Many TLS records, more than rustls buffers at once.
        peer.eval_ok(&format!(
            "{{inbox, '{name}'}} ! {{big, binary:copy(<<\"tls\">>, 1000000)}}"
        ));
        let (_, message) = read_message(&stream);
        let big = message.as_tuple().expect("{big, Bin}")[1]
            .as_binary()
            .expect("a binary")
            .to_vec();
        assert!(
            big.len() == 3_000_000 && big.chunks(3).all(|c| c == b"tls"),
            "{otp}"
        );
    }
}

#[test]
fn beam_nodes_handshake_over_tls_with_us() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let opts = files.verifying_opts("node");
        let mut peer = tls_peer(&otp, &files, &opts, &opts);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let name = local_name();
        let alive = name.split_once('@').unwrap().0.to_string();
        let _registration = epmd::register(
            epmd::DEFAULT_PORT,
            &alive,
            listener.local_addr().unwrap().port(),
            true,
            TIMEOUT,
        )
        .unwrap();
        let server = our_config(&files).server().unwrap();
        let cookie = peer.cookie().to_string();
        let ours = name.clone();
        let accepting = thread::spawn(move || {
            let (socket, addr) = listener.accept().unwrap();
            socket.set_read_timeout(Some(TIMEOUT)).unwrap();
            let stream = TlsStream::accept(socket, &server)?;
            let local = Local {
                name: &ours,
                flags: flags::MANDATORY,
                creation: 9,
                cookie: &cookie,
            };
            let theirs = handshake::accept(
                &mut &stream,
                Framing::Tls,
                &addr.to_string(),
                &local,
                |_| Admission::Ok,
            )?;
            Ok::<_, Error>((stream, theirs))
        });
        assert_eq!(
            peer.eval_ok(&format!("net_kernel:connect_node('{name}')")),
            "true",
            "{otp}"
        );
        let (stream, theirs) = accepting
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(theirs.name.as_str(), peer.node(), "{otp}");
        // BEAM sends the host part of our node name as SNI (and checks our certificate
        // against it: see client_certificates_we_refuse_are_named for the wrong host).
        assert_eq!(stream.sni(), Some(short_hostname()), "{otp}");
    }
}

/// The options of a BEAM server presenting `cert` (a TlsFiles name), plus `extra`.
fn server_opts(cert: &str, extra: &str) -> String {
    format!(
        "[{{certfile, {{file, \"{cert}.pem\"}}}}, {{keyfile, {{file, \"{cert}.key\"}}}}, \
         {{cacertfile, {{file, \"ca.pem\"}}}}{extra}]"
    )
}

/// Our TLS options from option-file text whose `@NAME` stand for host paths in `files`.
fn our_optfile(files: &TlsFiles, text: &str) -> TlsConfig {
    let mut expanded = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        expanded.push_str(&rest[..at]);
        let end = rest[at..].find('"').map_or(rest.len(), |e| at + e);
        expanded.push_str(&files.path(&rest[at + 1..end]).display().to_string());
        rest = &rest[end..];
    }
    expanded.push_str(rest);
    TlsConfig::parse_optfile(&expanded).unwrap_or_else(|e| panic!("{expanded}: {e}"))
}

/// Connects to a BEAM TLS node whose server role has `server` options and returns our error.
fn error_connecting(otp: &Otp, files: &TlsFiles, server: &str, ours: &TlsConfig) -> String {
    let peer = tls_peer(otp, files, server, "[]");
    match tls_connect(&peer, ours) {
        // In TLS 1.3 the server checks our certificate after we have finished: its verdict
        // is the first thing we read.
        Ok(stream) => match (&stream).read(&mut [0u8; 1]) {
            Ok(_) => panic!(
                "{otp}: TLS to {} succeeded, expected a failure",
                peer.node()
            ),
            Err(err) => {
                assert_eq!(
                    stream.protocol_version(),
                    Some(rustls::ProtocolVersion::TLSv1_3)
                );
                err.to_string()
            }
        },
        Err(err) => {
            assert!(matches!(err, Error::Connection { .. }), "{otp}: {err:?}");
            err.to_string()
        }
    }
}

/// A BEAM TLS node whose client role has `client` options connects to our TLS listener with
/// `ours`; returns our error and what `net_kernel:connect_node/1` said.
fn error_accepting(
    otp: &Otp,
    files: &TlsFiles,
    client: &str,
    ours: &TlsConfig,
) -> (String, String) {
    let (result, connected) = accept_from(otp, files, client, ours);
    let err = result.expect_err("the TLS handshake should fail");
    assert!(matches!(err, Error::Connection { .. }), "{otp}: {err:?}");
    (err.to_string(), connected)
}

/// A BEAM TLS node whose client role has `client` options connects to our TLS listener with
/// `ours`, which closes the connection once TLS is up (or failed); returns how our TLS
/// handshake ended and what `net_kernel:connect_node/1` said.
fn accept_from(
    otp: &Otp,
    files: &TlsFiles,
    client: &str,
    ours: &TlsConfig,
) -> (crate::Result<()>, String) {
    let mut peer = tls_peer(otp, files, &server_opts("node", ""), client);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let name = local_name();
    let alive = name.split_once('@').unwrap().0.to_string();
    let port = listener.local_addr().unwrap().port();
    let _registration = epmd::register(epmd::DEFAULT_PORT, &alive, port, true, TIMEOUT).unwrap();
    let server = ours.server().unwrap();
    let accepting = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        TlsStream::accept(socket, &server).map(drop)
    });
    let connected = peer.eval_ok(&format!("net_kernel:connect_node('{name}')"));
    (accepting.join().unwrap(), connected)
}

fn assert_mentions(otp: &Otp, err: &str, words: &[&str]) {
    for word in words {
        assert!(
            err.contains(word),
            "{otp}: {err:?} does not mention {word:?}"
        );
    }
}

#[test]
fn server_certificates_we_refuse_are_named() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let ours = our_config(&files);
        let host = short_hostname();
        let err = error_connecting(&otp, &files, &server_opts("wrong_host", ""), &ours);
        assert_mentions(
            &otp,
            &err,
            &[
                &format!("not valid for host {host}"),
                "wrong host name",
                "wrong.example",
            ],
        );
        let err = error_connecting(&otp, &files, &server_opts("expired", ""), &ours);
        assert_mentions(&otp, &err, &["has expired", "valid until 2001-01-01"]);
        let err = error_connecting(&otp, &files, &server_opts("future", ""), &ours);
        assert_mentions(&otp, &err, &["not valid yet", "valid from 2090-01-01"]);
        let err = error_connecting(&otp, &files, &server_opts("unknown_ca", ""), &ours);
        assert_mentions(
            &otp,
            &err,
            &["not signed by a CA in our cacertfile", "unknown CA"],
        );
        // verify_none takes any of them.
        let peer = tls_peer(&otp, &files, &server_opts("wrong_host", ""), "[]");
        tls_connect(&peer, &our_config(&files).verify(super::Verify::None))
            .unwrap_or_else(|e| panic!("{otp}: verify_none: {e}"));
    }
}

#[test]
fn client_certificates_beam_refuses_are_named() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let demanding = server_opts(
            "node",
            ", {verify, verify_peer}, {fail_if_no_peer_cert, true}",
        );
        let no_cert = our_optfile(
            &files,
            r#"[{client, [{cacertfile, "@ca.pem"}, {verify, verify_peer}]}]"#,
        );
        let err = error_connecting(&otp, &files, &demanding, &no_cert);
        assert_mentions(
            &otp,
            &err,
            &["demands a client certificate", "we have none"],
        );

        let other_ca = our_config(&files)
            .client_cert(files.path("unknown_ca.pem"), files.path("unknown_ca.key"));
        let err = error_connecting(&otp, &files, &demanding, &other_ca);
        assert_mentions(
            &otp,
            &err,
            &["does not trust our certificate", "unknown_ca"],
        );

        let expired =
            our_config(&files).client_cert(files.path("expired.pem"), files.path("expired.key"));
        let err = error_connecting(&otp, &files, &demanding, &expired);
        assert_mentions(&otp, &err, &["refused our certificate as expired"]);
    }
}

#[test]
fn client_certificates_we_refuse_are_named() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let ours = our_config(&files);
        let (err, connected) = error_accepting(
            &otp,
            &files,
            r#"[{cacertfile, {file, "ca.pem"}}, {verify, verify_peer}]"#,
            &ours,
        );
        assert_mentions(
            &otp,
            &err,
            &["presented no certificate", "fail_if_no_peer_cert"],
        );
        assert_eq!(connected, "false");
        let (err, _) = error_accepting(
            &otp,
            &files,
            &server_opts("unknown_ca", ", {verify, verify_peer}"),
            &ours,
        );
        assert_mentions(
            &otp,
            &err,
            &["client's certificate is not signed by a CA in our cacertfile"],
        );
        let (err, _) = error_accepting(
            &otp,
            &files,
            &server_opts("expired", ", {verify, verify_peer}"),
            &ours,
        );
        assert_mentions(&otp, &err, &["client's certificate has expired"]);

        // A verifying BEAM client refuses our certificate for another host.
        let wrong_host = TlsConfig::new(
            files.path("wrong_host.pem"),
            files.path("wrong_host.key"),
            files.path("ca.pem"),
        );
        let (err, connected) = error_accepting(
            &otp,
            &files,
            &server_opts("node", ", {verify, verify_peer}"),
            &wrong_host,
        );
        assert_mentions(&otp, &err, &["the peer refused", "our certificate"]);
        assert_eq!(connected, "false");
    }
}

#[test]
fn plain_and_tls_nodes_tell_each_other_apart() {
    let files = TlsFiles::generate(&Otp::System);
    // TLS to a plain node: it reads our ClientHello as the length of a name message and waits
    // for the rest until its handshake timer ends the connection.
    let plain = BeamPeer::builder()
        .arg("-kernel")
        .arg("net_setuptime")
        .arg("2")
        .start();
    let err = tls_connect(&plain, &our_config(&files)).expect_err("TLS to a plain node");
    assert!(err.to_string().contains("is it a TLS node"), "{err}");

    // A plain node connecting to our TLS listener.
    let mut plain = BeamPeer::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let name = local_name();
    let port = listener.local_addr().unwrap().port();
    let _registration = epmd::register(
        epmd::DEFAULT_PORT,
        name.split_once('@').unwrap().0,
        port,
        true,
        TIMEOUT,
    )
    .unwrap();
    let server = our_config(&files).server().unwrap();
    let accepting = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        TlsStream::accept(socket, &server).map(|_| ())
    });
    assert_eq!(
        plain.eval_ok(&format!("net_kernel:connect_node('{name}')")),
        "false"
    );
    let err = accepting
        .join()
        .unwrap()
        .expect_err("a plain handshake is not TLS");
    assert!(err.to_string().contains("does not speak TLS"), "{err}");

    // A TLS node connecting to our plain handshake.
    let opts = files.verifying_opts("node");
    let mut tls = tls_peer(&Otp::System, &files, &opts, &opts);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let name = local_name();
    let port = listener.local_addr().unwrap().port();
    let _registration = epmd::register(
        epmd::DEFAULT_PORT,
        name.split_once('@').unwrap().0,
        port,
        true,
        TIMEOUT,
    )
    .unwrap();
    let cookie = tls.cookie().to_string();
    let ours = name.clone();
    let accepting = thread::spawn(move || {
        let (socket, addr) = listener.accept().unwrap();
        let local = Local {
            name: &ours,
            flags: flags::MANDATORY,
            creation: 3,
            cookie: &cookie,
        };
        handshake::accept(
            &mut &socket,
            Framing::Tcp,
            &addr.to_string(),
            &local,
            |_| Admission::Ok,
        )
        .map(|_| ())
    });
    assert_eq!(
        tls.eval_ok(&format!("net_kernel:connect_node('{name}')")),
        "false"
    );
    let err = accepting
        .join()
        .unwrap()
        .expect_err("a TLS ClientHello is not a name message");
    assert!(err.to_string().contains("runs TLS distribution"), "{err}");
}

/// BEAM and we read the same encrypted key with its password (`{password, "..."}`).
#[test]
fn encrypted_keys_work_on_both_sides() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let password = erldp_testkit::KEY_PASSWORD;
        let server = format!(
            "[{{certfile, {{file, \"node.pem\"}}}}, {{keyfile, {{file, \"node_encrypted.key\"}}}}, \
             {{password, \"{password}\"}}, {{cacertfile, {{file, \"ca.pem\"}}}}]"
        );
        let peer = tls_peer(&otp, &files, &server, "[]");
        let ours = TlsConfig::new(
            files.path("node.pem"),
            files.path("node_encrypted.key"),
            files.path("ca.pem"),
        )
        .password(password);
        tls_connect(&peer, &ours).unwrap_or_else(|e| panic!("{otp}: {e}"));
        drop(peer);

        let mut peer = tls_peer(&otp, &files, &server, &server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let name = local_name();
        let port = listener.local_addr().unwrap().port();
        let _registration = epmd::register(
            epmd::DEFAULT_PORT,
            name.split_once('@').unwrap().0,
            port,
            true,
            TIMEOUT,
        )
        .unwrap();
        let server = ours.server().unwrap();
        let accepting = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            socket.set_read_timeout(Some(TIMEOUT)).unwrap();
            // Closed at once: BEAM's connect_node then fails without waiting for its timer.
            TlsStream::accept(socket, &server).map(drop)
        });
        // We verified BEAM's client certificate, signed with the key it decrypted; the
        // distribution handshake is not run here, so connect_node itself fails.
        peer.eval_ok(&format!("net_kernel:connect_node('{name}')"));
        accepting.join().unwrap().unwrap_or_else(|e| {
            panic!("{otp}: BEAM's client certificate with its encrypted key: {e}")
        });
    }
}

/// versions, ciphers, depth, a separate client certificate, an option file read directly, and
/// the server's verify_none and fail_if_no_peer_cert false, each against BEAM.
#[test]
fn options_mean_what_ssl_makes_of_them() {
    use rustls::{CipherSuite, ProtocolVersion};

    use super::TlsVersion;

    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let release: u32 = otp.release().parse().unwrap();
        let peer = tls_peer(&otp, &files, &server_opts("node", ""), "[]");
        let tls12 = tls_connect(&peer, &our_config(&files).versions(&[TlsVersion::Tls12])).unwrap();
        assert_eq!(
            tls12.protocol_version(),
            Some(ProtocolVersion::TLSv1_2),
            "{otp}"
        );
        match tls_connect(&peer, &our_config(&files).versions(&[TlsVersion::Tls13])) {
            Ok(tls13) => {
                assert!(release >= 29, "{otp} offers TLS 1.3 to its dist peers");
                assert_eq!(tls13.protocol_version(), Some(ProtocolVersion::TLSv1_3));
            }
            Err(err) => {
                assert!(release < 29, "{otp}: {err}");
                assert_mentions(&otp, &err.to_string(), &["no TLS version in common"]);
            }
        }
        let one_suite = our_config(&files)
            .versions(&[TlsVersion::Tls12])
            .ciphers(&["ECDHE-ECDSA-AES128-GCM-SHA256"]);
        let stream = tls_connect(&peer, &one_suite).unwrap();
        assert_eq!(
            stream.cipher_suite(),
            Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            "{otp}"
        );
        drop(peer);

        // A chain with one intermediate CA: depth 1 takes it, depth 0 does not.
        let peer = tls_peer(&otp, &files, &server_opts("chained", ""), "[]");
        tls_connect(&peer, &our_config(&files).depth(1)).unwrap_or_else(|e| panic!("{otp}: {e}"));
        let err = tls_connect(&peer, &our_config(&files).depth(0)).expect_err("depth 0");
        assert_mentions(&otp, &err.to_string(), &["more than depth 0 allows"]);
        drop(peer);

        // A client certificate of its own, to a BEAM server that demands one.
        let demanding = server_opts(
            "node",
            ", {verify, verify_peer}, {fail_if_no_peer_cert, true}",
        );
        let peer = tls_peer(&otp, &files, &demanding, "[]");
        let separate =
            our_config(&files).client_cert(files.path("client.pem"), files.path("client.key"));
        let stream = tls_connect(&peer, &separate).unwrap_or_else(|e| panic!("{otp}: {e}"));
        if stream.protocol_version() == Some(ProtocolVersion::TLSv1_3) {
            // The server's verdict on our certificate comes after our handshake; BEAM then
            // waits for our name message, so a read would block: the write of one is the check.
            handshake_name(&stream);
        }
        drop(peer);

        // The option file BEAM reads, read by us (the system OTP sees our paths).
        if otp == Otp::System {
            let opts = files.verifying_opts("node");
            let optfile = files.optfile("same.conf", &opts, &opts);
            let peer = tls_peer(&otp, &files, &opts, &opts);
            let ours = TlsConfig::from_optfile(&optfile).unwrap();
            tls_connect(&peer, &ours).unwrap_or_else(|e| panic!("{otp}: {e}"));
        }

        // Our server with verify_none, or verify_peer without fail_if_no_peer_cert, takes a
        // BEAM client that has no certificate (and checks ours).
        let anonymous = r#"[{cacertfile, {file, "ca.pem"}}, {verify, verify_peer}]"#;
        let (result, _) = accept_from(
            &otp,
            &files,
            anonymous,
            &our_config(&files).verify(super::Verify::None),
        );
        result.unwrap_or_else(|e| panic!("{otp}: verify_none: {e}"));
        let (result, _) = accept_from(
            &otp,
            &files,
            anonymous,
            &our_config(&files).fail_if_no_peer_cert(false),
        );
        result.unwrap_or_else(|e| panic!("{otp}: fail_if_no_peer_cert false: {e}"));
    }
}

/// Runs our handshake until the peer's challenge arrives, which it sends only after accepting
/// our certificate. We expect another node name than the peer's, so the handshake stops there
/// with an error that is not about certificates.
fn handshake_name(stream: &TlsStream) {
    let name = local_name();
    let local = Local {
        name: &name,
        flags: flags::MANDATORY,
        creation: 1,
        cookie: "cookie",
    };
    let Err(err) = handshake::initiate(&mut &*stream, Framing::Tls, &local, "peer@host", || true)
    else {
        panic!("the handshake succeeded with a wrong cookie");
    };
    assert!(err.to_string().contains("not peer@host"), "{err}");
}
