//! Encoding terms in the [External Term
//! Format](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html).
//!
//! [`encode`] is byte for byte what `term_to_binary/1` of OTP 25 returns:
//! atoms that Latin-1 can hold as `ATOM_EXT`, others as UTF-8.
//! [`encode_into`], which the distribution uses, writes every atom as UTF-8
//! as the BEAM does on the wire (and as `term_to_binary/1` does from OTP 26
//! on). Both forms decode everywhere.
//!
//! The encoder writes bytes straight into one buffer, with no allocation
//! per element (small maps are sorted through indices on the stack). The
//! path to a value that cannot be encoded is assembled only when encoding
//! fails. Maps of more than 32 pairs are written in the order given:
//! OTP writes them in its internal hash order, which a term decoded from
//! OTP keeps, but which ErlDP cannot reproduce for maps built here (and
//! which for atom keys even differs between VM runs).

use std::fmt::Write as _;

use super::order::map_key_cmp;
use super::{Atom, BigInt, Bitstring, Fun, Pid, Port, Ref, Term};
use crate::error::{Error, Result};

/// Tag bytes of the external term format.
pub mod tag {
    /// Version byte that starts every encoded term (not sent after a
    /// distribution header).
    pub const VERSION: u8 = 131;
    /// Distribution header.
    pub const DIST_HEADER: u8 = 68;
    /// Distribution header of the first fragment of a fragmented message.
    pub const DIST_FRAG_HEADER: u8 = 69;
    /// Distribution header of a following fragment.
    pub const DIST_FRAG_CONT: u8 = 70;
    /// Zlib-compressed term, after the version byte.
    pub const COMPRESSED: u8 = 80;
    /// Index into the atom cache of a distribution header.
    pub const ATOM_CACHE_REF: u8 = 82;
    /// `NEW_FLOAT_EXT`: IEEE 754 double, big-endian.
    pub const NEW_FLOAT_EXT: u8 = 70;
    /// `BIT_BINARY_EXT`: bitstring.
    pub const BIT_BINARY_EXT: u8 = 77;
    /// `NEW_PID_EXT`: pid with 32-bit creation.
    pub const NEW_PID_EXT: u8 = 88;
    /// `NEW_PORT_EXT`: port with 32-bit id and creation.
    pub const NEW_PORT_EXT: u8 = 89;
    /// `NEWER_REFERENCE_EXT`: reference with 32-bit creation.
    pub const NEWER_REFERENCE_EXT: u8 = 90;
    /// `SMALL_INTEGER_EXT`: unsigned byte.
    pub const SMALL_INTEGER_EXT: u8 = 97;
    /// `INTEGER_EXT`: signed 32-bit big-endian integer.
    pub const INTEGER_EXT: u8 = 98;
    /// `FLOAT_EXT`: float as a 31-byte `%.20e` string (minor version 0).
    pub const FLOAT_EXT: u8 = 99;
    /// `ATOM_EXT`: Latin-1 atom with a 2-byte length (deprecated).
    pub const ATOM_EXT: u8 = 100;
    /// `REFERENCE_EXT`: one-word reference (deprecated).
    pub const REFERENCE_EXT: u8 = 101;
    /// `PORT_EXT`: port with 8-bit creation.
    pub const PORT_EXT: u8 = 102;
    /// `PID_EXT`: pid with 8-bit creation.
    pub const PID_EXT: u8 = 103;
    /// `SMALL_TUPLE_EXT`: tuple of up to 255 elements.
    pub const SMALL_TUPLE_EXT: u8 = 104;
    /// `LARGE_TUPLE_EXT`: tuple with a 4-byte arity.
    pub const LARGE_TUPLE_EXT: u8 = 105;
    /// `NIL_EXT`: `[]`.
    pub const NIL_EXT: u8 = 106;
    /// `STRING_EXT`: list of up to 65535 bytes.
    pub const STRING_EXT: u8 = 107;
    /// `LIST_EXT`: elements followed by a tail.
    pub const LIST_EXT: u8 = 108;
    /// `BINARY_EXT`: binary.
    pub const BINARY_EXT: u8 = 109;
    /// `SMALL_BIG_EXT`: integer with up to 255 magnitude bytes.
    pub const SMALL_BIG_EXT: u8 = 110;
    /// `LARGE_BIG_EXT`: integer with a 4-byte magnitude length.
    pub const LARGE_BIG_EXT: u8 = 111;
    /// `NEW_FUN_EXT`: closure.
    pub const NEW_FUN_EXT: u8 = 112;
    /// `EXPORT_EXT`: `fun M:F/A`.
    pub const EXPORT_EXT: u8 = 113;
    /// `NEW_REFERENCE_EXT`: reference with 8-bit creation.
    pub const NEW_REFERENCE_EXT: u8 = 114;
    /// `SMALL_ATOM_EXT`: Latin-1 atom with a 1-byte length (deprecated).
    pub const SMALL_ATOM_EXT: u8 = 115;
    /// `MAP_EXT`: map.
    pub const MAP_EXT: u8 = 116;
    /// `FUN_EXT`: pre-R8 fun, no longer decoded by OTP.
    pub const FUN_EXT: u8 = 117;
    /// `ATOM_UTF8_EXT`: UTF-8 atom with a 2-byte length.
    pub const ATOM_UTF8_EXT: u8 = 118;
    /// `SMALL_ATOM_UTF8_EXT`: UTF-8 atom with a 1-byte length.
    pub const SMALL_ATOM_UTF8_EXT: u8 = 119;
    /// `V4_PORT_EXT`: port with a 64-bit id.
    pub const V4_PORT_EXT: u8 = 120;
    /// `LOCAL_EXT`: node-local encoding (OTP 26), not decodable elsewhere.
    pub const LOCAL_EXT: u8 = 121;
}

