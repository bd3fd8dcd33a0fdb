//! Long and short node names as BEAM has them (`net_kernel:create_name/3`,
//! `inet_tcp_dist:splitnode/3`): a node with short names connects only to short-named nodes, one
//! with long names only to long-named ones, and a long name needs a host with a domain.

use erldp::{ErrorKind, Node};
use erldp_testkit::{random_name, BeamPeer};

#[test]
fn short_and_long_named_nodes_refuse_each_other_as_beam_does() {
    let long_peer = BeamPeer::builder().long_names(true).start();
    let short_peer = BeamPeer::builder().cookie(long_peer.cookie()).start();

    let short = Node::builder(random_name("rs"))
        .cookie(long_peer.cookie())
        .start()
        .expect("node");
    let err = short
        .connect(long_peer.node())
        .expect_err("a long-named peer");
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("long name"), "{err}");
    assert!(!short.ping(long_peer.node()));
    short
        .connect(short_peer.node())
        .expect("a short-named peer");

    let long = Node::builder(format!("{}@127.0.0.1", random_name("rs")))
        .cookie(long_peer.cookie())
        .start()
        .expect("node");
    let err = long
        .connect(short_peer.node())
        .expect_err("a short-named peer");
    assert!(err.to_string().contains("short name"), "{err}");
    long.connect(long_peer.node()).expect("a long-named peer");
}

#[test]
fn a_long_name_needs_a_host_with_a_domain() {
    let err = Node::builder(format!("{}@host.example", random_name("rs")))
        .long_names(false)
        .start()
        .expect_err("a short name with dots");
    assert!(err.to_string().contains("short node name"), "{err}");
    match erldp::long_hostname() {
        host if host.contains('.') => {
            let node = Node::builder(random_name("rs"))
                .long_names(true)
                .start()
                .expect("node");
            assert_eq!(node.host(), host);
        }
        _ => {
            let err = Node::builder(random_name("rs"))
                .long_names(true)
                .start()
                .expect_err("no domain");
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            assert!(err.to_string().contains("long node name"), "{err}");
        }
    }
}
