//! Who we are on the wire: node names, the cookie, and the pids and
//! references a node of ours makes.
//!
//! Node names are `alive@host` ([Distribution
//! Protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html));
//! pids and references carry the node name and its creation, as
//! `NEW_PID_EXT` and `NEWER_REFERENCE_EXT`
//! ([External Term Format](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#newer_reference_ext))
//! write them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::term::{Atom, Pid, Ref};
use crate::{cookie, host, random, resolve, Error, Result};

/// The pid a node's own sends, rpcs and calls come from.
pub(crate) const SYSTEM_ID: u32 = 1;
/// The pid of the group leader of the processes our rpcs spawn.
pub(crate) const GROUP_LEADER_ID: u32 = 2;

/// Whether `name` has the `alive@host` form with non-empty parts and fits
/// in an atom. A host has no white space or control characters: names reach
/// logs and error messages, where a peer must not be able to write lines of
/// its own before it has proved the cookie.
pub(crate) fn valid_node_name(name: &str) -> bool {
    match name.split_once('@') {
        Some((alive, host)) => {
            !alive.is_empty()
                && !host.is_empty()
                && alive
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                && !host
                    .chars()
                    .any(|c| c == '@' || c.is_control() || c.is_whitespace())
                && Atom::fits(name)
        }
        None => false,
    }
}

/// `name` as a node name, or why it is not one.
pub(crate) fn node_atom(name: &str) -> Result<Atom> {
    if valid_node_name(name) {
        Ok(Atom::new(name))
    } else {
        Err(Error::invalid(format!(
            "{name:?} is not a node name (name@host, 255 characters at most)"
        )))
    }
}

/// `name` with its host, as `net_kernel` makes a node's name
/// (`create_hostpart/2`): a host given with the name is kept, but a short
/// name's host may have no dot; without a host, a short name gets this host's
/// short name and a long one its fully qualified name, which must then be
/// known (BEAM: "Can't set long node name!") by `deadline`.
pub(crate) fn full_name(name: &str, long: bool, deadline: Instant) -> Result<String> {
    match name.split_once('@') {
        Some((_, host)) if !long && host.contains('.') => Err(Error::invalid(format!(
            "{name:?} cannot be a short node name: its host has dots (use long names, \
             as BEAM refuses -sname with a fully qualified host)"
        ))),
        Some(_) => Ok(name.to_string()),
        None if long => match resolve::fully_qualified_hostname(deadline) {
            Ok(Some(host)) => Ok(format!("{name}@{host}")),
            Ok(None) => Err(Error::invalid(format!(
                "cannot give {name:?} a long node name: this host's name has no domain and \
                 the resolver knows no fully qualified one (BEAM: \"Can't set long node \
                 name!\"); give the host with the name (name@host.domain or name@address) \
                 or use short names"
            ))),
            Err(err) => Err(unknown_fully_qualified_hostname(name, &err)),
        },
        None => Ok(format!("{name}@{}", host::short_hostname())),
    }
}

/// The error for a name that needs this host's fully qualified name when the resolver did
/// not give it: a timeout when it did not answer in time.
pub(crate) fn unknown_fully_qualified_hostname(name: &str, err: &std::io::Error) -> Error {
    let what = format!(
        "finding this host's fully qualified name for {name:?} (give the name with its host, \
         name@host.domain or name@address)"
    );
    match err.kind() {
        std::io::ErrorKind::TimedOut => Error::timeout(what),
        _ => Error::io(what, err),
    }
}

/// Whether a node name is long, as `inet_tcp_dist` tells them apart: its
/// host has a dot, or is an address (an IPv6 one may have none).
pub(crate) fn is_long_name(node: &str) -> bool {
    let host = node.split_once('@').map_or(node, |(_, host)| host);
    host.contains('.') || host.parse::<std::net::IpAddr>().is_ok()
}

/// Refuses to connect to `peer` when its name is not of our kind, as BEAM's
/// `inet_tcp_dist:splitnode/3` does: a node with short names talks only to
/// short-named nodes, one with long names only to long-named ones.
pub(crate) fn check_peer_name(long: bool, peer: &str) -> Result<()> {
    match (long, is_long_name(peer)) {
        (true, false) => Err(Error::connection(
            peer,
            "it has a short name and this node uses long names: nodes connect only to nodes \
             of their own kind (BEAM: \"System running to use fully qualified hostnames\")",
        )),
        (false, true) => Err(Error::connection(
            peer,
            "it has a long name and this node uses short names: nodes connect only to nodes \
             of their own kind (BEAM: \"System NOT running to use fully qualified hostnames\")",
        )),
        _ => Ok(()),
    }
}

/// The cookie to use: the one given, else `~/.erlang.cookie` (created like
/// `erl` does when missing).
pub(crate) fn cookie(given: Option<&str>) -> Result<String> {
    match given {
        Some("") => Err(Error::invalid("the cookie is empty")),
        Some(cookie) => Ok(cookie.to_string()),
        None => cookie::default_cookie(),
    }
}

