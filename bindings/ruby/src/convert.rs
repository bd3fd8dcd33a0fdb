//! Erlang terms to Ruby objects and back, per the term mapping table of
//! API.md.
//!
//! Both directions run with the GVL held. Ruby objects under construction
//! are kept in Ruby containers or in locals of these recursive functions
//! (where Ruby's conservative stack scan finds them), never in Rust heap
//! collections the GC cannot see.

use std::collections::HashSet;

use erldp::term::decode::MAX_DEPTH;
use erldp::term::encode::{MapOrder, Writer};
use erldp::term::MAX_ATOM_CHARS;
use erldp::{Atom, BigInt, Message, Term};
use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::{
    prelude::*, typed_data::TypedData, Error, Fixnum, Float, Integer, RArray, RBignum, RHash,
    RString, RTypedData, Ruby, Symbol, Value,
};

use crate::errors::classes;
use crate::values::{Opaque, Pid, Port, Ref};

/// The Ruby object for a term.
///
/// The recursion runs on the calling Ruby thread, whose stack may be small
/// (1 MiB for threads by default), so the recursive path keeps its frames
/// small: containers are converted here, everything else out of line.
pub(crate) fn to_ruby(ruby: &Ruby, term: &Term) -> Result<Value, Error> {
    check_stack(ruby)?;
    match term {
        Term::Tuple(elements) => tuple_to_ruby(ruby, elements),
        Term::List(elements) => Ok(list_to_ruby(ruby, elements)?.as_value()),
        Term::ImproperList(elements, tail) => improper_list_to_ruby(ruby, elements, tail),
        Term::Map(pairs) => map_to_ruby(ruby, pairs),
        leaf => leaf_to_ruby(ruby, leaf),
    }
}

fn tuple_to_ruby(ruby: &Ruby, elements: &[Term]) -> Result<Value, Error> {
    let tuple = ruby
        .get_inner(classes().tuple)
        .new_instance((elements.len(),))?;
    let array = RArray::from_value(tuple).expect("ErlDP::Tuple is an Array");
    for (index, element) in elements.iter().enumerate() {
        array.store(index as isize, to_ruby(ruby, element)?)?;
    }
    Ok(tuple)
}

fn list_to_ruby(ruby: &Ruby, elements: &[Term]) -> Result<RArray, Error> {
    if let Some(array) = fixnum_list_to_ruby(ruby, elements) {
        return Ok(array);
    }
    let array = ruby.ary_new_capa(elements.len());
    for element in elements {
        array.push(to_ruby(ruby, element)?)?;
    }
    Ok(array)
}

/// Lists of small integers (charlists above all, the longest lists in
/// practice) in one call: magnus guards every `push` with `rb_protect`,
/// which cost about 60 ns per element. `None` when an element is anything
/// else. Fixnums are immediates the GC never moves or frees, so holding them
/// in a Rust vector is sound.
fn fixnum_list_to_ruby(ruby: &Ruby, elements: &[Term]) -> Option<RArray> {
    const FIXNUM_RANGE: std::ops::RangeInclusive<i64> = -(1 << 62)..=(1 << 62) - 1;
    let mut fixnums = Vec::with_capacity(elements.len());
    for element in elements {
        match element {
            Term::Int(value) if FIXNUM_RANGE.contains(value) => {
                fixnums.push(ruby.fixnum_from_i64(*value).ok()?);
            }
            _ => return None,
        }
    }
    Some(ruby.ary_new_from_values(&fixnums))
}

fn improper_list_to_ruby(ruby: &Ruby, elements: &[Term], tail: &Term) -> Result<Value, Error> {
    let elements = list_to_ruby(ruby, elements)?;
    let tail = to_ruby(ruby, tail)?;
    ruby.get_inner(classes().improper_list)
        .new_instance((elements, tail))
}

