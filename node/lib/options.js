'use strict';
// Checking what callers pass, before anything reaches the native addon.

/** The decode choices, as the bit flags bindings/node/src/convert.rs reads. */
const DECODE = {
  binaries: { string: 0, buffer: 1 },
  maps: { map: 0, object: 2 },
  floats: { number: 0, float: 4 },
};

function isObject(value) {
  return typeof value === 'object' && value !== null;
}

function optionsObject(options, what) {
  if (options === undefined) return {};
  if (!isObject(options)) throw new TypeError(`${what} must be an object`);
  return options;
}

/**
 * The decode flags for `options`, starting from `base` (the node's or the
 * mailbox's): each option that is given replaces its bit.
 */
function decodeFlags(options, base = 0) {
  // Most calls give none of these: skip the work on every request.
  if (options.binaries === undefined && options.maps === undefined && options.floats === undefined) return base;
  let flags = base;
  for (const [name, values] of Object.entries(DECODE)) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Object.hasOwn(values, value)) {
      const allowed = Object.keys(values).map((v) => `"${v}"`).join(' or ');
      throw new TypeError(`option ${name} must be ${allowed}`);
    }
    const mask = Object.values(values).reduce((a, b) => a | b);
    flags = (flags & ~mask) | values[value];
  }
  return flags;
}

/** A timeout in milliseconds: a number >= 0, or Infinity. */
function timeout(options, fallback) {
  const value = options.timeout ?? fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new TypeError('timeout must be a number of milliseconds >= 0 (or Infinity)');
  }
  return value;
}

/** A name given as a string or a Symbol.for() symbol (an atom). */
function name(value, what) {
  const ok = typeof value === 'string' || (typeof value === 'symbol' && Symbol.keyFor(value) !== undefined);
  if (!ok) throw new TypeError(`${what} must be a string or a Symbol.for() symbol`);
  return value;
}

function check(options, key, type, test = () => true) {
  const value = options[key];
  if (value !== undefined && (typeof value !== type || !test(value))) {
    throw new TypeError(`option ${key} has an invalid value: ${String(value)}`);
  }
  return value;
}

const isPort = (n) => Number.isInteger(n) && n >= 0 && n <= 65535;
const isMs = (n) => n > 0;

/** The options of Node.start, as the native addon takes them. */
function startOptions(options) {
  const epmd = options.epmd;
  if (epmd !== undefined && !['auto', 'external', 'none'].includes(epmd)) {
    throw new TypeError('option epmd must be "auto", "external" or "none"');
  }
  return {
    cookie: check(options, 'cookie', 'string', (c) => c.length > 0),
    hidden: check(options, 'hidden', 'boolean'),
    epmd,
    epmdPort: check(options, 'epmdPort', 'number', isPort),
    port: check(options, 'port', 'number', isPort),
    netTicktime: check(options, 'netTicktime', 'number', isMs),
    setupTimeout: check(options, 'setupTimeout', 'number', isMs),
    longNames: check(options, 'longNames', 'boolean'),
  };
}

module.exports = { optionsObject, decodeFlags, timeout, name, startOptions };