/// The name and creation of a node of ours, and the references it makes.
pub(crate) struct Identity {
    name: Atom,
    creation: u32,
    next_ref: AtomicU64,
    /// Random bits in every reference, so that those of two incarnations
    /// with the same creation still differ.
    ref_salt: u32,
}

impl Identity {
    pub(crate) fn new(name: Atom, creation: u32) -> Identity {
        Identity {
            name,
            creation,
            next_ref: AtomicU64::new(1),
            ref_salt: random::u32(),
        }
    }

    /// The full node name, `name@host`.
    pub(crate) fn name(&self) -> Atom {
        self.name
    }

    /// The full node name as text.
    pub(crate) fn name_str(&self) -> &str {
        self.name.as_str()
    }

    /// The incarnation in our pids and references.
    pub(crate) fn creation(&self) -> u32 {
        self.creation
    }

    /// Our pid with this number.
    pub(crate) fn pid(&self, id: u32) -> Pid {
        Pid {
            node: self.name,
            id,
            serial: 0,
            creation: self.creation,
        }
    }

    /// Whether `pid` is one of ours (of this incarnation).
    pub(crate) fn owns(&self, pid: Pid) -> bool {
        pid.node == self.name && pid.creation == self.creation
    }

    /// A new reference, different from every other this node makes.
    pub(crate) fn make_ref(&self) -> Ref {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        Ref::new(
            self.name,
            self.creation,
            &[
                (n & 0x3_FFFF) as u32,
                (n >> 18) as u32,
                self.ref_salt ^ (n >> 50) as u32,
            ],
        )
        .expect("three words")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::MAX_ATOM_CHARS;

    #[test]
    fn node_names() {
        assert!(valid_node_name("a@b"));
        assert!(valid_node_name("ruby_1@host.example.com"));
        assert!(!valid_node_name("ab"));
        assert!(!valid_node_name("@b"));
        assert!(!valid_node_name("a@"));
        assert!(!valid_node_name("a@b@c"));
        assert!(valid_node_name("prøve@host"));
        assert!(valid_node_name("a@[::1]"));
        assert!(!valid_node_name("a@host\nforged log line"));
        assert!(!valid_node_name("a@host\u{1b}[31m"));
        assert!(!valid_node_name("a@ho st"));
        let longest = format!("a@{}", "ü".repeat(MAX_ATOM_CHARS - 2));
        assert!(valid_node_name(&longest));
        assert!(!valid_node_name(&format!("{longest}x")));
        assert!(!valid_node_name("a.b@host"));
        assert!(node_atom("a b@c").is_err());
    }

    #[test]
    fn long_and_short_names_follow_net_kernel() {
        let soon = crate::deadline::after(crate::deadline::DEFAULT_SETUP);
        assert_eq!(full_name("x@y", true, soon).expect("long"), "x@y");
        assert_eq!(full_name("x@y.z", true, soon).expect("long"), "x@y.z");
        assert_eq!(full_name("x@y", false, soon).expect("short"), "x@y");
        assert!(full_name("x@y.z", false, soon).is_err());
        assert!(full_name("x@127.0.0.1", false, soon).is_err());
        let short = full_name("x", false, soon).expect("short");
        assert!(!short.contains('.'), "{short}");
        match (
            full_name("x", true, soon),
            resolve::fully_qualified_hostname(soon).expect("answered"),
        ) {
            (Ok(long), Some(host)) => assert_eq!(long, format!("x@{host}")),
            (Err(err), None) => assert!(err.to_string().contains("long node name"), "{err}"),
            (got, fqdn) => panic!("{got:?} with a fully qualified host name {fqdn:?}"),
        }
    }

    #[test]
    fn nodes_connect_only_to_nodes_of_their_kind() {
        assert!(is_long_name("a@host.example.com"));
        assert!(is_long_name("a@127.0.0.1"));
        assert!(is_long_name("a@::1"));
        assert!(!is_long_name("a@host"));
        assert!(check_peer_name(true, "a@b.c").is_ok());
        assert!(check_peer_name(false, "a@b").is_ok());
        let err = check_peer_name(false, "a@b.c").expect_err("long peer");
        assert!(err.to_string().contains("long name"), "{err}");
        let err = check_peer_name(true, "a@b").expect_err("short peer");
        assert!(err.to_string().contains("short name"), "{err}");
    }

    #[test]
    fn references_differ() {
        let identity = Identity::new(Atom::new("a@b"), 3);
        let (first, second) = (identity.make_ref(), identity.make_ref());
        assert_ne!(first, second);
        assert_eq!((first.node, first.creation), (Atom::new("a@b"), 3));
        assert!(identity.owns(identity.pid(SYSTEM_ID)));
    }

    #[test]
    fn an_empty_cookie_is_refused() {
        assert!(cookie(Some("")).is_err());
        assert_eq!(cookie(Some("c")).expect("given"), "c");
    }
}