fn map_to_ruby(ruby: &Ruby, pairs: &[(Term, Term)]) -> Result<Value, Error> {
    let hash = ruby.hash_new();
    for (key, value) in pairs {
        hash.aset(to_ruby(ruby, key)?, to_ruby(ruby, value)?)?;
    }
    Ok(hash.as_value())
}

#[inline(never)]
fn leaf_to_ruby(ruby: &Ruby, term: &Term) -> Result<Value, Error> {
    Ok(match term {
        Term::Atom(atom) => atom_to_ruby(ruby, *atom),
        Term::Int(value) => ruby.integer_from_i64(*value).as_value(),
        Term::BigInt(big) => bignum_to_ruby(big)?,
        Term::Float(value) => ruby.float_from_f64(*value).as_value(),
        Term::Binary(bytes) => binary_to_ruby(ruby, bytes),
        Term::Bitstring(bits) => {
            let total = (bits.bytes.len() - 1) * 8 + usize::from(bits.bits);
            let bytes = ruby.str_from_slice(&bits.bytes);
            ruby.get_inner(classes().bitstring)
                .new_instance((bytes, total))?
        }
        Term::Pid(pid) => Pid::wrap(ruby, *pid),
        Term::Port(port) => Port::wrap(ruby, *port),
        Term::Ref(reference) => Ref::wrap(ruby, *reference),
        Term::Fun(fun) => Opaque::wrap(ruby, fun.clone()),
        container => to_ruby(ruby, container)?,
    })
}

/// Raises Ruby's `SystemStackError`, as Ruby's own deep recursion does,
/// when the thread's stack is nearly used up: better than overflowing it.
fn check_stack(ruby: &Ruby) -> Result<(), Error> {
    // SAFETY: only compares the stack pointer with the thread's limits.
    if unsafe { rb_sys::ruby_stack_check() } != 0 {
        return Err(Error::new(
            ruby.exception_sys_stack_error(),
            "term nested too deeply for this thread's stack (RUBY_THREAD_MACHINE_STACK_SIZE sets it for new threads)",
        ));
    }
    Ok(())
}

/// An `ErlDP::Message` for what a mailbox received.
pub(crate) fn message_to_ruby(ruby: &Ruby, message: &Message) -> Result<Value, Error> {
    let kind = ruby.to_symbol(message.kind.as_str());
    let term = to_ruby(ruby, &message.term)?;
    let from = message.from.map(|pid| Pid::wrap(ruby, pid));
    let reason = message
        .reason
        .as_ref()
        .map(|reason| to_ruby(ruby, reason))
        .transpose()?;
    let reference = message
        .reference
        .map(|reference| Ref::wrap(ruby, reference));
    let node = message.node.map(|node| ruby.to_symbol(node.as_str()));
    ruby.get_inner(classes().message)
        .new_instance((kind, term, from, reason, reference, node))
}

fn atom_to_ruby(ruby: &Ruby, atom: Atom) -> Value {
    match atom.as_str() {
        "true" => ruby.qtrue().as_value(),
        "false" => ruby.qfalse().as_value(),
        "nil" => ruby.qnil().as_value(),
        name => ruby.to_symbol(name).as_value(),
    }
}

fn bignum_to_ruby(big: &BigInt) -> Result<Value, Error> {
    let mut flags = rb_sys::INTEGER_PACK_LITTLE_ENDIAN;
    if big.negative {
        flags |= rb_sys::INTEGER_PACK_NEGATIVE;
    }
    let raw = magnus::rb_sys::protect(|| {
        // SAFETY: the pointer and length describe the magnitude's bytes,
        // read as that many one-byte words.
        unsafe {
            rb_sys::rb_integer_unpack(
                big.magnitude.as_ptr().cast(),
                big.magnitude.len() as _,
                1,
                0,
                flags as i32,
            )
        }
    })?;
    // SAFETY: rb_integer_unpack returned a live Integer.
    Ok(unsafe { Value::from_raw(raw) })
}

