//! Interned atoms.
//!
//! Like the BEAM's atom table, every distinct atom text is stored once for the
//! life of the process; an [`Atom`] is a pointer to that text, so copying and
//! comparing atoms costs nothing. Atoms that arrive from peers are subject to
//! the same limit as the BEAM's default table size, so a peer cannot grow the
//! table without bound.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use parking_lot::RwLock;

/// How many atoms peers may create, matching the BEAM's default `+t`.
pub(crate) const PEER_ATOM_LIMIT: usize = 1_048_576;

/// The longest atom Erlang accepts, in characters.
pub const MAX_ATOM_CHARS: usize = 255;

static TABLE: LazyLock<RwLock<HashMap<&'static str, Atom>>> =
    LazyLock::new(|| RwLock::new(HashMap::with_capacity(1024)));

/// An Erlang atom. `Copy`, compared and hashed by identity (atoms are
/// interned), ordered by text as in Erlang's term order.
#[derive(Clone, Copy)]
pub struct Atom(&'static str);

impl Atom {
    /// Interns `text` and returns its atom. Any text is accepted here; an atom
    /// longer than [`MAX_ATOM_CHARS`] characters is rejected when encoded.
    pub fn new(text: &str) -> Atom {
        if let Some(atom) = TABLE.read().get(text) {
            return *atom;
        }
        let mut table = TABLE.write();
        if let Some(atom) = table.get(text) {
            return *atom;
        }
        Self::insert(&mut table, text)
    }

    /// Interns `text` unless doing so would push the table past the limit
    /// that applies to atoms received from peers.
    pub(crate) fn new_from_peer(text: &str) -> Option<Atom> {
        if let Some(atom) = TABLE.read().get(text) {
            return Some(*atom);
        }
        let mut table = TABLE.write();
        if let Some(atom) = table.get(text) {
            return Some(*atom);
        }
        if table.len() >= PEER_ATOM_LIMIT {
            return None;
        }
        Some(Self::insert(&mut table, text))
    }

    fn insert(table: &mut HashMap<&'static str, Atom>, text: &str) -> Atom {
        let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
        let atom = Atom(leaked);
        table.insert(leaked, atom);
        atom
    }

    /// The atom's text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Number of characters (not bytes) in the atom's text.
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether this is `true` or `false`.
    pub fn is_bool(&self) -> bool {
        matches!(self.0, "true" | "false")
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        std::ptr::eq(self.0.as_ptr(), other.0.as_ptr())
    }
}

impl Eq for Atom {}

impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0.as_ptr() as usize).hash(state);
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Atom {
    /// Erlang orders atoms by their text (UTF-8 byte order equals code point
    /// order).
    fn cmp(&self, other: &Atom) -> std::cmp::Ordering {
        if self == other {
            std::cmp::Ordering::Equal
        } else {
            self.0.as_bytes().cmp(other.0.as_bytes())
        }
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atom({:?})", self.0)
    }
}

impl From<&str> for Atom {
    fn from(text: &str) -> Atom {
        Atom::new(text)
    }
}

impl From<&String> for Atom {
    fn from(text: &String) -> Atom {
        Atom::new(text)
    }
}

impl From<String> for Atom {
    fn from(text: String) -> Atom {
        Atom::new(&text)
    }
}

impl AsRef<str> for Atom {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An atom from a string literal, interned once per call site.
///
/// ```
/// let ok = erldp::atom!("ok");
/// assert_eq!(ok.as_str(), "ok");
/// ```
#[macro_export]
macro_rules! atom {
    ($text:literal) => {{
        static ATOM: ::std::sync::OnceLock<$crate::Atom> = ::std::sync::OnceLock::new();
        *ATOM.get_or_init(|| $crate::Atom::new($text))
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_identity() {
        let a = Atom::new("hello_atom");
        let b = Atom::from(String::from("hello_atom"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_ne!(a, Atom::new("other_atom"));
    }

    #[test]
    fn ordered_by_text() {
        assert!(Atom::new("abc") < Atom::new("abd"));
        assert!(Atom::new("ab") < Atom::new("abc"));
    }

    #[test]
    fn macro_caches() {
        fn get() -> Atom {
            atom!("cached_by_macro")
        }
        assert_eq!(get(), get());
        assert_eq!(get().as_str(), "cached_by_macro");
    }
}
