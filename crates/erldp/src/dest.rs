//! Where to send: a pid, a registered name on a node, a process alias, or a
//! name registered with `global`.

use std::fmt;

use crate::error::TERM_TEXT_IN_ERRORS;
use crate::term::{Atom, Pid, Ref, Term, MAX_ATOM_CHARS};
use crate::{Error, Result};

/// Where to send: a pid, a registered name on a node, a process alias, or a
/// name registered with [`global`](https://www.erlang.org/doc/apps/kernel/global.html).
///
/// ```
/// use erldp::{Dest, Term};
///
/// let dest = Dest::name("inbox", "peer@host");
/// assert_eq!(dest.node().as_str(), "peer@host");
/// assert_eq!(dest.to_string(), "{inbox,peer@host}");
///
/// // Bindings pass destinations as terms: {Name, Node}, [Name, Node], a pid or a reference.
/// assert_eq!(Dest::from_term(&"[inbox, 'peer@host']".parse::<Term>()?)?, dest);
/// // Names given as strings arrive as binaries.
/// assert_eq!(Dest::from_term(&"{<<\"inbox\">>, <<\"peer@host\">>}".parse::<Term>()?)?, dest);
/// assert!(Dest::from_term(&Term::from(42)).is_err());
/// assert!(Dest::from_term(&"[<<>>, 'peer@host']".parse::<Term>()?).is_err());
///
/// // A global name is found wherever it is registered.
/// assert_eq!(Dest::global("svc").to_string(), "{global,svc}");
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// A process identifier.
    Pid(Pid),
    /// A registered name on a node (`{Name, Node} ! Msg`).
    Name {
        /// The registered name.
        name: Atom,
        /// The node it is registered on.
        node: Atom,
    },
    /// A process alias (a reference made an alias by its owner).
    Alias(Ref),
    /// A name registered with `global` anywhere in the cluster
    /// (`{global, Name}` to `gen_server`, `global:send/2`): resolved to its
    /// pid at each send, call or monitor, as
    /// [`Node::whereis_global`](crate::Node::whereis_global) finds it. A
    /// global name that is not an atom is reached through its pid.
    Global(Atom),
}

impl Dest {
    /// The registered `name` on `node`. Each becomes an atom as it is, and
    /// an atom stays in the table for good: for names that come from
    /// outside the program, [`try_name`](Self::try_name).
    pub fn name(name: impl AsRef<str>, node: impl AsRef<str>) -> Dest {
        Dest::Name {
            name: Atom::new(name.as_ref()),
            node: Atom::new(node.as_ref()),
        }
    }

    /// [`name`](Self::name), refusing a name or node that is empty or
    /// longer than an atom may be before either becomes an atom
    /// ([`Atom::named`]).
    ///
    /// ```
    /// use erldp::{Dest, ErrorKind};
    ///
    /// assert_eq!(Dest::try_name("logger", "a@h")?, Dest::name("logger", "a@h"));
    /// let err = Dest::try_name("x".repeat(256), "a@h").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// assert!(Dest::try_name("logger", "").is_err());
    /// # Ok::<(), erldp::Error>(())
    /// ```
    pub fn try_name(name: impl AsRef<str>, node: impl AsRef<str>) -> crate::Result<Dest> {
        Ok(Dest::Name {
            name: Atom::named(name.as_ref(), "registered name")?,
            node: Atom::named(node.as_ref(), "node name")?,
        })
    }

    /// A name registered with `global`; as [`name`](Self::name), an atom
    /// made of any text: for names from outside, [`try_global`](Self::try_global).
    pub fn global(name: impl AsRef<str>) -> Dest {
        Dest::Global(Atom::new(name.as_ref()))
    }

    /// [`global`](Self::global), refusing a name that is empty or longer
    /// than an atom may be before it becomes an atom.
    pub fn try_global(name: impl AsRef<str>) -> crate::Result<Dest> {
        Atom::named(name.as_ref(), "global name").map(Dest::Global)
    }

    /// The node this destination lives on; for a [`Dest::Global`], which
    /// lives wherever its name is registered, the empty atom `''`.
    pub fn node(&self) -> Atom {
        match self {
            Dest::Pid(pid) => pid.node,
            Dest::Name { node, .. } => *node,
            Dest::Alias(alias) => alias.node,
            Dest::Global(_) => crate::atom!(""),
        }
    }