/// A String: UTF-8 when the bytes are valid UTF-8, binary otherwise.
fn binary_to_ruby(ruby: &Ruby, bytes: &[u8]) -> Value {
    if std::str::from_utf8(bytes).is_ok() {
        ruby.enc_str_new(bytes, ruby.utf8_encoding()).as_value()
    } else {
        ruby.str_from_slice(bytes).as_value()
    }
}

/// The term for a Ruby object; an [`erldp::Error::Encode`] naming the path
/// to the first value that has no Erlang form.
pub(crate) fn from_ruby(ruby: &Ruby, value: Value) -> Result<Term, erldp::Error> {
    Encoder { ruby }
        .term(value, 0)
        .map_err(|failure| failure.into_error())
}

/// The bytes `term_to_binary/1` gives for a Ruby object, written straight
/// from the Ruby values; an [`erldp::Error::Encode`] as [`from_ruby`] gives.
/// Building a `Term` tree first and freeing it afterwards took most of the
/// time.
pub(crate) fn encode(ruby: &Ruby, value: Value) -> Result<Vec<u8>, erldp::Error> {
    let mut out = Vec::with_capacity(64);
    let mut writer = Writer::new(&mut out);
    writer.version();
    Encoder { ruby }
        .write(value, 0, &mut writer)
        .map_err(|failure| failure.into_error())?;
    Ok(out)
}

/// Terms for the elements of an argument list; paths start at the index.
pub(crate) fn args_from_ruby(ruby: &Ruby, args: RArray) -> Result<Vec<Term>, erldp::Error> {
    let encoder = Encoder { ruby };
    (0..args.len())
        .map(|index| {
            let element: Value =
                args.entry(index as isize)
                    .map_err(|err| erldp::Error::Encode {
                        path: format!("[{index}]"),
                        reason: err.to_string(),
                    })?;
            encoder
                .term(element, 1)
                .map_err(|failure| failure.inside(format!("[{index}]")).into_error())
        })
        .collect()
}

/// The first value that could not be encoded, and where it sits.
struct Failure {
    /// Path segments from the bad value outwards.
    path: Vec<String>,
    reason: String,
}

impl Failure {
    fn new(reason: impl Into<String>) -> Box<Failure> {
        Box::new(Failure {
            path: Vec::new(),
            reason: reason.into(),
        })
    }

    /// Adds the segment of the container the failure happened in.
    #[cold]
    fn inside(mut self: Box<Self>, segment: String) -> Box<Failure> {
        self.path.push(segment);
        self
    }

    fn into_error(self) -> erldp::Error {
        // A path through thousands of levels (an array that contains itself)
        // is unreadable whole; its two ends tell where it starts and ends.
        const SHOWN: usize = 8;
        let Failure {
            path: mut segments,
            reason,
        } = self;
        segments.reverse();
        if segments.len() > 2 * SHOWN {
            segments.splice(SHOWN..segments.len() - SHOWN, ["...".to_string()]);
        }
        erldp::Error::Encode {
            path: segments.concat(),
            reason,
        }
    }
}

struct Encoder<'r> {
    ruby: &'r Ruby,
}

/// A failed conversion; boxed so that the recursive frames stay small.
type Encoded<T> = Result<T, Box<Failure>>;

