//! Erlang terms and their External Term Format codec.
//!
//! Implements the term types of
//! [erl_ext_dist](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html):
//! [`encode()`] produces byte for byte what `term_to_binary/1` of OTP 25
//! writes, [`encode_into()`] the form with UTF-8 atoms of the distribution
//! (and of `term_to_binary/1` from OTP 26 on), both through
//! [`encode::Writer`], which also writes a term piece by piece;
//! [`decode()`] accepts every tag a BEAM node may send. `Display` prints
//! Erlang syntax and `FromStr` parses it.
//!
//! Equality is Erlang's exact equality (`=:=`): `1` and `1.0` differ, map
//! equality ignores pair order, floats compare bit for bit (so `0.0` and
//! `-0.0` differ, as in OTP 27). `Ord` is Erlang's term order, refined so that
//! it agrees with that equality (an integer sorts before an equal float).

pub mod atom;
pub(crate) mod bigint;
pub mod decode;
pub mod encode;
mod order;
mod text;

use bytes::Bytes;

pub use atom::{
    set_max_peer_atoms, Atom, AtomBudget, DEFAULT_ATOMS_PER_PEER, MAX_ATOM_CHARS, MAX_PEER_ATOMS,
};
pub use decode::{decode, decode_bytes, Decoder, Limits};
pub use encode::{encode, encode_into, encoded_size};
pub use order::map_key_cmp;

/// An Erlang term.
///
/// Terms read from and print as Erlang syntax, and encode to and decode
/// from the External Term Format:
///
/// ```
/// use erldp::Term;
///
/// let term: Term = "{ok, [1, 2.5, <<\"bin\">>, #{key => \"text\"}]}".parse()?;
/// assert_eq!(term.to_string(), r#"{ok,[1,2.5,<<"bin">>,#{key => "text"}]}"#);
///
/// let fields = term.as_tuple().expect("a tuple");
/// assert!(fields[0].is_atom("ok"));
/// assert_eq!(fields[1].as_list().map(<[Term]>::len), Some(4));
///
/// // Built from Rust values: a &str becomes a binary, as Elixir strings are.
/// let built = Term::tuple(vec![Term::atom("ok"), Term::list(vec![1.into(), 2.5.into(), "bin".into(),
///     Term::map(vec![(Term::atom("key"), Term::charlist("text"))])])]);
/// assert_eq!(built, term);
///
/// // The bytes term_to_binary/1 gives, and back.
/// let bytes = erldp::term::encode(&term)?;
/// assert_eq!(bytes[0], 131);
/// assert_eq!(erldp::term::decode(&bytes)?, term);
///
/// // Exact equality, like =:= : 1 and 1.0 differ.
/// assert_ne!(Term::from(1), Term::from(1.0));
///
/// // Bad text is an error naming the byte where parsing stopped.
/// let err = "{ok, ".parse::<Term>().unwrap_err();
/// assert!(matches!(err, erldp::Error::Parse { offset: 5, .. }), "{err}");
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Debug)]
pub enum Term {
    /// An atom; `true`/`false` are atoms too.
    Atom(Atom),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer that does not fit in 64 bits. Never holds a value that fits
    /// (constructors and the decoder normalise to [`Term::Int`]).
    BigInt(BigInt),
    /// A (finite) float.
    Float(f64),
    /// A binary (whole bytes).
    Binary(Bytes),
    /// A bitstring whose bit length is not a multiple of 8.
    Bitstring(Bitstring),
    /// A process identifier.
    Pid(Pid),
    /// A port identifier.
    Port(Port),
    /// A reference (also used as a process alias).
    Ref(Ref),
    /// A tuple.
    Tuple(Vec<Term>),
    /// A proper list; `List(vec![])` is `[]`. A charlist is a list of integers.
    List(Vec<Term>),
    /// An improper list: at least one element and a tail that is not a list.
    ImproperList(Vec<Term>, Box<Term>),
    /// A map, as key/value pairs without duplicate keys. Pair order is kept as
    /// decoded; it does not take part in equality.
    Map(Vec<(Term, Term)>),
    /// A fun (`NEW_FUN_EXT`) or external fun (`EXPORT_EXT`), kept as its
    /// encoding so that it re-encodes unchanged.
    Fun(Fun),
}

