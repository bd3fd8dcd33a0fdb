//! Terms to JavaScript values and back, following the mapping table of
//! API.md's Node.js section.
//!
//! Encoding checks everything the External Term Format would refuse later
//! (atoms over 255 characters, NaN and infinities, duplicate map keys,
//! values that contain themselves), so that a bad message fails in the call
//! that sends it, with the path to the bad value in the core's notation:
//! `[2][opts]`, `[key K]` for a map key, `[|]` for an improper tail.

use std::collections::HashSet;

use erldp::term::decode::MAX_DEPTH;
use erldp::term::encode::{key_in_path, Writer};
use erldp::term::MAX_ATOM_CHARS;
use erldp::{Atom, BigInt, Dest, Message, Pid, Ref, Term};
use napi::Result;

use crate::error;
use crate::js::{Js, Kind, Value};
use crate::node::Context;
use crate::registry::{self, Item};

/// `Number.MAX_SAFE_INTEGER`: integers up to this are numbers in JS, larger
/// ones BigInts.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How many steps of a very long error path are shown at each end.
const PATH_ENDS: usize = 8;

/// The most elements room is made for before an array's elements are read:
/// a sparse array's length costs JavaScript nothing (`new Array(2 ** 32 - 1)`),
/// and room for that many terms is more memory than the machine has.
const PREALLOCATED_MAX: u32 = 1 << 16;

/// The choices API.md leaves to the caller when decoding. The package's
/// `lib/options.js` sends them as bit flags.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DecodeOptions {
    /// `binaries: "buffer"`: every binary is a Buffer, even valid UTF-8.
    pub buffers: bool,
    /// `maps: "object"`: maps whose keys are all atoms or strings become
    /// plain objects.
    pub objects: bool,
    /// What floats become.
    pub floats: Floats,
    /// `atoms: "string"`: atoms other than `true`, `false` and `nil` are
    /// strings, as `JSON.stringify` needs them.
    pub atom_strings: bool,
}

/// The `floats` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Floats {
    /// `"auto"`: an `erldp.Float` when the value is integral (`1.0`,
    /// `-0.0`), which a number would send back as an integer; else a number.
    #[default]
    Auto,
    /// `"float"`: every float is an `erldp.Float`.
    Float,
    /// `"number"`: every float is a number.
    Number,
}

impl DecodeOptions {
    /// The bits of `lib/options.js`.
    pub(crate) fn from_flags(flags: u32) -> DecodeOptions {
        DecodeOptions {
            buffers: flags & 1 != 0,
            objects: flags & 2 != 0,
            floats: if flags & 4 != 0 {
                Floats::Float
            } else if flags & 8 != 0 {
                Floats::Number
            } else {
                Floats::Auto
            },
            atom_strings: flags & 16 != 0,
        }
    }
}

// ---------------------------------------------------------------- to JS

/// The JavaScript value of `term`.
pub(crate) fn to_js(js: Js, term: &Term, options: DecodeOptions) -> Result<Value> {
    match term {
        Term::Atom(atom) if options.atom_strings => match atom.as_str() {
            name @ ("true" | "false" | "nil") => atom_to_js(js, Atom::new(name)),
            name => js.string(name),
        },
        Term::Atom(atom) => atom_to_js(js, *atom),
        Term::Int(value) => int_to_js(js, *value),
        Term::BigInt(big) => bigint_to_js(js, big),
        Term::Float(value)
            if options.floats == Floats::Float
                || (options.floats == Floats::Auto && value.fract() == 0.0) =>
        {
            js.construct(registry::get(js, Item::Float)?, &[js.number(*value)?])
        }
        Term::Float(value) => js.number(*value),
        Term::Binary(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !options.buffers => js.string(text),
            _ => js.buffer(bytes),
        },
        Term::Bitstring(bits) => js.construct(
            registry::get(js, Item::Bitstring)?,
            &[js.buffer(&bits.bytes)?, js.number(f64::from(bits.bits))?],
        ),
        Term::Pid(pid) => pid_to_js(js, *pid),
        Term::Port(port) => js.construct(
            registry::get(js, Item::Port)?,
            &[
                js.symbol_for(port.node.as_str())?,
                u64_to_js(js, port.id)?,
                js.number(f64::from(port.creation))?,
            ],
        ),
        Term::Ref(reference) => ref_to_js(js, *reference),
        Term::Tuple(elements) => {
            let tuple = js.construct(registry::get(js, Item::Tuple)?, &[])?;
            fill(js, tuple, elements, options)
        }
        Term::List(elements) => fill(js, js.array(elements.len())?, elements, options),
        Term::ImproperList(elements, tail) => {
            let elements = fill(js, js.array(elements.len())?, elements, options)?;
            js.construct(
                registry::get(js, Item::ImproperList)?,
                &[elements, to_js(js, tail, options)?],
            )
        }
        Term::Map(pairs) => map_to_js(js, pairs, options),
        Term::Fun(fun) => js.construct(
            registry::get(js, Item::Opaque)?,
            &[js.buffer(fun.encoding())?],
        ),
    }
}

