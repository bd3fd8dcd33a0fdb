'use strict';
// Checking what callers pass, before anything reaches the native addon.

/**
 * The decode choices, as the bit flags lib/etf.js and bindings/node/src/convert.rs read.
 * Floats have three: "auto" (0, the default) keeps a float with an integral value (1.0, -0.0)
 * an erldp.Float, so that it goes back as a float, and makes other floats numbers.
 */
const DECODE = {
  binaries: { string: 0, buffer: 1 },
  maps: { map: 0, object: 2 },
  floats: { auto: 0, float: 4, number: 8 },
  atoms: { symbol: 0, string: 16 },
};
const DECODE_KEYS = Object.keys(DECODE);

/** The options each call takes (API.md, Node.js section; index.d.ts). */
const KNOWN = {
  start: ['cookie', 'hidden', 'epmd', 'epmdPort', 'distPort', 'port', 'netTicktime', 'setupTimeout', 'longNames', 'tls', 'ipv6', 'signal',
    'maxMessageSize', 'maxPendingHandshakes', 'maxMonitorsPerPeer', 'sendTimeout', 'sendQueueLimit', 'mailboxQueueLimit',
    ...DECODE_KEYS],
  tls: ['certfile', 'keyfile', 'cacertfile', 'verify', 'optfile'],
  request: ['timeout', 'signal', ...DECODE_KEYS],
  receive: ['timeout', 'signal', ...DECODE_KEYS],
  mailbox: DECODE_KEYS,
  decode: DECODE_KEYS,
  connect: ['host', 'port', 'signal'],
  wait: ['signal'],
  logger: ['level'],
  serve: ['concurrency', 'maxQueue', ...DECODE_KEYS],
  scope: ['scope', 'signal'],
  members: ['scope', 'signal', ...DECODE_KEYS],
  pubsub: ['poolSize'],
};

function isObject(value) {
  return typeof value === 'object' && value !== null;
}

/** Edit distance, for suggesting the option meant. */
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/**
 * `options` checked to be an object holding only options of `kind` (a key of KNOWN): an option
 * misspelt (`cookiee`) would otherwise be ignored and its default used.
 */
function optionsObject(options, what, kind) {
  if (options === undefined) return {};
  if (!isObject(options)) throw new TypeError(`${what} must be an object`);
  if (kind !== undefined) {
    const known = KNOWN[kind];
    for (const key of Object.keys(options)) {
      if (known.includes(key)) continue;
      const near = known.filter((k) => {
        const [a, b] = [key.toLowerCase(), k.toLowerCase()];
        return distance(a, b) <= 2 || (a.length >= 4 && (b.startsWith(a.slice(0, -1)) || a.startsWith(b)));
      });
      const hint = near.length ? `; did you mean ${near.map((k) => `"${k}"`).join(' or ')}?` : '';
      throw new TypeError(`unknown option "${key}" in ${what} (known: ${known.join(', ')})${hint}`);
    }
  }
  return options;
}

/**
 * The decode flags for `options`, starting from `base` (the node's or the
 * mailbox's): each option that is given replaces its bits.
 */
function decodeFlags(options, base = 0) {
  // Most calls give none of these: skip the work on every request.
  if (
    options.binaries === undefined &&
    options.maps === undefined &&
    options.floats === undefined &&
    options.atoms === undefined
  ) {
    return base;
  }
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

/** The `signal` option: undefined, or something with AbortSignal's `aborted` and listeners. */
function signal(options) {
  const value = options.signal;
  if (value === undefined) return undefined;
  if (!isObject(value) || typeof value.aborted !== 'boolean' || typeof value.addEventListener !== 'function') {
    throw new TypeError('option signal must be an AbortSignal');
  }
  return value;
}

/** Why a wait was aborted: the signal's reason, or an AbortError like the one fetch() rejects with. */
function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  const error = new Error('the operation was aborted');
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}

