'use strict';
// Serving BEAM callers (API.md, "Serving BEAM callers"): node.serve, node.expose and the
// handlers behind them.
//
// The addon hands each request to the node's drain as `dispatch(handler, token, etf)`
// (bindings/node/src/serving.rs): the handler runs here, on the event loop, and its value —
// or its Promise's — answers the token. The core starts a served name's next request only
// once the token is answered, so requests to one name are handled one at a time (or
// `concurrency` at once) with no queue of our own. A handler that throws or rejects answers
// with `{Class, Message}` and its stack in BEAM's frame shape.
//
// Serving holds the event loop no more than the node does: requests arrive through the
// node's thread-safe function, which holds the process while the node is open and not
// unref()ed.

const path = require('node:path');
const util = require('node:util');
const opts = require('./options');
const etf = require('./etf');

/** What a serve handler returns to answer later, with `node.reply(from, value)`. */
const NOREPLY = Symbol('erldp.NOREPLY');

/**
 * Thrown by an expose handler for a function it does not have (or an arity it does not take):
 * the caller gets what BEAM gives for a call to a function that does not exist, `undef` with the
 * call as its stack (`{badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}}` from `rpc:call`,
 * `error:{exception, undef, [...]}` from `erpc`, Elixir's `UndefinedFunctionError`). Any error
 * whose `name` is `undef` counts as this.
 */
class Undef extends Error {
  constructor(message = 'undef') {
    super(message);
  }
}
Object.defineProperty(Undef.prototype, 'name', { value: 'undef', writable: true, configurable: true });

/** Frames of a JavaScript stack sent along with an exception, at most. */
const MAX_FRAMES = 32;
/** The package's own frames (the drain that called the handler) are no part of its stack. */
const OWN_DIR = __dirname + path.sep;

/** A served name (`node.serve`): its process's pid, its name, and `close()`. */
class Served {
  #native;
  #name;
  #forget;

  constructor(native, name, forget) {
    this.#native = native;
    this.#name = name;
    this.#forget = forget;
  }

  /** The served process's pid: BEAM may link to it and monitor it. */
  get pid() {
    return this.#native.pid;
  }

  /** The served name, as an atom. */
  get name() {
    return this.#name;
  }

  /** Stops serving: monitors get `DOWN`, links the exit signal, reason `normal`. */
  close() {
    this.#native.close();
    this.#forget();
  }
}

/** An exposed module (`node.expose`): its name and `close()`. */
class Exposed {
  #native;
  #module;
  #forget;

  constructor(native, module, forget) {
    this.#native = native;
    this.#module = module;
    this.#forget = forget;
  }

  /** The exposed module, as an atom. */
  get module() {
    return this.#module;
  }

  /** Stops exposing the module: it is `undef` again. */
  close() {
    this.#native.close();
    this.#forget();
  }
}

function atomOf(name) {
  return typeof name === 'symbol' ? name : Symbol.for(name);
}

function count(options, key) {
  const value = options[key];
  if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 0xffffffff)) {
    throw new TypeError(`option ${key} must be a whole number from 1 to 2^32-1`);
  }
  return value;
}

/** The handlers of one node, by the id the addon tags their requests with. */
class Serving {
  #native;
  #decode;
  #handlers = new Map();
  #nextId = 0;

  /** `native()` is the node's NativeNode; `decode` its decode flags. */
  constructor(native, decode) {
    this.#native = native;
    this.#decode = decode;
  }

