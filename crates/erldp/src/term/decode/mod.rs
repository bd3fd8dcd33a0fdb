//! Decoding the [External Term
//! Format](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html).
//!
//! Input comes from peers and is never trusted, and what it may make us
//! allocate is bounded three ways ([`Limits`]):
//! - by the input: every element of a container takes at least a byte, so
//!   the elements that all open containers still expect may not outnumber
//!   the bytes left. A count is checked against that before anything is
//!   reserved for it, and the capacity of all open containers together never
//!   exceeds the length of the input (a term is 56 bytes, a `[]` element 1);
//! - by depth: [`Limits::max_depth`], at most [`MAX_DEPTH`];
//! - in total: [`Limits::max_terms`] elements per decoded term, so that even
//!   input that is all one-byte elements cannot become more than about
//!   `56 × max_terms` bytes of terms.
//!
//! Compressed terms may not claim more than deflate can produce (nor more
//! than [`Limits::max_inflated_size`]), and atoms that would be added to the atom
//! table go through the peer's budget (see [`AtomBudget`]). Every failure is
//! an [`Error::Decode`] naming the absolute byte offset and the cause; no
//! input makes the decoder panic.
//!
//! Normalisation: integers that fit in `i64` become [`Term::Int`] whatever
//! their tag, `STRING_EXT` becomes a list of integers, a list whose tail is
//! `[]` or another list becomes one proper (or improper) list, and a
//! bitstring of whole bytes becomes a [`Term::Binary`]. A `NEW_FUN_EXT` is
//! kept byte for byte (rebuilt only when it refers to the atom cache of a
//! distribution header); an `EXPORT_EXT` is rebuilt with UTF-8 atoms.

mod fun;

use std::cell::Cell;

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

use self::fun::FunHeader;
pub(crate) use self::fun::{fun_parts, FunParts};
use super::atom::{AtomBudget, Refused, INLINE_BYTES};
use super::encode::{tag, too_big, BEAM_BIG_BYTES_MAX};
use super::{Atom, BigInt, Pid, Port, Ref, Term};
use crate::error::{Error, Result, TERM_TEXT_IN_ERRORS};

/// How many containers may enclose a term: tuples, non-empty lists (a
/// list's tail counts as inside it), maps and fun environments. The text
/// parser applies the same limit.
///
/// The BEAM has no such limit, and a deeply nested iolist built with
/// `[Acc, X]` in a loop can exceed it. But while the decoder and the
/// parser do not recurse, much of what is done with a term afterwards does
/// (encoding, equality, printing, dropping it): at this depth all of those
/// together fit in the 2 MiB stack of a spawned thread, in debug builds too
/// (measured: under 1.5 MiB in debug, under 1 MiB in release).
pub const MAX_DEPTH: usize = 2048;

/// The largest uncompressed size a compressed term may claim unless
/// [`Limits`] say otherwise.
pub const MAX_INFLATED_SIZE: usize = 256 << 20;

/// How many elements one decoded term may hold unless [`Limits`] say
/// otherwise: 8 Mi, at most about 450 MiB of terms. A list of a million
/// 5-tuples is 7 M elements.
pub const DEFAULT_MAX_TERMS: usize = 8 << 20;

/// What one decode may build beyond what the input's length allows (see
/// the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How many containers may enclose a term; values above [`MAX_DEPTH`]
    /// count as [`MAX_DEPTH`]. Default [`MAX_DEPTH`].
    pub max_depth: usize,
    /// How many elements the term may hold in all: every element of a tuple
    /// or list, every key and every value of a map, every free variable of a
    /// fun, every character of a `STRING_EXT`. Default
    /// [`DEFAULT_MAX_TERMS`].
    pub max_terms: usize,
    /// The largest uncompressed size a compressed term may claim, in bytes.
    /// Default [`MAX_INFLATED_SIZE`].
    pub max_inflated_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: MAX_DEPTH,
            max_terms: DEFAULT_MAX_TERMS,
            max_inflated_size: MAX_INFLATED_SIZE,
        }
    }
}

/// Deflate cannot expand data by more than about 1032:1 (a 258-byte match
/// costs at least two bits); the slack covers the zlib header and trailer.
const MAX_DEFLATE_RATIO: usize = 1032;
const DEFLATE_SLACK: usize = 64;

/// Binaries at least this long are zero-copy slices of a backing buffer;
/// shorter ones are copied so that they do not keep a large frame alive.
pub const ZERO_COPY_MIN: usize = 64;

/// Decodes `bytes`: the version byte 131, then one term, possibly
/// compressed. Bytes after the term are an error.
pub fn decode(bytes: &[u8]) -> Result<Term> {
    let mut decoder = Decoder::new(bytes);
    let term = decoder.versioned_term()?;
    decoder.finish()?;
    Ok(term)
}

/// Like [`decode`], but binaries of [`ZERO_COPY_MIN`] bytes or more in the
/// result share `bytes` instead of copying out of it.
pub fn decode_bytes(bytes: Bytes) -> Result<Term> {
    let mut decoder = Decoder::new(&bytes).with_backing(&bytes);
    let term = decoder.versioned_term()?;
    decoder.finish()?;
    Ok(term)
}

/// Checks `bytes` as [`decode`] does (the version byte, one term, every
/// bound of [`Limits::default`]) without keeping the term, so that a caller
/// holding ETF it will send as it is can check a large payload for the
/// price of reading its headers: binaries are left empty instead of copied.
///
/// Their bytes matter to one check only, that map keys differ: with them
/// left out, keys that differ in a binary alone look alike. So a failure is
/// checked again by [`decode`], whose verdict stands (bad input is the rare
/// case); a pass needs no second look, as leaving bytes out can make keys
/// equal but never makes equal keys differ.
pub(crate) fn validate(bytes: &[u8]) -> Result<()> {
    let mut decoder = Decoder::new(bytes);
    decoder.skim = true;
    let skimmed = decoder.versioned_term().and_then(|_| decoder.finish());
    match skimmed {
        Ok(()) => Ok(()),
        Err(_) => decode(bytes).map(drop),
    }
}

