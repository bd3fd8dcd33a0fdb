//! Atoms: short ones carried inline, long ones interned, and a bound on
//! what peers may add.
//!
//! An [`Atom`] is a 16-byte `Copy` value. An atom whose UTF-8 text fits in
//! [`INLINE_BYTES`] (15) bytes — `ok`, `error`, `'$gen_call'`,
//! `noconnection`, `flood_123456`, most of the atoms any program uses —
//! carries its text inside the value: it is in no table, costs no
//! allocation, and its memory goes when the last term holding it goes.
//! Longer atoms (module names such as `'Elixir.MyApp.Worker'`, node names)
//! are interned in a process-wide table for the life of the process, as the
//! BEAM keeps every atom; the value points to the one copy of the text.
//! Every atom has exactly one representation, so equality and hashing look
//! at the 16 bytes alone and never at the text.
//!
//! Why not reclaim long atoms too: an `Atom` is `Copy` (and so are the
//! [`Pid`](super::Pid)s, [`Port`](super::Port)s and [`Ref`](super::Ref)s
//! that name their node with one), so nothing can know when the last copy of
//! one is gone. Counting references would make atoms `Clone`-only and put an
//! atomic increment on every copy of a pid — every message carries one —
//! for a case that the bounds below already contain.
//!
//! What peers may add to the table is bounded twice, so that a flood of new
//! long atoms from one peer costs that peer its connection and leaves the
//! others alone:
//! - each peer has an [`AtomBudget`]: how many long atoms it may add to the
//!   table over the life of the node (`NodeBuilder::max_atoms_per_peer`,
//!   default [`DEFAULT_ATOMS_PER_PEER`]). Its frames may go on using atoms
//!   the table already holds; a frame that would add one more ends its
//!   connection with an error that says so, and it stays at that limit when
//!   it reconnects, since the atoms it added are still there;
//! - all sources together may not grow the table past [`MAX_PEER_ATOMS`]
//!   long atoms (the BEAM's default `+t`; [`set_max_peer_atoms`] changes it
//!   for the process), which only sixteen peers at their default budget
//!   reach. Atoms the program itself makes ([`Atom::new`], `atom!`) are
//!   never refused.
//!
//! Short atoms cost a peer nothing lasting, so they are not counted: the
//! `list_to_atom(integer_to_list(N))` flood that would fill the BEAM's own
//! table passes through without touching ours.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU8;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use crate::sync::RwLock;

/// The longest atom Erlang accepts, in characters.
pub const MAX_ATOM_CHARS: usize = 255;

/// Atoms whose UTF-8 text is at most this long are carried inside the
/// [`Atom`] value; longer ones are interned.
pub const INLINE_BYTES: usize = 15;

/// How many long atoms peers (and parsed text) may add to the table in
/// total, unless [`set_max_peer_atoms`] says otherwise: the BEAM's default
/// atom table size.
pub const MAX_PEER_ATOMS: usize = 1_048_576;

static PEER_ATOM_LIMIT: AtomicUsize = AtomicUsize::new(MAX_PEER_ATOMS);

/// Sets how many long atoms peers (and parsed text) may add to the atom
/// table in total, for the whole process: the table is the process's, as
/// on the BEAM (`+t`). Atoms already added stay.
pub fn set_max_peer_atoms(limit: usize) {
    PEER_ATOM_LIMIT.store(limit, Ordering::Relaxed);
}

/// How many long atoms one peer may add to the table over the life of a node,
/// unless `NodeBuilder::max_atoms_per_peer` says otherwise.
pub const DEFAULT_ATOMS_PER_PEER: usize = 65_536;

/// The tag of an interned atom; inline ones hold their length plus one.
const INTERNED: u8 = 0xFF;

/// An Erlang atom. `Copy`; compared and hashed by value in constant time
/// (see the [module documentation](self)); ordered by text as in Erlang's
/// term order.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Atom {
    /// Text bytes 0..8 of an inline atom, or the interned entry.
    head: Head,
    /// Text bytes 8..15 of an inline atom; zero for an interned one and past
    /// an inline atom's end.
    tail: [u8; 7],
    tag: NonZeroU8,
}

#[derive(Clone, Copy)]
#[repr(C)]
union Head {
    bytes: [u8; 8],
    entry: &'static Entry,
}

