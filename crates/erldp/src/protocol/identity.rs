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

use crate::term::{Atom, Pid, Ref};
use crate::{cookie, host, random, Error, Result};

/// The pid a node's own sends, rpcs and calls come from.
pub(crate) const SYSTEM_ID: u32 = 1;
/// The pid of the group leader of the processes our rpcs spawn.
pub(crate) const GROUP_LEADER_ID: u32 = 2;

/// Whether `name` has the `alive@host` form with non-empty parts.
pub(crate) fn valid_node_name(name: &str) -> bool {
    match name.split_once('@') {
        Some((alive, host)) => {
            !alive.is_empty()
                && !host.is_empty()
                && !host.contains('@')
                && alive
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
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
            "{name:?} is not a node name (name@host)"
        )))
    }
}

/// `name` with its host: as given when it has one, else on this host's
/// long (`host.domain`) or short name.
pub(crate) fn full_name(name: &str, long: bool) -> String {
    if name.contains('@') {
        name.to_string()
    } else if long {
        format!("{name}@{}", host::long_hostname())
    } else {
        format!("{name}@{}", host::short_hostname())
    }
}

/// The cookie to use: the one given, else `~/.erlang.cookie` (created like
/// `erl` does when missing).
pub(crate) fn cookie(given: Option<String>) -> Result<String> {
    match given {
        Some(cookie) if cookie.is_empty() => Err(Error::invalid("the cookie is empty")),
        Some(cookie) => Ok(cookie),
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

    #[test]
    fn node_names() {
        assert!(valid_node_name("a@b"));
        assert!(valid_node_name("ruby_1@host.example.com"));
        assert!(!valid_node_name("ab"));
        assert!(!valid_node_name("@b"));
        assert!(!valid_node_name("a@"));
        assert!(!valid_node_name("a@b@c"));
        assert!(valid_node_name("prøve@host"));
        assert!(!valid_node_name("a.b@host"));
        assert!(node_atom("a b@c").is_err());
        assert_eq!(full_name("x@y", true), "x@y");
        assert!(!full_name("x", false).contains('.'));
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
        assert!(cookie(Some(String::new())).is_err());
        assert_eq!(cookie(Some("c".into())).expect("given"), "c");
    }
}