/// `true`/`false` are booleans, `nil` is `null`, every other atom is
/// `Symbol.for(name)`.
pub(crate) fn atom_to_js(js: Js, atom: Atom) -> Result<Value> {
    match atom.as_str() {
        "true" => js.boolean(true),
        "false" => js.boolean(false),
        "nil" => js.null(),
        name => js.symbol_for(name),
    }
}

pub(crate) fn pid_to_js(js: Js, pid: Pid) -> Result<Value> {
    js.construct(
        registry::get(js, Item::Pid)?,
        &[
            js.symbol_for(pid.node.as_str())?,
            js.number(f64::from(pid.id))?,
            js.number(f64::from(pid.serial))?,
            js.number(f64::from(pid.creation))?,
        ],
    )
}

pub(crate) fn ref_to_js(js: Js, reference: Ref) -> Result<Value> {
    let ids = js.array(reference.ids().len())?;
    for (index, id) in (0..).zip(reference.ids()) {
        js.set_element(ids, index, js.number(f64::from(*id))?)?;
    }
    js.construct(
        registry::get(js, Item::Ref)?,
        &[
            js.symbol_for(reference.node.as_str())?,
            js.number(f64::from(reference.creation))?,
            ids,
        ],
    )
}

fn int_to_js(js: Js, value: i64) -> Result<Value> {
    if value.unsigned_abs() <= MAX_SAFE_INTEGER {
        js.number(value as f64)
    } else {
        js.bigint(value < 0, &[value.unsigned_abs()])
    }
}

fn u64_to_js(js: Js, value: u64) -> Result<Value> {
    if value <= MAX_SAFE_INTEGER {
        js.number(value as f64)
    } else {
        js.bigint(false, &[value])
    }
}

fn bigint_to_js(js: Js, big: &BigInt) -> Result<Value> {
    let words: Vec<u64> = big
        .magnitude
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect();
    js.bigint(big.negative, &words)
}

fn fill(js: Js, array: Value, elements: &[Term], options: DecodeOptions) -> Result<Value> {
    for (index, element) in (0..).zip(elements) {
        js.set_element(array, index, to_js(js, element, options)?)?;
    }
    Ok(array)
}

fn map_to_js(js: Js, pairs: &[(Term, Term)], options: DecodeOptions) -> Result<Value> {
    if options.objects {
        if let Some(names) = object_keys(pairs) {
            let object = js.object()?;
            for (name, (_, value)) in names.into_iter().zip(pairs) {
                js.set_property(object, js.string(name)?, to_js(js, value, options)?)?;
            }
            return Ok(object);
        }
    }
    if options.atom_strings && !options.buffers {
        if let Some(text) = clashing_key(pairs) {
            return Err(error::throw(
                js,
                &erldp::Error::Decode {
                    offset: 0,
                    reason: format!(
                        "with atoms: \"string\", the map keys '{text}' (an atom) and \
                         <<\"{text}\">> (a binary) would be the same key"
                    ),
                },
            ));
        }
    }
    let entries = js.array(pairs.len())?;
    for (index, (key, value)) in (0..).zip(pairs) {
        let entry = js.array(2)?;
        js.set_element(entry, 0, to_js(js, key, options)?)?;
        js.set_element(entry, 1, to_js(js, value, options)?)?;
        js.set_element(entries, index, entry)?;
    }
    js.construct(registry::get(js, Item::Map)?, &[entries])
}

