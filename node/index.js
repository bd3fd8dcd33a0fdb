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
  return etf.decode(bytes, opts.decodeFlags(opts.optionsObject(options, 'options')));
}

/** `value` written in Erlang syntax, e.g. `{ok,<<"hi">>}`. */
function format(value) {
  return native.format(value);
}

module.exports = {
  Node,
  Mailbox,
  Tuple: terms.Tuple,
  tuple: terms.tuple,
  Float: terms.Float,
  float: terms.float,
  Pid: terms.Pid,
  Ref: terms.Ref,
  Port: terms.Port,
  Bitstring: terms.Bitstring,
  ImproperList: terms.ImproperList,
  Opaque: terms.Opaque,
  encode,
  decode,
  format,
  ErlDPError: errors.ErlDPError,
  ConnectionError: errors.ConnectionError,
  AuthError: errors.AuthError,
  NodeNotFoundError: errors.NodeNotFoundError,
  TimeoutError: errors.TimeoutError,
  RpcError: errors.RpcError,
  DecodeError: errors.DecodeError,
  EncodeError: errors.EncodeError,
  ClosedError: errors.ClosedError,
  InvalidArgumentError: errors.InvalidArgumentError,
};