/// The longest list `STRING_EXT` can hold (its length field is 16 bits):
/// proper lists of up to this many integers 0..=255 are written as one.
pub const MAX_STRING_EXT_LEN: usize = 65535;

/// The BEAM keeps maps of up to this many pairs as sorted "flatmaps" and
/// writes their keys in that order ([`map_key_cmp`]);
/// larger maps are hash tries written in the trie's internal hash order.
pub const FLATMAP_MAX_PAIRS: usize = 32;

/// Port numbers up to this fit in `NEW_PORT_EXT`; OTP 25 writes larger ones
/// as `V4_PORT_EXT` (`ERTS_MAX_V3_PORT_NUMBER` in erts, 28 bits).
const MAX_V3_PORT_ID: u64 = (1 << 28) - 1;

/// Encodes `term` with the version byte 131 in front, as
/// `term_to_binary/1` does.
///
/// Fails with [`Error::Encode`] naming the path to a value that has no
/// external representation: an atom of more than 255 characters, a float
/// that is not finite, a map with duplicate keys, a malformed bitstring,
/// improper list or fun, or a size beyond the format's 32-bit fields.
pub fn encode(term: &Term) -> Result<Vec<u8>> {
    // Sizing a whole container first costs about as much as writing it;
    // letting the vector grow is cheaper (see `encode_into`).
    let capacity = match term {
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) => 64,
        leaf => 1 + leaf_size(leaf),
    };
    let mut buf = Vec::with_capacity(capacity);
    buf.push(tag::VERSION);
    let mut out = Out {
        buf: &mut buf,
        latin1_atoms: true,
        atom_refs: None,
    };
    write_term(term, &mut out).map_err(|failure| failure.into_error())?;
    Ok(buf)
}

/// Appends the encoding of `term` to `out` without a version byte, as terms
/// that follow a distribution header are sent. On error `out` is left as it
/// was on entry.
///
/// The buffer is not pre-sized with [`encoded_size`]: that walk costs about
/// as much as the encoding itself (40% of the time for a list of small
/// tuples), while a reused buffer rarely needs to grow and a fresh one grows
/// by doubling for a fraction of that. Call `out.reserve(encoded_size(term))`
/// first where an exact allocation matters more than time.
pub fn encode_into(term: &Term, out: &mut Vec<u8>) -> Result<()> {
    encode_with(
        term,
        &mut Out {
            buf: out,
            latin1_atoms: false,
            atom_refs: None,
        },
    )
}

/// Appends what [`encode`] writes after its version byte. For encoders
/// that write the containers of a term from values of their own language
/// and hand the rest to this. On error `out` is left as it was on entry.
pub fn encode_body_into(term: &Term, out: &mut Vec<u8>) -> Result<()> {
    encode_with(
        term,
        &mut Out {
            buf: out,
            latin1_atoms: true,
            atom_refs: None,
        },
    )
}

/// Appends the atom named `text` as [`encode`] writes it, without making
/// it an [`Atom`] (atoms are interned for good): for encoders whose
/// language has atom names of its own. Fails for more than
/// [`MAX_ATOM_CHARS`](super::MAX_ATOM_CHARS) characters.
pub fn encode_atom_into(text: &str, out: &mut Vec<u8>) -> Result<()> {
    let out = &mut Out {
        buf: out,
        latin1_atoms: true,
        atom_refs: None,
    };
    write_atom_text(text, out).map_err(|failure| failure.into_error())
}

/// Appends the integer `value` as [`encode`] writes it.
#[inline]
pub fn encode_int_into(value: i64, out: &mut Vec<u8>) {
    write_int(value, out);
}

/// Resolves an atom to its `ATOM_CACHE_REF` index in the distribution
/// header of the message being encoded, if it has one.
pub(crate) type AtomRefs<'a> = &'a dyn Fn(Atom) -> Option<u8>;

/// Like [`encode_into`], but atoms that `atom_refs` resolves are written as
/// `ATOM_CACHE_REF`s: the form of a term after a distribution header.
pub(crate) fn encode_into_cached(
    term: &Term,
    out: &mut Vec<u8>,
    atom_refs: AtomRefs<'_>,
) -> Result<()> {
    encode_with(
        term,
        &mut Out {
            buf: out,
            latin1_atoms: false,
            atom_refs: Some(atom_refs),
        },
    )
}

fn encode_with(term: &Term, out: &mut Out<'_>) -> Result<()> {
    let start = out.len();
    write_term(term, out).map_err(|failure| {
        out.truncate(start);
        failure.into_error()
    })
}

/// Calls `note` with every atom [`encode_into`] writes for `term` (node
/// names of pids, ports and references included), in no particular order
/// and with repeats. Funs are written as stored, so their atoms are not
/// visited.
pub(crate) fn visit_atoms(term: &Term, note: &mut dyn FnMut(Atom)) {
    match term {
        Term::Atom(atom) => note(*atom),
        Term::Tuple(elements) | Term::List(elements) => {
            for element in elements {
                visit_atoms(element, note);
            }
        }
        Term::ImproperList(elements, tail) => {
            for element in elements {
                visit_atoms(element, note);
            }
            visit_atoms(tail, note);
        }
        Term::Map(pairs) => {
            for (key, value) in pairs {
                visit_atoms(key, note);
                visit_atoms(value, note);
            }
        }
        Term::Pid(pid) => note(pid.node),
        Term::Port(port) => note(port.node),
        Term::Ref(reference) => note(reference.node),
        Term::Int(_)
        | Term::BigInt(_)
        | Term::Float(_)
        | Term::Binary(_)
        | Term::Bitstring(_)
        | Term::Fun(_) => {}
    }
}