impl Encoder<'_> {
    /// Like `to_ruby`, the recursive path (arrays and hashes) keeps its
    /// frames small and leaves the rest to an out-of-line function.
    fn term(&self, value: Value, depth: usize) -> Encoded<Term> {
        check_stack_room()?;
        if let Some(array) = RArray::from_value(value) {
            let elements = self.elements(array, depth)?;
            if value.is_kind_of(self.ruby.get_inner(classes().tuple)) {
                return Ok(Term::Tuple(elements));
            }
            return Ok(Term::List(elements));
        }
        if let Some(hash) = RHash::from_value(value) {
            return self.map(hash, depth);
        }
        self.other(value, depth)
    }

    #[inline(never)]
    fn other(&self, value: Value, depth: usize) -> Encoded<Term> {
        let ruby = self.ruby;
        if value.is_nil() {
            return Ok(Term::atom("nil"));
        }
        if value.as_raw() == ruby.qtrue().as_raw() {
            return Ok(Term::atom("true"));
        }
        if value.as_raw() == ruby.qfalse().as_raw() {
            return Ok(Term::atom("false"));
        }
        if let Some(symbol) = Symbol::from_value(value) {
            return self.atom(symbol);
        }
        if let Some(integer) = Integer::from_value(value) {
            return Ok(integer_to_term(integer));
        }
        if let Some(float) = Float::from_value(value) {
            let float = float.to_f64();
            if !float.is_finite() {
                return Err(Failure::new(format!(
                    "{float} has no Erlang form (Erlang floats are finite)"
                )));
            }
            return Ok(Term::Float(float));
        }
        if let Some(string) = RString::from_value(value) {
            // SAFETY: the bytes are copied before any Ruby code can run.
            return Ok(Term::binary(unsafe { string.as_slice() }.to_vec()));
        }
        if let Some(data) = RTypedData::from_value(value) {
            if let Some(pid) = wrapped::<Pid>(ruby, &data) {
                return Ok(Term::Pid(pid.0));
            }
            if let Some(reference) = wrapped::<Ref>(ruby, &data) {
                return Ok(Term::Ref(reference.0));
            }
            if let Some(port) = wrapped::<Port>(ruby, &data) {
                return Ok(Term::Port(port.0));
            }
            if let Some(fun) = wrapped::<Opaque>(ruby, &data) {
                return Ok(Term::Fun(fun.0.clone()));
            }
        }
        if value.is_kind_of(ruby.get_inner(classes().bitstring)) {
            return self.bitstring(value);
        }
        if value.is_kind_of(ruby.get_inner(classes().improper_list)) {
            return self.improper_list(value, depth);
        }
        Err(Failure::new(format!(
            "{} has no Erlang form ({})",
            value.class(),
            short_inspect(value)
        )))
    }

    fn atom(&self, symbol: Symbol) -> Encoded<Term> {
        let name = symbol.name().map_err(|_| {
            Failure::new(format!(
                "the name of {} is not valid UTF-8",
                short_inspect(symbol.as_value())
            ))
        })?;
        if name.chars().count() > MAX_ATOM_CHARS {
            return Err(Failure::new(format!(
                "{} is longer than an atom may be ({MAX_ATOM_CHARS} characters)",
                short_inspect(symbol.as_value())
            )));
        }
        Ok(Term::atom(&name))
    }

    #[inline(never)]
    fn elements(&self, array: RArray, depth: usize) -> Encoded<Vec<Term>> {
        check_depth(depth)?;
        let mut elements = Vec::with_capacity(array.len());
        // Indexing afresh each time stays correct even if the array changes.
        for index in 0..array.len() {
            let element: Value = array
                .entry(index as isize)
                .map_err(|err| Failure::new(err.to_string()))?;
            elements.push(
                self.term(element, depth + 1)
                    .map_err(|failure| failure.inside(format!("[{index}]")))?,
            );
        }
        Ok(elements)
    }

    #[inline(never)]
    fn map(&self, hash: RHash, depth: usize) -> Encoded<Term> {
        check_depth(depth)?;
        // Walking the keys of an Array rather than with rb_hash_foreach
        // keeps C frames out of the recursion; the Array, a local, is
        // found (and pinned) by the GC's stack scan.
        let keys: RArray = hash
            .funcall("keys", ())
            .map_err(|err| Failure::new(err.to_string()))?;
        let mut pairs = Vec::with_capacity(keys.len());
        for index in 0..keys.len() {
            let key: Value = keys
                .entry(index as isize)
                .map_err(|err| Failure::new(err.to_string()))?;
            let value = hash
                .get(key)
                .ok_or_else(|| Failure::new("the Hash changed while it was converted"))?;
            let key_term = self
                .term(key, depth + 1)
                .map_err(|failure| failure.inside(key_segment(key, true)))?;
            let value_term = self
                .term(value, depth + 1)
                .map_err(|failure| failure.inside(key_segment(key, false)))?;
            pairs.push((key_term, value_term));
        }
        // Distinct Ruby keys can be one Erlang term ("é" in UTF-8 and in
        // binary are the same binary); a map with a key twice is not a term.
        let mut seen = HashSet::with_capacity(pairs.len());
        for (key, _) in &pairs {
            if !seen.insert(key) {
                return Err(duplicate_key(key));
            }
        }
        Ok(Term::Map(pairs))
    }

    fn bitstring(&self, value: Value) -> Encoded<Term> {
        let read = || -> Result<(RString, usize), Error> {
            Ok((value.funcall("bytes", ())?, value.funcall("bits", ())?))
        };
        let (bytes, bits) = read().map_err(|err| Failure::new(err.to_string()))?;
        // SAFETY: the bytes are copied before any Ruby code can run.
        let bytes = unsafe { bytes.as_slice() }.to_vec();
        Term::bitstring(&bytes, bits).ok_or_else(|| {
            Failure::new(format!(
                "a Bitstring of {bits} bits needs at least {} bytes, not {}",
                bits.div_ceil(8),
                bytes.len()
            ))
        })
    }

    fn improper_list(&self, value: Value, depth: usize) -> Encoded<Term> {
        let read = || -> Result<(RArray, Value), Error> {
            Ok((value.funcall("elements", ())?, value.funcall("tail", ())?))
        };
        let (elements, tail) = read().map_err(|err| Failure::new(err.to_string()))?;
        let elements = self
            .elements(elements, depth)
            .map_err(|failure| failure.inside(".elements".into()))?;
        let tail = self
            .term(tail, depth + 1)
            .map_err(|failure| failure.inside(".tail".into()))?;
        Ok(Term::improper_list(elements, tail))
    }
}

