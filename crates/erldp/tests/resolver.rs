//! A resolver that does not answer: connects end by their deadline, and the look-ups left
//! waiting on it are bounded (and a client that cannot ask for this host's name while they
//! are names itself by its address).
//!
//! The system resolver (`getaddrinfo`) takes no timeout; a DNS server that does not answer
//! holds it for its own retries. The test runs with the test kit's silent name server
//! ([`with_silent_name_server`]). One test: the look-ups it leaves waiting count against the
//! process's bound until the resolver gives up (the other waits on the resolver are in
//! `resolver_setup.rs`, a process of their own).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use erldp::limits::MAX_HOST_LOOKUPS;
use erldp::{epmd, Client, ErrorKind};
use erldp_testkit::{unknown_host, with_silent_name_server};

/// Far below the resolver's own 10 s, so that a connect that waits for it shows.
const SETUP: Duration = Duration::from_millis(1500);

fn connect(host: &str) -> erldp::Result<Client> {
    Client::builder()
        .cookie("unused")
        .timeout(SETUP)
        .connect(&format!("peer@{host}"))
}

/// The name in the handshake's first message (`send_name`, `N`: flags, creation, name length,
/// name), or `None` when the connection ends before one comes.
fn sent_name(socket: &mut TcpStream) -> Option<String> {
    let mut length = [0u8; 2];
    socket.read_exact(&mut length).ok()?;
    let mut message = vec![0u8; u16::from_be_bytes(length).into()];
    socket.read_exact(&mut message).ok()?;
    let name = message.strip_prefix(b"N")?.get(14..)?;
    String::from_utf8(name.to_vec()).ok()
}

#[test]
fn a_silent_name_server_holds_no_connect_past_its_deadline_and_few_threads() {
    with_silent_name_server(|| {
        let err = connect(&unknown_host()).expect_err("no address");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.to_string().contains("resolving"), "{err}");
        let err = epmd::port_please(&unknown_host(), 4369, "peer", SETUP).expect_err("no EPMD");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

        // Two look-ups wait on the resolver still; these fill the bound.
        let waiting: Vec<_> = (0..MAX_HOST_LOOKUPS)
            .map(|_| thread::spawn(|| connect(&unknown_host())))
            .collect();
        let kinds: Vec<ErrorKind> = waiting
            .into_iter()
            .map(|connect| {
                connect
                    .join()
                    .expect("joined")
                    .expect_err("no address")
                    .kind()
            })
            .collect();
        // Those started once two were waiting were refused, the others timed out.
        assert!(kinds.contains(&ErrorKind::Timeout), "{kinds:?}");
        assert!(kinds.contains(&ErrorKind::NodeNotFound), "{kinds:?}");
        let err = connect(&unknown_host()).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::NodeNotFound, "{err}");
        assert!(
            err.to_string()
                .contains("look-ups wait for the resolver already"),
            "{err}"
        );
        // A client named without a host, to a long-named peer, names itself by the address it
        // reaches the peer from when this host's fully qualified name cannot be asked now.
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("address").port();
        let introduced = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("the client connects");
            // The socket stays open, unanswered, until the test has the client's error.
            (sent_name(&mut socket), socket)
        });
        let err = Client::builder()
            .cookie("unused")
            .name("client")
            .timeout(SETUP)
            .connect_to("peer@elsewhere.example", ("127.0.0.1", port))
            .expect_err("nobody answers the handshake");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        // Should the client not have connected, this one ends the accept (with no name).
        drop(TcpStream::connect(("127.0.0.1", port)));
        let (name, _socket) = introduced.join().expect("joined");
        assert_eq!(name.as_deref(), Some("client@127.0.0.1"));
        // Addresses need no look-up, and are reached as ever: no EPMD listens on this host
        // (a node's EPMD registration asks 127.0.0.1 so).
        let err = connect("127.0.0.1").expect_err("no EPMD");
        assert_ne!(err.kind(), ErrorKind::Timeout, "{err}");
        for epmd_host in ["127.0.0.1", "[::1]"] {
            let err = epmd::port_please(epmd_host, 4369, "peer", SETUP).expect_err("no EPMD");
            assert!(err.to_string().contains("no EPMD answers"), "{err}");
        }
    });
}