/** A name given as a string or a Symbol.for() symbol (an atom). */
function name(value, what) {
  const ok = typeof value === 'string' || (typeof value === 'symbol' && Symbol.keyFor(value) !== undefined);
  if (!ok) throw new TypeError(`${what} must be a string or a Symbol.for() symbol`);
  return value;
}

/** Option `key` of `options`, undefined or a `type` that passes `kind`'s test; the error says what it takes. */
function check(options, key, type, kind = { test: () => true, what: `a ${type}` }) {
  const value = options[key];
  if (value !== undefined && (typeof value !== type || !kind.test(value))) {
    const given = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new TypeError(`option ${key} must be ${kind.what}, not ${given}`);
  }
  return value;
}

const isPort = { test: (n) => Number.isInteger(n) && n >= 0 && n <= 65535, what: 'a port from 0 to 65535' };
const isMs = { test: (n) => n > 0, what: 'a number of milliseconds above 0' };
const isCount = { test: (n) => Number.isSafeInteger(n) && n >= 0, what: 'a whole number from 0' };
const isText = { test: (text) => text.length > 0, what: 'a non-empty string' };

/** The `tls` option of Node.start: paths as strings, `verify` one of ssl's two names. */
function tlsOptions(tls) {
  if (tls === undefined) return undefined;
  tls = optionsObject(tls, 'option tls', 'tls');
  const verify = tls.verify;
  if (verify !== undefined && !['verify_peer', 'verify_none'].includes(verify)) {
    throw new TypeError('option tls.verify must be "verify_peer" or "verify_none"');
  }
  const path = (key) => check(tls, key, 'string', isText);
  return {
    certfile: path('certfile'),
    keyfile: path('keyfile'),
    cacertfile: path('cacertfile'),
    verify,
    optfile: path('optfile'),
  };
}

/** The options of Node.start, as the native addon takes them. */
function startOptions(options) {
  const epmd = options.epmd;
  if (epmd !== undefined && !['auto', 'external', 'none'].includes(epmd)) {
    throw new TypeError('option epmd must be "auto", "external" or "none"');
  }
  return {
    tls: tlsOptions(options.tls),
    ipv6: check(options, 'ipv6', 'boolean'),
    cookie: check(options, 'cookie', 'string', isText),
    hidden: check(options, 'hidden', 'boolean'),
    epmd,
    epmdPort: check(options, 'epmdPort', 'number', isPort),
    distPort: distPort(options),
    port: check(options, 'port', 'number', isPort),
    netTicktime: check(options, 'netTicktime', 'number', isMs),
    setupTimeout: check(options, 'setupTimeout', 'number', isMs),
    longNames: check(options, 'longNames', 'boolean'),
    maxMessageSize: check(options, 'maxMessageSize', 'number', isCount),
    maxPendingHandshakes: check(options, 'maxPendingHandshakes', 'number', isCount),
    maxMonitorsPerPeer: check(options, 'maxMonitorsPerPeer', 'number', isCount),
    sendTimeout: check(options, 'sendTimeout', 'number', isMs),
    sendQueueLimit: check(options, 'sendQueueLimit', 'number', isCount),
    mailboxQueueLimit: queueLimit(options.mailboxQueueLimit, 'option mailboxQueueLimit') ?? undefined,
  };
}

/** `distPort`, which is also the port the node listens on: `port` may only repeat it. */
function distPort(options) {
  const port = check(options, 'distPort', 'number', isPort);
  if (port && options.port && options.port !== port) {
    throw new TypeError(`option port ${options.port} contradicts distPort ${port}, the port the node listens on`);
  }
  return port;
}

/** A mailbox queue limit: a whole number, or null (or undefined) for none. */
function queueLimit(limit, what) {
  if (limit === undefined || limit === null) return null;
  if (typeof limit !== 'number' || !isCount.test(limit)) {
    throw new TypeError(`${what} must be a whole number >= 0 or null, not ${String(limit)}`);
  }
  return limit;
}

module.exports = { optionsObject, decodeFlags, timeout, signal, abortReason, name, startOptions, queueLimit };
