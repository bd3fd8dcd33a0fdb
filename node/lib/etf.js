'use strict';
// The External Term Format written and read in JavaScript, following the
// mapping table of API.md's Node.js section.
//
// Converting value by value through Node-API costs a native call (50 to
// 100 ns) per question asked of a value; here V8 compiles the codec and
// only finished bytes cross into the addon. The addon keeps its own
// converter (bindings/node/src/convert.rs), and anything this module does
// not handle goes there by throwing NATIVE: values that fail (so that the
// error names the path to the bad value exactly as before), funs, keys
// that are not numbers, atoms or binaries in maps that must be sorted, and
// rare encodings such as compressed terms. What this module writes is
// byte for byte what the addon writes: `term_to_binary/1` of OTP 25.

const { isUtf8 } = require('node:buffer');
const { isUint8Array } = require('node:util').types;
const native = require('./native');
const { Tuple, Float, Pid, Ref, Port, Bitstring, ImproperList, Opaque } = require('./terms');

/** Thrown to hand a value or bytes to the addon's converter instead. */
const NATIVE = Symbol('erldp.native');

/** The core's nesting limit (term::decode::MAX_DEPTH); deeper terms go to the addon, which enforces it. */
const MAX_DEPTH = 2048;
const MAX_ATOM_CHARS = 255;
/** The most elements STRING_EXT holds (its length is 16 bits). */
const MAX_STRING_EXT = 65535;
/** The BEAM writes maps of up to this many pairs sorted by key. */
const FLATMAP_MAX_PAIRS = 32;
/** Ports up to this id are NEW_PORT_EXT in OTP 25, larger ones V4_PORT_EXT. */
const MAX_V3_PORT_ID = 2 ** 28 - 1;
const U32_MAX = 0xffff_ffff;
/** A scratch buffer grown past this is let go after use. */
const SCRATCH_KEEP = 1 << 20;

// Tags, as plain constants: V8 needs no type feedback to read them.
const VERSION = 131;
const COMPRESSED = 80;
const NEW_FLOAT_EXT = 70;
const BIT_BINARY_EXT = 77;
const NEW_PID_EXT = 88;
const NEW_PORT_EXT = 89;
const NEWER_REFERENCE_EXT = 90;
const SMALL_INTEGER_EXT = 97;
const INTEGER_EXT = 98;
const ATOM_EXT = 100;
const REFERENCE_EXT = 101;
const PORT_EXT = 102;
const PID_EXT = 103;
const SMALL_TUPLE_EXT = 104;
const LARGE_TUPLE_EXT = 105;
const NIL_EXT = 106;
const STRING_EXT = 107;
const LIST_EXT = 108;
const BINARY_EXT = 109;
const SMALL_BIG_EXT = 110;
const LARGE_BIG_EXT = 111;
const NEW_REFERENCE_EXT = 114;
const SMALL_ATOM_EXT = 115;
const MAP_EXT = 116;
const ATOM_UTF8_EXT = 118;
const SMALL_ATOM_UTF8_EXT = 119;
const V4_PORT_EXT = 120;

// ---------------------------------------------------------------- encoding

let out = Buffer.allocUnsafeSlow(4096);
let pos = 0;
let depth = 0;
/** A getter run while encoding may encode too: it gets the addon's converter. */
let encoding = false;

function ensure(room) {
  if (pos + room <= out.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, pos + room));
  out.copy(bigger, 0, 0, pos);
  out = bigger;
}

function u16(value) {
  out[pos] = value >>> 8;
  out[pos + 1] = value & 0xff;
  pos += 2;
}

function u32(value) {
  out[pos] = value >>> 24;
  out[pos + 1] = (value >>> 16) & 0xff;
  out[pos + 2] = (value >>> 8) & 0xff;
  out[pos + 3] = value & 0xff;
  pos += 4;
}

/** Runs `write` on an empty scratch buffer; false when the addon must do it. */
function encodeWith(write, a, b) {
  if (encoding) return false;
  encoding = true;
  pos = 0;
  depth = 0;
  try {
    write(a, b);
    return true;
  } catch (err) {
    // RangeError: the stack ran out on a deeply nested value, or a buffer
    // would be too large; the addon decides what that value is.
    if (err === NATIVE || err instanceof RangeError) return false;
    throw err;
  } finally {
    encoding = false;
  }
}