/// The one copy of a long atom's text.
struct Entry {
    text: Box<str>,
}

struct Table {
    entries: HashMap<&'static str, &'static Entry>,
    /// How many of the entries were added for peers or parsed text.
    from_peers: usize,
}

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| {
    RwLock::new(Table {
        entries: HashMap::with_capacity(1024),
        from_peers: 0,
    })
});

/// Mixed into the hash of inline atoms, whose bytes a peer chooses, so that
/// it cannot pick texts that collide in the node's tables.
static HASH_KEY: LazyLock<u64> = LazyLock::new(|| {
    let mut seed = [0u8; 8];
    crate::random::fill(&mut seed);
    u64::from_ne_bytes(seed) | 1
});

/// Takes the table (and the hash key) for a `fork`, so that no other thread
/// holds them then ([`crate::fork`]); dropping the guard gives the table back.
pub(crate) fn lock_for_fork() -> impl Any {
    LazyLock::force(&HASH_KEY);
    TABLE.write()
}

/// Why an atom from a peer was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The peer has added as many atoms as its budget allows.
    Budget(usize),
    /// Peers together have added as many atoms as the process allows.
    TableFull(usize),
    /// The text has more characters than an atom may have (this many).
    TooLong(usize),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Budget(limit) => write!(
                f,
                "the peer has added its limit of {limit} new atoms longer than {INLINE_BYTES} \
                 bytes to the atom table (max_atoms_per_peer)"
            ),
            Refused::TableFull(limit) => write!(
                f,
                "the atom table holds the limit of {limit} atoms added by peers \
                 (set_max_peer_atoms)"
            ),
            Refused::TooLong(chars) => write!(
                f,
                "atom of {chars} characters exceeds the limit of {MAX_ATOM_CHARS}"
            ),
        }
    }
}

impl Atom {
    /// The atom for `text`. Any text is accepted here, and never refused:
    /// this is for atoms the program chooses. An atom longer than
    /// [`MAX_ATOM_CHARS`] characters is rejected when encoded.
    pub fn new(text: &str) -> Atom {
        if let Some(atom) = Atom::inline(text) {
            return atom;
        }
        if let Some(atom) = Atom::interned(text) {
            return atom;
        }
        let mut table = TABLE.write();
        match table.entries.get(text) {
            Some(entry) => Atom::from_entry(entry),
            None => insert(&mut table, text),
        }
    }

    /// Whether `text` is short enough for an atom: at most
    /// [`MAX_ATOM_CHARS`] characters, as BEAM allows.
    pub fn fits(text: &str) -> bool {
        // Each character takes at least a byte, so only long texts need counting.
        text.len() <= MAX_ATOM_CHARS || text.chars().count() <= MAX_ATOM_CHARS
    }

    /// The atom for a name the program gives (a module, a function, a
    /// registered, global or served name, a pg scope): as [`new`](Self::new),
    /// but a text BEAM could not make an atom of (over [`MAX_ATOM_CHARS`]
    /// characters) is refused before it is added to the atom table, where it
    /// would stay for good; so is an empty one, which names nothing. `what`
    /// names it in the error, which shows at most 40 characters of `text`.
    pub fn named(text: &str, what: &str) -> crate::Result<Atom> {
        Atom::check_name(text, what)?;
        Ok(Atom::new(text))
    }

    /// The check of [`named`](Self::named) without making the atom: for
    /// code that hands the text on to a call that makes it (the bindings'
    /// readers of names).
    pub fn check_name(text: &str, what: &str) -> crate::Result<()> {
        if text.is_empty() {
            return Err(crate::Error::invalid(format!("the {what} is empty")));
        }
        if !Atom::fits(text) {
            return Err(crate::Error::invalid(format!(
                "the {what} {:.40}... is longer than an atom may be ({MAX_ATOM_CHARS} characters)",
                text
            )));
        }
        Ok(())
    }