/// Writing the External Term Format with the core's [`Writer`], with the
/// same mapping and failures as building the term. Containers, atoms, small
/// integers and binaries are written from the Ruby values; other values
/// become a `Term` that the writer writes.
impl Encoder<'_> {
    /// Like [`Encoder::term`], the recursive path keeps its frames small.
    fn write(&self, value: Value, depth: usize, writer: &mut Writer<'_>) -> Encoded<()> {
        if let Some(fixnum) = Fixnum::from_value(value) {
            writer.int(fixnum.to_i64());
            return Ok(());
        }
        if let Some(array) = RArray::from_value(value) {
            check_stack_room()?;
            check_depth(depth)?;
            if value.is_kind_of(self.ruby.get_inner(classes().tuple)) {
                return self.write_tuple(array, depth, writer);
            }
            return self.write_list(array, depth, writer);
        }
        if let Some(hash) = RHash::from_value(value) {
            check_stack_room()?;
            check_depth(depth)?;
            return self.write_map(hash, depth, writer);
        }
        self.write_leaf(value, depth, writer)
    }

    #[inline(never)]
    fn write_leaf(&self, value: Value, depth: usize, writer: &mut Writer<'_>) -> Encoded<()> {
        let ruby = self.ruby;
        if let Some(symbol) = Symbol::from_value(value) {
            return self.write_symbol(symbol, writer);
        }
        if let Some(string) = RString::from_value(value) {
            // SAFETY: the bytes are copied before any Ruby code can run.
            return writer
                .binary(unsafe { string.as_slice() })
                .map_err(core_failure);
        }
        let name = if value.is_nil() {
            "nil"
        } else if value.as_raw() == ruby.qtrue().as_raw() {
            "true"
        } else if value.as_raw() == ruby.qfalse().as_raw() {
            "false"
        } else {
            return writer
                .term(&self.other(value, depth)?)
                .map_err(core_failure);
        };
        writer.atom_text(name).map_err(core_failure)
    }

    fn write_symbol(&self, symbol: Symbol, writer: &mut Writer<'_>) -> Encoded<()> {
        // SAFETY: rb_sym2str returns the Symbol's own frozen name, which
        // lives as long as the Symbol; it is read before any Ruby code runs.
        let name = unsafe { Value::from_raw(rb_sys::rb_sym2str(symbol.as_raw())) };
        let name = RString::from_value(name).expect("a Symbol's name is a String");
        // SAFETY: as above.
        match unsafe { name.test_as_str() } {
            Some(text) if Atom::fits(text) => writer.atom_text(text).map_err(core_failure),
            // Names in other encodings, and the failures, as when building
            // the term.
            _ => writer.term(&self.atom(symbol)?).map_err(core_failure),
        }
    }

    #[inline(never)]
    fn write_tuple(&self, array: RArray, depth: usize, writer: &mut Writer<'_>) -> Encoded<()> {
        let len = array.len();
        writer.tuple_header(len).map_err(core_failure)?;
        self.write_elements(array, len, depth, writer)
    }

    #[inline(never)]
    fn write_list(&self, array: RArray, depth: usize, writer: &mut Writer<'_>) -> Encoded<()> {
        let len = array.len();
        // A list of Integers 0..=255 is one string, as the BEAM writes it.
        let string = {
            // SAFETY: no Ruby code runs while the slice is read.
            let elements = unsafe { array.as_slice() };
            writer.byte_string(elements, |element| {
                Fixnum::from_value(*element).and_then(|fixnum| u8::try_from(fixnum.to_i64()).ok())
            })
        };
        if string {
            return Ok(());
        }
        writer.list_header(len).map_err(core_failure)?;
        self.write_elements(array, len, depth, writer)?;
        writer.nil();
        Ok(())
    }

    /// Writes `len` elements, the count already written: an Array that
    /// Ruby code changes meanwhile gives `nil` for what it lost and leaves
    /// out what it gained.
    fn write_elements(
        &self,
        array: RArray,
        len: usize,
        depth: usize,
        writer: &mut Writer<'_>,
    ) -> Encoded<()> {
        let mut index = 0;
        while index < len {
            let element = {
                // SAFETY: the slice is dropped before anything that could
                // run Ruby code; runs of Integers, which cannot, are written
                // from one look-up of it (the look-up cost as much as the
                // writing).
                let elements = unsafe { array.as_slice() };
                let end = len.min(elements.len());
                while index < end {
                    let Some(fixnum) = Fixnum::from_value(elements[index]) else {
                        break;
                    };
                    writer.int(fixnum.to_i64());
                    index += 1;
                }
                if index == len {
                    return Ok(());
                }
                elements.get(index).copied()
            };
            let element = element.unwrap_or_else(|| self.ruby.qnil().as_value());
            self.write(element, depth + 1, writer)
                .map_err(|failure| failure.inside(format!("[{index}]")))?;
            index += 1;
        }
        Ok(())
    }

    #[inline(never)]
    fn write_map(&self, hash: RHash, depth: usize, writer: &mut Writer<'_>) -> Encoded<()> {
        // As in `map`: the keys of an Array, found by the GC's stack scan.
        let keys: RArray = hash
            .funcall("keys", ())
            .map_err(|err| Failure::new(err.to_string()))?;
        let len = keys.len();
        // The keys as terms, to put them in the BEAM's order and to find
        // distinct Ruby keys that are one Erlang term.
        let mut key_terms = Vec::with_capacity(len);
        for index in 0..len {
            let key = self.map_key(keys, index)?;
            key_terms.push(
                self.term(key, depth + 1)
                    .map_err(|failure| failure.inside(key_segment(key, true)))?,
            );
        }
        let order = MapOrder::new(len, |index| &key_terms[index])
            .map_err(|index| duplicate_key(&key_terms[index]))?;
        writer.map_header(len).map_err(core_failure)?;
        for index in order.iter() {
            let key = self.map_key(keys, index)?;
            let value = hash
                .get(key)
                .ok_or_else(|| Failure::new("the Hash changed while it was converted"))?;
            writer
                .term(&key_terms[index])
                .map_err(|err| core_failure(err).inside(key_segment(key, true)))?;
            self.write(value, depth + 1, writer)
                .map_err(|failure| failure.inside(key_segment(key, false)))?;
        }
        Ok(())
    }

    fn map_key(&self, keys: RArray, index: usize) -> Encoded<Value> {
        keys.entry(index as isize)
            .map_err(|err| Failure::new(err.to_string()))
    }
}