function versioned(value) {
  ensure(1);
  out[pos++] = VERSION;
  term(value);
}

/** Lets go of a scratch buffer that a large term grew. */
function release() {
  if (out.length > SCRATCH_KEEP) out = Buffer.allocUnsafeSlow(4096);
}

/** `term_to_binary(value)` as a new Buffer. */
function encode(value) {
  if (!encodeWith(versioned, value)) return native.encode(value);
  const bytes = Buffer.allocUnsafe(pos);
  out.copy(bytes, 0, 0, pos);
  release();
  return bytes;
}

/**
 * Writes `dest` and then `message` as ETF into the scratch buffer and calls
 * `send(buffer, split, end)`; false (nothing sent) when the addon must
 * convert them.
 */
function withMessage(dest, message, send) {
  if (!encodeWith(pair, dest, message)) return false;
  try {
    send(out, split, pos);
  } finally {
    release();
  }
  return true;
}

let split = 0;

function pair(first, second) {
  versioned(first);
  split = pos;
  versioned(second);
}

function term(value) {
  switch (typeof value) {
    case 'number':
      return number(value);
    case 'string':
      return string(value);
    case 'boolean':
      return atom(value ? 'true' : 'false');
    case 'symbol':
      return atom(symbolText(value));
    case 'bigint':
      return bigint(value);
    case 'object':
      if (value === null) return atom('nil');
      return object(value);
    default:
      throw NATIVE;
  }
}

function symbolText(symbol) {
  const text = Symbol.keyFor(symbol);
  if (text === undefined) throw NATIVE;
  return text;
}

/**
 * An integral number is an integer at any size (2 ** 53, 1e20: every integral double is an
 * exact integer), other finite numbers floats; erldp.Float sends an integral value as a float.
 */
function number(value) {
  if (Number.isSafeInteger(value)) integer(value);
  else if (Number.isInteger(value)) bigint(BigInt(value));
  else if (Number.isFinite(value)) float(value);
  else throw NATIVE;
}

/** A safe integer, in the smallest of the three integer forms. */
function integer(value) {
  ensure(11);
  if (value >= 0 && value <= 255) {
    out[pos] = SMALL_INTEGER_EXT;
    out[pos + 1] = value;
    pos += 2;
  } else if (value >= -0x8000_0000 && value <= 0x7fff_ffff) {
    out[pos++] = INTEGER_EXT;
    u32(value >>> 0);
  } else {
    let magnitude = Math.abs(value);
    out[pos] = SMALL_BIG_EXT;
    out[pos + 2] = value < 0 ? 1 : 0;
    let len = 0;
    while (magnitude > 0) {
      out[pos + 3 + len++] = magnitude % 256;
      magnitude = Math.floor(magnitude / 256);
    }
    out[pos + 1] = len;
    pos += 3 + len;
  }
}

function float(value) {
  ensure(9);
  out[pos] = NEW_FLOAT_EXT;
  out.writeDoubleBE(value, pos + 1);
  pos += 9;
}

function bigint(value) {
  if (value >= -0x8000_0000n && value <= 0x7fff_ffffn) return integer(Number(value));
  const negative = value < 0n;
  const hex = (negative ? -value : value).toString(16);
  const len = (hex.length + 1) >>> 1;
  ensure(6 + len);
  if (len <= 255) {
    out[pos] = SMALL_BIG_EXT;
    out[pos + 1] = len;
    pos += 2;
  } else {
    out[pos++] = LARGE_BIG_EXT;
    u32(len);
  }
  out[pos++] = negative ? 1 : 0;
  // Little-endian: the last two hex digits are the first byte.
  for (let end = hex.length; end > 0; end -= 2) {
    out[pos++] = parseInt(hex.slice(Math.max(0, end - 2), end), 16);
  }
}

/** A string as a UTF-8 binary; lone surrogates become U+FFFD, as in the addon. */
function string(value) {
  const len = value.length;
  ensure(5 + 3 * len);
  out[pos] = BINARY_EXT;
  const start = pos + 5;
  let written = 0;
  // Short ASCII text is quicker to copy here than through Buffer#write.
  if (len <= 64) {
    for (; written < len; written++) {
      const code = value.charCodeAt(written);
      if (code >= 0x80) break;
      out[start + written] = code;
    }
  }
  if (written < len) written = out.write(value, start, 'utf8');
  pos += 1;
  u32(written);
  pos += written;
}

