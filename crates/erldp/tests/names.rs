//! Long and short node names as BEAM has them (`net_kernel:create_name/3`,
//! `inet_tcp_dist:splitnode/3`): a node with short names connects only to short-named nodes, one
//! with long names only to long-named ones, and a long name needs a host with a domain.

use erldp::{ErrorKind, Node};
use erldp_testkit::{random_name, BeamPeer};

#[test]
fn short_and_long_named_nodes_refuse_each_other_as_beam_does() {
    let long_peer = BeamPeer::builder().long_names(true).start();
    let short_peer = BeamPeer::builder().cookie(long_peer.cookie()).start();

    let cases = [
        (
            "short",
            random_name("rs"),
            &short_peer,
            &long_peer,
            "long name",
        ),
        (
            "long",
            format!("{}@127.0.0.1", random_name("rs")),
            &long_peer,
            &short_peer,
            "short name",
        ),
    ];
    for (kind, name, same, other, refusal) in cases {
        let node = Node::builder(name)
            .cookie(long_peer.cookie())
            .start()
            .expect("node");
        let err = node
            .connect(other.node())
            .expect_err("a peer with the other kind of name");
        assert_eq!(err.kind(), ErrorKind::Connection, "{kind}: {err}");
        assert!(err.to_string().contains(refusal), "{kind}: {err}");
        assert!(!node.ping(other.node()), "{kind}");
        node.connect(same.node())
            .unwrap_or_else(|err| panic!("{kind}: a peer with a {kind} name: {err}"));
    }
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