/// The output buffer and how atoms are written into it.
struct Out<'a> {
    buf: &'a mut Vec<u8>,
    /// Write atoms that Latin-1 can hold as `ATOM_EXT`, as OTP 25's
    /// `term_to_binary/1` does; otherwise as UTF-8, as the distribution does.
    latin1_atoms: bool,
    /// Atoms of the distribution header's atom cache references.
    atom_refs: Option<AtomRefs<'a>>,
}

impl std::ops::Deref for Out<'_> {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        self.buf
    }
}

impl std::ops::DerefMut for Out<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        self.buf
    }
}

/// The exact number of bytes [`encode_into`] appends for `term` (so
/// [`encode`] produces one more). Terms that fail to encode still get a
/// size, computed as if their bad parts were well-formed.
pub fn encoded_size(term: &Term) -> usize {
    // Containers recurse here with a small frame; apart from the commonest
    // leaves, the rest is sized out of line (see `decode::MAX_DEPTH` on
    // stack use).
    match term {
        Term::Int(value) => int_size(*value),
        Term::Atom(atom) => atom_size(*atom),
        Term::Float(_) => 9,
        Term::Tuple(elements) => (if elements.len() <= 255 { 2 } else { 5 }) + sizes(elements),
        Term::List(elements) if elements.is_empty() => 1,
        Term::List(elements) if is_byte_string(elements) => 3 + elements.len(),
        Term::List(elements) => 6 + sizes(elements),
        Term::ImproperList(elements, tail) => 5 + sizes(elements) + encoded_size(tail),
        Term::Map(pairs) => {
            let mut size = 5;
            for (key, value) in pairs {
                size += encoded_size(key) + encoded_size(value);
            }
            size
        }
        leaf => leaf_size(leaf),
    }
}

fn sizes(terms: &[Term]) -> usize {
    let mut size = 0;
    for term in terms {
        size += encoded_size(term);
    }
    size
}

#[inline(never)]
fn leaf_size(term: &Term) -> usize {
    match term {
        Term::Atom(atom) => atom_size(*atom),
        Term::Int(value) => int_size(*value),
        Term::BigInt(big) => big_size(big),
        Term::Float(_) => 9,
        Term::Binary(bytes) => 5 + bytes.len(),
        Term::Bitstring(bits) => 6 + bits.bytes.len(),
        Term::Pid(pid) => 13 + atom_size(pid.node),
        Term::Port(port) => {
            let id_size = if port.id > MAX_V3_PORT_ID { 8 } else { 4 };
            5 + id_size + atom_size(port.node)
        }
        Term::Ref(reference) => 7 + atom_size(reference.node) + 4 * reference.ids().len(),
        Term::Fun(fun) => fun.encoding().len(),
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) => {
            encoded_size(term)
        }
    }
}

#[inline]
fn atom_size(atom: Atom) -> usize {
    let len = atom.as_str().len();
    if len <= 255 {
        2 + len
    } else {
        3 + len
    }
}

#[inline]
fn int_size(value: i64) -> usize {
    if (0..=255).contains(&value) {
        2
    } else if i32::try_from(value).is_ok() {
        5
    } else {
        3 + bigint_bytes(value.unsigned_abs())
    }
}

fn big_size(big: &BigInt) -> usize {
    let magnitude = super::bigint::trimmed(&big.magnitude);
    match small_value(big.negative, magnitude) {
        Some(value) => int_size(value),
        None if magnitude.len() <= 255 => 3 + magnitude.len(),
        None => 6 + magnitude.len(),
    }
}

/// Number of bytes in the magnitude of a non-zero `u64`.
fn bigint_bytes(magnitude: u64) -> usize {
    8 - (magnitude.leading_zeros() / 8) as usize
}

/// The value of a trimmed big magnitude when it fits in `i64`.
fn small_value(negative: bool, magnitude: &[u8]) -> Option<i64> {
    if magnitude.len() > 8 {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..magnitude.len()].copy_from_slice(magnitude);
    let value = u64::from_le_bytes(bytes);
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Whether a proper list goes out as `STRING_EXT`: every element is an
/// integer 0..=255 and the length fits its 16-bit field.
fn is_byte_string(elements: &[Term]) -> bool {
    elements.len() <= MAX_STRING_EXT_LEN
        && elements
            .iter()
            .all(|element| matches!(element, Term::Int(0..=255)))
}

/// One step on the way from the root term to a value that failed.
enum Step<'t> {
    /// Element of a tuple or list (0-based).
    Index(usize),
    /// Value under this key in a map.
    Key(&'t Term),
    /// A key of a map (the key itself or something inside it failed).
    InKey(&'t Term),
    /// Tail of an improper list.
    Tail,
}

/// Why encoding failed, and where; the steps are collected innermost first
/// while the error travels up.
struct Failure<'t> {
    reason: String,
    steps: Vec<Step<'t>>,
}

/// Boxed so that the success path returns a single null word.
type Failed<'t> = Box<Failure<'t>>;

impl<'t> Failure<'t> {
    #[cold]
    fn new(reason: impl Into<String>) -> Failed<'t> {
        Box::new(Failure {
            reason: reason.into(),
            steps: Vec::new(),
        })
    }

    #[cold]
    fn at(mut self: Failed<'t>, step: Step<'t>) -> Failed<'t> {
        self.steps.push(step);
        self
    }

    #[cold]
    fn into_error(self) -> Error {
        let mut path = String::new();
        for step in self.steps.iter().rev() {
            match step {
                Step::Index(index) => {
                    let _ = write!(path, "[{index}]");
                }
                Step::Key(key) | Step::InKey(key) => {
                    let text = key_in_path(key);
                    let prefix = if matches!(step, Step::InKey(_)) {
                        "key "
                    } else {
                        ""
                    };
                    let _ = write!(path, "[{prefix}{text}]");
                }
                Step::Tail => path.push_str("[|]"),
            }
        }
        Error::Encode {
            path,
            reason: self.reason,
        }
    }
}