function bytes(value) {
  ensure(5 + value.length);
  out[pos++] = BINARY_EXT;
  u32(value.length);
  out.set(value, pos);
  pos += value.length;
}

/**
 * An atom as `term_to_binary/1` of OTP 25 writes it: ATOM_EXT when Latin-1
 * holds every character, else UTF-8.
 */
function atom(text) {
  const len = text.length;
  ensure(3 + 3 * len);
  let i = 0;
  for (; i < len; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) break;
    out[pos + 3 + i] = code;
  }
  if (i === len) {
    if (len > MAX_ATOM_CHARS) throw NATIVE;
    out[pos] = ATOM_EXT;
    pos += 1;
    u16(len);
    pos += len;
    return;
  }
  if (codePoints(text) > MAX_ATOM_CHARS) throw NATIVE;
  const written = out.write(text, pos + 3, 'utf8');
  if (written <= 255) {
    out[pos] = SMALL_ATOM_UTF8_EXT;
    out[pos + 1] = written;
    out.copyWithin(pos + 2, pos + 3, pos + 3 + written);
    pos += 2 + written;
  } else {
    out[pos] = ATOM_UTF8_EXT;
    pos += 1;
    u16(written);
    pos += written;
  }
}

/** Characters as Rust counts them: a lone surrogate is one (it becomes U+FFFD). */
function codePoints(text) {
  let count = 0;
  for (let i = 0; i < text.length; i++, count++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return count;
}

function object(value) {
  if (Array.isArray(value)) return value instanceof Tuple ? tuple(value) : list(value);
  if (isUint8Array(value)) return bytes(value);
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return plainObject(value);
  if (value instanceof Map) return map(value);
  if (value instanceof ImproperList) return improperList(value);
  if (value instanceof Float) return floatObject(value);
  if (value instanceof Pid) return pid(value);
  if (value instanceof Ref) return ref(value);
  if (value instanceof Port) return port(value);
  if (value instanceof Bitstring) return bitstring(value);
  // Opaque funs, and everything that is no term.
  throw NATIVE;
}

function enter() {
  // The addon enforces the exact limit (and words its error).
  if (++depth >= MAX_DEPTH - 1) throw NATIVE;
}

function tuple(value) {
  enter();
  const len = value.length;
  ensure(5);
  if (len <= 255) {
    out[pos] = SMALL_TUPLE_EXT;
    out[pos + 1] = len;
    pos += 2;
  } else {
    out[pos++] = LARGE_TUPLE_EXT;
    u32(len);
  }
  elements(value, len);
  depth--;
}

// Loops over elements live in functions of their own that end with the
// loop: V8 compiles a long loop while it runs, and code after the loop
// that has not run yet would send it back to the interpreter each time.
function elements(value, len) {
  let i = 0;
  while (i < len) {
    const element = value[i];
    if (typeof element === 'number' && (element & 255) === element) {
      i = smallIntegers(value, i, Math.min(len, i + 4096));
    } else {
      term(element);
      i++;
    }
  }
}

/**
 * Writes the run of integers 0 to 255 that starts at `from` (the commonest
 * elements of long lists) with the buffer and position in locals; returns
 * where the run ends.
 */
function smallIntegers(value, from, to) {
  ensure(2 * (to - from));
  const buffer = out;
  let at = pos;
  let i = from;
  for (; i < to; i++) {
    const element = value[i];
    if (typeof element !== 'number' || (element & 255) !== element) break;
    buffer[at] = SMALL_INTEGER_EXT;
    buffer[at + 1] = element;
    at += 2;
  }
  pos = at;
  return i;
}

function list(value) {
  const len = value.length;
  if (len === 0) {
    ensure(1);
    out[pos++] = NIL_EXT;
    return;
  }
  if (len <= MAX_STRING_EXT && byteString(value, len)) return;
  enter();
  ensure(6);
  out[pos++] = LIST_EXT;
  u32(len);
  elements(value, len);
  ensure(1);
  out[pos++] = NIL_EXT;
  depth--;
}

/** Writes a list of integers 0 to 255 as STRING_EXT; false (nothing written) for any other list. */
function byteString(value, len) {
  ensure(3 + len);
  const buffer = out;
  buffer[pos] = STRING_EXT;
  buffer[pos + 1] = len >>> 8;
  buffer[pos + 2] = len & 0xff;
  let at = pos + 3;
  for (let i = 0; i < len; i++) {
    const element = value[i];
    if (typeof element === 'number') {
      // Also false for fractions, NaN and numbers outside 0..255; -0 is 0.
      if ((element & 255) !== element) return false;
      buffer[at++] = element;
    } else if (typeof element === 'bigint' && element >= 0n && element <= 255n) {
      buffer[at++] = Number(element);
    } else {
      return false;
    }
  }
  pos = at;
  return true;
}

function improperList(value) {
  const { elements: head, tail } = value;
  // A tail that is a list makes the whole a (longer) list: the addon's case.
  if (!Array.isArray(head) || head.length === 0) throw NATIVE;
  if ((Array.isArray(tail) && !(tail instanceof Tuple)) || tail instanceof ImproperList) throw NATIVE;
  enter();
  ensure(5);
  out[pos++] = LIST_EXT;
  u32(head.length);
  elements(head, head.length);
  term(tail);
  depth--;
}

function floatObject(value) {
  const number = value.value;
  if (typeof number !== 'number' || !Number.isFinite(number)) throw NATIVE;
  float(number);
}

function nodeAtom(value) {
  const node = value.node;
  if (typeof node === 'symbol') atom(symbolText(node));
  else if (typeof node === 'string') atom(node);
  else throw NATIVE;
}

function u32Of(value) {
  if (typeof value !== 'number' || !(value >= 0 && value <= U32_MAX) || Math.floor(value) !== value) throw NATIVE;
  return value;
}

function pid(value) {
  ensure(1);
  out[pos++] = NEW_PID_EXT;
  nodeAtom(value);
  const id = u32Of(value.id);
  const serial = u32Of(value.serial);
  const creation = u32Of(value.creation);
  ensure(12);
  u32(id);
  u32(serial);
  u32(creation);
}

function ref(value) {
  const creation = u32Of(value.creation);
  const ids = value.ids;
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > 5) throw NATIVE;
  const words = ids.map(u32Of);
  ensure(3);
  out[pos++] = NEWER_REFERENCE_EXT;
  u16(words.length);
  nodeAtom(value);
  ensure(4 + 4 * words.length);
  u32(creation);
  for (const word of words) u32(word);
}

