'use strict';
// Global names as destinations (API.md, "Cluster membership"): erldp.global("name") is
// `{global, Name}` for send, call, cast and monitor, resolved to its pid at each of them
// (bindings/node/src/convert.rs reads it).

const opts = require('./options');

/** A name registered with `global`, as a destination. */
class Global {
  /** Use `erldp.global(name)`. */
  constructor(name) {
    opts.name(name, 'the global name');
    /** The name: a string or an atom (either is the atom). */
    this.name = name;
    Object.freeze(this);
  }

  toString() {
    const text = typeof this.name === 'symbol' ? Symbol.keyFor(this.name) : this.name;
    return `{global,${text}}`;
  }
}

/** The destination of the process registered globally as `name`. */
function global(name) {
  return new Global(name);
}

module.exports = { Global, global };