/// A text that is both an atom key and a UTF-8 binary key of the map: with
/// atoms as strings, the two would be one key of the JavaScript Map.
fn clashing_key(pairs: &[(Term, Term)]) -> Option<&str> {
    let atoms: HashSet<&str> = pairs
        .iter()
        .filter_map(|(key, _)| match key {
            Term::Atom(atom) => Some(atom.as_str()),
            _ => None,
        })
        .collect();
    pairs.iter().find_map(|(key, _)| {
        let text = std::str::from_utf8(key.as_binary()?).ok()?;
        atoms.contains(text).then_some(text)
    })
}

/// The property names of a map that can be a plain object: every key an
/// atom or a UTF-8 binary, no two with the same text, and no `__proto__`
/// (assigning it would set the object's prototype instead).
fn object_keys(pairs: &[(Term, Term)]) -> Option<Vec<&str>> {
    let mut seen = HashSet::with_capacity(pairs.len());
    pairs
        .iter()
        .map(|(key, _)| {
            let name = match key {
                Term::Atom(atom) => atom.as_str(),
                Term::Binary(bytes) => std::str::from_utf8(bytes).ok()?,
                _ => return None,
            };
            (name != "__proto__" && seen.insert(name)).then_some(name)
        })
        .collect()
}

/// A received message as the package's `decodeMessage` (lib/etf.js) reads
/// it: the kind's name after its length byte; a byte saying which parts
/// follow the term (1 `from`, 2 `reason`, 4 `ref`, 8 `node`); the term and
/// each of `from`, `reason` and `ref` present as ETF after a 4-byte length;
/// and the node's name after a 2-byte length. One Buffer crosses to
/// JavaScript, which builds the values itself.
pub(crate) fn message_etf(message: &Message) -> erldp::Result<Vec<u8>> {
    let kind = message.kind.as_str();
    let mut out = Vec::with_capacity(64);
    out.push(kind.len() as u8);
    out.extend_from_slice(kind.as_bytes());
    let present = u8::from(message.from.is_some())
        | u8::from(message.reason.is_some()) << 1
        | u8::from(message.reference.is_some()) << 2
        | u8::from(message.node.is_some()) << 3;
    out.push(present);
    let from = message.from.map(Term::Pid);
    let reference = message.reference.map(Term::Ref);
    let parts = [
        Some(&message.term),
        from.as_ref(),
        message.reason.as_ref(),
        reference.as_ref(),
    ];
    for part in parts.into_iter().flatten() {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut writer = Writer::new(&mut out).utf8_atoms();
        writer.version();
        writer.term(part)?;
        let len = u32::try_from(out.len() - start - 4).map_err(|_| too_large())?;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    if let Some(node) = message.node {
        let name = node.as_str().as_bytes();
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
    }
    Ok(out)
}

fn too_large() -> erldp::Error {
    erldp::Error::Encode {
        path: String::new(),
        reason: "a received term exceeds 4 GiB".into(),
    }
}

/// The destination and the message that the package wrote as ETF into one
/// buffer (lib/etf.js `withMessage`): the destination up to `split`, the
/// message from there to `end`.
pub(crate) fn encoded_message(
    js: Js,
    cx: &Context,
    etf: Value,
    split: u32,
    end: u32,
) -> Result<(Dest, Vec<u8>)> {
    let (split, end) = (split as usize, end as usize);
    let parts = js.with_uint8(etf, |bytes| {
        let (dest, message) = bytes.get(..end).filter(|_| split <= end)?.split_at(split);
        let known = match &*cx.last_dest.lock() {
            Some((last, known)) if last == dest => Ok(*known),
            _ => Err(dest.to_vec()),
        };
        Some((known, message.to_vec()))
    })?;
    let Some(Some((known, message))) = parts else {
        return Err(error::invalid_argument(
            js,
            "encoded messages come as a Buffer and two offsets",
        ));
    };
    let dest = match known {
        Ok(dest) => dest,
        Err(etf) => {
            let term = erldp::term::decode(&etf).map_err(|err| error::throw(js, &err))?;
            let dest = dest_from_term(js, term)?;
            *cx.last_dest.lock() = Some((etf, dest));
            dest
        }
    };
    Ok((dest, message))
}

// ---------------------------------------------------------------- from JS

/// The magnitude of an integral double of at least 2^63, little-endian: its
/// 53-bit significand shifted left by its exponent.
fn integral_magnitude(value: f64) -> Vec<u8> {
    let bits = value.abs().to_bits();
    let significand = (bits & ((1 << 52) - 1)) | (1 << 52);
    // At least 2^63, so the exponent is normal and at least 63 - 52 = 11.
    let shift = ((bits >> 52) as usize) - 1075;
    let mut magnitude = vec![0; shift / 8];
    magnitude.extend_from_slice(&(significand << (shift % 8)).to_le_bytes());
    magnitude
}

/// The term for a JavaScript value; throws an `EENCODE` error naming the
/// path to a value that has no Erlang counterpart.
pub(crate) fn from_js(js: Js, value: Value) -> Result<Term> {
    Encoder::new(js).convert(value)
}

/// A destination: a `Pid`, a `Ref` (an alias), `[name, node]` (also as
/// a tuple) with each part a string or a symbol, or an `erldp.Global`.
pub(crate) fn dest_from_js(js: Js, value: Value) -> Result<Dest> {
    if let Some(dest) = global_dest(js, value)? {
        return Ok(dest);
    }
    // `[name, node]` of symbols is read as names, so that one that cannot
    // be an atom is an invalid argument as it is given as a string, not a
    // value that cannot be encoded.
    if js.is_array(value)? && js.array_len(value)? == 2 {
        let [name, node] = [js.element(value, 0)?, js.element(value, 1)?];
        if let (Some(name), Some(node)) = (name_text(js, name)?, name_text(js, node)?) {
            return Dest::try_name(&name, &node).map_err(|err| error::throw(js, &err));
        }
    }
    dest_from_term(js, from_js(js, value)?)
}

/// The destination of an `erldp.Global` (`erldp.global(name)`), whose
/// `name` is the text of the atom; `None` for any other value.
pub(crate) fn global_dest(js: Js, value: Value) -> Result<Option<Dest>> {
    if js.kind(value)? != Kind::Object
        || !js.instance_of(value, registry::get(js, Item::Global)?)?
    {
        return Ok(None);
    }
    let name = name_from_js(js, js.named(value, c"name")?, "global name")?;
    Ok(Some(Dest::global(name)))
}

/// [`dest_from_js`] for a value already converted: names may be symbols
/// or strings (the core's rule, [`Dest::from_term`]).
pub(crate) fn dest_from_term(js: Js, term: Term) -> Result<Dest> {
    Dest::from_term(&term).map_err(|err| error::throw(js, &err))
}

/// The text of a string or a `Symbol.for()` symbol; `None` for other values.
fn name_text(js: Js, value: Value) -> Result<Option<String>> {
    match js.kind(value)? {
        Kind::String => js.get_string(value).map(Some),
        Kind::Symbol => Encoder::new(js).symbol_text(value).map(Some),
        _ => Ok(None),
    }
}

/// The text of a name given as a string or a symbol (node, module,
/// function and registered names).
pub(crate) fn name_from_js(js: Js, value: Value, what: &str) -> Result<String> {
    let name = match js.kind(value)? {
        Kind::String => js.get_string(value)?,
        Kind::Symbol => Encoder::new(js).symbol_text(value)?,
        _ => {
            return Err(error::invalid_argument(
                js,
                format!("a {what} must be a string or a symbol"),
            ))
        }
    };
    // Every name becomes an atom, which stays in the table for good: one
    // BEAM could not make (or an empty one) is refused before it is made,
    // by the core's rule.
    Atom::check_name(&name, what).map_err(|err| error::throw(js, &err))?;
    Ok(name)
}

/// One step on the way from the root value to the one that failed.
enum Step<'a> {
    /// Element of an array, tuple or improper list (0-based).
    Index(u32),
    /// The value under a key.
    Key(&'a Term),
    /// A key itself, when known.
    InKey(Option<&'a Term>),
    /// The tail of an improper list.
    Tail,
}

/// A container whose children are being converted. Conversion keeps these
/// on a heap stack instead of recursing: JavaScript values can nest as
/// deep as the core accepts, and a value that contains itself meets the
/// depth limit with a clear error, where recursion would first run into
/// V8's stack limit.
struct Open {
    /// Where the children are read from: the array itself, the elements of
    /// an improper list, an object's keys or a `Map`'s entries.
    source: Value,
    /// How many children there are.
    children: u32,
    /// How many children have been read.
    read: u32,
    container: Container,
}

enum Container {
    List(Vec<Term>),
    Tuple(Vec<Term>),
    /// The elements, then the tail (the last child, read from `tail_value`).
    Improper {
        elements: Vec<Term>,
        tail_value: Value,
    },
    /// A plain object: a child is the property under the next key; the pair
    /// is pushed with its key when the property is read.
    Object {
        object: Value,
        pairs: Vec<(Term, Term)>,
    },
    /// A `Map`: each entry gives two children, the key (kept in `key`) and
    /// then the value.
    Map {
        pairs: Vec<(Term, Term)>,
        key: Option<Term>,
    },
}

/// What a value turned out to be.
enum Entered {
    Leaf(Term),
    Opened(Open),
}

/// The classes checked with `instanceof`, after arrays, byte arrays and
/// plain objects.
const CLASSES: [Item; 8] = [
    Item::Map,
    Item::ImproperList,
    Item::Float,
    Item::Pid,
    Item::Ref,
    Item::Port,
    Item::Bitstring,
    Item::Opaque,
];

struct Encoder {
    js: Js,
    open: Vec<Open>,
}

impl Encoder {
    fn new(js: Js) -> Encoder {
        Encoder {
            js,
            open: Vec::new(),
        }
    }

    fn convert(&mut self, root: Value) -> Result<Term> {
        let mut value = root;
        loop {
            // Down: `value` is a leaf, or a container to open.
            let mut term = match self.enter(value)? {
                Entered::Leaf(term) => term,
                Entered::Opened(open) => {
                    // The core's limit: MAX_DEPTH containers around an innermost one.
                    if self.open.len() > MAX_DEPTH {
                        return Err(self.fail(format!(
                            "values nest deeper than {MAX_DEPTH} levels (does one contain itself?)"
                        )));
                    }
                    self.open.push(open);
                    match self.next_child()? {
                        Some(child) => {
                            value = child;
                            continue;
                        }
                        None => self.close()?,
                    }
                }
            };
            // Up: hand the finished term to its container, closing those
            // that are complete, until one has another child to convert.
            loop {
                let Some(open) = self.open.last_mut() else {
                    return Ok(term);
                };
                open.accept(term);
                match self.next_child()? {
                    Some(child) => {
                        value = child;
                        break;
                    }
                    None => term = self.close()?,
                }
            }
        }
    }

    fn enter(&mut self, value: Value) -> Result<Entered> {
        let js = self.js;
        let leaf = match js.kind(value)? {
            Kind::Number => self.number(js.get_f64(value)?)?,
            Kind::String => Term::from(js.get_string(value)?),
            Kind::Boolean => Term::from(js.get_bool(value)?),
            Kind::Null => Term::atom("nil"),
            Kind::Symbol => Term::Atom(self.symbol(value)?),
            Kind::BigInt => {
                let (negative, words) = js.get_bigint(value)?;
                let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
                BigInt::from_magnitude(negative, &bytes).into_term()
            }
            Kind::Object => return self.object(value),
            Kind::Undefined => return Err(self.fail("undefined is not an Erlang term")),
            Kind::Function => return Err(self.fail("a function is not an Erlang term")),
            Kind::External => return Err(self.fail("an external value is not an Erlang term")),
        };
        Ok(Entered::Leaf(leaf))
    }

    fn object(&mut self, value: Value) -> Result<Entered> {
        let js = self.js;
        if js.is_array(value)? {
            let children = js.array_len(value)?;
            let elements = Vec::with_capacity(children.min(PREALLOCATED_MAX) as usize);
            let container = if js.instance_of(value, registry::get(js, Item::Tuple)?)? {
                Container::Tuple(elements)
            } else {
                Container::List(elements)
            };
            return Ok(Entered::Opened(Open {
                source: value,
                children,
                read: 0,
                container,
            }));
        }
        if let Some(bytes) = js.uint8_bytes(value)? {
            return Ok(Entered::Leaf(Term::from(bytes)));
        }
        let prototype = js.prototype(value)?;
        if js.kind(prototype)? == Kind::Null
            || js.strict_equals(prototype, registry::get(js, Item::ObjectPrototype)?)?
        {
            let keys = js.own_keys(value)?;
            let children = js.array_len(keys)?;
            let container = Container::Object {
                object: value,
                pairs: Vec::with_capacity(children as usize),
            };
            return Ok(Entered::Opened(Open {
                source: keys,
                children,
                read: 0,
                container,
            }));
        }
        for item in CLASSES {
            if js.instance_of(value, registry::get(js, item)?)? {
                return self.instance(item, value);
            }
        }
        Err(self.fail(format!("{} is not an Erlang term", self.describe(value))))
    }

    #[inline(never)]
    fn instance(&mut self, item: Item, value: Value) -> Result<Entered> {
        let js = self.js;
        let leaf = match item {
            Item::Map => {
                let entries = js.call(registry::get(js, Item::ArrayFrom)?, &[value])?;
                let len = js.array_len(entries)?;
                let container = Container::Map {
                    pairs: Vec::with_capacity(len as usize),
                    key: None,
                };
                return Ok(Entered::Opened(Open {
                    source: entries,
                    children: len.saturating_mul(2),
                    read: 0,
                    container,
                }));
            }
            Item::ImproperList => {
                let elements = js.named(value, c"elements")?;
                if !js.is_array(elements)? {
                    return Err(self.fail("an ImproperList's elements must be an array"));
                }
                let len = js.array_len(elements)?;
                let tail_value = js.named(value, c"tail")?;
                let container = Container::Improper {
                    elements: Vec::with_capacity(len.min(PREALLOCATED_MAX) as usize + 1),
                    tail_value,
                };
                return Ok(Entered::Opened(Open {
                    source: elements,
                    children: len.saturating_add(1),
                    read: 0,
                    container,
                }));
            }
            Item::Float => {
                let number = js.get_f64(js.named(value, c"value")?)?;
                if !number.is_finite() {
                    return Err(self.fail(format!("{number} has no Erlang representation")));
                }
                Term::Float(number)
            }
            Item::Pid => Term::Pid(Pid {
                node: self.node_field(value)?,
                id: self.u32_field(value, c"id")?,
                serial: self.u32_field(value, c"serial")?,
                creation: self.u32_field(value, c"creation")?,
            }),
            Item::Ref => {
                let node = self.node_field(value)?;
                let creation = self.u32_field(value, c"creation")?;
                let words = js.named(value, c"ids")?;
                let mut ids = Vec::new();
                if js.is_array(words)? {
                    for index in 0..js.array_len(words)? {
                        ids.push(self.u32_of(js.element(words, index)?, "a Ref's ids")?);
                    }
                }
                match Ref::new(node, creation, &ids) {
                    Some(reference) => Term::Ref(reference),
                    None => return Err(self.fail("a Ref has one to five ids")),
                }
            }
            Item::Port => {
                let id = js.named(value, c"id")?;
                let id = match js.kind(id)? {
                    Kind::BigInt => match js.get_bigint(id)? {
                        (false, words) if words.len() <= 1 => words.first().copied().unwrap_or(0),
                        _ => return Err(self.fail("a Port's id must fit in 64 bits")),
                    },
                    _ => u64::from(self.u32_of(id, "a Port's id")?),
                };
                Term::Port(erldp::Port {
                    node: self.node_field(value)?,
                    id,
                    creation: self.u32_field(value, c"creation")?,
                })
            }
            Item::Bitstring => {
                let bytes = js
                    .uint8_bytes(js.named(value, c"bytes")?)?
                    .unwrap_or_default();
                let bits = self.u32_field(value, c"bits")? as usize;
                let total = (bytes.len() * 8).saturating_sub(8) + bits;
                match Term::bitstring(&bytes, total) {
                    Some(term) if !bytes.is_empty() && (1..=8).contains(&bits) => term,
                    _ => {
                        return Err(self
                            .fail("a Bitstring needs bytes and 1 to 7 bits used in the last one"))
                    }
                }
            }
            Item::Opaque => {
                let bytes = js
                    .uint8_bytes(js.named(value, c"bytes")?)?
                    .unwrap_or_default();
                let mut decoder = erldp::term::Decoder::new(&bytes);
                match (decoder.term(), decoder.finish()) {
                    (Ok(Term::Fun(fun)), Ok(())) => Term::Fun(fun),
                    _ => {
                        return Err(self.fail("an Opaque must hold the external encoding of a fun"))
                    }
                }
            }
            _ => return Err(self.fail(format!("{} is not an Erlang term", self.describe(value)))),
        };
        Ok(Entered::Leaf(leaf))
    }

    /// The next child of the innermost open container, or `None` when it
    /// has no more.
    fn next_child(&mut self) -> Result<Option<Value>> {
        let js = self.js;
        let Some(open) = self.open.last_mut() else {
            return Ok(None);
        };
        if open.read == open.children {
            return Ok(None);
        }
        open.read += 1;
        let (index, source) = (open.read - 1, open.source);
        let child = match open.container {
            Container::List(_) | Container::Tuple(_) => js.element(source, index)?,
            Container::Improper { tail_value, .. } if open.read == open.children => tail_value,
            Container::Improper { .. } => js.element(source, index)?,
            Container::Map { .. } => js.element(js.element(source, index / 2)?, index % 2)?,
            Container::Object { object, .. } => {
                return self.property(object, source, index).map(Some)
            }
        };
        Ok(Some(child))
    }

    /// The value of an object's next property, after its key became an
    /// atom (the pair waits in the container for the value).
    fn property(&mut self, object: Value, keys: Value, index: u32) -> Result<Value> {
        let js = self.js;
        let key = js.element(keys, index)?;
        let atom = match js.kind(key)? {
            Kind::Symbol => self.symbol(key)?,
            _ => self.atom(&js.get_string(key)?)?,
        };
        if let Some(Open {
            container: Container::Object { pairs, .. },
            ..
        }) = self.open.last_mut()
        {
            pairs.push((Term::Atom(atom), Term::nil()));
        }
        js.property(object, key)
    }

    /// Pops the innermost container once all its children are converted.
    fn close(&mut self) -> Result<Term> {
        let open = self
            .open
            .pop()
            .expect("close follows next_child finding an open container complete");
        match open.container {
            Container::List(elements) => Ok(Term::List(elements)),
            Container::Tuple(elements) => Ok(Term::Tuple(elements)),
            Container::Improper {
                elements: mut children,
                ..
            } => Ok(match children.pop() {
                Some(tail) => Term::improper_list(children, tail),
                None => Term::List(children),
            }),
            Container::Object { pairs, .. } | Container::Map { pairs, .. } => self.unique(pairs),
        }
    }

    /// Two keys that are different in JavaScript can be the same term (two
    /// equal tuples, `"a"` and `Symbol.for("a")` as object keys).
    #[inline(never)]
    fn unique(&self, pairs: Vec<(Term, Term)>) -> Result<Term> {
        let mut seen = HashSet::with_capacity(pairs.len());
        if let Some((key, _)) = pairs.iter().find(|(key, _)| !seen.insert(key)) {
            return Err(self.fail_at(Some(Step::InKey(Some(key))), "duplicate map key"));
        }
        Ok(Term::Map(pairs))
    }

    /// Integral numbers become integers at any size (every integral
    /// double is an exact integer), other finite numbers floats (use
    /// `erldp.float` for an integral float).
    fn number(&self, value: f64) -> Result<Term> {
        if !value.is_finite() {
            Err(self.fail(format!("{value} has no Erlang representation")))
        } else if value.fract() != 0.0 {
            Ok(Term::Float(value))
        } else if value.abs() < 2f64.powi(63) {
            // Integral and below 2^63 in magnitude: exact as an i64.
            Ok(Term::Int(value as i64))
        } else {
            Ok(BigInt::from_magnitude(value < 0.0, &integral_magnitude(value)).into_term())
        }
    }

    fn symbol(&self, value: Value) -> Result<Atom> {
        let text = self.symbol_text(value)?;
        self.atom(&text)
    }

    fn symbol_text(&self, value: Value) -> Result<String> {
        let js = self.js;
        let name = js.call(registry::get(js, Item::SymbolKeyFor)?, &[value])?;
        if js.kind(name)? == Kind::String {
            js.get_string(name)
        } else {
            Err(self.fail("only symbols made by Symbol.for(name) are atoms"))
        }
    }

    fn atom(&self, text: &str) -> Result<Atom> {
        let chars = text.chars().count();
        if chars > MAX_ATOM_CHARS {
            return Err(self.fail(format!(
                "an atom has at most {MAX_ATOM_CHARS} characters, this one {chars}"
            )));
        }
        Ok(Atom::new(text))
    }

    fn node_field(&self, object: Value) -> Result<Atom> {
        let js = self.js;
        let node = js.named(object, c"node")?;
        let text = match js.kind(node)? {
            Kind::Symbol => self.symbol_text(node)?,
            Kind::String => js.get_string(node)?,
            _ => {
                return Err(self.fail("the node of a Pid, Ref or Port must be a symbol or a string"))
            }
        };
        self.atom(&text)
    }

    fn u32_field(&self, object: Value, name: &std::ffi::CStr) -> Result<u32> {
        let field = self.js.named(object, name)?;
        self.u32_of(field, &format!("field {}", name.to_string_lossy()))
    }

    fn u32_of(&self, value: Value, what: &str) -> Result<u32> {
        let js = self.js;
        if js.kind(value)? == Kind::Number {
            let number = js.get_f64(value)?;
            if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number) {
                return Ok(number as u32);
            }
        }
        Err(self.fail(format!("{what} must be an integer from 0 to 4294967295")))
    }

    /// "an instance of Date", for error messages.
    fn describe(&self, value: Value) -> String {
        let js = self.js;
        let name = js
            .named(value, c"constructor")
            .and_then(|constructor| js.named(constructor, c"name"))
            .and_then(|name| js.get_string(name));
        match name {
            Ok(name) if !name.is_empty() => format!("an instance of {name}"),
            _ => "this object".to_string(),
        }
    }

    fn fail(&self, reason: impl Into<String>) -> napi::Error {
        self.fail_at(None, reason)
    }

    /// Throws the `EENCODE` error for the child being converted (plus
    /// `last`, a step inside it).
    #[inline(never)]
    fn fail_at(&self, last: Option<Step<'_>>, reason: impl Into<String>) -> napi::Error {
        let steps: Vec<Step<'_>> = self.open.iter().map(Open::step).chain(last).collect();
        let mut path = String::new();
        for (index, step) in steps.iter().enumerate() {
            // A path through a value that contains itself is thousands of
            // steps long: show its two ends.
            if steps.len() > 2 * PATH_ENDS && index >= PATH_ENDS && index < steps.len() - PATH_ENDS
            {
                if index == PATH_ENDS {
                    path.push_str(&format!("...{} steps...", steps.len() - 2 * PATH_ENDS));
                }
                continue;
            }
            match step {
                Step::Index(index) => path.push_str(&format!("[{index}]")),
                Step::Key(key) => path.push_str(&format!("[{}]", key_in_path(key))),
                Step::InKey(Some(key)) => path.push_str(&format!("[key {}]", key_in_path(key))),
                Step::InKey(None) => path.push_str("[key]"),
                Step::Tail => path.push_str("[|]"),
            }
        }
        error::throw(
            self.js,
            &erldp::Error::Encode {
                path,
                reason: reason.into(),
            },
        )
    }
}

impl Open {
    /// Takes the converted child.
    fn accept(&mut self, term: Term) {
        match &mut self.container {
            Container::List(elements)
            | Container::Tuple(elements)
            | Container::Improper { elements, .. } => elements.push(term),
            Container::Object { pairs, .. } => {
                if let Some(pair) = pairs.last_mut() {
                    pair.1 = term;
                }
            }
            Container::Map { pairs, key } => match key.take() {
                Some(key) => pairs.push((key, term)),
                None => *key = Some(term),
            },
        }
    }

    /// Where the child being converted sits in this container.
    fn step(&self) -> Step<'_> {
        let index = self.read.saturating_sub(1);
        match &self.container {
            Container::List(_) | Container::Tuple(_) => Step::Index(index),
            Container::Improper { .. } if self.read == self.children => Step::Tail,
            Container::Improper { .. } => Step::Index(index),
            // While a key is being made an atom its pair is not pushed yet.
            Container::Object { pairs, .. } => match pairs.last() {
                Some((key, _)) if pairs.len() == self.read as usize => Step::Key(key),
                _ => Step::InKey(None),
            },
            Container::Map { key, .. } => key.as_ref().map_or(Step::InKey(None), Step::Key),
        }
    }
}