    /// Reads a destination from a term: a pid, a reference (alias), or a
    /// `{Name, Node}` tuple / `[Name, Node]` list whose two names are each
    /// an atom or a binary holding the name's text (UTF-8, 1 to
    /// [`MAX_ATOM_CHARS`] characters), as bindings pass names given as
    /// strings: `["inbox", "peer@host"]` is `{inbox, 'peer@host'}`.
    pub fn from_term(term: &Term) -> Result<Dest> {
        const MAX: usize = TERM_TEXT_IN_ERRORS;
        match term {
            Term::Pid(pid) => Ok(Dest::Pid(*pid)),
            Term::Ref(alias) => Ok(Dest::Alias(*alias)),
            Term::Tuple(pair) | Term::List(pair) if pair.len() == 2 => {
                match (name(&pair[0]), name(&pair[1])) {
                    (Some(name), Some(node)) => Ok(Dest::Name { name, node }),
                    _ => Err(Error::invalid(format!(
                        "destination {term:.MAX$} must be [Name, Node], each an atom or a \
                         string of 1 to {MAX_ATOM_CHARS} characters"
                    ))),
                }
            }
            _ => Err(Error::invalid(format!(
                "destination {term:.MAX$} is not a pid, an alias or a [Name, Node] pair"
            ))),
        }
    }

    /// The destination as a term: the pid, the reference, `{Name, Node}`,
    /// or `{global, Name}` as `gen_server` writes a global name.
    pub fn to_term(&self) -> Term {
        match self {
            Dest::Pid(pid) => Term::Pid(*pid),
            Dest::Alias(alias) => Term::Ref(*alias),
            Dest::Name { name, node } => Term::Tuple(vec![Term::Atom(*name), Term::Atom(*node)]),
            Dest::Global(name) => {
                Term::Tuple(vec![Term::Atom(crate::atom!("global")), Term::Atom(*name)])
            }
        }
    }
}

/// A registered name or a node name given as an atom or as its text.
fn name(term: &Term) -> Option<Atom> {
    match term {
        Term::Atom(atom) => Some(*atom),
        Term::Binary(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| Atom::named(text, "name").ok()),
        _ => None,
    }
}

impl From<Pid> for Dest {
    fn from(pid: Pid) -> Dest {
        Dest::Pid(pid)
    }
}

impl From<Ref> for Dest {
    fn from(alias: Ref) -> Dest {
        Dest::Alias(alias)
    }
}

impl From<(&str, &str)> for Dest {
    fn from((name, node): (&str, &str)) -> Dest {
        Dest::name(name, node)
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_term())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_may_be_atoms_or_their_text() {
        let dest = Dest::name("srv", "app@host");
        for given in [
            "{srv, 'app@host'}",
            "[srv, <<\"app@host\">>]",
            "[<<\"srv\">>, 'app@host']",
            "{<<\"srv\">>, <<\"app@host\">>}",
        ] {
            let term: Term = given.parse().expect("term");
            assert_eq!(Dest::from_term(&term).expect(given), dest, "{given}");
        }
        let longest = "é".repeat(MAX_ATOM_CHARS);
        let term = Term::list(vec![
            Term::binary(longest.as_bytes().to_vec()),
            Term::atom("a@b"),
        ]);
        assert_eq!(
            Dest::from_term(&term).expect("255 characters").to_term(),
            Term::tuple(vec![Term::atom(&longest), Term::atom("a@b")])
        );
        for bad in [
            Term::list(vec![Term::binary(vec![]), Term::atom("a@b")]),
            Term::list(vec![Term::binary(vec![0xff]), Term::atom("a@b")]),
            Term::list(vec![
                Term::binary("x".repeat(MAX_ATOM_CHARS + 1).into_bytes()),
                Term::atom("a@b"),
            ]),
            Term::list(vec![Term::from(1), Term::atom("a@b")]),
            Term::list(vec![Term::atom("srv")]),
        ] {
            let err = Dest::from_term(&bad).expect_err("not a destination");
            assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        }
    }
}