function port(value) {
  let id = value.id;
  if (typeof id === 'bigint') {
    if (id < 0n || id > 0xffff_ffff_ffff_ffffn) throw NATIVE;
  } else {
    id = BigInt(u32Of(id));
  }
  const creation = u32Of(value.creation);
  const small = id <= BigInt(MAX_V3_PORT_ID);
  ensure(1);
  out[pos++] = small ? NEW_PORT_EXT : V4_PORT_EXT;
  nodeAtom(value);
  ensure(12);
  if (small) {
    u32(Number(id));
  } else {
    u32(Number(id >> 32n));
    u32(Number(id & 0xffff_ffffn));
  }
  u32(creation);
}

function bitstring(value) {
  const data = isUint8Array(value.bytes) ? value.bytes : Buffer.alloc(0);
  const bits = u32Of(value.bits);
  if (data.length === 0 || bits < 1 || bits > 8) throw NATIVE;
  if (bits === 8) return bytes(data);
  ensure(6 + data.length);
  out[pos++] = BIT_BINARY_EXT;
  u32(data.length);
  out[pos++] = bits;
  out.set(data, pos);
  pos += data.length;
  // The unused low bits are zero on the wire.
  out[pos - 1] &= 0xff << (8 - bits);
}

// Map keys are sorted (for up to FLATMAP_MAX_PAIRS pairs) in the BEAM's
// order: integers, then floats, then atoms, then binaries; other keys are
// left to the addon. Two keys that compare equal are the same term: a
// duplicate, which the addon reports.
const INT = 0;
const FLOAT = 1;
const ATOM = 2;
const BINARY = 3;