/// A failure of the core's writer, whose path (if any) is inside the value
/// handed to it.
#[cold]
fn core_failure(err: erldp::Error) -> Box<Failure> {
    match err {
        erldp::Error::Encode { path, reason } if path.is_empty() => Failure::new(reason),
        err => Failure::new(err.to_string()),
    }
}

#[cold]
fn duplicate_key(key: &Term) -> Box<Failure> {
    Failure::new(format!(
        "two keys of this Hash are the same Erlang term {key}"
    ))
}

/// Fails when the thread's stack is nearly used up: better than
/// overflowing it.
fn check_stack_room() -> Encoded<()> {
    // SAFETY: only compares the stack pointer with the thread's limits.
    if unsafe { rb_sys::ruby_stack_check() } != 0 {
        return Err(Failure::new(
            "nests too deeply for this thread's stack (RUBY_THREAD_MACHINE_STACK_SIZE sets it for new threads)",
        ));
    }
    Ok(())
}

/// What `data` wraps if it is a `T`. The class is asked first: `get` of
/// another type raises and rescues a TypeError, which took microseconds
/// per Ref, Port or fun.
pub(crate) fn wrapped<'d, T: TypedData>(ruby: &Ruby, data: &'d RTypedData) -> Option<&'d T> {
    if !data.is_kind_of(T::class(ruby)) {
        return None;
    }
    data.get::<T>().ok()
}

