//! Encoding terms in the [External Term
//! Format](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html).
//!
//! [`Writer`] is the one ETF writer of ErlDP: it appends a term piece by
//! piece in the manner of ei's `ei_x_encode_*` (headers, then the
//! elements), or a whole [`Term`] at once. [`encode`], [`encode_into`], the
//! distribution's atom cache, the C ABI's `erldp_buf` and the bindings all
//! write through it.
//!
//! [`encode`] is byte for byte what `term_to_binary/1` of OTP 25 returns:
//! atoms that Latin-1 can hold as `ATOM_EXT`, others as UTF-8.
//! [`encode_into`], which the distribution uses, writes every atom as UTF-8
//! as the BEAM does on the wire (and as `term_to_binary/1` does from OTP 26
//! on). Both forms decode everywhere.
//!
//! The writer puts bytes straight into one buffer, with no allocation per
//! element (small maps are sorted through indices on the stack). The path
//! to a value that cannot be encoded is assembled only when encoding
//! fails. Maps of more than 32 pairs are written in the order given: OTP
//! writes them in its internal hash order, which a term decoded from OTP
//! keeps, but which ErlDP cannot reproduce for maps built here (and which
//! for atom keys even differs between VM runs).

use std::collections::HashSet;
use std::fmt::Write as _;

use bytes::Bytes;

use super::order::sort_map_keys;
use super::{Atom, BigInt, Bitstring, Fun, Pid, Port, Ref, Term};
use crate::error::{Error, Result};

/// Tag bytes of the external term format.
pub(crate) mod tag {
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
const MAX_STRING_EXT_LEN: usize = 65535;

/// The BEAM keeps maps of up to this many pairs as sorted "flatmaps" and
/// writes their keys in that order ([`map_key_cmp`](super::map_key_cmp));
/// larger maps are hash tries written in the trie's internal hash order.
const FLATMAP_MAX_PAIRS: usize = 32;

/// Binaries of at least this many bytes are left out of what a writer
/// [outlining](Writer::outline) them writes: 64 KiB, from which copying a
/// binary costs more than the system call or two that writing it from
/// where it lies adds.
pub(crate) const OUTLINE_MIN: usize = 64 << 10;

/// The binaries a writer left out, each with the offset in its output at
/// which its bytes belong.
pub(crate) type Outlined = Vec<(usize, Bytes)>;

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
    let mut writer = Writer::new(&mut buf);
    writer.version();
    writer.term(term)?;
    Ok(buf)
}

/// Appends the encoding of `term` to `out` without a version byte, as terms
/// that follow a distribution header are sent, atoms in UTF-8. On error
/// `out` is left as it was on entry.
///
/// The buffer is not pre-sized with [`encoded_size`]: that walk costs about
/// as much as the encoding itself (40% of the time for a list of small
/// tuples), while a reused buffer rarely needs to grow and a fresh one grows
/// by doubling for a fraction of that. Call `out.reserve(encoded_size(term))`
/// first where an exact allocation matters more than time.
pub fn encode_into(term: &Term, out: &mut Vec<u8>) -> Result<()> {
    Writer::new(out).utf8_atoms().term(term)
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
    Writer::new(out)
        .utf8_atoms()
        .atom_cache(atom_refs)
        .term(term)
}

/// Whether `term` holds a binary that a writer
/// [outlining](Writer::outline) binaries would leave out.
pub(crate) fn holds_outlined(term: &Term) -> bool {
    match term {
        Term::Binary(bytes) => bytes.len() >= OUTLINE_MIN,
        Term::Tuple(elements) | Term::List(elements) => elements.iter().any(holds_outlined),
        Term::ImproperList(elements, tail) => {
            elements.iter().any(holds_outlined) || holds_outlined(tail)
        }
        Term::Map(pairs) => pairs
            .iter()
            .any(|(key, value)| holds_outlined(key) || holds_outlined(value)),
        _ => false,
    }
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

/// Appends the External Term Format to a buffer, piece by piece in the
/// manner of ei's `ei_x_encode_*`, or a whole [`Term`] at once.
///
/// A container is its header followed by its elements, written by the calls
/// that follow: a tuple header and `arity` terms; a list header, `len`
/// terms and the tail ([`Writer::nil`] for a proper list); a map header and
/// its keys and values, key first. The writer does not count what follows
/// a header: the bytes are well formed once every element is written.
///
/// Each call either appends its whole value or, when it fails, nothing.
/// Failures are [`Error::Encode`]: a value ETF cannot hold (an atom of more
/// than 255 characters, a float that is not finite, a size beyond a 32-bit
/// field); [`Writer::term`] names the path to the bad value inside its term.
///
/// Atoms are written as `term_to_binary/1` of OTP 25 writes them (Latin-1
/// ones as `ATOM_EXT`) unless [`Writer::utf8_atoms`] asks for UTF-8, the
/// form of the distribution and of OTP 26 on. Small maps go out sorted when
/// written as a [`Term`]; to write one piece by piece as the BEAM would,
/// take the order from [`MapOrder`].
///
/// ```
/// use erldp::term::encode::Writer;
/// use erldp::Term;
///
/// // {ok, [1, <<"a">>]} as term_to_binary/1 writes it.
/// let mut bytes = Vec::new();
/// let mut writer = Writer::new(&mut bytes);
/// writer.version();
/// writer.tuple_header(2)?;
/// writer.atom_text("ok")?;
/// writer.list_header(2)?;
/// writer.int(1);
/// writer.binary(b"a")?;
/// writer.nil();
/// let term: Term = "{ok, [1, <<\"a\">>]}".parse()?;
/// assert_eq!(bytes, erldp::term::encode(&term)?);
/// # Ok::<(), erldp::Error>(())
/// ```
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Write atoms that Latin-1 can hold as `ATOM_EXT`, as OTP 25's
    /// `term_to_binary/1` does; otherwise as UTF-8, as the distribution does.
    latin1_atoms: bool,
    /// Atoms of the distribution header's atom cache references.
    atom_refs: Option<AtomRefs<'a>>,
    /// Where large binaries go instead of the output (see
    /// [`Writer::outline`]).
    outlined: Option<&'a mut Outlined>,
}