/** Kind and comparable value of a map key. */
function classify(key, kinds, values) {
  let kind;
  let value = key;
  switch (typeof key) {
    case 'number':
      // As `number` encodes it: an integral number is an integer at any size.
      if (Number.isSafeInteger(key)) {
        kind = INT;
      } else if (Number.isInteger(key)) {
        kind = INT;
        value = BigInt(key);
      } else if (Number.isFinite(key)) {
        kind = FLOAT;
      } else {
        throw NATIVE;
      }
      break;
    case 'bigint':
      kind = INT;
      break;
    case 'string':
      kind = BINARY;
      break;
    case 'boolean':
      kind = ATOM;
      value = key ? 'true' : 'false';
      break;
    case 'symbol':
      kind = ATOM;
      value = symbolText(key);
      break;
    case 'object':
      if (key === null) {
        kind = ATOM;
        value = 'nil';
      } else if (isUint8Array(key)) {
        kind = BINARY;
      } else if (key instanceof Float && typeof key.value === 'number' && Number.isFinite(key.value)) {
        kind = FLOAT;
        value = key.value;
      } else {
        throw NATIVE;
      }
      break;
    default:
      throw NATIVE;
  }
  kinds.push(kind);
  values.push(value);
}

/** Code point order (UTF-8 byte order), lone surrogates as U+FFFD. */
function compareText(a, b) {
  if (a === b) return 0;
  const len = Math.min(a.length, b.length);
  for (let i = 0; i < len; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x < 0xd800 && y < 0xd800 ? x - y : Buffer.compare(Buffer.from(a), Buffer.from(b));
  }
  return a.length - b.length;
}

function compareKeys(kinds, values, a, b) {
  if (kinds[a] !== kinds[b]) return kinds[a] - kinds[b];
  const x = values[a];
  const y = values[b];
  switch (kinds[a]) {
    case INT:
      return x < y ? -1 : x > y ? 1 : 0;
    case FLOAT:
      // Total order: -0.0 before 0.0.
      return x < y ? -1 : x > y ? 1 : Object.is(y, -0) - Object.is(x, -0);
    case ATOM:
      return compareText(x, y);
    default:
      if (typeof x === 'string' && typeof y === 'string') return compareText(x, y);
      return Buffer.compare(typeof x === 'string' ? Buffer.from(x) : x, typeof y === 'string' ? Buffer.from(y) : y);
  }
}

/**
 * The order in which to write the pairs: sorted for small maps, as given
 * for large ones (whose BEAM order is a hash order ErlDP cannot reproduce).
 * Throws NATIVE for a duplicate key.
 */
function pairOrder(kinds, values) {
  const len = kinds.length;
  const sorted = new Array(len);
  for (let i = 0; i < len; i++) sorted[i] = i;
  sorted.sort((a, b) => compareKeys(kinds, values, a, b));
  for (let i = 1; i < len; i++) {
    if (compareKeys(kinds, values, sorted[i - 1], sorted[i]) === 0) throw NATIVE;
  }
  if (len <= FLATMAP_MAX_PAIRS) return sorted;
  for (let i = 0; i < len; i++) sorted[i] = i;
  return sorted;
}

function mapHeader(len) {
  ensure(5);
  out[pos++] = MAP_EXT;
  u32(len);
}

/** A key whose kind and value `classify` found. */
function key(kind, value) {
  switch (kind) {
    case INT:
      return typeof value === 'bigint' ? bigint(value) : integer(value);
    case FLOAT:
      return float(value);
    case ATOM:
      return atom(value);
    default:
      return typeof value === 'string' ? string(value) : bytes(value);
  }
}

function map(value) {
  enter();
  const keys = [];
  const values = [];
  const kinds = [];
  const comparable = [];
  for (const entry of value) {
    classify(entry[0], kinds, comparable);
    keys.push(entry[0]);
    values.push(entry[1]);
  }
  const order = pairOrder(kinds, comparable);
  mapHeader(keys.length);
  for (const i of order) {
    key(kinds[i], comparable[i]);
    term(values[i]);
  }
  depth--;
}

/** A plain object is a map with atom keys: its own enumerable string and symbol keys. */
function plainObject(value) {
  enter();
  const names = Object.keys(value);
  const keys = names.slice();
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    if (!Object.prototype.propertyIsEnumerable.call(value, symbol)) continue;
    keys.push(symbol);
    names.push(symbolText(symbol));
  }
  const kinds = new Array(names.length).fill(ATOM);
  const order = pairOrder(kinds, names);
  mapHeader(names.length);
  for (const i of order) {
    atom(names[i]);
    term(value[keys[i]]);
  }
  depth--;
}

