'use strict';
// The errors the package throws and rejects with. The native addon decides
// the code of each core error (bindings/node/src/error.rs) and calls
// makeError, which picks the class for it.

class ErlDPError extends Error {
  constructor(message, code, detail) {
    super(message);
    this.code = code;
    if (detail) Object.assign(this, detail);
  }
}

/** Connecting failed (other than by the cookie), or a connection was lost. */
class ConnectionError extends ErlDPError {}
/** The handshake failed: the cookies differ. */
class AuthError extends ErlDPError {}
/** The node is not registered in EPMD on its host. */
class NodeNotFoundError extends ErlDPError {}
/** No answer in time. */
class TimeoutError extends ErlDPError {}
/** The remote call raised or could not run; `reason` holds the remote error term. */
class RpcError extends ErlDPError {}
/** Bytes that should hold a term do not; `offset` says where. */
class DecodeError extends ErlDPError {}
/** A value has no Erlang counterpart; `path` says where it is. */
class EncodeError extends ErlDPError {}
/** The node or mailbox is closed. */
class ClosedError extends ErlDPError {}
/** An argument is not acceptable (a malformed node name, a bad destination). */
class InvalidArgumentError extends ErlDPError {}

const classes = {
  ECONNECT: ConnectionError,
  EAUTH: AuthError,
  ENOTFOUND: NodeNotFoundError,
  ETIMEDOUT: TimeoutError,
  ERPC: RpcError,
  EDECODE: DecodeError,
  EENCODE: EncodeError,
  ECLOSED: ClosedError,
  EINVAL: InvalidArgumentError,
  // An operating-system error outside any connection (the listen port, the
  // cookie file) has no class of its own.
  EIO: ErlDPError,
};

for (const Class of new Set(Object.values(classes))) {
  Object.defineProperty(Class.prototype, 'name', { value: Class.name, writable: true, configurable: true });
}

function makeError(code, message, detail) {
  const Class = Object.hasOwn(classes, code) ? classes[code] : undefined;
  if (Class === undefined) {
    // The addon maps every core error to a code of the table above.
    throw new TypeError(`erldp: no error class for code ${code} (${message})`);
  }
  return new Class(message, code, detail);
}

module.exports = {
  ErlDPError,
  ConnectionError,
  AuthError,
  NodeNotFoundError,
  TimeoutError,
  RpcError,
  DecodeError,
  EncodeError,
  ClosedError,
  InvalidArgumentError,
  makeError,
};