impl<'a> Writer<'a> {
    /// A writer that appends to `out` (keeping what it holds), writing
    /// atoms as `term_to_binary/1` of OTP 25 does.
    pub fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer {
            out,
            latin1_atoms: true,
            atom_refs: None,
            outlined: None,
        }
    }

    /// Writes every atom as UTF-8 (`SMALL_ATOM_UTF8_EXT`), as the
    /// distribution does and `term_to_binary/1` from OTP 26 on.
    pub fn utf8_atoms(mut self) -> Writer<'a> {
        self.latin1_atoms = false;
        self
    }

    /// Writes the atoms that `atom_refs` resolves as `ATOM_CACHE_REF`s into
    /// the distribution header of the message being written.
    pub(crate) fn atom_cache(mut self, atom_refs: AtomRefs<'a>) -> Writer<'a> {
        self.atom_refs = Some(atom_refs);
        self
    }

    /// Writes only the header of each [`Term::Binary`] of [`OUTLINE_MIN`]
    /// bytes or more and adds the binary to `outlined` at the offset where
    /// its bytes belong, so that a frame can be written from the binary's
    /// own memory instead of a copy.
    pub(crate) fn outline(mut self, outlined: &'a mut Outlined) -> Writer<'a> {
        self.outlined = Some(outlined);
        self
    }

    /// The version byte 131 that starts a term outside a distribution
    /// message (`term_to_binary/1`'s first byte).
    pub fn version(&mut self) {
        self.out.push(tag::VERSION);
    }

    /// A tuple of `arity` elements: the next `arity` terms written.
    pub fn tuple_header(&mut self, arity: usize) -> Result<()> {
        self.whole(|writer| writer.write_tuple_header(arity))
    }

    /// A list of `len` elements: the next `len` terms written, then its tail
    /// ([`Writer::nil`] for a proper list). A `len` of 0 writes `[]` itself,
    /// with no tail to follow, as ei does.
    pub fn list_header(&mut self, len: usize) -> Result<()> {
        if len == 0 {
            self.nil();
            return Ok(());
        }
        self.whole(|writer| writer.write_header(tag::LIST_EXT, len, "list"))
    }

    /// `[]`: the empty list, and the tail of a proper list.
    pub fn nil(&mut self) {
        self.out.push(tag::NIL_EXT);
    }

    /// A map of `pairs` pairs: the next `2 * pairs` terms written, key
    /// first. Keys must differ; the BEAM reads a small map's keys in any
    /// order, but writes them in [`MapOrder`].
    pub fn map_header(&mut self, pairs: usize) -> Result<()> {
        self.whole(|writer| writer.write_header(tag::MAP_EXT, pairs, "map"))
    }

    /// An atom; written as an `ATOM_CACHE_REF` when the distribution's atom
    /// cache holds it. Fails for more than
    /// [`MAX_ATOM_CHARS`](super::MAX_ATOM_CHARS) characters.
    pub fn atom(&mut self, atom: Atom) -> Result<()> {
        self.whole(|writer| writer.write_atom(atom))
    }

    /// The atom named `text`, without making it an [`Atom`] (atoms are
    /// interned for good): for writers whose language has atom names of
    /// its own. Fails for more than
    /// [`MAX_ATOM_CHARS`](super::MAX_ATOM_CHARS) characters.
    pub fn atom_text(&mut self, text: &str) -> Result<()> {
        self.whole(|writer| writer.write_atom_text(text))
    }

    /// An integer, in the smallest form that holds it.
    #[inline]
    pub fn int(&mut self, value: i64) {
        if (0..=255).contains(&value) {
            self.out.push(tag::SMALL_INTEGER_EXT);
            self.out.push(value as u8);
        } else if let Ok(value) = i32::try_from(value) {
            self.out.push(tag::INTEGER_EXT);
            self.out.extend_from_slice(&value.to_be_bytes());
        } else {
            let magnitude = value.unsigned_abs();
            let len = bigint_bytes(magnitude);
            self.out.push(tag::SMALL_BIG_EXT);
            self.out.push(len as u8);
            self.out.push(u8::from(value < 0));
            self.out.extend_from_slice(&magnitude.to_le_bytes()[..len]);
        }
    }

    /// An integer of any size: its sign and its magnitude as little-endian
    /// bytes (zero bytes at the end are ignored). Written as the BEAM
    /// writes the number, in the smallest form that holds it.
    pub fn bigint(&mut self, negative: bool, magnitude: &[u8]) -> Result<()> {
        self.whole(|writer| writer.write_big(negative, magnitude))
    }

    /// A float; NaN and the infinities fail, as Erlang has no such floats.
    pub fn float(&mut self, value: f64) -> Result<()> {
        self.whole(|writer| writer.write_float(value))
    }

    /// A binary holding `bytes`.
    pub fn binary(&mut self, bytes: &[u8]) -> Result<()> {
        self.whole(|writer| writer.write_binary(bytes))
    }

    /// A bitstring of the first `bits` bits of `data`, most significant bit
    /// first: a binary when `bits` is a multiple of 8. Fails when `data`
    /// holds fewer bits.
    pub fn bitstring(&mut self, data: &[u8], bits: usize) -> Result<()> {
        let (whole, rest) = (bits / 8, (bits % 8) as u8);
        self.whole(|writer| match data.get(..bits.div_ceil(8)) {
            None => Err(Failure::new(format!(
                "a bitstring of {bits} bits needs {} bytes, not {}",
                bits.div_ceil(8),
                data.len()
            ))),
            Some(used) if rest == 0 => writer.write_binary(used),
            Some(used) => writer.write_bit_binary(&used[..whole], used[whole], rest),
        })
    }

    /// A charlist (an Erlang string): the list of the code points of
    /// `text`, written as [`encode`] writes `Term::charlist(text)`
    /// (`STRING_EXT` when every code point is below 256 and there are at
    /// most 65535).
    pub fn charlist(&mut self, text: &str) -> Result<()> {
        if text.is_empty() {
            self.nil();
            return Ok(());
        }
        let len = text.chars().count();
        if len <= MAX_STRING_EXT_LEN && text.chars().all(|c| u32::from(c) <= 0xFF) {
            self.write_string_ext(len, text.chars().map(|c| c as u8));
            return Ok(());
        }
        self.whole(|writer| {
            writer.write_header(tag::LIST_EXT, len, "list")?;
            for c in text.chars() {
                writer.int(i64::from(u32::from(c)));
            }
            writer.nil();
            Ok(())
        })
    }

    /// A proper list whose elements `byte` maps to integers 0..=255, as
    /// `STRING_EXT`, the form `term_to_binary/1` gives a list of bytes (or
    /// `[]` when there are none). Writes nothing and returns false when an
    /// element is not a byte (`byte` gives `None`) or there are more than
    /// 65535: such a list is written with [`Writer::list_header`] instead.
    #[must_use]
    pub fn byte_string<T>(&mut self, items: &[T], byte: impl Fn(&T) -> Option<u8>) -> bool {
        let Some(first) = items.first() else {
            self.nil();
            return true;
        };
        // Most lists that are no string say so at once; only then is room
        // made for the bytes.
        if items.len() > MAX_STRING_EXT_LEN || byte(first).is_none() {
            return false;
        }
        let start = self.out.len();
        self.write_string_ext(items.len(), []);
        self.out.resize(start + 3 + items.len(), 0);
        let all_bytes = self.out[start + 3..]
            .iter_mut()
            .zip(items)
            .all(|(slot, item)| byte(item).map(|value| *slot = value).is_some());
        if !all_bytes {
            self.out.truncate(start);
        }
        all_bytes
    }

    /// A pid.
    pub fn pid(&mut self, pid: &Pid) -> Result<()> {
        self.whole(|writer| writer.write_pid(pid))
    }

    /// A port.
    pub fn port(&mut self, port: &Port) -> Result<()> {
        self.whole(|writer| writer.write_port(port))
    }

    /// A reference.
    pub fn reference(&mut self, reference: &Ref) -> Result<()> {
        self.whole(|writer| writer.write_ref(reference))
    }

    /// A fun, as it was stored.
    pub fn fun(&mut self, fun: &Fun) -> Result<()> {
        self.whole(|writer| writer.write_fun(fun))
    }

    /// A whole term. On failure nothing is written, and the error's path
    /// leads from `term` to the value that has no encoding.
    pub fn term(&mut self, term: &Term) -> Result<()> {
        self.whole(|writer| writer.write_term(term))
    }

    /// A term given as ETF, version byte first (plain or compressed), such
    /// as [`encode`] or `term_to_binary/1` gives. The bytes are validated:
    /// they are decoded (malformed ones are [`Error::Decode`] and nothing
    /// is written), and the term is written as [`Writer::term`] writes it,
    /// in this writer's atom form.
    pub fn etf(&mut self, etf: &[u8]) -> Result<()> {
        self.term(&super::decode(etf)?)
    }

    /// `fun Module:Function/Arity`, as [`Fun::export`] stores it.
    pub(crate) fn export(&mut self, module: Atom, function: Atom, arity: u8) -> Result<()> {
        self.whole(|writer| writer.write_export(module, function, arity.into()))
    }

    /// Runs `write`; when it fails, takes back what it wrote.
    #[inline]
    fn whole<'t>(&mut self, write: impl FnOnce(&mut Self) -> Written<'t>) -> Result<()> {
        let start = self.out.len();
        let outlined = self.outlined.as_ref().map_or(0, |outlined| outlined.len());
        write(self).map_err(|failure| {
            self.out.truncate(start);
            if let Some(list) = self.outlined.as_mut() {
                list.truncate(outlined);
            }
            failure.into_error()
        })
    }
}