// ---------------------------------------------------------------- decoding

/** Decode flags (lib/options.js). */
const BUFFERS = 1;
const OBJECTS = 2;
const FLOATS = 4;
const NUMBERS = 8;
const STRINGS = 16;

let data;
let at = 0;
let end = 0;
let flags = 0;
/** Bytes the addon wrote from a term it had checked: map keys are known to be unique. */
let trusted = false;
/** The text of the atom decoded last: a map key's, right after the key. */
let lastAtom = '';

function need(len) {
  if (at + len > end) throw NATIVE;
}

function read8() {
  need(1);
  return data[at++];
}

function read16() {
  need(2);
  const value = (data[at] << 8) | data[at + 1];
  at += 2;
  return value;
}

function read32() {
  need(4);
  const value = data[at] * 0x100_0000 + ((data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]);
  at += 4;
  return value;
}

/** `binary_to_term(bytes)`; `options` are decode flags. */
function decode(bytes, options) {
  if (!isUint8Array(bytes)) return native.decode(bytes, options);
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeRange(buffer, 0, buffer.length, options, false);
}

/** The term in `buffer` from `start` to `stop` (version byte first). */
function decodeRange(buffer, start, stop, options, checked) {
  data = buffer;
  at = start;
  end = stop;
  flags = options;
  trusted = checked;
  try {
    if (read8() !== VERSION) throw NATIVE;
    const value = term8(0);
    if (at !== end) throw NATIVE;
    return value;
  } catch (err) {
    if (err === NATIVE || err instanceof RangeError) {
      return native.decode(buffer.subarray(start, stop), options);
    }
    throw err;
  } finally {
    data = undefined;
  }
}

/** The message the addon received, as `{ kind, term, from, reason, ref }` (plus `node`). */
function decodeMessage(buffer, options) {
  let offset = 1 + buffer[0];
  const kind = buffer.toString('latin1', 1, offset);
  const present = buffer[offset++];
  const part = () => {
    const len = buffer.readUInt32BE(offset);
    offset += 4 + len;
    return decodeRange(buffer, offset - len, offset, options, true);
  };
  const message = { kind, term: part(), from: undefined, reason: undefined, ref: undefined };
  if (present & 1) message.from = part();
  if (present & 2) message.reason = part();
  if (present & 4) message.ref = part();
  if (present & 8) {
    const len = buffer.readUInt16BE(offset);
    message.node = Symbol.for(buffer.toString('utf8', offset + 2, offset + 2 + len));
  }
  return message;
}

/** A value the addon encoded (an rpc result, a call's reply). */
function decodeValue(buffer, options) {
  return decodeRange(buffer, 0, buffer.length, options, true);
}

function term8(level) {
  const type = read8();
  switch (type) {
    case SMALL_INTEGER_EXT:
      return read8();
    case INTEGER_EXT:
      return read32() | 0;
    case NEW_FLOAT_EXT: {
      need(8);
      const value = data.readDoubleBE(at);
      at += 8;
      if (!Number.isFinite(value)) throw NATIVE;
      return floatValue(value);
    }
    case ATOM_EXT:
    case SMALL_ATOM_EXT:
    case ATOM_UTF8_EXT:
    case SMALL_ATOM_UTF8_EXT: {
      const text = (lastAtom = atomText(type));
      if (text === 'true') return true;
      if (text === 'false') return false;
      if (text === 'nil') return null;
      return flags & STRINGS ? text : Symbol.for(text);
    }
    case NIL_EXT:
      return [];
    case STRING_EXT: {
      const len = read16();
      need(len);
      at += len;
      return byteList(at - len, len);
    }
    case LIST_EXT:
      return list8(level);
    case SMALL_TUPLE_EXT:
      return tuple8(read8(), level);
    case LARGE_TUPLE_EXT:
      return tuple8(read32(), level);
    case MAP_EXT:
      return map8(level);
    case BINARY_EXT: {
      const len = read32();
      need(len);
      at += len;
      return binary(at - len, at);
    }
    case BIT_BINARY_EXT:
      return bitBinary();
    case SMALL_BIG_EXT:
      return big(read8());
    case LARGE_BIG_EXT:
      return big(read32());
    case PID_EXT:
    case NEW_PID_EXT: {
      const node = nodeText();
      const id = read32();
      const serial = read32();
      const creation = type === PID_EXT ? read8() : read32();
      return new Pid(Symbol.for(node), id, serial, creation);
    }
    case PORT_EXT:
    case NEW_PORT_EXT:
    case V4_PORT_EXT: {
      const node = nodeText();
      let id;
      if (type === V4_PORT_EXT) {
        const high = read32();
        const low = read32();
        id = high < 0x20_0000 ? high * 0x1_0000_0000 + low : (BigInt(high) << 32n) | BigInt(low);
      } else {
        id = read32();
      }
      const creation = type === PORT_EXT ? read8() : read32();
      return new Port(Symbol.for(node), id, creation);
    }
    case REFERENCE_EXT:
    case NEW_REFERENCE_EXT:
    case NEWER_REFERENCE_EXT:
      return reference(type);
    default:
      // Funs, old floats, atom cache references, compressed or bad bytes.
      throw NATIVE;
  }
}

