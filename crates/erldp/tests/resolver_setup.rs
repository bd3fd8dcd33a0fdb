//! A resolver that does not answer, for what a node's or client's setup asks it besides a
//! peer's EPMD host (`resolver.rs`): a host given with a port, resolved by the connect within
//! its setup time; and this host's fully qualified name, for a long name given without a host,
//! asked within the node's or client's setup time. On the test kit's silent name server
//! ([`with_silent_name_server`]); for the fully qualified name the test's thread gets a UTS
//! namespace of its own and a host name that no hosts file knows, so that the resolver asks
//! the name server for it. A process of its own, so that the look-ups it leaves waiting do not
//! meet `resolver.rs`'s bound.

use std::net::TcpListener;
use std::time::Duration;

use erldp::{Client, EpmdMode, ErrorKind, Node};
use erldp_testkit::{random_name, resolver_knows_this_host, unknown_host, with_silent_name_server};

/// Far below the resolver's own 10 s, so that a setup that waits for it shows.
const SETUP: Duration = Duration::from_millis(1500);

fn assert_timed_out(result: erldp::Result<impl std::fmt::Debug>, doing: &str) {
    let err = result.expect_err("the resolver never answers");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains(doing), "{err}");
}

#[test]
fn a_silent_name_server_holds_no_setup_past_its_deadline() {
    with_silent_name_server(|| {
        // A host given with a port: on the old code, std resolved a host name given to
        // `connect_to` in the caller's thread, for as long as glibc retries.
        let node = Node::builder(random_name("rs"))
            .cookie("unused")
            .epmd(EpmdMode::None)
            .setup_timeout(SETUP)
            .start()
            .expect("node");
        assert_timed_out(
            node.connect_to_host("peer@elsewhere", &unknown_host(), 9),
            "resolving",
        );
        let waiting = node
            .connect_to_host_start("other@elsewhere", &unknown_host(), 9)
            .expect("started, the host not yet resolved");
        assert_timed_out(waiting.wait(Duration::from_secs(60)), "resolving");
        assert_timed_out(
            Client::builder()
                .cookie("unused")
                .timeout(SETUP)
                .connect_to_host("peer@elsewhere", &unknown_host(), 9),
            "resolving",
        );
        node.close();

        // This host's fully qualified name: on the old code, asked for as long as glibc
        // retries, after which node start refused the name as one the resolver does not know.
        if resolver_knows_this_host() {
            eprintln!("fully qualified name not checked: nsswitch's myhostname answers for it");
            return;
        }
        // SAFETY: plain system calls; the namespace, and so the name, are this thread's alone.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWUTS), 0, "a UTS namespace");
            let name = random_name("nowhere");
            assert_eq!(libc::sethostname(name.as_ptr().cast(), name.len()), 0);
        }
        assert_timed_out(
            Node::builder(random_name("rs"))
                .cookie("unused")
                .long_names(true)
                .epmd(EpmdMode::None)
                .setup_timeout(SETUP)
                .start(),
            "fully qualified name",
        );
        // A client named without a host, to a long-named peer, within its connect's deadline.
        let listening = TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listening.local_addr().expect("address").port();
        assert_timed_out(
            Client::builder()
                .cookie("unused")
                .name("client")
                .timeout(SETUP)
                .connect_to("peer@elsewhere.example", ("127.0.0.1", port)),
            "fully qualified name",
        );
    });
}