/// The order in which `term_to_binary/1` writes the pairs of a map: a map
/// of up to 32 pairs (a "flatmap" in the BEAM) sorted by its keys in
/// [`map_key_cmp`](super::map_key_cmp) order, a larger one in the order given (the BEAM's is
/// that of its hash trie, which a term decoded from it keeps).
///
/// For writers that write a map piece by piece with
/// [`Writer::map_header`]; [`Writer::term`] orders maps itself.
pub struct MapOrder {
    sorted: [u8; FLATMAP_MAX_PAIRS],
    len: usize,
}

impl MapOrder {
    /// The order of a map of `len` pairs whose `index`th key is
    /// `key(index)`. Fails with the index of a key equal to another one:
    /// such a map is no term.
    #[inline]
    pub fn new<'k>(
        len: usize,
        key: impl Fn(usize) -> &'k Term,
    ) -> std::result::Result<MapOrder, usize> {
        let mut sorted = [0u8; FLATMAP_MAX_PAIRS];
        if len <= FLATMAP_MAX_PAIRS {
            // Sorting indices on the stack allocates nothing, and it finds
            // duplicate keys too: they end up next to each other.
            for (slot, index) in sorted.iter_mut().zip(0u8..) {
                *slot = index;
            }
            let order = &mut sorted[..len];
            sort_map_keys(order, &key);
            if let Some(pair) = order
                .windows(2)
                .find(|pair| key(pair[0].into()) == key(pair[1].into()))
            {
                return Err(pair[1].into());
            }
        } else {
            let mut seen = HashSet::with_capacity(len);
            if let Some(index) = (0..len).find(|&index| !seen.insert(key(index))) {
                return Err(index);
            }
        }
        Ok(MapOrder { sorted, len })
    }

    /// The indexes of the pairs in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let sorted = self.sorted();
        (0..self.len).map(move |index| match sorted {
            Some(sorted) => usize::from(sorted[index]),
            None => index,
        })
    }

    /// The indexes in order for a small map; `None` when a large map's
    /// pairs go in the order given.
    fn sorted(&self) -> Option<&[u8]> {
        (self.len <= FLATMAP_MAX_PAIRS).then(|| &self.sorted[..self.len])
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

/// The largest magnitude, in bytes, of an integer a 64-bit BEAM decodes:
/// `BIG_ARITY_MAX` (2^19 - 1) words of 8 bytes (erts' `external.c`).
pub(crate) const BEAM_BIG_BYTES_MAX: usize = ((1 << 19) - 1) * 8;

/// Why an integer whose magnitude takes `bytes` bytes is refused.
pub(crate) fn too_big(bytes: usize) -> String {
    format!(
        "an integer of {} bits: the BEAM holds integers of at most {} bits",
        bytes * 8,
        BEAM_BIG_BYTES_MAX * 8
    )
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

/// The writing itself, with failures that collect their path on the way
/// out. The public methods above turn them into [`Error`]s.
impl Writer<'_> {
    /// Containers recurse here with a small frame; apart from the commonest
    /// leaves, everything else is written out of line (see
    /// `decode::MAX_DEPTH` on stack use).
    fn write_term<'t>(&mut self, term: &'t Term) -> Written<'t> {
        match term {
            Term::Int(value) => {
                self.int(*value);
                Ok(())
            }
            Term::Atom(atom) => self.write_atom(*atom),
            Term::Tuple(elements) => {
                self.write_tuple_header(elements.len())?;
                self.write_elements(elements)
            }
            Term::List(elements) => self.write_list(elements),
            Term::ImproperList(elements, tail) => self.write_improper_list(elements, tail),
            Term::Map(pairs) => self.write_map(pairs),
            leaf => self.write_leaf(leaf),
        }
    }

    #[inline(never)]
    fn write_leaf<'t>(&mut self, term: &'t Term) -> Written<'t> {
        match term {
            Term::Atom(atom) => self.write_atom(*atom),
            Term::Int(value) => {
                self.int(*value);
                Ok(())
            }
            Term::BigInt(big) => self.write_big(big.negative, &big.magnitude),
            Term::Float(value) => self.write_float(*value),
            Term::Binary(bytes) => self.write_shared_binary(bytes),
            Term::Bitstring(bits) => self.write_bitstring(bits),
            Term::Pid(pid) => self.write_pid(pid),
            Term::Port(port) => self.write_port(port),
            Term::Ref(reference) => self.write_ref(reference),
            Term::Fun(fun) => self.write_fun(fun),
            Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) => {
                self.write_term(term)
            }
        }
    }

    fn write_elements<'t>(&mut self, elements: &'t [Term]) -> Written<'t> {
        for (index, element) in elements.iter().enumerate() {
            self.write_term(element)
                .map_err(|failure| failure.at(Step::Index(index)))?;
        }
        Ok(())
    }

    /// A tag and its 32-bit length field.
    fn write_header<'t>(&mut self, tag: u8, len: usize, what: &str) -> Written<'t> {
        let Ok(field) = u32::try_from(len) else {
            return Err(Failure::new(format!(
                "{what} of {len} elements or bytes exceeds the 32-bit length field"
            )));
        };
        self.out.push(tag);
        self.out.extend_from_slice(&field.to_be_bytes());
        Ok(())
    }

    // Inlined into `write_term`: a call per tuple cost 10% on lists of
    // small tuples.
    #[inline(always)]
    fn write_tuple_header<'t>(&mut self, arity: usize) -> Written<'t> {
        match u8::try_from(arity) {
            Ok(small) => {
                self.out.extend_from_slice(&[tag::SMALL_TUPLE_EXT, small]);
                Ok(())
            }
            Err(_) => self.write_header(tag::LARGE_TUPLE_EXT, arity, "tuple"),
        }
    }

    #[inline]
    fn write_atom<'t>(&mut self, atom: Atom) -> Written<'t> {
        if let Some(index) = self.atom_refs.and_then(|refs| refs(atom)) {
            self.out.extend_from_slice(&[tag::ATOM_CACHE_REF, index]);
            return Ok(());
        }
        self.write_atom_text(atom.as_str())
    }

    #[inline]
    fn write_atom_text<'t>(&mut self, text: &str) -> Written<'t> {
        if self.latin1_atoms && text.chars().all(|c| (c as u32) <= 0xFF) {
            return self.write_latin1_atom(text);
        }
        let bytes = text.as_bytes();
        if bytes.len() <= 255 {
            self.out.push(tag::SMALL_ATOM_UTF8_EXT);
            self.out.push(bytes.len() as u8);
        } else {
            // More than 255 bytes may still be at most 255 characters (and
            // then at most 1020 bytes, well within the 16-bit length).
            check_atom_chars(text)?;
            self.out.push(tag::ATOM_UTF8_EXT);
            self.out
                .extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    #[inline(never)]
    fn write_latin1_atom<'t>(&mut self, text: &str) -> Written<'t> {
        let chars = check_atom_chars(text)?;
        self.out.push(tag::ATOM_EXT);
        self.out.extend_from_slice(&(chars as u16).to_be_bytes());
        self.out.extend(text.chars().map(|c| c as u8));
        Ok(())
    }

    fn write_big<'t>(&mut self, negative: bool, magnitude: &[u8]) -> Written<'t> {
        // A magnitude given by hand may hold a small value or zero padding;
        // the BEAM would write the normalised number, so do the same.
        let magnitude = super::bigint::trimmed(magnitude);
        if let Some(value) = small_value(negative, magnitude) {
            self.int(value);
            return Ok(());
        }
        if magnitude.len() <= 255 {
            self.out.push(tag::SMALL_BIG_EXT);
            self.out.push(magnitude.len() as u8);
        } else if magnitude.len() > BEAM_BIG_BYTES_MAX {
            // The BEAM takes such a term for garbage and drops the connection
            // it came over, with every call in flight on it.
            return Err(Failure::new(too_big(magnitude.len())));
        } else {
            self.write_header(tag::LARGE_BIG_EXT, magnitude.len(), "integer")?;
        }
        self.out.push(u8::from(negative));
        self.out.extend_from_slice(magnitude);
        Ok(())
    }

    fn write_float<'t>(&mut self, value: f64) -> Written<'t> {
        if !value.is_finite() {
            return Err(Failure::new(format!(
                "{value} is not a finite float; Erlang has no such value"
            )));
        }
        self.out.push(tag::NEW_FLOAT_EXT);
        self.out.extend_from_slice(&value.to_bits().to_be_bytes());
        Ok(())
    }

    fn write_binary<'t>(&mut self, bytes: &[u8]) -> Written<'t> {
        self.write_header(tag::BINARY_EXT, bytes.len(), "binary")?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// A binary of a term: left out when [outlining](Writer::outline) and
    /// large, written otherwise.
    fn write_shared_binary<'t>(&mut self, bytes: &Bytes) -> Written<'t> {
        if bytes.len() < OUTLINE_MIN || self.outlined.is_none() {
            return self.write_binary(bytes);
        }
        self.write_header(tag::BINARY_EXT, bytes.len(), "binary")?;
        let at = self.out.len();
        if let Some(outlined) = self.outlined.as_mut() {
            outlined.push((at, bytes.clone()));
        }
        Ok(())
    }

    fn write_bitstring<'t>(&mut self, bits: &Bitstring) -> Written<'t> {
        let Some((&last, whole)) = bits.bytes.split_last() else {
            return Err(Failure::new("bitstring without bytes"));
        };
        if !(1..=7).contains(&bits.bits) {
            return Err(Failure::new(format!(
                "bitstring with {} bits in its last byte (1 to 7 allowed; use a binary for 8)",
                bits.bits
            )));
        }
        self.write_bit_binary(whole, last, bits.bits)
    }

    /// `BIT_BINARY_EXT`: the whole bytes, then the last one of which
    /// `last_bits` (1 to 7) bits are used.
    fn write_bit_binary<'t>(&mut self, whole: &[u8], last: u8, last_bits: u8) -> Written<'t> {
        self.write_header(tag::BIT_BINARY_EXT, whole.len() + 1, "bitstring")?;
        self.out.push(last_bits);
        self.out.extend_from_slice(whole);
        // The unused low bits are zero on the wire, whatever the caller left
        // there.
        self.out.push(last & (0xFFu8 << (8 - last_bits)));
        Ok(())
    }

    /// `STRING_EXT` of `len` (at most 65535) `bytes`.
    fn write_string_ext(&mut self, len: usize, bytes: impl IntoIterator<Item = u8>) {
        self.out.push(tag::STRING_EXT);
        self.out.extend_from_slice(&(len as u16).to_be_bytes());
        self.out.extend(bytes);
    }

    /// The node of a pid, port or reference.
    fn write_node<'t>(&mut self, node: Atom, what: &str) -> Written<'t> {
        self.write_atom(node)
            .map_err(|failure| node_failure(failure, what))
    }

    fn write_pid<'t>(&mut self, pid: &Pid) -> Written<'t> {
        self.out.push(tag::NEW_PID_EXT);
        self.write_node(pid.node, "pid")?;
        self.out.extend_from_slice(&pid.id.to_be_bytes());
        self.out.extend_from_slice(&pid.serial.to_be_bytes());
        self.out.extend_from_slice(&pid.creation.to_be_bytes());
        Ok(())
    }

    fn write_port<'t>(&mut self, port: &Port) -> Written<'t> {
        let small_id = u32::try_from(port.id)
            .ok()
            .filter(|&id| u64::from(id) <= MAX_V3_PORT_ID);
        self.out.push(if small_id.is_some() {
            tag::NEW_PORT_EXT
        } else {
            tag::V4_PORT_EXT
        });
        self.write_node(port.node, "port")?;
        match small_id {
            Some(id) => self.out.extend_from_slice(&id.to_be_bytes()),
            None => self.out.extend_from_slice(&port.id.to_be_bytes()),
        }
        self.out.extend_from_slice(&port.creation.to_be_bytes());
        Ok(())
    }

    fn write_ref<'t>(&mut self, reference: &Ref) -> Written<'t> {
        let ids = reference.ids();
        self.out.push(tag::NEWER_REFERENCE_EXT);
        self.out
            .extend_from_slice(&(ids.len() as u16).to_be_bytes());
        self.write_node(reference.node, "reference")?;
        self.out
            .extend_from_slice(&reference.creation.to_be_bytes());
        for id in ids {
            self.out.extend_from_slice(&id.to_be_bytes());
        }
        Ok(())
    }

    fn write_list<'t>(&mut self, elements: &'t [Term]) -> Written<'t> {
        if self.byte_string(elements, |element| match element {
            Term::Int(byte @ 0..=255) => Some(*byte as u8),
            _ => None,
        }) {
            return Ok(());
        }
        self.write_header(tag::LIST_EXT, elements.len(), "list")?;
        self.write_elements(elements)?;
        self.nil();
        Ok(())
    }

    fn write_improper_list<'t>(&mut self, elements: &'t [Term], tail: &'t Term) -> Written<'t> {
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
        self.write_header(tag::LIST_EXT, elements.len(), "list")?;
        self.write_elements(elements)?;
        self.write_term(tail)
            .map_err(|failure| failure.at(Step::Tail))
    }

    fn write_map<'t>(&mut self, pairs: &'t [(Term, Term)]) -> Written<'t> {
        let order = MapOrder::new(pairs.len(), |index| &pairs[index].0)
            .map_err(|index| Failure::new("duplicate map key").at(Step::InKey(&pairs[index].0)))?;
        self.write_header(tag::MAP_EXT, pairs.len(), "map")?;
        match order.sorted() {
            Some(sorted) => {
                for &index in sorted {
                    self.write_pair(&pairs[usize::from(index)])?;
                }
            }
            None => {
                for pair in pairs {
                    self.write_pair(pair)?;
                }
            }
        }
        Ok(())
    }

    fn write_pair<'t>(&mut self, (key, value): &'t (Term, Term)) -> Written<'t> {
        self.write_term(key)
            .map_err(|failure| failure.at(Step::InKey(key)))?;
        self.write_term(value)
            .map_err(|failure| failure.at(Step::Key(key)))
    }

    fn write_fun<'t>(&mut self, fun: &Fun) -> Written<'t> {
        match fun.encoding().first() {
            Some(&tag::EXPORT_EXT) if self.latin1_atoms => self.write_export_latin1(fun),
            Some(&tag::NEW_FUN_EXT | &tag::EXPORT_EXT) => {
                self.out.extend_from_slice(fun.encoding());
                Ok(())
            }
            _ => Err(Failure::new(
                "fun whose stored encoding does not start with tag 112 or 113",
            )),
        }
    }

    /// Rewrites an export fun (stored with UTF-8 atoms) with the atom tags
    /// `term_to_binary/1` of OTP 25 uses.
    fn write_export_latin1<'t>(&mut self, fun: &Fun) -> Written<'t> {
        let mut fields = super::Decoder::new(&fun.encoding()[1..]);
        let parts = (fields.term(), fields.term(), fields.term());
        let (Ok(Term::Atom(module)), Ok(Term::Atom(function)), Ok(Term::Int(arity))) = parts else {
            return Err(Failure::new("export fun with a malformed stored encoding"));
        };
        self.write_export(module, function, arity)
    }

    /// `EXPORT_EXT`: `fun Module:Function/Arity`.
    fn write_export<'t>(&mut self, module: Atom, function: Atom, arity: i64) -> Written<'t> {
        self.out.push(tag::EXPORT_EXT);
        self.write_atom(module)?;
        self.write_atom(function)?;
        self.int(arity);
        Ok(())
    }
}