impl Clone for Term {
    /// Written out rather than derived so that cloning a deeply nested term
    /// takes little stack per level (see [`decode::MAX_DEPTH`]): this frame
    /// only dispatches, the copying happens in helpers.
    fn clone(&self) -> Term {
        match self {
            Term::Tuple(elements) => Term::Tuple(clone_all(elements)),
            Term::List(elements) => Term::List(clone_all(elements)),
            Term::ImproperList(elements, tail) => clone_improper(elements, tail),
            Term::Map(pairs) => Term::Map(clone_pairs(pairs)),
            leaf => clone_leaf(leaf),
        }
    }
}

fn clone_all(terms: &[Term]) -> Vec<Term> {
    let mut copy = Vec::with_capacity(terms.len());
    for term in terms {
        copy.push(term.clone());
    }
    copy
}

fn clone_improper(elements: &[Term], tail: &Term) -> Term {
    Term::ImproperList(clone_all(elements), Box::new(tail.clone()))
}

fn clone_pairs(pairs: &[(Term, Term)]) -> Vec<(Term, Term)> {
    let mut copy = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        copy.push((key.clone(), value.clone()));
    }
    copy
}

#[inline(never)]
fn clone_leaf(term: &Term) -> Term {
    match term {
        Term::Atom(atom) => Term::Atom(*atom),
        Term::Int(value) => Term::Int(*value),
        Term::BigInt(big) => Term::BigInt(big.clone()),
        Term::Float(value) => Term::Float(*value),
        Term::Binary(bytes) => Term::Binary(bytes.clone()),
        Term::Bitstring(bits) => Term::Bitstring(bits.clone()),
        Term::Pid(pid) => Term::Pid(*pid),
        Term::Port(port) => Term::Port(*port),
        Term::Ref(reference) => Term::Ref(*reference),
        Term::Fun(fun) => Term::Fun(fun.clone()),
        container => container.clone(),
    }
}

/// An integer outside the `i64` range: sign and magnitude, the magnitude as
/// little-endian base-256 digits without trailing zero bytes (the layout of
/// `SMALL_BIG_EXT`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigInt {
    /// True for a negative number.
    pub negative: bool,
    /// Little-endian magnitude bytes; the last byte is never zero.
    pub magnitude: Vec<u8>,
}

/// A bitstring: `bytes` hold the bits, most significant first; only the top
/// `bits` bits of the last byte belong to it (1..=7), the rest are zero.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bitstring {
    /// The bytes holding the bits; never empty.
    pub bytes: Bytes,
    /// Number of bits used in the last byte, 1..=7.
    pub bits: u8,
}

/// A process identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Atom,
    /// Process number.
    pub id: u32,
    /// Serial (wraps of `id`).
    pub serial: u32,
    /// Incarnation of the node that created the pid.
    pub creation: u32,
}

/// A port identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    /// The node the port lives on.
    pub node: Atom,
    /// Port number (64 bits since OTP 24's `V4_PORT_EXT`).
    pub id: u64,
    /// Incarnation of the node that created the port.
    pub creation: u32,
}

/// A reference. Up to five 32-bit id words (OTP 24+); three for ordinary
/// references.
///
/// Like the BEAM, equality ignores trailing zero words: `[1, 2]` and
/// `[1, 2, 0]` are the same reference, although each re-encodes with the
/// number of words it arrived with.
#[derive(Clone, Copy, Debug)]
pub struct Ref {
    /// The node that created the reference.
    pub node: Atom,
    /// Incarnation of that node.
    pub creation: u32,
    len: u8,
    words: [u32; 5],
}

