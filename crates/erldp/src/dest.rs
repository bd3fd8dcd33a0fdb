//! Where to send: a pid, a registered name on a node, a process alias, or a
//! name registered with `global`.

use std::fmt;

use crate::term::{Atom, Pid, Ref, Term};
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
/// assert!(Dest::from_term(&Term::from(42)).is_err());
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
    /// The registered `name` on `node`.
    pub fn name(name: impl AsRef<str>, node: impl AsRef<str>) -> Dest {
        Dest::Name {
            name: Atom::new(name.as_ref()),
            node: Atom::new(node.as_ref()),
        }
    }

    /// A name registered with `global`.
    pub fn global(name: impl AsRef<str>) -> Dest {
        Dest::Global(Atom::new(name.as_ref()))
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
    /// `{Name, Node}` tuple / `[Name, Node]` list of atoms.
    pub fn from_term(term: &Term) -> Result<Dest> {
        match term {
            Term::Pid(pid) => Ok(Dest::Pid(*pid)),
            Term::Ref(alias) => Ok(Dest::Alias(*alias)),
            Term::Tuple(pair) | Term::List(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                (Term::Atom(name), Term::Atom(node)) => Ok(Dest::Name {
                    name: *name,
                    node: *node,
                }),
                _ => Err(Error::invalid(format!(
                    "destination {term} must be [Name, Node] with two atoms"
                ))),
            },
            _ => Err(Error::invalid(format!(
                "destination {term} is not a pid, an alias or a [Name, Node] pair"
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
