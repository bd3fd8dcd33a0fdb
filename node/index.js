'use strict';
// The erldp package: loads the native addon for this platform, registers
// the classes it builds terms from, and exports the public API (API.md,
// Node.js section; types in index.d.ts).

const native = require('./lib/native');
const terms = require('./lib/terms');
const errors = require('./lib/errors');
const { Node, Mailbox } = require('./lib/node');
const opts = require('./lib/options');
const etf = require('./lib/etf');
const elixir = require('./lib/elixir');
const serving = require('./lib/serving');
const cluster = require('./lib/cluster');
const pubsub = require('./lib/pubsub');

native.setup({
  Tuple: terms.Tuple,
  Pid: terms.Pid,
  Ref: terms.Ref,
  Port: terms.Port,
  Bitstring: terms.Bitstring,
  ImproperList: terms.ImproperList,
  Opaque: terms.Opaque,
  Float: terms.Float,
  Map,
  objectPrototype: Object.prototype,
  symbolKeyFor: Symbol.keyFor,
  arrayFrom: Array.from,
  makeError: errors.makeError,
  Global: cluster.Global,
});

/** `term_to_binary`: the External Term Format of `value`. */
function encode(value) {
  return etf.encode(value);
}

/** `binary_to_term`: the value held by External Term Format bytes. */
function decode(bytes, options) {
  return etf.decode(bytes, opts.decodeFlags(opts.optionsObject(options, 'decode options', 'decode')));
}

/** `value` written in Erlang syntax, e.g. `{ok,<<"hi">>}`. */
function format(value) {
  return native.format(value);
}

const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'];

/** How much ErlDP logs (overriding ERLDP_LOG): "off", "error", "warn", "info", "debug" or "trace". */
function setLogLevel(level) {
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`the log level must be one of ${LOG_LEVELS.join(', ')}`);
  native.setLogLevel(level);
}

/**
 * Sends ErlDP's log records to `callback({ level, target, thread, message, time })` on the
 * event loop instead of standard error; `null` sends them to standard error again. The level
 * is `options.level`, else ERLDP_LOG's when it is set, else "info".
 */
function setLogger(callback, options) {
  options = opts.optionsObject(options, 'setLogger options', 'logger');
  if (callback === null || callback === undefined) {
    activeLogger = null;
    native.setLogCallback(null);
    return;
  }
  if (typeof callback !== 'function') throw new TypeError('the logger must be a function, or null');
  const level = options.level ?? (process.env.ERLDP_LOG?.trim() ? undefined : 'info');
  if (level !== undefined) setLogLevel(level);
  // Records already on their way when the logger is replaced or removed are not its any more.
  const logger = ([logged, target, thread, message, millis]) => {
    if (activeLogger === logger) callback({ level: logged, target, thread, message, time: new Date(millis) });
  };
  activeLogger = logger;
  native.setLogCallback(logger);
}

let activeLogger = null;

// ERLDP_LOG=error|warn|info|debug|trace logs to standard error from the start, as the erldp
// command does.
const logProblem = native.logFromEnv();
if (logProblem) process.emitWarning(`erldp: ${logProblem}; logging stays off`);

// One assignment per name: Node.js finds the names of a CommonJS module's exports by reading
// `exports.name = ...` (cjs-module-lexer), which is what makes `import { Node, tuple } from
// "erldp"` work from an ES module.
exports.Node = Node;
exports.Mailbox = Mailbox;
exports.Tuple = terms.Tuple;
exports.tuple = terms.tuple;
exports.Float = terms.Float;
exports.float = terms.float;
exports.Pid = terms.Pid;
exports.Ref = terms.Ref;
exports.Port = terms.Port;
exports.Bitstring = terms.Bitstring;
exports.ImproperList = terms.ImproperList;
exports.Opaque = terms.Opaque;
exports.encode = encode;
exports.decode = decode;
exports.format = format;
exports.setLogger = setLogger;
exports.setLogLevel = setLogLevel;
exports.elixir = elixir;
exports.NOREPLY = serving.NOREPLY;
exports.Undef = serving.Undef;
exports.Served = serving.Served;
exports.Exposed = serving.Exposed;
exports.Global = cluster.Global;
exports.global = cluster.global;
exports.PubSub = pubsub.PubSub;
exports.ErlDPError = errors.ErlDPError;
exports.ConnectionError = errors.ConnectionError;
exports.AuthError = errors.AuthError;
exports.NodeNotFoundError = errors.NodeNotFoundError;
exports.TimeoutError = errors.TimeoutError;
exports.RpcError = errors.RpcError;
exports.DecodeError = errors.DecodeError;
exports.EncodeError = errors.EncodeError;
exports.ClosedError = errors.ClosedError;
exports.InvalidArgumentError = errors.InvalidArgumentError;
exports.NameTakenError = errors.NameTakenError;
