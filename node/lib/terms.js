'use strict';
// The classes for Erlang terms that have no JavaScript counterpart. The
// codec (lib/etf.js, and the native addon's bindings/node/src/convert.rs)
// builds instances of them when decoding and reads their fields when
// encoding, so the field names here are part of that contract.

const { inspect } = require('node:util');
const native = require('./native');

const U32_MAX = 0xffff_ffff;

function atomOf(value, what) {
  if (typeof value === 'string') return Symbol.for(value);
  if (typeof value === 'symbol' && Symbol.keyFor(value) !== undefined) return value;
  throw new TypeError(`${what} must be a string or a Symbol.for() symbol`);
}

function u32(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${what} must be an integer from 0 to ${U32_MAX}`);
  }
  return value;
}

function bytesOf(value, what) {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Buffer or Uint8Array`);
  return Buffer.from(value);
}

/** An Erlang tuple: an Array whose derived arrays (map, slice, …) are plain Arrays. */
class Tuple extends Array {
  // A data property: with a getter here, V8 takes a slow path for every
  // `new Tuple` (about 600 ns instead of 10).
  static [Symbol.species] = Array;
}

/** `{a, b, …}` as a Tuple. */
function tuple(...elements) {
  // Not Tuple.from, which goes through the iterator protocol: this is on
  // the path of every message sent.
  const result = new Tuple(elements.length);
  for (let i = 0; i < elements.length; i++) result[i] = elements[i];
  return result;
}

/** A float that stays a float when sent, even with an integral value (`1.0`, `-0.0`). */
class Float {
  constructor(value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError('a Float needs a finite number (Erlang has no NaN or Infinity)');
    }
    this.value = value;
    Object.freeze(this);
  }

  valueOf() {
    return this.value;
  }

  toJSON() {
    return this.value;
  }

  /** The float in Erlang syntax, e.g. `1.0`. */
  toString() {
    return native.format(this);
  }

  [inspect.custom]() {
    return `Float(${this})`;
  }
}

/** `erldp.float(1)` is sent as `1.0`. */
function float(value) {
  return new Float(value);
}

/**
 * What pids, references and ports share: their text form is the core's (`#Pid<...>`,
 * `#Ref<...>`, `#Port<...>`), shown by `util.inspect` and written by `JSON.stringify` (which
 * would drop the node, a symbol).
 */
class Identifier {
  toString() {
    return native.format(this);
  }

  toJSON() {
    return this.toString();
  }

  [inspect.custom]() {
    return this.toString();
  }
}

/** A process identifier. */
class Pid extends Identifier {
  constructor(node, id, serial, creation) {
    super();
    this.node = atomOf(node, 'node');
    this.id = u32(id, 'id');
    this.serial = u32(serial, 'serial');
    this.creation = u32(creation, 'creation');
    Object.freeze(this);
  }

  equals(other) {
    return (
      other instanceof Pid &&
      other.node === this.node &&
      other.id === this.id &&
      other.serial === this.serial &&
      other.creation === this.creation
    );
  }
}

/** A reference (also a process alias). */
class Ref extends Identifier {
  constructor(node, creation, ids) {
    super();
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > 5) {
      throw new TypeError('ids must be an array of one to five integers');
    }
    this.node = atomOf(node, 'node');
    this.creation = u32(creation, 'creation');
    this.ids = Object.freeze(ids.map((id) => u32(id, 'an id')));
    Object.freeze(this);
  }

  /** Equal like the BEAM compares references: trailing zero ids do not count. */
  equals(other) {
    if (!(other instanceof Ref) || other.node !== this.node || other.creation !== this.creation) return false;
    for (let i = 0; i < 5; i++) {
      if ((this.ids[i] ?? 0) !== (other.ids[i] ?? 0)) return false;
    }
    return true;
  }
}

/** A port identifier; `id` is a number, or a BigInt beyond 2^53. */
class Port extends Identifier {
  constructor(node, id, creation) {
    super();
    const validId =
      (typeof id === 'bigint' && id >= 0n && id < 2n ** 64n) || (Number.isSafeInteger(id) && id >= 0);
    if (!validId) throw new RangeError('a Port id must be a non-negative integer below 2^64');
    this.node = atomOf(node, 'node');
    this.id = id;
    this.creation = u32(creation, 'creation');
    Object.freeze(this);
  }

  equals(other) {
    return (
      other instanceof Port &&
      other.node === this.node &&
      BigInt(other.id) === BigInt(this.id) &&
      other.creation === this.creation
    );
  }
}

/**
 * A bitstring whose length is not a whole number of bytes: `bytes` hold the
 * bits, most significant first, and only the top `bits` (1 to 7) of the last
 * byte belong to it.
 */
class Bitstring {
  constructor(bytes, bits) {
    const buffer = bytesOf(bytes, 'bytes');
    if (buffer.length === 0) throw new RangeError('a Bitstring needs at least one byte');
    if (!Number.isInteger(bits) || bits < 1 || bits > 7) throw new RangeError('bits must be from 1 to 7');
    this.bytes = buffer;
    this.bits = bits;
    Object.freeze(this);
  }

  /** The length in bits, as Erlang's `bit_size/1`. */
  get bitSize() {
    return (this.bytes.length - 1) * 8 + this.bits;
  }

  toString() {
    return native.format(this);
  }

  [inspect.custom]() {
    return `Bitstring(${this})`;
  }
}

/** A list whose tail is not a list, `[a, b | c]`. */
class ImproperList {
  constructor(elements, tail) {
    if (!Array.isArray(elements) || elements.length === 0) {
      throw new TypeError('an ImproperList needs a non-empty array of elements');
    }
    this.elements = elements;
    this.tail = tail;
  }
}

/** A fun, kept as its external encoding so that it can be sent back unchanged. */
class Opaque {
  constructor(bytes) {
    this.bytes = bytesOf(bytes, 'bytes');
    Object.freeze(this);
  }

  equals(other) {
    return other instanceof Opaque && other.bytes.equals(this.bytes);
  }

  /** `fun m:f/1`, or `#Fun<…>` with the encoding in hex for a closure. */
  toString() {
    return native.format(this);
  }

  [inspect.custom]() {
    return `Opaque(${this})`;
  }
}

module.exports = { Tuple, tuple, Float, float, Pid, Ref, Port, Bitstring, ImproperList, Opaque };