/// A decoder positioned in a buffer, for the distribution layer: it reads
/// one term body after another (terms after a distribution header carry no
/// version byte) and resolves `ATOM_CACHE_REF` entries through the atom
/// table of that header. Error offsets are absolute positions in the buffer.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    backing: Option<&'a Bytes>,
    atom_refs: &'a [Atom],
    limits: Limits,
    /// Elements counted against [`Limits::max_terms`] so far.
    terms: usize,
    atom_budget: Option<&'a AtomBudget>,
    /// How many `ATOM_CACHE_REF`s have been resolved; a fun whose encoding
    /// contains one must be re-encoded, as the index means nothing outside
    /// this message.
    cache_refs_seen: usize,
    /// [`validate`]: binaries are read past and left empty.
    skim: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `data`; binaries are copied out of it.
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder {
            data,
            pos: 0,
            backing: None,
            atom_refs: &[],
            limits: Limits::default(),
            terms: 0,
            atom_budget: None,
            cache_refs_seen: 0,
            skim: false,
        }
    }

    /// Decodes within `limits` instead of the default ones. The count of
    /// elements runs on across the terms this decoder reads.
    pub fn with_limits(mut self, limits: Limits) -> Decoder<'a> {
        self.limits = limits;
        self
    }

    /// Charges atoms that this input adds to the atom table to `budget`
    /// (and fails when it is spent); without one, only the table's own
    /// limit for peers applies.
    pub fn with_atom_budget(mut self, budget: &'a AtomBudget) -> Decoder<'a> {
        self.atom_budget = Some(budget);
        self
    }

    /// Decodes from `backing` (replacing the data given to [`Decoder::new`],
    /// keeping the position) and lets binaries of [`ZERO_COPY_MIN`] bytes or
    /// more share it instead of being copied.
    pub fn with_backing(mut self, backing: &'a Bytes) -> Decoder<'a> {
        self.data = backing;
        self.backing = Some(backing);
        self
    }

    /// The atoms that `ATOM_CACHE_REF` indexes refer to (from the
    /// distribution header); an index outside the table is an error.
    pub fn with_atom_refs(mut self, atom_refs: &'a [Atom]) -> Decoder<'a> {
        self.atom_refs = atom_refs;
        self
    }

    /// Moves to byte `pos` of the data.
    pub fn at(mut self, pos: usize) -> Decoder<'a> {
        self.pos = pos;
        self
    }

    /// The current byte offset in the data.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not yet decoded.
    pub fn remaining(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Fails unless every byte has been decoded.
    pub fn finish(&self) -> Result<()> {
        self.at_end().map_err(|err| *err)
    }

    fn at_end(&self) -> Res<()> {
        match self.data.len().checked_sub(self.pos) {
            Some(0) => Ok(()),
            Some(extra) => Err(fail(
                self.pos,
                format!("{extra} trailing bytes after the term"),
            )),
            None => Err(fail(self.pos, "position is past the end of the data")),
        }
    }

    /// Reads a `SMALL_TUPLE_EXT` header: the arity. `None` (with the
    /// position unspecified) for anything else, here and in the readers
    /// below: they serve the distribution layer's control message decoder,
    /// which names the field that was wrong.
    pub(crate) fn small_tuple(&mut self) -> Option<usize> {
        match self.u8().ok()? {
            tag::SMALL_TUPLE_EXT => self.u8().ok().map(usize::from),
            _ => None,
        }
    }

    /// Reads a `SMALL_INTEGER_EXT` or `INTEGER_EXT`.
    pub(crate) fn small_int_term(&mut self) -> Option<i64> {
        self.small_int().ok()
    }

    /// Reads an atom in any of its encodings.
    pub(crate) fn atom_term(&mut self) -> Option<Atom> {
        self.atom().ok()
    }

    /// Reads a pid.
    pub(crate) fn pid_term(&mut self) -> Option<Pid> {
        match self.u8().ok()? {
            tag @ (tag::PID_EXT | tag::NEW_PID_EXT) => self.pid_body(tag).ok(),
            _ => None,
        }
    }

    /// Reads a reference.
    pub(crate) fn ref_term(&mut self) -> Option<Ref> {
        let start = self.pos;
        match self.u8().ok()? {
            tag @ (tag::REFERENCE_EXT | tag::NEW_REFERENCE_EXT | tag::NEWER_REFERENCE_EXT) => {
                self.ref_body(tag, start).ok()
            }
            _ => None,
        }
    }

    /// Decodes one term body (no version byte) at the current position.
    pub fn term(&mut self) -> Result<Term> {
        self.term_at().map_err(|err| *err)
    }

    /// Decodes the version byte 131 and the term after it, which may be
    /// compressed (tag 80).
    pub fn versioned_term(&mut self) -> Result<Term> {
        self.versioned().map_err(|err| *err)
    }

    fn versioned(&mut self) -> Res<Term> {
        let start = self.pos;
        let version = self.u8()?;
        if version != tag::VERSION {
            return Err(fail(
                start,
                format!("expected version byte 131, found {version}"),
            ));
        }
        if self.data.get(self.pos) == Some(&tag::COMPRESSED) {
            self.pos += 1;
            return self.compressed(start + 1);
        }
        self.term_at()
    }

    fn compressed(&mut self, tag_offset: usize) -> Res<Term> {
        let size_offset = self.pos;
        let claimed = self.u32()? as usize;
        let input = self.remaining();
        let possible = input
            .len()
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(DEFLATE_SLACK);
        let max = self.limits.max_inflated_size;
        if claimed > max || claimed > possible {
            return Err(fail(
                size_offset,
                format!(
                    "compressed term claims {claimed} bytes from {} compressed bytes (limit {})",
                    input.len(),
                    possible.min(max)
                ),
            ));
        }
        // One spare byte of room reveals data that inflates past the claim.
        let mut inflated = Vec::with_capacity(claimed + 1);
        let mut inflater = Decompress::new(true);
        loop {
            let consumed = inflater.total_in() as usize;
            let produced = inflated.len();
            let status = inflater
                .decompress_vec(
                    &input[consumed.min(input.len())..],
                    &mut inflated,
                    FlushDecompress::Finish,
                )
                .map_err(|err| fail(self.pos + consumed, format!("bad zlib data: {err}")))?;
            if status == Status::StreamEnd {
                break;
            }
            if inflated.len() > claimed {
                return Err(fail(
                    size_offset,
                    format!("compressed term inflates to more than the {claimed} bytes claimed"),
                ));
            }
            if inflater.total_in() as usize == consumed && inflated.len() == produced {
                return Err(fail(self.pos + consumed, "zlib data ends early"));
            }
        }
        if inflated.len() != claimed {
            return Err(fail(
                size_offset,
                format!(
                    "compressed term inflates to {} bytes, but claims {claimed}",
                    inflated.len()
                ),
            ));
        }
        self.pos += inflater.total_in() as usize;
        // The inflated buffer is ours alone, so binaries may share it.
        let inflated = Bytes::from(inflated);
        let mut inner = Decoder::new(&inflated)
            .with_backing(&inflated)
            .with_atom_refs(self.atom_refs)
            .with_limits(self.limits);
        inner.terms = self.terms;
        inner.atom_budget = self.atom_budget;
        let inside = |err: Box<Error>| match *err {
            Error::Decode { offset, reason } => fail(
                tag_offset,
                format!("in compressed term, at byte {offset} of the inflated data: {reason}"),
            ),
            other => Box::new(other),
        };
        let term = inner.term_at().map_err(inside)?;
        inner.at_end().map_err(inside)?;
        self.terms = inner.terms;
        Ok(term)
    }

    /// Decodes one term. Containers being filled wait on a stack on the
    /// heap rather than in recursive calls, so no input can exhaust the
    /// thread's stack; [`Limits::max_depth`] still bounds the nesting.
    fn term_at(&mut self) -> Res<Term> {
        // The innermost open container is kept apart from those around it,
        // which are only touched when a container opens or closes.
        let mut current: Option<Open> = None;
        let mut outer: Vec<Open> = Vec::new();
        // Elements that the open containers still expect and that have not
        // started yet: each needs at least one more byte of input.
        let mut owed = 0usize;
        let max_depth = self.limits.max_depth.min(MAX_DEPTH);
        loop {
            let start = self.pos;
            let tag = self.u8()?;
            let mut value = match tag {
                tag::SMALL_TUPLE_EXT | tag::LARGE_TUPLE_EXT => {
                    let arity = if tag == tag::SMALL_TUPLE_EXT {
                        usize::from(self.u8()?)
                    } else {
                        self.u32()? as usize
                    };
                    if arity == 0 {
                        Term::Tuple(Vec::new())
                    } else {
                        self.expect_items(&mut owed, current.is_some(), arity, arity, "tuple")?;
                        let tuple = Open::Tuple {
                            elements: Vec::with_capacity(arity),
                            remaining: arity,
                        };
                        push_open(&mut current, &mut outer, max_depth, start, tuple)?;
                        continue;
                    }
                }
                tag::LIST_EXT => {
                    let len = self.list_header(&mut owed, current.is_some())?;
                    let elements = Vec::with_capacity(len);
                    let list = if len == 0 {
                        Open::Tail { elements }
                    } else {
                        Open::List {
                            elements,
                            remaining: len,
                        }
                    };
                    push_open(&mut current, &mut outer, max_depth, start, list)?;
                    continue;
                }
                tag::MAP_EXT => {
                    let len = self.u32()? as usize;
                    if len == 0 {
                        Term::Map(Vec::new())
                    } else {
                        let items = len.saturating_mul(2);
                        self.expect_items(&mut owed, current.is_some(), items, items, "map")?;
                        let map = Open::Map {
                            start,
                            pairs: Vec::with_capacity(len),
                            remaining: len,
                            has_key: false,
                        };
                        push_open(&mut current, &mut outer, max_depth, start, map)?;
                        continue;
                    }
                }
                tag::NEW_FUN_EXT => {
                    let header = self.fun_header(start)?;
                    if header.free_count == 0 {
                        self.finish_fun(&header, Vec::new())?
                    } else {
                        let free_count = header.free_count;
                        let what = "fun environment";
                        self.expect_items(
                            &mut owed,
                            current.is_some(),
                            free_count,
                            free_count,
                            what,
                        )?;
                        let fun = Open::Fun {
                            header: Box::new(header),
                            free: Vec::with_capacity(free_count),
                        };
                        push_open(&mut current, &mut outer, max_depth, start, fun)?;
                        continue;
                    }
                }
                _ => self.leaf(tag, start)?,
            };
            // Hand the finished term to its container; a container that
            // becomes full is itself a finished term for the one below. The
            // first term handed over is one element fewer owed; a container
            // that closes had its own elements counted off already.
            if current.is_some() {
                owed -= 1;
            }
            loop {
                let Some(top) = current.as_mut() else {
                    return Ok(value);
                };
                match top {
                    Open::Tuple {
                        elements,
                        remaining,
                    } => {
                        elements.push(value);
                        *remaining -= 1;
                        if *remaining > 0 {
                            break;
                        }
                        value = Term::Tuple(std::mem::take(elements));
                    }
                    Open::List {
                        elements,
                        remaining,
                    } => {
                        elements.push(value);
                        *remaining -= 1;
                        if *remaining > 0 {
                            self.integers(elements, remaining, &mut owed);
                            if *remaining > 0 {
                                break;
                            }
                        }
                        match self.data.get(self.pos) {
                            // The usual tail; skip the general path for it.
                            Some(&tag::NIL_EXT) => {}
                            // A tail that is a list goes on with this one, in the same
                            // vector (`[a | [b, c]]` is `[a, b, c]`): a list written as
                            // tails within tails must cost neither a copy of what follows
                            // nor a level of nesting per tail.
                            Some(&tag::LIST_EXT) => {
                                self.pos += 1;
                                let len = self.list_header(&mut owed, true)?;
                                if len > 0 {
                                    *remaining = len;
                                } else {
                                    let elements = std::mem::take(elements);
                                    *top = Open::Tail { elements };
                                }
                                break;
                            }
                            _ => {
                                let elements = std::mem::take(elements);
                                *top = Open::Tail { elements };
                                break;
                            }
                        }
                        self.pos += 1;
                        owed -= 1;
                        value = Term::List(std::mem::take(elements));
                    }
                    Open::Tail { elements } => {
                        value = Term::improper_list(std::mem::take(elements), value)
                    }
                    Open::Map {
                        start,
                        pairs,
                        remaining,
                        has_key,
                    } => {
                        // A key waits in the pair with a placeholder value.
                        if !*has_key {
                            pairs.push((value, Term::Int(0)));
                            *has_key = true;
                            break;
                        }
                        if let Some(pair) = pairs.last_mut() {
                            pair.1 = value;
                        }
                        *has_key = false;
                        *remaining -= 1;
                        if *remaining > 0 {
                            break;
                        }
                        check_unique_keys(*start, pairs)?;
                        value = Term::Map(std::mem::take(pairs));
                    }
                    Open::Fun { header, free } => {
                        free.push(value);
                        if free.len() < header.free_count {
                            break;
                        }
                        value = self.finish_fun(header, std::mem::take(free))?;
                    }
                }
                current = outer.pop();
            }
        }
    }

    /// Takes the run of integers that follows in a list (`lists:seq/2`, a
    /// charlist that `STRING_EXT` cannot hold) straight into its elements,
    /// up to `remaining` of them: each through the general loop costs about
    /// three times as much. Their count was checked and charged when the
    /// list opened, as it is for any element.
    #[inline]
    fn integers(&mut self, elements: &mut Vec<Term>, remaining: &mut usize, owed: &mut usize) {
        while *remaining > 0 {
            let rest = self.data.get(self.pos..).unwrap_or_default();
            let (value, len) = match *rest {
                [tag::SMALL_INTEGER_EXT, byte, ..] => (i64::from(byte), 2),
                [tag::INTEGER_EXT, a, b, c, d, ..] => {
                    (i64::from(i32::from_be_bytes([a, b, c, d])), 5)
                }
                _ => return,
            };
            elements.push(Term::Int(value));
            self.pos += len;
            *remaining -= 1;
            *owed -= 1;
        }
    }

    /// A term that holds no other terms, whose tag has been read.
    #[inline]
    fn leaf(&mut self, tag: u8, start: usize) -> Res<Term> {
        Ok(match tag {
            tag::SMALL_INTEGER_EXT => Term::Int(i64::from(self.u8()?)),
            tag::INTEGER_EXT => Term::Int(i64::from(self.u32()? as i32)),
            tag::NEW_FLOAT_EXT => Term::Float(finite(start, f64::from_bits(self.u64()?))?),
            tag::ATOM_EXT
            | tag::SMALL_ATOM_EXT
            | tag::ATOM_UTF8_EXT
            | tag::SMALL_ATOM_UTF8_EXT
            | tag::ATOM_CACHE_REF => Term::Atom(self.atom_body(tag, start)?),
            tag::NIL_EXT => Term::nil(),
            tag::STRING_EXT => self.string()?,
            tag::BINARY_EXT => {
                let len = self.u32()? as usize;
                let bytes = self.take(len)?;
                Term::Binary(self.share_binary(bytes))
            }
            _ => self.rare_leaf(tag, start)?,
        })
    }

    /// The leaves that are seldom on a hot path, kept out of line.
    #[inline(never)]
    fn rare_leaf(&mut self, tag: u8, start: usize) -> Res<Term> {
        Ok(match tag {
            tag::FLOAT_EXT => self.old_float(start)?,
            tag::BIT_BINARY_EXT => self.bit_binary(start)?,
            tag::SMALL_BIG_EXT => {
                let len = usize::from(self.u8()?);
                self.big(len)?
            }
            tag::LARGE_BIG_EXT => {
                let len = self.u32()? as usize;
                // As erts decodes: what no BEAM can hold, no BEAM sent.
                if len > BEAM_BIG_BYTES_MAX {
                    return Err(fail(start, too_big(len)));
                }
                self.big(len)?
            }
            tag::PID_EXT | tag::NEW_PID_EXT => Term::Pid(self.pid_body(tag)?),
            tag::PORT_EXT | tag::NEW_PORT_EXT | tag::V4_PORT_EXT => {
                Term::Port(self.port_body(tag)?)
            }
            tag::REFERENCE_EXT | tag::NEW_REFERENCE_EXT | tag::NEWER_REFERENCE_EXT => {
                Term::Ref(self.ref_body(tag, start)?)
            }
            tag::EXPORT_EXT => self.export(start)?,
            tag::FUN_EXT => {
                return Err(fail(
                    start,
                    "unsupported FUN_EXT (tag 117): pre-R8 funs are not decoded",
                ))
            }
            tag::LOCAL_EXT => {
                return Err(fail(
                    start,
                    "unsupported LOCAL_EXT (tag 121): node-local encoding",
                ))
            }
            tag::COMPRESSED => {
                return Err(fail(
                    start,
                    "compressed term (tag 80) allowed only after the version byte",
                ))
            }
            other => return Err(fail(start, format!("unknown term tag {other}"))),
        })
    }

    #[inline]
    fn take(&mut self, len: usize) -> Res<&'a [u8]> {
        match self.data.get(self.pos..).and_then(|rest| rest.get(..len)) {
            Some(bytes) => {
                self.pos += len;
                Ok(bytes)
            }
            None => Err(self.truncated(len)),
        }
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, wanted: usize) -> Box<Error> {
        let left = self.data.len().saturating_sub(self.pos);
        fail(
            self.pos,
            format!("input ends early: {wanted} bytes needed, {left} left"),
        )
    }

    /// The next `N` bytes.
    #[inline]
    fn chunk<const N: usize>(&mut self) -> Res<&'a [u8; N]> {
        match self.data.get(self.pos..).and_then(<[u8]>::first_chunk::<N>) {
            Some(bytes) => {
                self.pos += N;
                Ok(bytes)
            }
            None => Err(self.truncated(N)),
        }
    }

    #[inline]
    fn u8(&mut self) -> Res<u8> {
        match self.data.get(self.pos) {
            Some(&byte) => {
                self.pos += 1;
                Ok(byte)
            }
            None => Err(self.truncated(1)),
        }
    }

    #[inline]
    fn u16(&mut self) -> Res<u16> {
        self.chunk().map(|bytes| u16::from_be_bytes(*bytes))
    }

    #[inline]
    fn u32(&mut self) -> Res<u32> {
        self.chunk().map(|bytes| u32::from_be_bytes(*bytes))
    }

    #[inline]
    fn u64(&mut self) -> Res<u64> {
        self.chunk().map(|bytes| u64::from_be_bytes(*bytes))
    }

    /// Accounts for a container that opens expecting `items` terms, of
    /// which `count` are elements that [`Limits::max_terms`] counts (a
    /// list's tail is an item but not an element), before anything is
    /// reserved for them: the items owed by every open container must fit
    /// in the bytes left, one byte each at least, and the term may not grow
    /// past [`Limits::max_terms`]. `nested`: the container is itself an item
    /// of the innermost open one, which then owes one item fewer (this one,
    /// now under way, is owed its own items instead).
    #[inline]
    fn expect_items(
        &mut self,
        owed: &mut usize,
        nested: bool,
        items: usize,
        count: usize,
        what: &str,
    ) -> Res<()> {
        let left = self.data.len().saturating_sub(self.pos);
        let others = *owed - usize::from(nested);
        let now_owed = others.saturating_add(items);
        if now_owed > left {
            return Err(self.too_many(count, what, left, others));
        }
        self.charge_terms(count, what)?;
        *owed = now_owed;
        Ok(())
    }

    /// The length of a `LIST_EXT` whose tag was read, its elements and its
    /// tail accounted for (see [`expect_items`](Self::expect_items)).
    #[inline]
    fn list_header(&mut self, owed: &mut usize, nested: bool) -> Res<usize> {
        let len = self.u32()? as usize;
        // The tail is one more item.
        self.expect_items(owed, nested, len.saturating_add(1), len, "list")?;
        Ok(len)
    }

    /// Counts `count` more elements against [`Limits::max_terms`].
    #[inline]
    fn charge_terms(&mut self, count: usize, what: &str) -> Res<()> {
        let terms = self.terms.saturating_add(count);
        if terms > self.limits.max_terms {
            return Err(self.too_many_terms(count, what));
        }
        self.terms = terms;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_many(&self, count: usize, what: &str, left: usize, others: usize) -> Box<Error> {
        let reason = if others == 0 {
            format!("{what} claims {count} elements but only {left} bytes are left")
        } else {
            format!(
                "{what} claims {count} elements but only {left} bytes are left, and the \
                 containers around it still expect {others} more elements"
            )
        };
        fail(self.pos, reason)
    }

    #[cold]
    #[inline(never)]
    fn too_many_terms(&self, count: usize, what: &str) -> Box<Error> {
        fail(
            self.pos,
            format!(
                "{what} of {count} elements takes the term past the limit of {} elements \
                 (decode limits: max_terms)",
                self.limits.max_terms
            ),
        )
    }

    /// The bytes as a binary: a slice of the backing buffer when there is one
    /// and the binary is long enough, a copy otherwise.
    fn share(&self, bytes: &[u8]) -> Bytes {
        match self.backing {
            Some(backing) if bytes.len() >= ZERO_COPY_MIN => backing.slice_ref(bytes),
            _ => Bytes::copy_from_slice(bytes),
        }
    }

    /// The contents of a binary or bitstring: [`share`](Self::share)d, or
    /// left out by [`validate`].
    fn share_binary(&self, bytes: &[u8]) -> Bytes {
        if self.skim {
            return Bytes::new();
        }
        self.share(bytes)
    }

    fn old_float(&mut self, start: usize) -> Res<Term> {
        let field = self.take(31)?;
        let text = field.split(|&b| b == 0).next().unwrap_or_default();
        let value = std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .ok_or_else(|| fail(start, "FLOAT_EXT does not hold a number"))?;
        Ok(Term::Float(finite(start, value)?))
    }

    /// An atom in any of its encodings (used where the format requires an
    /// atom, such as a pid's node).
    fn atom(&mut self) -> Res<Atom> {
        let start = self.pos;
        let tag = self.u8()?;
        match tag {
            tag::ATOM_EXT
            | tag::SMALL_ATOM_EXT
            | tag::ATOM_UTF8_EXT
            | tag::SMALL_ATOM_UTF8_EXT
            | tag::ATOM_CACHE_REF => self.atom_body(tag, start),
            other => Err(fail(start, format!("expected an atom, found tag {other}"))),
        }
    }

    fn atom_body(&mut self, tag: u8, start: usize) -> Res<Atom> {
        let (len, utf8) = match tag {
            tag::ATOM_CACHE_REF => {
                let index = self.u8()?;
                self.cache_refs_seen += 1;
                return self
                    .atom_refs
                    .get(usize::from(index))
                    .copied()
                    .ok_or_else(|| {
                        fail(
                            start,
                            format!(
                                "atom cache reference {index} outside the {} cached atoms",
                                self.atom_refs.len()
                            ),
                        )
                    });
            }
            tag::SMALL_ATOM_UTF8_EXT => (usize::from(self.u8()?), true),
            tag::ATOM_UTF8_EXT => (usize::from(self.u16()?), true),
            tag::SMALL_ATOM_EXT => (usize::from(self.u8()?), false),
            _ => (usize::from(self.u16()?), false),
        };
        let bytes = self.take(len)?;
        let owned;
        // `intern` refuses texts longer than an atom may be.
        let text = if utf8 {
            std::str::from_utf8(bytes)
                .map_err(|err| fail(start, format!("atom is not valid UTF-8: {err}")))?
        } else {
            owned = bytes
                .iter()
                .map(|&byte| char::from(byte))
                .collect::<String>();
            owned.as_str()
        };
        intern(text, self.atom_budget).map_err(|refused| fail(start, refused.to_string()))
    }

    fn string(&mut self) -> Res<Term> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        self.charge_terms(len, "string")?;
        Ok(Term::List(
            bytes
                .iter()
                .map(|&byte| Term::Int(i64::from(byte)))
                .collect(),
        ))
    }

    fn bit_binary(&mut self, start: usize) -> Res<Term> {
        let len = self.u32()? as usize;
        let bits = self.u8()?;
        // erts accepts an empty bitstring only with 0 bits, and otherwise
        // 1 to 8 bits used in the last byte.
        match (len, bits) {
            (0, 0) => return Ok(Term::binary(Bytes::new())),
            (0, _) | (_, 0) | (_, 9..) => {
                return Err(fail(
                    start,
                    format!("bitstring of {len} bytes with {bits} bits in the last byte"),
                ))
            }
            _ => {}
        }
        let bytes = self.take(len)?;
        if bits == 8 {
            return Ok(Term::Binary(self.share_binary(bytes)));
        }
        let mask = 0xFFu8 << (8 - bits);
        let bytes = match bytes.split_last() {
            Some((&last, whole)) if last & !mask != 0 => {
                let mut owned = Vec::with_capacity(len);
                owned.extend_from_slice(whole);
                owned.push(last & mask);
                Bytes::from(owned)
            }
            _ => self.share_binary(bytes),
        };
        Ok(Term::Bitstring(super::Bitstring { bytes, bits }))
    }

    fn big(&mut self, len: usize) -> Res<Term> {
        let sign = self.u8()?;
        let magnitude = self.take(len)?;
        // erts treats any non-zero sign byte as negative.
        Ok(BigInt::from_magnitude(sign != 0, magnitude).into_term())
    }

    fn pid_body(&mut self, tag: u8) -> Res<Pid> {
        let node = self.atom()?;
        let id = self.u32()?;
        let serial = self.u32()?;
        let creation = if tag == tag::PID_EXT {
            u32::from(self.u8()?)
        } else {
            self.u32()?
        };
        Ok(Pid {
            node,
            id,
            serial,
            creation,
        })
    }

    fn port_body(&mut self, tag: u8) -> Res<Port> {
        let node = self.atom()?;
        let (id, creation) = match tag {
            tag::PORT_EXT => (u64::from(self.u32()?), u32::from(self.u8()?)),
            tag::NEW_PORT_EXT => (u64::from(self.u32()?), self.u32()?),
            _ => (self.u64()?, self.u32()?),
        };
        Ok(Port { node, id, creation })
    }

    fn ref_body(&mut self, tag: u8, start: usize) -> Res<Ref> {
        let words = if tag == tag::REFERENCE_EXT {
            1
        } else {
            usize::from(self.u16()?)
        };
        if !(1..=Ref::MAX_WORDS).contains(&words) {
            return Err(fail(
                start,
                format!("reference with {words} id words (1 to 5 supported)"),
            ));
        }
        let node = self.atom()?;
        let mut ids = [0u32; Ref::MAX_WORDS];
        let creation = match tag {
            tag::REFERENCE_EXT => {
                ids[0] = self.u32()?;
                u32::from(self.u8()?)
            }
            tag::NEW_REFERENCE_EXT => u32::from(self.u8()?),
            _ => self.u32()?,
        };
        if tag != tag::REFERENCE_EXT {
            for id in &mut ids[..words] {
                *id = self.u32()?;
            }
        }
        Ref::new(node, creation, &ids[..words]).ok_or_else(|| fail(start, "malformed reference"))
    }
}

