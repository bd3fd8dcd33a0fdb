//! TLS against real BEAM nodes started with `-proto_dist inet_tls`, on every OTP available:
//! our TLS and our distribution handshake over it, in both directions, and each way a
//! certificate can be refused. These run below the node (the transport seam is not there
//! yet): a TCP socket, [`TlsStream`], and [`handshake`] with [`Framing::Tls`].

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use erldp_testkit::{random_name, short_hostname, BeamPeer, Otp, TlsFiles};

use super::{TlsConfig, TlsStream};
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
        let (_stream, theirs) = accepting
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(theirs.name.as_str(), peer.node(), "{otp}");
    }
}