impl Ref {
    /// The most id words a reference may have.
    pub const MAX_WORDS: usize = 5;

    /// Builds a reference from its id words. Returns `None` for zero or more
    /// than five words.
    pub fn new(node: Atom, creation: u32, ids: &[u32]) -> Option<Ref> {
        if ids.is_empty() || ids.len() > Self::MAX_WORDS {
            return None;
        }
        let mut words = [0u32; 5];
        words[..ids.len()].copy_from_slice(ids);
        Some(Ref {
            node,
            creation,
            len: ids.len() as u8,
            words,
        })
    }

    /// The id words, as sent on the wire.
    pub fn ids(&self) -> &[u32] {
        &self.words[..self.len as usize]
    }

    /// All five id words, zero beyond [`Ref::ids`]: the value that equality,
    /// hashing and ordering look at.
    pub(crate) fn padded_ids(&self) -> &[u32; 5] {
        &self.words
    }
}

impl PartialEq for Ref {
    fn eq(&self, other: &Ref) -> bool {
        // Unused words are always zero (see `Ref::new`), so comparing the
        // whole array compares the ids zero-padded.
        self.node == other.node && self.creation == other.creation && self.words == other.words
    }
}

impl Eq for Ref {}

impl std::hash::Hash for Ref {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.node.hash(state);
        self.creation.hash(state);
        self.words.hash(state);
    }
}

/// A fun, kept as its external encoding (tag byte included) so that it can
/// be sent back unchanged. Erlang code cannot be run here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fun {
    bytes: Bytes,
}

/// What kind of fun a [`Fun`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunKind {
    /// `fun Module:Function/Arity` (`EXPORT_EXT`).
    Export,
    /// A closure or local fun (`NEW_FUN_EXT`).
    Local,
}

impl Fun {
    /// Wraps the encoding of a fun (starting at its tag byte, 112 or 113).
    /// The caller vouches that the bytes are a complete, valid encoding; the
    /// decoder is the usual source.
    pub fn from_encoding(bytes: Bytes) -> Fun {
        Fun { bytes }
    }

    /// The fun's external encoding, tag byte first.
    pub fn encoding(&self) -> &Bytes {
        &self.bytes
    }

    /// `fun Module:Function/Arity`. Fails when an atom is longer than 255
    /// characters.
    pub fn export(module: Atom, function: Atom, arity: u8) -> crate::Result<Fun> {
        let mut bytes = Vec::new();
        encode::Writer::new(&mut bytes)
            .utf8_atoms()
            .export(module, function, arity)?;
        Ok(Fun {
            bytes: Bytes::from(bytes),
        })
    }

    /// Export or local fun.
    pub fn kind(&self) -> FunKind {
        if self.bytes.first() == Some(&encode::tag::EXPORT_EXT) {
            FunKind::Export
        } else {
            FunKind::Local
        }
    }
}

impl Term {
    /// An atom term.
    pub fn atom(text: &str) -> Term {
        Term::Atom(Atom::new(text))
    }

    /// A tuple term.
    pub fn tuple(elements: Vec<Term>) -> Term {
        Term::Tuple(elements)
    }

    /// A proper list term.
    pub fn list(elements: Vec<Term>) -> Term {
        Term::List(elements)
    }

    /// `[]`.
    pub fn nil() -> Term {
        Term::List(Vec::new())
    }

    /// A binary term holding `bytes`.
    pub fn binary(bytes: impl Into<Bytes>) -> Term {
        Term::Binary(bytes.into())
    }

    /// A charlist (Erlang string): the list of the code points of `text`.
    pub fn charlist(text: &str) -> Term {
        Term::List(text.chars().map(|c| Term::Int(c as i64)).collect())
    }

    /// A map term from key/value pairs.
    pub fn map(pairs: Vec<(Term, Term)>) -> Term {
        Term::Map(pairs)
    }