/// A container that is still being filled (see `Decoder::term_at`).
enum Open {
    Tuple {
        elements: Vec<Term>,
        remaining: usize,
    },
    List {
        elements: Vec<Term>,
        remaining: usize,
    },
    /// A list whose elements are complete; the next term is its tail.
    Tail { elements: Vec<Term> },
    /// `has_key`: the last pair holds a key whose value comes next.
    Map {
        start: usize,
        pairs: Vec<(Term, Term)>,
        remaining: usize,
        has_key: bool,
    },
    Fun {
        header: Box<FunHeader>,
        free: Vec<Term>,
    },
}

/// Opens a container inside `current`, unless that would nest deeper than
/// `max_depth`.
#[inline]
fn push_open(
    current: &mut Option<Open>,
    outer: &mut Vec<Open>,
    max_depth: usize,
    start: usize,
    container: Open,
) -> Res<()> {
    if outer.len() + 1 >= max_depth && current.is_some() {
        return Err(too_deep(start, max_depth));
    }
    if let Some(parent) = current.replace(container) {
        outer.push(parent);
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn too_deep(start: usize, max_depth: usize) -> Box<Error> {
    fail(start, format!("terms nest deeper than {max_depth} levels"))
}

/// Fails if a map holds a key twice (`binary_to_term` refuses such maps).
fn check_unique_keys(start: usize, pairs: &[(Term, Term)]) -> Res<()> {
    /// Up to this size, comparing every key with every other is cheaper
    /// than hashing them.
    const QUADRATIC_MAX: usize = 32;
    let duplicate = if super::order::pairwise(pairs, QUADRATIC_MAX) {
        pairs.iter().enumerate().find_map(|(i, (key, _))| {
            pairs[..i]
                .iter()
                .any(|(other, _)| other == key)
                .then_some(key)
        })
    } else {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        pairs
            .iter()
            .map(|(key, _)| key)
            .find(|&key| !seen.insert(key))
    };
    match duplicate {
        Some(key) => Err(fail(
            start,
            format!("map has the key {key:.TERM_TEXT_IN_ERRORS$} more than once"),
        )),
        None => Ok(()),
    }
}

/// Slots in each thread's cache of recently decoded atoms.
const RECENT_ATOMS: usize = 256;

thread_local! {
    /// Recently decoded long atoms, by a hash of their text. The same atoms
    /// come back again and again (module names, node names); a hit skips the
    /// atom table's lock and hashing.
    static RECENT: [Cell<Option<Atom>>; RECENT_ATOMS] = const { [const { Cell::new(None) }; RECENT_ATOMS] };
}

/// The atom for `text`: inline when short, else through the per-thread
/// cache and then the atom table (charged to `budget`, if any).
#[inline]
fn intern(text: &str, budget: Option<&AtomBudget>) -> Result<Atom, Refused> {
    if text.len() <= INLINE_BYTES {
        return Atom::new_from_peer(text, None);
    }
    // FNV-1a: atoms are short, and a collision only costs a table lookup.
    let hash = text.bytes().fold(0xCBF2_9CE4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    });
    let slot = (hash as usize) % RECENT_ATOMS;
    RECENT.with(|recent| {
        if let Some(atom) = recent[slot].get().filter(|atom| atom.as_str() == text) {
            return Ok(atom);
        }
        let atom = Atom::new_from_peer(text, budget)?;
        recent[slot].set(Some(atom));
        Ok(atom)
    })
}

/// Results inside the decoder carry the error boxed: `Error` is large, and
/// the hot paths return results as small as a byte.
type Res<T> = std::result::Result<T, Box<Error>>;

#[cold]
#[inline(never)]
fn fail(offset: usize, reason: impl Into<String>) -> Box<Error> {
    Box::new(Error::decode(offset, reason))
}

fn finite(start: usize, value: f64) -> Res<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(fail(start, format!("float {value} is not finite")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Term {
        decode(bytes).unwrap_or_else(|err| panic!("decoding {bytes:?}: {err}"))
    }

    fn fails(bytes: &[u8]) -> (usize, String) {
        match decode(bytes) {
            Err(Error::Decode { offset, reason }) => (offset, reason),
            other => panic!("expected a decode error for {bytes:?}, got {other:?}"),
        }
    }

    #[test]
    fn integers() {
        assert_eq!(dec(&[131, 97, 255]), Term::Int(255));
        assert_eq!(dec(&[131, 98, 255, 255, 255, 255]), Term::Int(-1));
        assert_eq!(
            dec(&[131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128]),
            Term::Int(i64::MIN)
        );
        assert_eq!(dec(&[131, 110, 2, 0, 5, 0]), Term::Int(5));
        assert_eq!(dec(&[131, 110, 1, 2, 5]), Term::Int(-5));
        assert_eq!(dec(&[131, 110, 0, 0]), Term::Int(0));
        assert_eq!(dec(&[131, 111, 0, 0, 0, 1, 0, 7]), Term::Int(7));
        assert_eq!(
            dec(&[131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Term::from(1u128 << 64)
        );
        assert_eq!(
            dec(&[131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128]),
            Term::from(1u128 << 63)
        );
    }

    #[test]
    fn integers_larger_than_the_beam_holds_are_refused() {
        let big = |bytes: usize| {
            let mut etf = vec![tag::VERSION, tag::LARGE_BIG_EXT];
            etf.extend_from_slice(&(bytes as u32).to_be_bytes());
            etf.push(0);
            etf.resize(etf.len() + bytes, 0xff);
            etf
        };
        let largest = big(BEAM_BIG_BYTES_MAX);
        assert!(decode(&largest).is_ok());
        assert!(validate(&largest).is_ok());
        let larger = big(BEAM_BIG_BYTES_MAX + 1);
        let err = decode(&larger).expect_err("larger").to_string();
        assert!(err.contains("at most 33554368 bits"), "{err}");
        assert!(validate(&larger).is_err());
    }

    #[test]
    fn validate_agrees_with_decode() {
        let good: &[&[u8]] = &[
            &[131, 109, 0, 0, 0, 3, 1, 2, 3],
            &[131, 104, 2, 119, 2, b'o', b'k', 109, 0, 0, 0, 1, 7],
            &[131, 108, 0, 0, 0, 1, 97, 1, 106],
            &[131, 116, 0, 0, 0, 1, 97, 1, 109, 0, 0, 0, 0],
            // Keys that differ in their binaries only.
            &[
                131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 1, 106, 109, 0, 0, 0, 1, 2, 106,
            ],
        ];
        for bytes in good {
            assert!(decode(bytes).is_ok(), "{bytes:?}");
            assert!(validate(bytes).is_ok(), "{bytes:?}");
        }
        let bad: &[&[u8]] = &[
            &[131, 109, 0, 0, 0, 4, 1, 2, 3],
            &[109, 0, 0, 0, 0],
            &[131, 97, 1, 97],
            &[131, 108, 255, 255, 255, 255, 106],
            &[131, 116, 0, 0, 0, 2, 97, 1, 106, 97, 1, 106],
            &[
                131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 1, 106, 109, 0, 0, 0, 1, 1, 106,
            ],
            &[131, 200],
        ];
        for bytes in bad {
            assert_eq!(
                validate(bytes).unwrap_err().to_string(),
                decode(bytes).unwrap_err().to_string(),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn floats() {
        assert_eq!(dec(&[131, 70, 63, 248, 0, 0, 0, 0, 0, 0]), Term::Float(1.5));
        let mut old = vec![131, 99];
        old.extend_from_slice(b"1.50000000000000000000e+00");
        old.resize(2 + 31, 0);
        assert_eq!(dec(&old), Term::Float(1.5));
        assert!(decode(&[131, 70, 127, 240, 0, 0, 0, 0, 0, 0]).is_err());
        let mut nan = vec![131, 99];
        nan.extend_from_slice(b"nan");
        nan.resize(2 + 31, 0);
        assert!(decode(&nan).is_err());
    }

    #[test]
    fn atoms() {
        assert_eq!(dec(&[131, 100, 0, 1, 233]), Term::atom("é"));
        assert_eq!(dec(&[131, 115, 2, b'o', b'k']), Term::atom("ok"));
        assert_eq!(dec(&[131, 119, 2, 206, 177]), Term::atom("α"));
        assert_eq!(dec(&[131, 118, 0, 1, b'a']), Term::atom("a"));
        assert!(fails(&[131, 119, 1, 255]).1.contains("UTF-8"));
        let mut long = vec![131, 118, 1, 0];
        long.extend_from_slice(&[b'a'; 256]);
        assert!(fails(&long).1.contains("256 characters"));
        let mut ok = vec![131, 118, 1, 254];
        ok.extend_from_slice("ü".repeat(255).as_bytes());
        assert_eq!(dec(&ok), Term::atom(&"ü".repeat(255)));
    }

    #[test]
    fn atom_cache_refs() {
        let refs = [Atom::new("cached_zero"), Atom::new("cached_one")];
        let data = [104, 2, 82, 1, 82, 0];
        let term = Decoder::new(&data)
            .with_atom_refs(&refs)
            .term()
            .expect("decodes");
        assert_eq!(
            term,
            Term::tuple(vec![Term::atom("cached_one"), Term::atom("cached_zero")])
        );
        let err = Decoder::new(&[82, 2])
            .with_atom_refs(&refs)
            .term()
            .expect_err("outside");
        assert!(matches!(err, Error::Decode { offset: 0, .. }), "{err}");
    }

    #[test]
    fn lists() {
        assert_eq!(dec(&[131, 106]), Term::nil());
        assert_eq!(dec(&[131, 107, 0, 0]), Term::nil());
        assert_eq!(
            dec(&[131, 107, 0, 2, 1, 2]),
            Term::list(vec![Term::Int(1), Term::Int(2)])
        );
        assert_eq!(dec(&[131, 108, 0, 0, 0, 0, 106]), Term::nil());
        assert_eq!(dec(&[131, 108, 0, 0, 0, 0, 97, 1]), Term::Int(1));
        assert_eq!(
            dec(&[131, 108, 0, 0, 0, 1, 97, 1, 119, 1, b'a']),
            Term::improper_list(vec![Term::Int(1)], Term::atom("a"))
        );
        // [1 | [2 | a]] written with a list tail merges into one list.
        assert_eq!(
            dec(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 119, 1, b'a']),
            Term::improper_list(vec![Term::Int(1), Term::Int(2)], Term::atom("a"))
        );
        assert_eq!(
            dec(&[131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 1, 2]),
            Term::list(vec![Term::Int(1), Term::Int(2)])
        );
        // Tails within tails, more of them than terms may nest: one list,
        // built in one vector (a copy of the rest per tail made a list of
        // N elements in D tails cost N * D).
        let mut tails = vec![131];
        for i in 0..3 * MAX_DEPTH {
            tails.extend_from_slice(&[108, 0, 0, 0, 1, 97, (i % 256) as u8]);
        }
        tails.extend_from_slice(&[108, 0, 0, 0, 0, 119, 1, b'z']);
        let elements = (0..3 * MAX_DEPTH)
            .map(|i| Term::Int((i % 256) as i64))
            .collect();
        assert_eq!(dec(&tails), Term::improper_list(elements, Term::atom("z")));
    }

    /// Runs of integers in a list take a shorter way; the result, the
    /// tail and every failure are as for any other element.
    #[test]
    fn runs_of_integers_in_lists() {
        let mixed = [
            Term::Int(1),
            Term::Int(-1),
            Term::Int(300),
            Term::Int(i64::from(i32::MIN)),
            Term::atom("a"),
            Term::Int(255),
            Term::Int(1 << 40),
            Term::Int(7),
        ];
        for len in 1..=mixed.len() {
            let list = Term::list(mixed[..len].to_vec());
            assert_eq!(dec(&crate::term::encode(&list).expect("encodes")), list);
            let improper = Term::improper_list(mixed[..len].to_vec(), Term::Int(9));
            assert_eq!(
                dec(&crate::term::encode(&improper).expect("encodes")),
                improper
            );
        }
        // Cut inside an INTEGER_EXT, and a list that claims more integers than follow.
        let (offset, reason) = fails(&[131, 108, 0, 0, 0, 3, 97, 1, 98, 0, 0, 1, 44, 98, 0]);
        assert_eq!(offset, 14);
        assert!(reason.contains("4 bytes needed, 1 left"), "{reason}");
        let (offset, reason) = fails(&[131, 108, 0, 0, 0, 9, 97, 1, 97, 2, 97, 3, 97, 4, 106]);
        assert_eq!(offset, 6);
        assert!(reason.contains("claims 9 elements"), "{reason}");
        let (offset, reason) = fails(&[131, 108, 0, 0, 0, 2, 97, 1, 97, 2]);
        assert_eq!(offset, 10);
        assert!(reason.contains("1 bytes needed, 0 left"), "{reason}");
        let limits = Limits {
            max_terms: 3,
            ..Limits::default()
        };
        let err = Decoder::new(&[108, 0, 0, 0, 4, 97, 1, 97, 2, 97, 3, 97, 4, 106])
            .with_limits(limits)
            .term()
            .expect_err("over max_terms");
        assert!(err.to_string().contains("max_terms"), "{err}");
    }

    #[test]
    fn maps() {
        assert_eq!(dec(&[131, 116, 0, 0, 0, 0]), Term::map(vec![]));
        let (offset, reason) = fails(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3]);
        assert_eq!(offset, 1);
        assert!(reason.contains("more than once"), "{reason}");
        let mut large = vec![131, 116, 0, 0, 0, 40];
        for i in 0..40u8 {
            large.extend_from_slice(&[97, i % 39, 97, 0]);
        }
        assert!(fails(&large).1.contains("the key 0 more than once"));
        // Keys that are maps, the same but for pair order: one key twice.
        let key = |pairs: [(u8, u8); 2]| {
            let mut key = vec![116, 0, 0, 0, 2];
            for (k, v) in pairs {
                key.extend_from_slice(&[97, k, 97, v]);
            }
            key
        };
        let mut twice = vec![131, 116, 0, 0, 0, 2];
        twice.extend(key([(1, 2), (3, 4)]));
        twice.extend_from_slice(&[97, 0]);
        twice.extend(key([(3, 4), (1, 2)]));
        twice.extend_from_slice(&[97, 0]);
        assert!(fails(&twice).1.contains("more than once"));
        let mut distinct = twice.clone();
        let last_value = distinct.len() - 3;
        distinct[last_value] = 5;
        assert!(decode(&distinct).is_ok());
    }

    #[test]
    fn bitstrings() {
        assert_eq!(dec(&[131, 77, 0, 0, 0, 0, 0]), Term::binary(Bytes::new()));
        assert!(decode(&[131, 77, 0, 0, 0, 0, 1]).is_err());
        assert!(decode(&[131, 77, 0, 0, 0, 1, 0, 255]).is_err());
        assert!(decode(&[131, 77, 0, 0, 0, 1, 9, 255]).is_err());
        assert_eq!(dec(&[131, 77, 0, 0, 0, 1, 8, 255]), Term::binary(vec![255]));
        assert_eq!(
            dec(&[131, 77, 0, 0, 0, 1, 1, 255]),
            Term::bitstring(&[128], 1).expect("bits")
        );
    }

    #[test]
    fn identifiers() {
        let node = Atom::new("a@h");
        let pid = dec(&[
            131, 103, 119, 3, b'a', b'@', b'h', 0, 0, 0, 1, 0, 0, 0, 2, 3,
        ]);
        assert_eq!(
            pid,
            Term::Pid(Pid {
                node,
                id: 1,
                serial: 2,
                creation: 3
            })
        );
        let port = dec(&[131, 102, 100, 0, 3, b'a', b'@', b'h', 0, 0, 0, 9, 3]);
        assert_eq!(
            port,
            Term::Port(Port {
                node,
                id: 9,
                creation: 3
            })
        );
        let port = dec(&[
            131, 120, 119, 3, b'a', b'@', b'h', 1, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3,
        ]);
        assert_eq!(
            port,
            Term::Port(Port {
                node,
                id: (1 << 56) + 9,
                creation: 3
            })
        );
        let old_ref = dec(&[131, 101, 119, 3, b'a', b'@', b'h', 0, 0, 0, 5, 2]);
        assert_eq!(old_ref, Term::Ref(Ref::new(node, 2, &[5]).expect("ref")));
        let new_ref = dec(&[
            131, 114, 0, 2, 119, 3, b'a', b'@', b'h', 2, 0, 0, 0, 5, 0, 0, 0, 6,
        ]);
        assert_eq!(new_ref, Term::Ref(Ref::new(node, 2, &[5, 6]).expect("ref")));
        assert!(fails(&[131, 90, 0, 6, 119, 1, b'a', 0, 0, 0, 1])
            .1
            .contains("6 id words"));
        assert!(fails(&[131, 90, 0, 0, 119, 1, b'a', 0, 0, 0, 1])
            .1
            .contains("0 id words"));
    }

    #[test]
    fn export_funs() {
        let bytes = [
            131, 113, 119, 5, b'l', b'i', b's', b't', b's', 119, 3, b's', b'u', b'm', 97, 1,
        ];
        match dec(&bytes) {
            Term::Fun(fun) => assert_eq!(&fun.encoding()[..], &bytes[1..]),
            other => panic!("{other:?}"),
        }
        // Latin-1 atoms and a four-byte arity give the same export.
        let latin1 = [
            131, 113, 100, 0, 5, b'l', b'i', b's', b't', b's', 115, 3, b's', b'u', b'm', 98, 0, 0,
            0, 1,
        ];
        assert_eq!(dec(&latin1), dec(&bytes));
        assert!(
            fails(&[131, 113, 119, 1, b'm', 119, 1, b'f', 98, 0, 0, 1, 0])
                .1
                .contains("arity")
        );
        // Cached atoms are resolved into a self-contained encoding.
        let refs = [Atom::new("lists"), Atom::new("sum")];
        let term = Decoder::new(&[113, 82, 0, 82, 1, 97, 1])
            .with_atom_refs(&refs)
            .term()
            .expect("fun");
        assert_eq!(term, dec(&bytes));
    }

    #[test]
    fn new_funs() {
        // A fun from f:a(1) as written by OTP 25 (module f, one free variable).
        let bytes: Vec<u8> = vec![
            131, 112, 0, 0, 0, 69, 0, 235, 182, 33, 238, 35, 197, 75, 118, 66, 65, 93, 119, 63, 41,
            174, 24, 0, 0, 0, 0, 0, 0, 0, 1, 119, 1, 102, 97, 0, 98, 7, 93, 177, 15, 88, 119, 13,
            110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0,
            0, 0, 0, 0, 97, 1,
        ];
        let term = dec(&bytes);
        assert_eq!(super::super::encode(&term).expect("encodes"), bytes);
        let mut short = bytes.clone();
        short[5] -= 1;
        assert!(decode(&short[..short.len() - 1]).is_err());
        let mut long = bytes.clone();
        long[5] += 1;
        long.push(0);
        assert!(fails(&long).1.contains("fields take"));
        // The same fun with its atoms sent through the atom cache.
        let refs = [Atom::new("f"), Atom::new("nonode@nohost")];
        let mut cached = vec![112, 0, 0, 0, 0];
        cached.extend_from_slice(&bytes[6..31]);
        cached.extend_from_slice(&[82, 0]);
        cached.extend_from_slice(&bytes[34..42]);
        cached.extend_from_slice(&[82, 1]);
        cached.extend_from_slice(&bytes[57..]);
        let size = (cached.len() - 1) as u32;
        cached[1..5].copy_from_slice(&size.to_be_bytes());
        let term = Decoder::new(&cached)
            .with_atom_refs(&refs)
            .term()
            .expect("fun");
        assert_eq!(term, dec(&bytes));
    }

    #[test]
    fn unsupported_tags() {
        assert!(fails(&[131, 117, 0, 0, 0, 0])
            .1
            .contains("unsupported FUN_EXT"));
        assert!(fails(&[131, 121, 0]).1.contains("unsupported LOCAL_EXT"));
        assert!(fails(&[131, 104, 1, 80]).1.contains("tag 80"));
        assert_eq!(
            fails(&[131, 104, 1, 200]),
            (3, "unknown term tag 200".to_owned())
        );
        assert!(fails(&[130, 97, 1]).1.contains("version"));
    }

    #[test]
    fn trailing_bytes() {
        let (offset, reason) = fails(&[131, 97, 1, 0]);
        assert_eq!(offset, 3);
        assert!(reason.contains("trailing"), "{reason}");
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        let (offset, reason) = fails(&[131, 108, 255, 255, 255, 255, 97]);
        assert_eq!(offset, 6);
        assert!(reason.contains("4294967295 elements"), "{reason}");
        assert!(decode(&[131, 105, 255, 255, 255, 255]).is_err());
        assert!(decode(&[131, 116, 255, 255, 255, 255, 0, 0]).is_err());
        assert!(decode(&[131, 109, 255, 255, 255, 255, 0]).is_err());
        assert!(decode(&[131, 111, 255, 255, 255, 255, 0]).is_err());
        assert!(decode(&[131, 112, 255, 255, 255, 255, 0]).is_err());
    }

    #[test]
    fn zero_copy_binaries() {
        let mut frame = vec![131, 104, 2, 109, 0, 0, 0, 64];
        frame.extend_from_slice(&[7; 64]);
        frame.extend_from_slice(&[109, 0, 0, 0, 3, 1, 2, 3]);
        let frame = Bytes::from(frame);
        let range = frame.as_ptr_range();
        match decode_bytes(frame.clone()).expect("decodes") {
            Term::Tuple(elements) => {
                let (Term::Binary(big), Term::Binary(small)) = (&elements[0], &elements[1]) else {
                    panic!("{elements:?}")
                };
                assert!(range.contains(&big.as_ptr()), "64-byte binary is shared");
                assert!(!range.contains(&small.as_ptr()), "3-byte binary is copied");
            }
            other => panic!("{other:?}"),
        }
    }

    fn compress(term: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(term).expect("compress");
        let mut out = vec![131, 80];
        out.extend_from_slice(&(term.len() as u32).to_be_bytes());
        out.extend_from_slice(&encoder.finish().expect("compress"));
        out
    }

    #[test]
    fn compressed() {
        let mut body = vec![109, 0, 0, 3, 232];
        body.extend_from_slice(&[5; 1000]);
        assert_eq!(dec(&compress(&body)), Term::binary(vec![5u8; 1000]));
        let mut lying = compress(&body);
        lying[5] += 1;
        assert!(fails(&lying).1.contains("inflates to 1005 bytes"));
        let mut lying = compress(&body);
        lying[5] -= 1;
        assert!(fails(&lying).1.contains("claims 1004"));
        let mut bomb = compress(&body);
        bomb[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(fails(&bomb).1.contains("claims 4294967295"));
        let truncated = compress(&body);
        assert!(decode(&truncated[..truncated.len() - 3]).is_err());
        let mut trailing = compress(&body);
        trailing.push(0);
        assert!(fails(&trailing).1.contains("trailing"));
        let inner_error = compress(&[104, 2, 97]);
        let (offset, reason) = fails(&inner_error);
        assert_eq!(offset, 1);
        assert!(reason.contains("inflated data"), "{reason}");
    }

    #[test]
    fn decoder_positions() {
        let data = [97, 1, 97, 2, 106];
        let mut decoder = Decoder::new(&data);
        assert_eq!(decoder.term().expect("first"), Term::Int(1));
        assert_eq!(decoder.position(), 2);
        assert_eq!(decoder.term().expect("second"), Term::Int(2));
        assert_eq!(decoder.remaining(), &[106]);
        assert!(decoder.finish().is_err());
        let mut decoder = Decoder::new(&data).at(4);
        assert_eq!(decoder.term().expect("nil"), Term::nil());
        decoder.finish().expect("all read");
        let err = Decoder::new(&data).at(9).term().expect_err("past end");
        assert!(matches!(err, Error::Decode { offset: 9, .. }));
    }
}
