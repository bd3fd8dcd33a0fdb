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
exports.elixir = elixir;
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