/// Containers nest no deeper than the core decodes; the bound also stops
/// arrays and hashes that contain themselves.
fn check_depth(depth: usize) -> Encoded<()> {
    if depth > MAX_DEPTH {
        return Err(Failure::new(format!(
            "nests deeper than {MAX_DEPTH} levels (or contains itself)"
        )));
    }
    Ok(())
}

/// The path segment of a Hash entry.
#[cold]
fn key_segment(key: Value, of_the_key: bool) -> String {
    if of_the_key {
        format!("[{}] (the key)", short_inspect(key))
    } else {
        format!("[{}]", short_inspect(key))
    }
}

fn integer_to_term(integer: Integer) -> Term {
    if let Some(fixnum) = Fixnum::from_value(integer.as_value()) {
        return Term::Int(fixnum.to_i64());
    }
    let big = RBignum::from_value(integer.as_value()).expect("an Integer is a Fixnum or a Bignum");
    let raw = big.as_raw();
    // SAFETY: `raw` is a live Bignum; the buffer has the size Ruby reports
    // for its magnitude, so packing neither overflows nor raises.
    let magnitude = unsafe {
        let size = rb_sys::rb_absint_size(raw, std::ptr::null_mut());
        let mut magnitude = vec![0u8; size as usize];
        rb_sys::rb_integer_pack(
            raw,
            magnitude.as_mut_ptr().cast(),
            size,
            1,
            0,
            rb_sys::INTEGER_PACK_LITTLE_ENDIAN as i32,
        );
        magnitude
    };
    BigInt::from_magnitude(big.is_negative(), &magnitude).into_term()
}

/// `inspect`, cut short: for messages about values that may be large.
pub(crate) fn short_inspect(value: Value) -> String {
    const LIMIT: usize = 60;
    let text = value.inspect();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}