  serve(name, handler, options) {
    return this.#register('serve', name, handler, options, (native, id, concurrency, maxQueue) => {
      const served = native.serve(id, name, concurrency, maxQueue);
      return new Served(served, atomOf(name), () => this.#handlers.delete(id));
    });
  }

  expose(module, handler, options) {
    return this.#register('expose', module, handler, options, (native, id, concurrency, maxQueue) => {
      const exposed = native.expose(id, module, concurrency, maxQueue);
      return new Exposed(exposed, atomOf(module), () => this.#handlers.delete(id));
    });
  }

  unserve(name) {
    opts.name(name, 'the served name');
    this.#forget('serve', name);
    return this.#native().unserve(name);
  }

  unexpose(module) {
    opts.name(module, 'the module');
    this.#forget('expose', module);
    return this.#native().unexpose(module);
  }

  /** The node closed: its requests are gone with it. */
  clear() {
    this.#handlers.clear();
  }

  #register(kind, name, handler, options, start) {
    opts.name(name, kind === 'serve' ? 'the served name' : 'the module');
    if (typeof handler !== 'function') throw new TypeError(`the ${kind} handler must be a function`);
    options = opts.optionsObject(options, `${kind} options`, 'serve');
    const concurrency = count(options, 'concurrency');
    const maxQueue = count(options, 'maxQueue');
    const flags = opts.decodeFlags(options, this.#decode);
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    const handle = start(this.#native(), id, concurrency, maxQueue);
    // The entry holds the handle: a name stays served while nobody else does (dropping the
    // native handle stops serving), until close(), unserve or the node closes.
    this.#handlers.set(id, { kind, name: atomOf(name), handler, flags, handle });
    return handle;
  }

  #forget(kind, name) {
    const atom = atomOf(name);
    for (const [id, entry] of this.#handlers) {
      if (entry.kind === kind && entry.name === atom) this.#handlers.delete(id);
    }
  }

  /** A request from the addon for handler `id`; never throws (it runs inside the drain). */
  dispatch(id, token, bytes) {
    const entry = this.#handlers.get(id);
    if (!entry) {
      // Unserved after the addon handed the request over: answered as the requests still
      // waiting then are (a call exits `normal`, an rpc gets `undef`).
      this.#native().answerRefused(token);
      return;
    }
    let result;
    try {
      const request = etf.decodeValue(bytes, entry.flags);
      if (entry.kind === 'serve') {
        result = entry.handler(request[1], request.length > 2 ? request[2] : null);
      } else {
        result = entry.handler(request[0], request[1]);
      }
    } catch (err) {
      this.#raise(token, err);
      return;
    }
    let thenable;
    try {
      thenable = result !== null && typeof result === 'object' && typeof result.then === 'function';
    } catch (err) {
      this.#raise(token, err);
      return;
    }
    if (thenable) {
      let settled;
      try {
        settled = Promise.resolve(result);
      } catch (err) {
        // A promise whose `constructor` getter throws: its answer is that exception.
        settled = Promise.reject(err);
      }
      settled.then(
        (value) => this.#answer(token, entry, value),
        (err) => this.#raise(token, err),
      );
    } else {
      this.#answer(token, entry, result);
    }
  }

  #answer(token, entry, value) {
    const native = this.#native();
    if (value === NOREPLY) {
      if (entry.kind === 'serve') native.answerNoReply(token);
      else this.#raise(token, new TypeError('an exposed function must return a value, not NOREPLY'));
      return;
    }
    try {
      // `undefined` (a handler that returns nothing) answers `nil`, like a Ruby block.
      native.answerValue(token, value === undefined ? null : value);
    } catch (err) {
      this.#raise(token, err);
    }
  }

  #raise(token, err) {
    const { name, message, frames } = exception(err);
    this.#native().answerRaise(token, name, message, frames);
  }
}

/**
 * `{ name, message, frames }` for what a handler threw: the class (an Error's `name` when it
 * names a subclass, else its constructor's name) and its message; anything thrown that is no
 * Error is an `Error` whose message is the value as `util.inspect` prints it.
 */
function exception(err) {
  // Whatever is thrown, reading it must not throw: this runs where nothing would catch it.
  return read(() => described(err), { name: 'Error', message: '(unprintable)', frames: [] });
}

function described(err) {
  if (!(err instanceof Error)) {
    return { name: 'Error', message: typeof err === 'string' ? err : shown(() => util.inspect(err)), frames: [] };
  }
  // Each part is read on its own: a getter that throws, or a Symbol message, costs that part,
  // never the answer (this runs where nothing would catch what it threw).
  let name = read(() => (typeof err.name === 'string' ? err.name : ''), '');
  if (name === '' || name === 'Error') name = read(() => err.constructor?.name || 'Error', 'Error');
  const stack = read(() => err.stack, undefined);
  return { name, message: shown(() => String(err.message)), frames: read(() => frames(stack), []) };
}

/** What `get` gives, or `fallback` when it throws. */
function read(get, fallback) {
  try {
    return get();
  } catch {
    return fallback;
  }
}

/** What `get` gives as text, or a placeholder when getting or printing it throws. */
function shown(get) {
  return read(() => String(get()), '(unprintable)');
}

/** `    at Class.method (file:line:column)` and its variants, as V8 writes them. */
const FRAME = /^\s*at (?:async )?(?:(.+?) \((.+)\)|(.+))$/;
const LOCATION = /^(.*):(\d+):\d+$/;

/**
 * The frames of a V8 stack trace, innermost first, as BEAM stack frames take them:
 * `Class.method` is class and method; a function of no class gets its file's name (a
 * JavaScript module's nearest counterpart to an Erlang module). The arity is not in a V8
 * stack trace: 0. Node's internal frames and the package's are left out.
 */
function frames(stack) {
  if (typeof stack !== 'string') return [];
  const out = [];
  for (const line of stack.split('\n')) {
    const match = FRAME.exec(line);
    if (!match) continue;
    const where = match[2] ?? match[3];
    const at = LOCATION.exec(where);
    let file = at ? at[1] : undefined;
    if (file?.startsWith('file://')) file = decodeURIComponent(new URL(file).pathname);
    if (file === undefined || file.startsWith('node:') || file.startsWith(OWN_DIR)) continue;
    const fn = (match[1] ?? '<anonymous>').replace(/ \[as [^\]]+\]$/, '').replace(/^new /, '');
    const dot = fn.lastIndexOf('.');
    const module = path.basename(file).replace(/\.[cm]?[jt]s$/, '');
    out.push({
      class: dot > 0 ? fn.slice(0, dot) : module,
      method: dot > 0 ? fn.slice(dot + 1) : fn,
      arity: 0,
      file,
      line: Number(at[2]),
    });
    if (out.length === MAX_FRAMES) break;
  }
  return out;
}

module.exports = { Serving, Served, Exposed, NOREPLY, Undef };
