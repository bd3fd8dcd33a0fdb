//! Clusters without EPMD, as BEAM runs them with `-erl_epmd_port Port -start_epmd false`:
//! every node listens on one port and reaches the others at that port of their host
//! (`NodeBuilder::dist_port`, `ClientBuilder::dist_port`). An ErlDP node on host 0 and a BEAM
//! node on host 1 of the test kit's `Network` (only nodes on different hosts can share a port),
//! with no EPMD on either host: both directions, and a `Client`, on every OTP available. Our
//! node runs with the default `epmd: auto`, which then (as BEAM does) registers only with an
//! EPMD that answers and starts none.
//!
//! Needs root, as `make test` runs: the hosts are network namespaces.

use std::net::TcpStream;
use std::time::Duration;

use erldp::{Client, EpmdMode, Error, Node, Term};
use erldp_testkit::{random_name, BeamPeer, Network, Otp};

const T: Duration = Duration::from_secs(20);
/// Any port: the hosts are the test's alone.
const PORT: u16 = 9100;

#[test]
fn nodes_without_epmd_reach_each_other_at_one_port() {
    let net = Network::new(2);
    let (ours, theirs) = (net.host(0), net.host(1));
    for otp in Otp::available() {
        let mut peer = BeamPeer::builder()
            .otp(otp.clone())
            .netns(theirs)
            .host(theirs.addr().to_string())
            .arg("-erl_epmd_port")
            .arg(PORT.to_string())
            .arg("-start_epmd")
            .arg("false")
            .start();
        let cookie = peer.cookie().to_string();
        let peer_node = peer.node().to_string();
        let name = format!("{}@{}", random_name("rs"), ours.addr());
        let node = {
            let (cookie, name) = (cookie.clone(), name.clone());
            ours.run(move || {
                Node::builder(name)
                    .cookie(cookie)
                    .epmd(EpmdMode::Auto)
                    .dist_port(PORT)
                    .start()
            })
        }
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(node.port(), PORT, "{otp}: we listen on the one port");
        let epmd_here = ours.run(|| TcpStream::connect(("127.0.0.1", 4369)).is_ok());
        assert!(!epmd_here, "{otp}: an EPMD was started on our host");

        // We connect, at the port on the peer's host.
        let called = {
            let (node, peer_node) = (node.clone(), peer_node.clone());
            ours.run(move || node.rpc(&peer_node, "erlang", "node", vec![], T))
        };
        assert_eq!(
            called.unwrap_or_else(|e| panic!("{otp}: {e}")),
            Term::atom(&peer_node),
            "{otp}"
        );
        node.disconnect(&peer_node);

        // BEAM connects, at the port on our host, and sends.
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        assert!(peer.ping(&name), "{otp}: BEAM reaches us");
        peer.eval_ok(&format!("{{inbox, '{name}'}} ! hello."));
        let message = inbox.recv_timeout(T).expect("recv").expect("the message");
        assert_eq!(message.term, Term::atom("hello"), "{otp}");
        node.close();

        // A client, and what it meets without the port: no EPMD to ask.
        let (client_cookie, client_peer) = (cookie.clone(), peer_node.clone());
        let called = ours.run(move || {
            Client::builder()
                .cookie(client_cookie)
                .dist_port(PORT)
                .connect(&client_peer)?
                .rpc("erlang", "node", vec![], T)
        });
        assert_eq!(
            called.unwrap_or_else(|e| panic!("{otp}: {e}")),
            Term::atom(&peer_node),
            "{otp}"
        );
        let client_peer = peer_node.clone();
        let without = ours.run(move || {
            Client::builder()
                .cookie(cookie)
                .timeout(Duration::from_secs(5))
                .connect(&client_peer)
                .map(drop)
        });
        assert!(
            matches!(without, Err(Error::NodeNotFound { .. })),
            "{otp}: {without:?}"
        );
    }
}

#[test]
fn a_listen_port_other_than_the_dist_port_is_refused() {
    let err = Node::builder(random_name("rs"))
        .cookie("unused")
        .epmd(EpmdMode::None)
        .dist_port(PORT)
        .listen_port(PORT + 1)
        .start()
        .expect_err("two ports");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("dist_port"), "{err}");
}