    /// A list with the given tail; normalises to a proper list when the tail
    /// is a list, and to the tail itself when there are no elements.
    pub fn improper_list(mut elements: Vec<Term>, tail: Term) -> Term {
        match tail {
            Term::List(rest) => {
                elements.extend(rest);
                Term::List(elements)
            }
            Term::ImproperList(rest, tail) => {
                elements.extend(rest);
                Term::ImproperList(elements, tail)
            }
            tail if elements.is_empty() => tail,
            tail => Term::ImproperList(elements, Box::new(tail)),
        }
    }

    /// A bitstring of `bits` bits taken from the start of `bytes` (most
    /// significant bit first). Normalises to a binary when `bits` is a
    /// multiple of 8. Returns `None` when `bytes` holds fewer than `bits` bits.
    pub fn bitstring(bytes: &[u8], bits: usize) -> Option<Term> {
        let whole = bits / 8;
        let rest = (bits % 8) as u8;
        if bytes.len() * 8 < bits {
            return None;
        }
        if rest == 0 {
            return Some(Term::Binary(Bytes::copy_from_slice(&bytes[..whole])));
        }
        let mut owned = bytes[..=whole].to_vec();
        owned[whole] &= 0xFFu8 << (8 - rest);
        Some(Term::Bitstring(Bitstring {
            bytes: Bytes::from(owned),
            bits: rest,
        }))
    }

    /// The atom, if this is one.
    pub fn as_atom(&self) -> Option<Atom> {
        match self {
            Term::Atom(atom) => Some(*atom),
            _ => None,
        }
    }

    /// The integer, if this is one that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Term::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Term::Float(value) => Some(*value),
            _ => None,
        }
    }

    /// The bytes, if this is a binary.
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Term::Binary(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The elements, if this is a tuple.
    pub fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(elements) => Some(elements),
            _ => None,
        }
    }

    /// The elements, if this is a proper list.
    pub fn as_list(&self) -> Option<&[Term]> {
        match self {
            Term::List(elements) => Some(elements),
            _ => None,
        }
    }

    /// The pid, if this is one.
    pub fn as_pid(&self) -> Option<Pid> {
        match self {
            Term::Pid(pid) => Some(*pid),
            _ => None,
        }
    }

    /// The reference, if this is one.
    pub fn as_reference(&self) -> Option<Ref> {
        match self {
            Term::Ref(reference) => Some(*reference),
            _ => None,
        }
    }

    /// Whether this is the atom with the given text.
    pub fn is_atom(&self, text: &str) -> bool {
        matches!(self, Term::Atom(atom) if atom.as_str() == text)
    }

    /// The value of `key` if this is a map holding it.
    pub fn map_get(&self, key: &Term) -> Option<&Term> {
        match self {
            Term::Map(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The types that a variant holds as they are.
macro_rules! from_variant {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<$t> for Term {
            fn from(value: $t) -> Term {
                Term::$variant(value)
            }
        }
    )*};
}
from_variant!(
    Atom => Atom,
    Pid => Pid,
    Port => Port,
    Ref => Ref,
    Fun => Fun,
    f64 => Float,
    Bytes => Binary
);

impl From<bool> for Term {
    fn from(value: bool) -> Term {
        Term::Atom(if value {
            crate::atom!("true")
        } else {
            crate::atom!("false")
        })
    }
}

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(value: $t) -> Term {
                Term::Int(value as i64)
            }
        }
    )*};
}
from_small_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(value: $t) -> Term {
                Term::from(value as i128)
            }
        }
    )*};
}
from_wide_int!(u64, usize, isize);

impl From<i128> for Term {
    fn from(value: i128) -> Term {
        match i64::try_from(value) {
            Ok(small) => Term::Int(small),
            Err(_) => Term::BigInt(BigInt::from_i128(value)),
        }
    }
}

impl From<u128> for Term {
    fn from(value: u128) -> Term {
        match i64::try_from(value) {
            Ok(small) => Term::Int(small),
            Err(_) => Term::BigInt(BigInt::from_magnitude(false, &value.to_le_bytes())),
        }
    }
}