#[cold]
fn node_failure<'t>(mut failure: Failed<'t>, what: &str) -> Failed<'t> {
    failure.reason = format!("node name of {what}: {}", failure.reason);
    failure
}

/// The number of characters of an atom's text, if an atom may have that
/// many.
fn check_atom_chars<'t>(text: &str) -> std::result::Result<usize, Failed<'t>> {
    let chars = text.chars().count();
    if chars > super::MAX_ATOM_CHARS {
        return Err(Failure::new(format!(
            "atom of {chars} characters exceeds the limit of {}",
            super::MAX_ATOM_CHARS
        )));
    }
    Ok(chars)
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

    /// What the writer appends, by one call.
    fn written(write: impl FnOnce(&mut Writer<'_>) -> Result<()>) -> Result<Vec<u8>> {
        let mut out = vec![7];
        let result = write(&mut Writer::new(&mut out));
        assert_eq!(out[0], 7, "the writer keeps what the buffer held");
        result.map(|()| out[1..].to_vec()).inspect_err(|_| {
            assert_eq!(out, [7], "a failed call writes nothing");
        })
    }

    /// What `encode` writes after its version byte.
    fn body(term: &Term) -> Vec<u8> {
        encode(term).expect("encodes")[1..].to_vec()
    }

    #[test]
    fn writer_leaves_are_what_encode_writes() {
        for text in [
            "ok",
            "é",
            "λ",
            "日本語",
            &"ü".repeat(255),
            &"日".repeat(255),
        ] {
            let atom = Term::atom(text);
            assert_eq!(
                written(|w| w.atom_text(text)).unwrap(),
                body(&atom),
                "{text}"
            );
            assert_eq!(written(|w| w.term(&atom)).unwrap(), body(&atom), "{text}");
        }
        assert!(written(|w| w.atom_text(&"日".repeat(256))).is_err());
        for value in [0, 255, 256, -1, i64::from(i32::MIN) - 1, i64::MAX, i64::MIN] {
            let int = written(|w| {
                w.int(value);
                Ok(())
            });
            assert_eq!(int.unwrap(), body(&Term::Int(value)), "{value}");
        }
        let big = BigInt::from_i128(-(1i128 << 100));
        assert_eq!(
            written(|w| w.bigint(true, &big.magnitude)).unwrap(),
            body(&Term::BigInt(big.clone()))
        );
        assert_eq!(
            written(|w| w.bigint(true, &[5, 0, 0])).unwrap(),
            body(&Term::Int(-5))
        );
        assert_eq!(written(|w| w.float(1.5)).unwrap(), body(&Term::Float(1.5)));
        assert!(written(|w| w.float(f64::NAN)).is_err());
        assert_eq!(
            written(|w| w.binary(b"ab")).unwrap(),
            body(&Term::binary(&b"ab"[..]))
        );
        let node = Atom::new("a@h");
        let pid = Pid {
            node,
            id: 1,
            serial: 2,
            creation: 3,
        };
        assert_eq!(written(|w| w.pid(&pid)).unwrap(), body(&Term::Pid(pid)));
        let port = Port {
            node,
            id: MAX_V3_PORT_ID + 1,
            creation: 1,
        };
        assert_eq!(written(|w| w.port(&port)).unwrap(), body(&Term::Port(port)));
        let reference = Ref::new(node, 7, &[1, 2, 3]).expect("ref");
        assert_eq!(
            written(|w| w.reference(&reference)).unwrap(),
            body(&Term::Ref(reference))
        );
        let export = Fun::export(Atom::new("m"), Atom::new("f"), 2).expect("export");
        assert_eq!(
            written(|w| w.fun(&export)).unwrap(),
            body(&Term::Fun(export))
        );
        // A node name too long for an atom: the tag already written goes too.
        let far = Pid {
            node: Atom::new(&"n".repeat(256)),
            ..pid
        };
        let err = written(|w| w.pid(&far)).expect_err("too long");
        assert!(err.to_string().contains("node name of pid"), "{err}");
    }

    #[test]
    fn writer_headers_build_what_encode_writes() {
        let term: Term = "{ok, [a, 'é'], #{b => 1.5, 1 => fun m:f/2}, [x | y], []}"
            .parse()
            .expect("parses");
        let pieces = written(|w| {
            w.tuple_header(5)?;
            w.atom_text("ok")?;
            w.list_header(2)?;
            w.atom_text("a")?;
            w.atom_text("é")?;
            w.nil();
            w.map_header(2)?;
            w.int(1);
            w.term(&"fun m:f/2".parse()?)?;
            w.atom_text("b")?;
            w.float(1.5)?;
            w.list_header(1)?;
            w.atom_text("x")?;
            w.atom_text("y")?;
            w.list_header(0)
        });
        assert_eq!(pieces.unwrap(), body(&term));
        let large = written(|w| w.tuple_header(256)).unwrap();
        assert_eq!(large, [tag::LARGE_TUPLE_EXT, 0, 0, 1, 0]);
        let mut bytes = Vec::new();
        let mut writer = Writer::new(&mut bytes);
        writer.version();
        writer.nil();
        assert_eq!(bytes, encode(&Term::nil()).unwrap());
    }

    #[test]
    fn writer_atom_forms() {
        let mut bytes = Vec::new();
        Writer::new(&mut bytes)
            .utf8_atoms()
            .atom_text("ok")
            .unwrap();
        assert_eq!(bytes, [tag::SMALL_ATOM_UTF8_EXT, 2, b'o', b'k']);
        let cached = |atom: Atom| (atom == Atom::new("ok")).then_some(3);
        let mut bytes = Vec::new();
        let mut writer = Writer::new(&mut bytes).utf8_atoms().atom_cache(&cached);
        writer.atom(Atom::new("ok")).unwrap();
        writer.atom(Atom::new("no")).unwrap();
        // Text has no cache entry; only atoms do.
        writer.atom_text("ok").unwrap();
        assert_eq!(
            bytes,
            [
                tag::ATOM_CACHE_REF,
                3,
                tag::SMALL_ATOM_UTF8_EXT,
                2,
                b'n',
                b'o',
                tag::SMALL_ATOM_UTF8_EXT,
                2,
                b'o',
                b'k'
            ]
        );
    }

    #[test]
    fn writer_bitstrings_and_strings() {
        assert_eq!(
            written(|w| w.bitstring(&[1, 2, 0xFF], 21)).unwrap(),
            body(&Term::bitstring(&[1, 2, 0xFF], 21).unwrap())
        );
        assert_eq!(
            written(|w| w.bitstring(&[1, 2, 3], 16)).unwrap(),
            body(&Term::binary(&[1u8, 2][..]))
        );
        assert_eq!(
            written(|w| w.bitstring(&[], 0)).unwrap(),
            body(&Term::binary(Vec::new()))
        );
        assert!(written(|w| w.bitstring(&[1], 9)).is_err());
        for text in [
            "",
            "ab",
            "héllo",
            "λx",
            &"a".repeat(65535),
            &"a".repeat(65536),
        ] {
            assert_eq!(
                written(|w| w.charlist(text)).unwrap(),
                body(&Term::charlist(text)),
                "{} characters",
                text.chars().count()
            );
        }
        let byte = |value: &i64| u8::try_from(*value).ok();
        let mut out = vec![7];
        let mut writer = Writer::new(&mut out);
        assert!(!writer.byte_string(&[1, 256, 2], byte));
        assert!(!writer.byte_string(&[-1, 2], byte));
        assert!(!writer.byte_string(&[1; 65536], byte));
        assert_eq!(out, [7]);
        let mut writer = Writer::new(&mut out);
        assert!(writer.byte_string(&[1, 2], byte));
        assert!(writer.byte_string(&[], byte));
        assert!(writer.byte_string(&[255; 65535], byte));
        assert_eq!(
            out[..8],
            [
                7,
                tag::STRING_EXT,
                0,
                2,
                1,
                2,
                tag::NIL_EXT,
                tag::STRING_EXT
            ]
        );
        assert_eq!(out.len(), 7 + 3 + 65535);
    }

    #[test]
    fn writer_etf_is_validated() {
        let term: Term = "{ok, 'é', <<1,2>>}".parse().unwrap();
        let etf = encode(&term).unwrap();
        assert_eq!(written(|w| w.etf(&etf)).unwrap(), body(&term));
        let err = written(|w| w.etf(&etf[..etf.len() - 1])).expect_err("cut short");
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        let err = written(|w| w.etf(&etf[1..])).expect_err("no version");
        assert!(matches!(err, Error::Decode { .. }), "{err}");
    }

    #[test]
    fn map_order() {
        let keys: Vec<Term> = vec![Term::atom("a"), Term::Float(1.0), int(1)];
        let order = MapOrder::new(keys.len(), |index| &keys[index]).unwrap();
        assert_eq!(order.iter().collect::<Vec<_>>(), [2, 1, 0]);
        let keys = [int(2), int(1), int(2)];
        assert!(matches!(MapOrder::new(3, |index| &keys[index]), Err(0 | 2)));
        let keys: Vec<Term> = (0..40).rev().map(int).collect();
        let order = MapOrder::new(keys.len(), |index| &keys[index]).unwrap();
        assert!(order.iter().eq(0..40));
        let mut keys = keys;
        keys.push(int(7));
        assert_eq!(
            MapOrder::new(keys.len(), |index| &keys[index]).err(),
            Some(40)
        );
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
        // The BEAM drops a connection that brings a larger one.
        let largest = Term::BigInt(BigInt::from_magnitude(true, &[1; BEAM_BIG_BYTES_MAX]));
        assert_eq!(enc(&largest).len(), 7 + BEAM_BIG_BYTES_MAX);
        let larger = Term::BigInt(BigInt::from_magnitude(true, &[1; BEAM_BIG_BYTES_MAX + 1]));
        let err = encode(&larger)
            .expect_err("past the BEAM's largest")
            .to_string();
        assert!(err.contains("an integer of 33554376 bits"), "{err}");
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