/**
 * A float as the `floats` option says: by default an erldp.Float when its value is integral
 * (1.0, -0.0, 1.0e20), which a number would send back as an integer, else a number.
 */
function floatValue(value) {
  if (flags & FLOATS) return new Float(value);
  if (flags & NUMBERS || !Number.isInteger(value)) return value;
  return new Float(value);
}

function atomText(type) {
  const len = type === SMALL_ATOM_EXT || type === SMALL_ATOM_UTF8_EXT ? read8() : read16();
  need(len);
  const start = at;
  at += len;
  let ascii = true;
  for (let i = start; i < at; i++) {
    if (data[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii || type === ATOM_EXT || type === SMALL_ATOM_EXT) {
    if (len > MAX_ATOM_CHARS) throw NATIVE;
    return data.toString('latin1', start, at);
  }
  if (!isUtf8(data.subarray(start, at))) throw NATIVE;
  const text = data.toString('utf8', start, at);
  if (len > MAX_ATOM_CHARS && codePoints(text) > MAX_ATOM_CHARS) throw NATIVE;
  return text;
}

function nodeText() {
  const type = read8();
  if (type !== ATOM_EXT && type !== SMALL_ATOM_EXT && type !== ATOM_UTF8_EXT && type !== SMALL_ATOM_UTF8_EXT) {
    throw NATIVE;
  }
  return atomText(type);
}

/** Text when valid UTF-8 (unless Buffers are asked for), else a Buffer copy. */
function binary(start, stop) {
  if (!(flags & BUFFERS)) {
    let i = start;
    if (stop - start <= 64) while (i < stop && data[i] < 0x80) i++;
    if (i === stop) return data.toString('latin1', start, stop);
    if (isUtf8(data.subarray(start, stop))) return data.toString('utf8', start, stop);
  }
  const copy = Buffer.allocUnsafe(stop - start);
  data.copy(copy, 0, start, stop);
  return copy;
}

function bitBinary() {
  const len = read32();
  const bits = read8();
  if (len === 0 && bits === 0) return binary(at, at);
  if (len === 0 || bits === 0 || bits > 8) throw NATIVE;
  need(len);
  at += len;
  if (bits === 8) return binary(at - len, at);
  const copy = Buffer.allocUnsafe(len);
  data.copy(copy, 0, at - len, at);
  copy[len - 1] &= 0xff << (8 - bits);
  return new Bitstring(copy, bits);
}

function big(len) {
  const sign = read8();
  need(len);
  at += len;
  let magnitude = 0;
  // Six bytes are exact in a double; more go through BigInt.
  let top = at - 1;
  while (top >= at - len && data[top] === 0) top--;
  if (top - (at - len) < 6) {
    for (let i = top; i >= at - len; i--) magnitude = magnitude * 256 + data[i];
    return sign && magnitude !== 0 ? -magnitude : magnitude;
  }
  let hex = '';
  for (let i = top; i >= at - len; i--) hex += (data[i] < 16 ? '0' : '') + data[i].toString(16);
  const value = BigInt('0x' + hex);
  if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return sign ? -Number(value) : Number(value);
  return sign ? -value : value;
}

function reference(type) {
  const words = type === REFERENCE_EXT ? 1 : read16();
  if (words < 1 || words > 5) throw NATIVE;
  const node = nodeText();
  const ids = [];
  let creation;
  if (type === REFERENCE_EXT) {
    ids.push(read32());
    creation = read8();
  } else {
    creation = type === NEW_REFERENCE_EXT ? read8() : read32();
    for (let i = 0; i < words; i++) ids.push(read32());
  }
  return new Ref(Symbol.for(node), creation, ids);
}

function open(level, count, size) {
  if (level >= MAX_DEPTH - 2 || count * size > end - at) throw NATIVE;
}

function byteList(start, len) {
  const bytes = data;
  const list = new Array(len);
  for (let i = 0; i < len; i++) list[i] = bytes[start + i];
  return list;
}

/** Fills `into` with terms (see `elements` on why this loop stands alone). */
function terms8(into, len, level) {
  const bytes = data;
  for (let i = 0; i < len; i++) {
    // Small integers inline: the commonest elements of long lists.
    if (bytes[at] === SMALL_INTEGER_EXT && at + 2 <= end) {
      into[i] = bytes[at + 1];
      at += 2;
    } else {
      into[i] = term8(level);
    }
  }
  return into;
}

function list8(level) {
  const len = read32();
  open(level, len, 1);
  // An empty head, or a tail that is a list, is normalised by the addon.
  if (len === 0) throw NATIVE;
  const list = terms8(new Array(len), len, level + 1);
  need(1);
  if (data[at] === NIL_EXT) {
    at++;
    return list;
  }
  if (data[at] === STRING_EXT || data[at] === LIST_EXT) throw NATIVE;
  return new ImproperList(list, term8(level + 1));
}

function tuple8(len, level) {
  open(level, len, 1);
  return terms8(new Tuple(len), len, level + 1);
}

function map8(level) {
  const len = read32();
  open(level, len, 2);
  const keys = new Array(len);
  const values = new Array(len);
  const names = flags & OBJECTS ? new Array(len) : undefined;
  const seen = trusted ? undefined : new Set();
  for (let i = 0; i < len; i++) {
    const start = at;
    const type = data[at];
    keys[i] = term8(level + 1);
    if (names || seen) {
      const name = keyName(type, keys[i], start);
      if (names) names[i] = name;
      if (seen) {
        const identity = keyIdentity(type, keys[i], start, name);
        if (seen.has(identity)) throw NATIVE;
        seen.add(identity);
      }
    }
    values[i] = term8(level + 1);
  }
  if (names && objectKeys(names)) {
    const object = {};
    for (let i = 0; i < len; i++) object[names[i]] = values[i];
    return object;
  }
  const map = new Map();
  for (let i = 0; i < len; i++) map.set(keys[i], values[i]);
  // With atoms as strings, an atom key and a binary key can be one string: the addon says so.
  if (map.size !== len) throw NATIVE;
  return map;
}

function isAtomTag(type) {
  return type === ATOM_EXT || type === SMALL_ATOM_EXT || type === ATOM_UTF8_EXT || type === SMALL_ATOM_UTF8_EXT;
}

/** The text of a map key for the `objects` option (an atom, or a binary that is UTF-8), or undefined. */
function keyName(type, key, start) {
  if (isAtomTag(type)) return lastAtom;
  if (type === BINARY_EXT) {
    if (typeof key === 'string') return key;
    const bytes = data.subarray(start + 5, at);
    return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
  }
  return undefined;
}

/** A string equal for two keys exactly when they are the same term; NATIVE for kinds not told apart here. */
function keyIdentity(type, key, start, name) {
  switch (type) {
    case SMALL_INTEGER_EXT:
    case INTEGER_EXT:
    case SMALL_BIG_EXT:
    case LARGE_BIG_EXT:
      return `i${key}`;
    case NEW_FLOAT_EXT:
      return `f${data.toString('latin1', start + 1, at)}`;
    case BINARY_EXT:
      return `b${data.toString('latin1', start + 5, at)}`;
    default:
      if (isAtomTag(type)) return `a${name}`;
      throw NATIVE;
  }
}

/** Whether the keys can be an object's: all named, no two alike, no `__proto__`. */
function objectKeys(names) {
  const seen = new Set();
  for (const name of names) {
    if (name === undefined || name === '__proto__' || seen.has(name)) return false;
    seen.add(name);
  }
  return true;
}

module.exports = { encode, withMessage, decode, decodeMessage, decodeValue };
