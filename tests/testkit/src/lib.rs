//! Real BEAM peers for ErlDP's tests.
//!
//! A [`BeamPeer`] is an Erlang node started by the test (random name and cookie, loopback, the
//! shared EPMD) and driven over its stdin/stdout by `tests/erlang/erldp_test.erl`, so it works
//! whatever state the distribution code under test is in. Peers run the system OTP (25 on
//! Debian 12) or a newer OTP from a chroot built by `make setup` ([`Otp::available`]).
//!
//! ```no_run
//! use erldp_testkit::BeamPeer;
//!
//! let mut peer = BeamPeer::start();
//! assert_eq!(peer.eval_ok("lists:sum([1, 2, 3])."), "6");
//! peer.eval_ok("erldp_test:collect(inbox).");
//! // ... send to {inbox, peer.node()} from the code under test, then:
//! assert_eq!(peer.eval_ok("erldp_test:collected(inbox, 1, 5000)."), "[hello]");
//! ```
//!
//! Fault tests put peers and ErlDP nodes on hosts of a virtual [`Network`] (network namespaces
//! on a bridge, links that go down and up); [`with_silent_name_server`] runs a test on such a
//! host whose DNS server takes queries and answers none.
//!
//! Variable bindings persist between [`BeamPeer::eval`] calls (`f().` / `f(X).` forget them),
//! but each command runs in a fresh process, so `self()` differs between commands; the helpers
//! in `erldp_test` (`echo_start/1`, `collect/1,2`, `collected/1,2,3`, `watch_nodes/1`,
//! `wait_for/2`) and the `erldp_test_server` gen_server hold state across commands.
//!
//! A [`BeamCluster`] is several peers with one cookie and `pg` running, meshed by global; the
//! checks on it (`global:sync()` with a deadline, names and group members on every node) are in
//! `tests/erlang/erldp_cluster.erl`, and `tests/erlang/erldp_pubsub.erl` reproduces
//! Phoenix.PubSub's default adapter on the wire.

mod cluster;
mod netns;
mod otp;
mod peer;
mod resolver;
mod tls;

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

pub use cluster::{erl_atom, pg_compatible, BeamCluster, BeamClusterBuilder};
pub use netns::{Host, Network};
pub use otp::{compile_helpers, Otp};
pub use peer::{BeamPeer, BeamPeerBuilder};
pub use resolver::{resolver_knows_this_host, unknown_host, with_silent_name_server};
pub use tls::{TlsFiles, KEY_PASSWORD, WILDCARD};

/// A random cookie of 20 upper-case letters.
pub fn random_cookie() -> String {
    random_chars(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
}

/// `prefix` followed by 10 random lower-case letters and digits: a valid, unique node name part.
pub fn random_name(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        random_chars(10, b"abcdefghijklmnopqrstuvwxyz0123456789")
    )
}

/// The host name up to its first dot, as `erl -sname` uses it.
pub fn short_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(
        rc,
        0,
        "gethostname failed: {}",
        std::io::Error::last_os_error()
    );
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]);
    name.split('.').next().unwrap_or_default().to_string()
}

/// The root of the ErlDP repository (where `tests/erlang` and `.otp/` live).
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// How long [`eventually`] polls: far more than anything that does happen takes on a loaded
/// machine, so that reaching it means it never would.
pub const EVENTUALLY: Duration = Duration::from_secs(60);

/// Polls `check` until it holds; fails naming `what` after [`EVENTUALLY`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    eventually_some(what, || check().then_some(()))
}

/// Polls `check` until it gives a value and returns it; fails naming `what` after
/// [`EVENTUALLY`].
pub fn eventually_some<V>(what: &str, mut check: impl FnMut() -> Option<V>) -> V {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "not within {EVENTUALLY:?}: {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn fill_random(bytes: &mut [u8]) {
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(bytes))
        .expect("reading /dev/urandom");
}

fn random_chars(n: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    bytes
        .iter()
        .map(|&b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}