/// How an [`Error::Encode`] path shows a map key: its Erlang text, cut
/// short so that a huge key does not swamp the message. For bindings that
/// build such paths from their own values.
#[cold]
pub fn key_in_path(key: &Term) -> String {
    const MAX_KEY_TEXT: usize = 60;
    format!("{key:.MAX_KEY_TEXT$}")
}

type Written<'t> = std::result::Result<(), Failed<'t>>;

/// Containers recurse here with a small frame; apart from the commonest
/// leaves, everything else is written out of line (see `decode::MAX_DEPTH`
/// on stack use).
fn write_term<'t>(term: &'t Term, out: &mut Out<'_>) -> Written<'t> {
    match term {
        Term::Int(value) => {
            write_int(*value, out);
            Ok(())
        }
        Term::Atom(atom) => write_atom(*atom, out),
        Term::Tuple(elements) => {
            if elements.len() <= 255 {
                out.push(tag::SMALL_TUPLE_EXT);
                out.push(elements.len() as u8);
            } else {
                out.push(tag::LARGE_TUPLE_EXT);
                write_len(elements.len(), "tuple", out)?;
            }
            write_elements(elements, out)
        }
        Term::List(elements) => write_list(elements, out),
        Term::ImproperList(elements, tail) => write_improper_list(elements, tail, out),
        Term::Map(pairs) => write_map(pairs, out),
        leaf => write_leaf(leaf, out),
    }
}

#[inline(never)]
fn write_leaf<'t>(term: &'t Term, out: &mut Out<'_>) -> Written<'t> {
    match term {
        Term::Atom(atom) => write_atom(*atom, out),
        Term::Int(value) => {
            write_int(*value, out);
            Ok(())
        }
        Term::BigInt(big) => write_big(big, out),
        Term::Float(value) => write_float(*value, out),
        Term::Binary(bytes) => {
            out.push(tag::BINARY_EXT);
            write_len(bytes.len(), "binary", out)?;
            out.extend_from_slice(bytes);
            Ok(())
        }
        Term::Bitstring(bits) => write_bitstring(bits, out),
        Term::Pid(pid) => write_pid(pid, out),
        Term::Port(port) => write_port(port, out),
        Term::Ref(reference) => write_ref(reference, out),
        Term::Fun(fun) => write_fun(fun, out),
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) => {
            write_term(term, out)
        }
    }
}

fn write_elements<'t>(elements: &'t [Term], out: &mut Out<'_>) -> Written<'t> {
    for (index, element) in elements.iter().enumerate() {
        write_term(element, out).map_err(|failure| failure.at(Step::Index(index)))?;
    }
    Ok(())
}

/// Writes a 32-bit length field.
fn write_len<'t>(len: usize, what: &str, out: &mut Out<'_>) -> Written<'t> {
    match u32::try_from(len) {
        Ok(len) => {
            out.extend_from_slice(&len.to_be_bytes());
            Ok(())
        }
        Err(_) => Err(Failure::new(format!(
            "{what} of {len} elements or bytes exceeds the 32-bit length field"
        ))),
    }
}

#[inline]
fn write_atom<'t>(atom: Atom, out: &mut Out<'_>) -> Written<'t> {
    if let Some(index) = out.atom_refs.and_then(|refs| refs(atom)) {
        out.extend_from_slice(&[tag::ATOM_CACHE_REF, index]);
        return Ok(());
    }
    write_atom_text(atom.as_str(), out)
}

#[inline]
fn write_atom_text<'t>(text: &str, out: &mut Out<'_>) -> Written<'t> {
    if out.latin1_atoms && text.chars().all(|c| (c as u32) <= 0xFF) {
        return write_latin1_atom(text, out);
    }
    let bytes = text.as_bytes();
    if bytes.len() <= 255 {
        out.push(tag::SMALL_ATOM_UTF8_EXT);
        out.push(bytes.len() as u8);
    } else {
        // More than 255 bytes may still be at most 255 characters (and then
        // at most 1020 bytes, well within the 16-bit length).
        let chars = text.chars().count();
        if chars > super::MAX_ATOM_CHARS {
            return Err(Failure::new(format!(
                "atom of {chars} characters exceeds the limit of {}",
                super::MAX_ATOM_CHARS
            )));
        }
        out.push(tag::ATOM_UTF8_EXT);
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(bytes);
    Ok(())
}