    /// The atom for `text` from a peer (or from parsed text): inline, or
    /// already in the table, or added to the table when `budget` (if any)
    /// and [`MAX_PEER_ATOMS`] allow. Never longer than [`MAX_ATOM_CHARS`]
    /// characters, as BEAM refuses: every way a peer names an atom (a term,
    /// an atom cache update) comes through here.
    pub(crate) fn new_from_peer(text: &str, budget: Option<&AtomBudget>) -> Result<Atom, Refused> {
        if !Atom::fits(text) {
            return Err(Refused::TooLong(text.chars().count()));
        }
        if let Some(atom) = Atom::inline(text) {
            return Ok(atom);
        }
        if let Some(atom) = Atom::interned(text) {
            return Ok(atom);
        }
        let mut table = TABLE.write();
        if let Some(entry) = table.entries.get(text) {
            return Ok(Atom::from_entry(entry));
        }
        let limit = PEER_ATOM_LIMIT.load(Ordering::Relaxed);
        if table.from_peers >= limit {
            return Err(Refused::TableFull(limit));
        }
        if let Some(budget) = budget {
            budget.take()?;
        }
        table.from_peers += 1;
        Ok(insert(&mut table, text))
    }

    /// The atom for `text` if it needs no new entry in the table: it is
    /// short, or the table holds it already. Never adds one.
    pub(crate) fn existing(text: &str) -> Option<Atom> {
        Atom::inline(text).or_else(|| Atom::interned(text))
    }

    #[inline]
    fn inline(text: &str) -> Option<Atom> {
        let len = text.len();
        if len > INLINE_BYTES {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..len].copy_from_slice(text.as_bytes());
        let (head, tail) = bytes.split_at(8);
        Some(Atom {
            head: Head {
                bytes: head.try_into().expect("8 bytes"),
            },
            tail: tail[..7].try_into().expect("7 bytes"),
            tag: NonZeroU8::new(len as u8 + 1).expect("non-zero"),
        })
    }

    fn interned(text: &str) -> Option<Atom> {
        TABLE
            .read()
            .entries
            .get(text)
            .map(|entry| Atom::from_entry(entry))
    }

    fn from_entry(entry: &'static Entry) -> Atom {
        // Written over zeros: where a pointer is narrower than 8 bytes, the
        // rest of `head` must still be initialised for `bits`.
        let mut head = Head { bytes: [0; 8] };
        head.entry = entry;
        Atom {
            head,
            tail: [0; 7],
            tag: NonZeroU8::new(INTERNED).expect("non-zero"),
        }
    }

    /// All 16 bytes, for equality and hashing.
    #[inline]
    fn bits(self) -> u128 {
        // SAFETY: `Atom` is 16 bytes without padding (8 + 7 + 1, `repr(C)`),
        // and every byte is initialised: `head` is written whole as bytes or
        // over zeros as a pointer. Reading a pointer's bytes as an integer
        // is allowed; the integer is never turned back into a pointer.
        unsafe { std::mem::transmute::<Atom, u128>(self) }
    }

    /// The atom's text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match self.tag.get() {
            INTERNED => {
                // SAFETY: an interned atom's head always holds its entry,
                // which is never freed.
                let entry: &'static Entry = unsafe { self.head.entry };
                &entry.text
            }
            tag => {
                let len = usize::from(tag - 1);
                // SAFETY: `Atom` is `repr(C)` with `head` (8 bytes) and `tail`
                // (7 bytes) adjacent and initialised, so its first 15 bytes
                // are readable for as long as `self` is borrowed.
                let bytes: &[u8; 15] = unsafe { &*(self as *const Atom).cast::<[u8; 15]>() };
                // SAFETY: inline atoms are made only from a `&str` of `len`
                // bytes (`Atom::inline`).
                unsafe { std::str::from_utf8_unchecked(&bytes[..len]) }
            }
        }
    }

    /// Number of characters (not bytes) in the atom's text.
    pub fn char_len(&self) -> usize {
        self.as_str().chars().count()
    }

    /// Whether this is `true` or `false`.
    pub fn is_bool(&self) -> bool {
        matches!(self.as_str(), "true" | "false")
    }

    /// Whether the atom's text is carried in the value rather than interned.
    pub fn is_inline(&self) -> bool {
        self.tag.get() != INTERNED
    }

    /// A well-mixed word that equal atoms share: their hash, and the atom
    /// cache's slot.
    #[inline]
    pub(crate) fn hash_word(&self) -> u64 {
        let bits = self.bits();
        let (low, high) = (bits as u64, (bits >> 64) as u64);
        if self.is_inline() {
            // The multiply-xorshift finaliser of MurmurHash3 over both words,
            // keyed per process.
            let mut word = (low ^ *HASH_KEY).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ high;
            word ^= word >> 33;
            word = word.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            word ^ (word >> 33)
        } else {
            low
        }
    }

    /// Whether `text` has an entry in the atom table.
    #[doc(hidden)]
    pub fn is_in_table(text: &str) -> bool {
        TABLE.read().entries.contains_key(text)
    }

    /// How many atoms the table holds, and how many of them peers (or
    /// parsed text) added.
    #[doc(hidden)]
    pub fn table_size() -> (usize, usize) {
        let table = TABLE.read();
        (table.entries.len(), table.from_peers)
    }
}