impl From<BigInt> for Term {
    fn from(value: BigInt) -> Term {
        value.into_term()
    }
}

impl From<&str> for Term {
    /// A string becomes a binary, as Elixir strings are.
    fn from(text: &str) -> Term {
        Term::from(text.as_bytes())
    }
}

impl From<String> for Term {
    /// A string becomes a binary, as Elixir strings are.
    fn from(text: String) -> Term {
        Term::from(text.into_bytes())
    }
}

impl From<&[u8]> for Term {
    fn from(bytes: &[u8]) -> Term {
        Term::Binary(Bytes::copy_from_slice(bytes))
    }
}

impl From<Vec<u8>> for Term {
    fn from(bytes: Vec<u8>) -> Term {
        Term::Binary(Bytes::from(bytes))
    }
}

impl From<Vec<Term>> for Term {
    /// A vector becomes a proper list.
    fn from(elements: Vec<Term>) -> Term {
        Term::List(elements)
    }
}

impl BigInt {
    /// Builds a big integer from sign and little-endian magnitude bytes,
    /// trimming trailing zero bytes.
    pub fn from_magnitude(negative: bool, magnitude: &[u8]) -> BigInt {
        let used = magnitude.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        BigInt {
            negative: negative && used > 0,
            magnitude: magnitude[..used].to_vec(),
        }
    }

    /// The big integer for an `i128`.
    pub fn from_i128(value: i128) -> BigInt {
        BigInt::from_magnitude(value < 0, &value.unsigned_abs().to_le_bytes())
    }

    /// The value as `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.magnitude.len() > 16 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..self.magnitude.len()].copy_from_slice(&self.magnitude);
        let magnitude = u128::from_le_bytes(bytes);
        if self.negative {
            if magnitude <= i128::MAX as u128 + 1 {
                Some((magnitude as i128).wrapping_neg())
            } else {
                None
            }
        } else {
            i128::try_from(magnitude).ok()
        }
    }

    /// The term for this number: [`Term::Int`] when it fits in `i64`.
    pub fn into_term(self) -> Term {
        match self.to_i128().and_then(|v| i64::try_from(v).ok()) {
            Some(small) => Term::Int(small),
            None => Term::BigInt(self),
        }
    }
}

macro_rules! display_as_term {
    ($($t:ident),*) => {$(
        impl std::fmt::Display for $t {
            /// The same text as the term's `Display` (ErlDP's `#Pid<...>` forms).
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&Term::$t(*self), f)
            }
        }
    )*};
}
display_as_term!(Pid, Port, Ref);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_normalise() {
        assert!(matches!(Term::from(5u64), Term::Int(5)));
        assert!(matches!(Term::from(u64::MAX), Term::BigInt(_)));
        assert!(matches!(
            Term::from(i128::from(i64::MIN)),
            Term::Int(i64::MIN)
        ));
        let big = BigInt::from_i128(-(1i128 << 70));
        assert_eq!(big.to_i128(), Some(-(1i128 << 70)));
        assert!(matches!(BigInt::from_i128(42).into_term(), Term::Int(42)));
    }

    #[test]
    fn improper_list_normalises() {
        let t = Term::improper_list(vec![Term::from(1)], Term::nil());
        assert!(matches!(t, Term::List(ref v) if v.len() == 1));
        let t = Term::improper_list(vec![], Term::atom("a"));
        assert!(t.is_atom("a"));
    }

    #[test]
    fn bitstring_normalises() {
        assert!(matches!(Term::bitstring(&[0xFF], 8), Some(Term::Binary(_))));
        match Term::bitstring(&[0xFF, 0xFF], 11) {
            Some(Term::Bitstring(b)) => {
                assert_eq!(b.bits, 3);
                assert_eq!(&b.bytes[..], &[0xFF, 0xE0]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Term::bitstring(&[1], 9).is_none());
    }
}