#[inline(never)]
fn write_latin1_atom<'t>(text: &str, out: &mut Out<'_>) -> Written<'t> {
    let chars = text.chars().count();
    if chars > super::MAX_ATOM_CHARS {
        return Err(Failure::new(format!(
            "atom of {chars} characters exceeds the limit of {}",
            super::MAX_ATOM_CHARS
        )));
    }
    out.push(tag::ATOM_EXT);
    out.extend_from_slice(&(chars as u16).to_be_bytes());
    out.extend(text.chars().map(|c| c as u8));
    Ok(())
}

#[inline]
fn write_int(value: i64, out: &mut Vec<u8>) {
    if (0..=255).contains(&value) {
        out.push(tag::SMALL_INTEGER_EXT);
        out.push(value as u8);
    } else if let Ok(value) = i32::try_from(value) {
        out.push(tag::INTEGER_EXT);
        out.extend_from_slice(&value.to_be_bytes());
    } else {
        let magnitude = value.unsigned_abs();
        let len = bigint_bytes(magnitude);
        out.push(tag::SMALL_BIG_EXT);
        out.push(len as u8);
        out.push(u8::from(value < 0));
        out.extend_from_slice(&magnitude.to_le_bytes()[..len]);
    }
}

fn write_big<'t>(big: &BigInt, out: &mut Out<'_>) -> Written<'t> {
    // A `BigInt` built by hand may hold a small value or zero padding; the
    // BEAM would write the normalised number, so do the same.
    let magnitude = super::bigint::trimmed(&big.magnitude);
    if let Some(value) = small_value(big.negative, magnitude) {
        write_int(value, out);
        return Ok(());
    }
    if magnitude.len() <= 255 {
        out.push(tag::SMALL_BIG_EXT);
        out.push(magnitude.len() as u8);
    } else {
        out.push(tag::LARGE_BIG_EXT);
        write_len(magnitude.len(), "integer", out)?;
    }
    out.push(u8::from(big.negative));
    out.extend_from_slice(magnitude);
    Ok(())
}

fn write_float<'t>(value: f64, out: &mut Out<'_>) -> Written<'t> {
    if !value.is_finite() {
        return Err(Failure::new(format!(
            "{value} is not a finite float; Erlang has no such value"
        )));
    }
    out.push(tag::NEW_FLOAT_EXT);
    out.extend_from_slice(&value.to_bits().to_be_bytes());
    Ok(())
}

fn write_bitstring<'t>(bits: &Bitstring, out: &mut Out<'_>) -> Written<'t> {
    let Some((&last, whole)) = bits.bytes.split_last() else {
        return Err(Failure::new("bitstring without bytes"));
    };
    if !(1..=7).contains(&bits.bits) {
        return Err(Failure::new(format!(
            "bitstring with {} bits in its last byte (1 to 7 allowed; use a binary for 8)",
            bits.bits
        )));
    }
    out.push(tag::BIT_BINARY_EXT);
    write_len(bits.bytes.len(), "bitstring", out)?;
    out.push(bits.bits);
    out.extend_from_slice(whole);
    // The unused low bits are zero on the wire, whatever the caller left there.
    out.push(last & (0xFFu8 << (8 - bits.bits)));
    Ok(())
}

fn write_pid<'t>(pid: &Pid, out: &mut Out<'_>) -> Written<'t> {
    out.push(tag::NEW_PID_EXT);
    write_atom(pid.node, out).map_err(|failure| node_failure(failure, "pid"))?;
    out.extend_from_slice(&pid.id.to_be_bytes());
    out.extend_from_slice(&pid.serial.to_be_bytes());
    out.extend_from_slice(&pid.creation.to_be_bytes());
    Ok(())
}

fn write_port<'t>(port: &Port, out: &mut Out<'_>) -> Written<'t> {
    let small_id = u32::try_from(port.id)
        .ok()
        .filter(|&id| u64::from(id) <= MAX_V3_PORT_ID);
    out.push(if small_id.is_some() {
        tag::NEW_PORT_EXT
    } else {
        tag::V4_PORT_EXT
    });
    write_atom(port.node, out).map_err(|failure| node_failure(failure, "port"))?;
    match small_id {
        Some(id) => out.extend_from_slice(&id.to_be_bytes()),
        None => out.extend_from_slice(&port.id.to_be_bytes()),
    }
    out.extend_from_slice(&port.creation.to_be_bytes());
    Ok(())
}

fn write_ref<'t>(reference: &Ref, out: &mut Out<'_>) -> Written<'t> {
    let ids = reference.ids();
    out.push(tag::NEWER_REFERENCE_EXT);
    out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
    write_atom(reference.node, out).map_err(|failure| node_failure(failure, "reference"))?;
    out.extend_from_slice(&reference.creation.to_be_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
    Ok(())
}

#[cold]
fn node_failure<'t>(mut failure: Failed<'t>, what: &str) -> Failed<'t> {
    failure.reason = format!("node name of {what}: {}", failure.reason);
    failure
}

fn write_list<'t>(elements: &'t [Term], out: &mut Out<'_>) -> Written<'t> {
    if elements.is_empty() {
        out.push(tag::NIL_EXT);
        return Ok(());
    }
    if is_byte_string(elements) {
        out.push(tag::STRING_EXT);
        out.extend_from_slice(&(elements.len() as u16).to_be_bytes());
        out.extend(elements.iter().map(|element| match element {
            Term::Int(byte) => *byte as u8,
            _ => 0,
        }));
        return Ok(());
    }
    out.push(tag::LIST_EXT);
    write_len(elements.len(), "list", out)?;
    write_elements(elements, out)?;
    out.push(tag::NIL_EXT);
    Ok(())
}