fn insert(table: &mut Table, text: &str) -> Atom {
    let entry: &'static Entry = Box::leak(Box::new(Entry { text: text.into() }));
    table.entries.insert(&entry.text, entry);
    Atom::from_entry(entry)
}

/// How many long atoms one peer may still add to the atom table (see the
/// [module documentation](self)). Shared by the connections a node has had
/// to that peer.
#[derive(Debug)]
pub struct AtomBudget {
    limit: usize,
    used: AtomicUsize,
}

impl AtomBudget {
    /// A budget of `limit` atoms.
    pub fn new(limit: usize) -> AtomBudget {
        AtomBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// How many atoms have been added against this budget.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self) -> Result<(), Refused> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .map(|_| ())
            .map_err(|_| Refused::Budget(self.limit))
    }
}

impl PartialEq for Atom {
    #[inline]
    fn eq(&self, other: &Atom) -> bool {
        self.bits() == other.bits()
    }
}

impl Eq for Atom {}

impl Hash for Atom {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_word());
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
            self.as_str().as_bytes().cmp(other.as_str().as_bytes())
        }
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atom({:?})", self.as_str())
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
        self.as_str()
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An atom from a string literal, made once per call site.
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
    fn one_representation_per_text() {
        for text in [
            "",
            "a",
            "hello_atom",
            "fifteen_bytes_x",
            "sixteen_bytes_xx",
            "é",
        ] {
            let a = Atom::new(text);
            let b = Atom::from(String::from(text));
            assert_eq!(a, b, "{text}");
            assert_eq!(a.as_str(), text);
            assert_eq!(a.hash_word(), b.hash_word());
            assert_eq!(a.is_inline(), text.len() <= INLINE_BYTES, "{text}");
            assert_eq!(Atom::new_from_peer(text, None), Ok(a));
        }
        assert_ne!(Atom::new("hello_atom"), Atom::new("other_atom"));
        assert_ne!(Atom::new(""), Atom::new("\0"));
        let long = Atom::new("a_long_atom_interned_once");
        assert!(std::ptr::eq(
            long.as_str(),
            Atom::new("a_long_atom_interned_once").as_str()
        ));
        assert_eq!(std::mem::size_of::<Atom>(), 16);
        assert_eq!(std::mem::size_of::<Option<Atom>>(), 16);
    }

    #[test]
    fn ordered_by_text() {
        assert!(Atom::new("abc") < Atom::new("abd"));
        assert!(Atom::new("ab") < Atom::new("abc"));
        assert!(Atom::new("abcdefghijklmnop_long") < Atom::new("abd"));
        assert!(Atom::new("b") > Atom::new("abcdefghijklmnop_long"));
    }

    #[test]
    fn budgets_count_only_new_long_atoms() {
        let budget = AtomBudget::new(2);
        let unique = format!("budget_test_{}_", std::process::id());
        for i in 0..1000 {
            Atom::new_from_peer(&format!("s{i}"), Some(&budget)).expect("inline");
        }
        let first = Atom::new_from_peer(&format!("{unique}one"), Some(&budget)).expect("first");
        Atom::new_from_peer(&format!("{unique}one"), Some(&budget)).expect("again");
        Atom::new_from_peer(&format!("{unique}two"), Some(&budget)).expect("second");
        assert_eq!(budget.used(), 2);
        assert_eq!(
            Atom::new_from_peer(&format!("{unique}three"), Some(&budget)),
            Err(Refused::Budget(2))
        );
        assert_eq!(
            Atom::new_from_peer(&format!("{unique}one"), Some(&budget)),
            Ok(first)
        );
        Atom::new(&format!("{unique}three"));
        Atom::new_from_peer(&format!("{unique}three"), Some(&budget)).expect("made by us");
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