fn write_improper_list<'t>(elements: &'t [Term], tail: &'t Term, out: &mut Out<'_>) -> Written<'t> {
    if elements.is_empty() {
        return Err(Failure::new(
            "improper list without elements (use Term::improper_list to build lists)",
        ));
    }
    if matches!(tail, Term::List(_) | Term::ImproperList(..)) {
        return Err(Failure::new(
            "improper list whose tail is a list (use Term::improper_list to build lists)",
        ));
    }
    out.push(tag::LIST_EXT);
    write_len(elements.len(), "list", out)?;
    write_elements(elements, out)?;
    write_term(tail, out).map_err(|failure| failure.at(Step::Tail))
}

fn write_map<'t>(pairs: &'t [(Term, Term)], out: &mut Out<'_>) -> Written<'t> {
    out.push(tag::MAP_EXT);
    write_len(pairs.len(), "map", out)?;
    if pairs.len() <= FLATMAP_MAX_PAIRS {
        // Sort indices on the stack: no allocation, and sorting also finds
        // duplicate keys, which end up next to each other.
        let mut order = [0u8; FLATMAP_MAX_PAIRS];
        for (slot, index) in order.iter_mut().zip(0u8..) {
            *slot = index;
        }
        let order = &mut order[..pairs.len()];
        order.sort_unstable_by(|&a, &b| map_key_cmp(&pairs[a as usize].0, &pairs[b as usize].0));
        if let Some(pair) = order
            .windows(2)
            .find(|pair| pairs[pair[0] as usize].0 == pairs[pair[1] as usize].0)
        {
            return Err(duplicate_key(&pairs[pair[1] as usize].0));
        }
        for &index in order.iter() {
            write_pair(&pairs[index as usize], out)?;
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        if let Some((key, _)) = pairs.iter().find(|(key, _)| !seen.insert(key)) {
            return Err(duplicate_key(key));
        }
        for pair in pairs {
            write_pair(pair, out)?;
        }
    }
    Ok(())
}

#[cold]
fn duplicate_key(key: &Term) -> Failed<'_> {
    Failure::new("duplicate map key").at(Step::InKey(key))
}

fn write_pair<'t>((key, value): &'t (Term, Term), out: &mut Out<'_>) -> Written<'t> {
    write_term(key, out).map_err(|failure| failure.at(Step::InKey(key)))?;
    write_term(value, out).map_err(|failure| failure.at(Step::Key(key)))
}

fn write_fun<'t>(fun: &Fun, out: &mut Out<'_>) -> Written<'t> {
    match fun.encoding().first() {
        Some(&tag::EXPORT_EXT) if out.latin1_atoms => write_export_latin1(fun, out),
        Some(&tag::NEW_FUN_EXT | &tag::EXPORT_EXT) => {
            out.extend_from_slice(fun.encoding());
            Ok(())
        }
        _ => Err(Failure::new(
            "fun whose stored encoding does not start with tag 112 or 113",
        )),
    }
}

/// Rewrites an export fun (stored with UTF-8 atoms) with the atom tags
/// `term_to_binary/1` of OTP 25 uses.
fn write_export_latin1<'t>(fun: &Fun, out: &mut Out<'_>) -> Written<'t> {
    let mut fields = super::Decoder::new(&fun.encoding()[1..]);
    let parts = (fields.term(), fields.term(), fields.term());
    let (Ok(Term::Atom(module)), Ok(Term::Atom(function)), Ok(Term::Int(arity))) = parts else {
        return Err(Failure::new("export fun with a malformed stored encoding"));
    };
    out.push(tag::EXPORT_EXT);
    write_atom(module, out)?;
    write_atom(function, out)?;
    write_int(arity, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// The distribution form (UTF-8 atoms) with a version byte in front.
    fn enc(term: &Term) -> Vec<u8> {
        let mut bytes = vec![tag::VERSION];
        encode_into(term, &mut bytes).expect("encodes");
        assert_eq!(
            bytes.len(),
            1 + encoded_size(term),
            "encoded_size of {term:?}"
        );
        bytes
    }

    #[test]
    fn term_to_binary_form_writes_latin1_atoms_as_atom_ext() {
        let ok = encode(&Term::atom("ok")).expect("encodes");
        assert_eq!(ok, [131, tag::ATOM_EXT, 0, 2, b'o', b'k']);
        let e_acute = encode(&Term::atom("é")).expect("encodes");
        assert_eq!(e_acute, [131, tag::ATOM_EXT, 0, 1, 0xE9]);
        let lambda = encode(&Term::atom("λ")).expect("encodes");
        assert_eq!(lambda, [131, tag::SMALL_ATOM_UTF8_EXT, 2, 0xCE, 0xBB]);
        let export = Fun::export(Atom::new("m"), Atom::new("f"), 2).expect("export");
        let bytes = encode(&Term::Fun(export)).expect("encodes");
        assert_eq!(
            bytes,
            [
                131,
                tag::EXPORT_EXT,
                tag::ATOM_EXT,
                0,
                1,
                b'm',
                tag::ATOM_EXT,
                0,
                1,
                b'f',
                97,
                2
            ]
        );
        let long = "x".repeat(256);
        assert!(encode(&Term::atom(&long)).is_err());
    }

    #[test]
    fn helpers_write_what_encode_writes_after_the_version() {
        for text in [
            "ok",
            "é",
            "λ",
            "日本語",
            &"ü".repeat(255),
            &"日".repeat(255),
        ] {
            let mut atom = Vec::new();
            encode_atom_into(text, &mut atom).expect("encodes");
            assert_eq!(
                atom,
                encode(&Term::atom(text)).expect("encodes")[1..],
                "{text}"
            );
        }
        assert!(encode_atom_into(&"日".repeat(256), &mut Vec::new()).is_err());
        for value in [0, 255, 256, -1, i64::from(i32::MIN) - 1, i64::MAX, i64::MIN] {
            let mut int = Vec::new();
            encode_int_into(value, &mut int);
            assert_eq!(
                int,
                encode(&Term::Int(value)).expect("encodes")[1..],
                "{value}"
            );
        }
        let term: Term = "{ok, [a, 'é'], #{b => 1.5, 1 => fun m:f/2}}"
            .parse()
            .expect("parses");
        let mut body = vec![7];
        encode_body_into(&term, &mut body).expect("encodes");
        assert_eq!(body[1..], encode(&term).expect("encodes")[1..]);
    }

    fn int(value: i64) -> Term {
        Term::Int(value)
    }

    #[test]
    fn integers() {
        assert_eq!(enc(&int(0)), [131, 97, 0]);
        assert_eq!(enc(&int(255)), [131, 97, 255]);
        assert_eq!(enc(&int(256)), [131, 98, 0, 0, 1, 0]);
        assert_eq!(enc(&int(-1)), [131, 98, 255, 255, 255, 255]);
        assert_eq!(enc(&int(i32::MAX as i64)), [131, 98, 127, 255, 255, 255]);
        assert_eq!(enc(&int(i32::MIN as i64)), [131, 98, 128, 0, 0, 0]);
        assert_eq!(
            enc(&int(i32::MAX as i64 + 1)),
            [131, 110, 4, 0, 0, 0, 0, 128]
        );
        assert_eq!(
            enc(&int(i32::MIN as i64 - 1)),
            [131, 110, 4, 1, 1, 0, 0, 128]
        );
        assert_eq!(
            enc(&int(i64::MAX)),
            [131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127]
        );
        assert_eq!(
            enc(&int(i64::MIN)),
            [131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128]
        );
    }

    #[test]
    fn big_integers() {
        assert_eq!(
            enc(&Term::from(1u128 << 64)),
            [131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            enc(&Term::from(-(1i128 << 64))),
            [131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        // Hand-built bigs are normalised like the BEAM would.
        let small = Term::BigInt(BigInt {
            negative: true,
            magnitude: vec![5, 0, 0],
        });
        assert_eq!(enc(&small), [131, 98, 255, 255, 255, 251]);
        let zero = Term::BigInt(BigInt {
            negative: true,
            magnitude: vec![0],
        });
        assert_eq!(enc(&zero), [131, 97, 0]);
        let huge = Term::BigInt(BigInt::from_magnitude(false, &[1; 256]));
        let bytes = enc(&huge);
        assert_eq!(&bytes[..7], &[131, 111, 0, 0, 1, 0, 0]);
        assert_eq!(bytes.len(), 7 + 256);
    }

    #[test]
    fn floats() {
        assert_eq!(enc(&Term::Float(1.5)), [131, 70, 63, 248, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(&Term::Float(-0.0)), [131, 70, 128, 0, 0, 0, 0, 0, 0, 0]);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = encode(&Term::Float(bad)).expect_err("non-finite");
            assert!(matches!(err, Error::Encode { .. }), "{err}");
        }
    }

    #[test]
    fn atoms() {
        assert_eq!(enc(&Term::atom("ok")), [131, 119, 2, b'o', b'k']);
        assert_eq!(enc(&Term::atom("")), [131, 119, 0]);
        assert_eq!(enc(&Term::atom("α")), [131, 119, 2, 206, 177]);
        let long = "ü".repeat(255);
        let bytes = enc(&Term::atom(&long));
        assert_eq!(&bytes[..4], &[131, 118, 1, 254]);
        let err = encode(&Term::atom(&"a".repeat(256))).expect_err("too long");
        assert!(err.to_string().contains("256 characters"), "{err}");
        assert!(encode(&Term::atom(&"ü".repeat(256))).is_err());
        assert!(encode(&Term::atom(&"a".repeat(255))).is_ok());
    }

    #[test]
    fn lists_and_strings() {
        assert_eq!(enc(&Term::nil()), [131, 106]);
        assert_eq!(enc(&Term::charlist("ab")), [131, 107, 0, 2, b'a', b'b']);
        assert_eq!(
            enc(&Term::list(vec![int(1), int(256)])),
            [131, 108, 0, 0, 0, 2, 97, 1, 98, 0, 0, 1, 0, 106]
        );
        let string = Term::List(vec![int(7); 65535]);
        assert_eq!(&enc(&string)[..4], &[131, 107, 255, 255]);
        let long = Term::List(vec![int(7); 65536]);
        assert_eq!(&enc(&long)[..6], &[131, 108, 0, 1, 0, 0]);
        let improper = Term::improper_list(vec![int(1)], Term::atom("a"));
        assert_eq!(enc(&improper), [131, 108, 0, 0, 0, 1, 97, 1, 119, 1, b'a']);
        let bad = Term::ImproperList(vec![int(1)], Box::new(Term::nil()));
        assert!(encode(&bad).is_err());
        let bad = Term::ImproperList(vec![], Box::new(int(1)));
        assert!(encode(&bad).is_err());
    }

    #[test]
    fn tuples() {
        assert_eq!(enc(&Term::tuple(vec![])), [131, 104, 0]);
        let large = Term::Tuple(vec![int(1); 256]);
        assert_eq!(&enc(&large)[..6], &[131, 105, 0, 0, 1, 0]);
    }

    #[test]
    fn binaries_and_bitstrings() {
        assert_eq!(
            enc(&Term::binary(&b"ab"[..])),
            [131, 109, 0, 0, 0, 2, b'a', b'b']
        );
        let bits = Term::bitstring(&[1, 2, 0xFF], 21).expect("bits");
        assert_eq!(enc(&bits), [131, 77, 0, 0, 0, 3, 5, 1, 2, 0xF8]);
        let unmasked = Term::Bitstring(Bitstring {
            bytes: Bytes::from_static(&[0xFF]),
            bits: 1,
        });
        assert_eq!(enc(&unmasked), [131, 77, 0, 0, 0, 1, 1, 0x80]);
        let bad = Term::Bitstring(Bitstring {
            bytes: Bytes::from_static(&[0xFF]),
            bits: 8,
        });
        assert!(encode(&bad).is_err());
        let bad = Term::Bitstring(Bitstring {
            bytes: Bytes::new(),
            bits: 1,
        });
        assert!(encode(&bad).is_err());
    }

    #[test]
    fn identifiers() {
        let node = Atom::new("a@h");
        let pid = Term::Pid(Pid {
            node,
            id: 1,
            serial: 2,
            creation: 3,
        });
        assert_eq!(
            enc(&pid),
            [131, 88, 119, 3, b'a', b'@', b'h', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        let port = Term::Port(Port {
            node,
            id: MAX_V3_PORT_ID,
            creation: 1,
        });
        assert_eq!(enc(&port)[1], tag::NEW_PORT_EXT);
        let port = Term::Port(Port {
            node,
            id: MAX_V3_PORT_ID + 1,
            creation: 1,
        });
        assert_eq!(
            enc(&port),
            [131, 120, 119, 3, b'a', b'@', b'h', 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 1]
        );
        let reference = Term::Ref(Ref::new(node, 7, &[1, 2, 3]).expect("ref"));
        assert_eq!(
            enc(&reference),
            [
                131, 90, 0, 3, 119, 3, b'a', b'@', b'h', 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
                0, 3
            ]
        );
    }

    #[test]
    fn small_maps_are_sorted_like_the_beam() {
        // term_to_binary(#{1 => a, 1.0 => b, a => c}): integers before floats.
        let map = Term::map(vec![
            (Term::atom("a"), Term::atom("c")),
            (Term::Float(1.0), Term::atom("b")),
            (int(1), Term::atom("a")),
        ]);
        assert_eq!(
            enc(&map),
            [
                131, 116, 0, 0, 0, 3, 97, 1, 119, 1, 97, 70, 63, 240, 0, 0, 0, 0, 0, 0, 119, 1, 98,
                119, 1, 97, 119, 1, 99
            ]
        );
    }

    #[test]
    fn large_maps_keep_their_order() {
        let pairs: Vec<(Term, Term)> = (0..33).rev().map(|i| (int(i), int(i))).collect();
        let bytes = enc(&Term::map(pairs));
        assert_eq!(&bytes[6..8], &[97, 32]);
    }

    #[test]
    fn duplicate_keys_fail() {
        let small = Term::map(vec![(int(1), int(1)), (int(1), int(2))]);
        assert!(encode(&small).is_err());
        let mut pairs: Vec<(Term, Term)> = (0..40).map(|i| (int(i), int(i))).collect();
        pairs.push((int(3), int(0)));
        assert!(encode(&Term::map(pairs)).is_err());
    }

    #[test]
    fn error_paths() {
        let term = Term::tuple(vec![
            int(1),
            int(2),
            Term::map(vec![(
                Term::atom("opts"),
                Term::list(vec![int(0), Term::Float(f64::NAN)]),
            )]),
        ]);
        match encode(&term) {
            Err(Error::Encode { path, .. }) => assert_eq!(path, "[2][opts][1]"),
            other => panic!("unexpected {other:?}"),
        }
        let term = Term::map(vec![(
            Term::tuple(vec![Term::Float(f64::INFINITY)]),
            int(1),
        )]);
        match encode(&term) {
            Err(Error::Encode { path, .. }) => assert!(path.starts_with("[key {"), "{path}"),
            other => panic!("unexpected {other:?}"),
        }
        let term = Term::improper_list(vec![int(1)], Term::Float(f64::NAN));
        match encode(&term) {
            Err(Error::Encode { path, .. }) => assert_eq!(path, "[|]"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn encode_into_restores_on_error() {
        let mut out = vec![1, 2, 3];
        encode_into(&int(5), &mut out).expect("ok");
        assert_eq!(out, [1, 2, 3, 97, 5]);
        let bad = Term::list(vec![int(1), Term::Float(f64::NAN)]);
        assert!(encode_into(&bad, &mut out).is_err());
        assert_eq!(out, [1, 2, 3, 97, 5]);
    }

    #[test]
    fn funs_are_written_verbatim() {
        let export = Fun::from_encoding(Bytes::from_static(&[
            113, 119, 1, b'm', 119, 1, b'f', 97, 2,
        ]));
        assert_eq!(
            enc(&Term::Fun(export)),
            [131, 113, 119, 1, b'm', 119, 1, b'f', 97, 2]
        );
        assert!(encode(&Term::Fun(Fun::from_encoding(Bytes::new()))).is_err());
    }
}
