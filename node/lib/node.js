'use strict';
// erldp.Node and erldp.Mailbox: Promises over the native addon.
//
// Calls that may have to connect are staged in the addon and handed to its
// per-peer threads once per turn of the event loop (#staged schedules that
// in a microtask), so a burst of calls wakes each thread once.
//
// Each asynchronous call gets a request id. Answers queue up in the addon,
// which wakes the node through one thread-safe function; #drain then
// settles them a batch at a time, yielding to the event loop between
// batches (bindings/node/src/node.rs). The same thread-safe function decides
// whether the node keeps the process alive: it does while the node is open
// and not unref()ed, and while a request that ends by itself (it has a
// timeout) is outstanding.
//
// Messages and terms cross the addon as ETF bytes that lib/etf.js writes
// and reads: one Buffer per message instead of a native call per value.

const { NativeNode } = require('./native');
const { ClosedError, makeError } = require('./errors');
const opts = require('./options');
const etf = require('./etf');

const DEFAULT_TIMEOUT = 5000;
/** Answers settled per turn of the event loop: a few milliseconds of work. */
const BATCH = 128;
const internal = Symbol('erldp.internal');

class Node {
  #native;
  #decode;
  #requests = new Map();
  #nextId = 0;
  #held = 0;
  #unrefed = false;
  #closed = false;
  #referenced = true;
  #closing;
  #mailboxes = new Set();
  #settle = (id, error, value) => this.#settleOne(id, error, value);
  #drain = () => {
    if (this.#native.drain(this.#settle, BATCH)) setImmediate(this.#drain);
  };
  #flushScheduled = false;
  #flush = () => {
    this.#flushScheduled = false;
    this.#native.flush();
  };
  #sendEncoded = (buffer, split, end) => this.#native.sendEncoded(buffer, split, end);

  /** Use `Node.start`. */
  constructor(key, decode) {
    if (key !== internal) throw new TypeError('use erldp.Node.start(name, options) to start a node');
    this.#decode = decode;
  }

  /**
   * Starts a node named `name` (`"js"` becomes `js@<short hostname>`), listening
   * and registered with EPMD.
   */
  static async start(name, options) {
    opts.name(name, 'the node name');
    options = opts.optionsObject(options, 'options');
    const node = new Node(internal, opts.decodeFlags(options));
    const text = typeof name === 'symbol' ? Symbol.keyFor(name) : name;
    node.#native = await NativeNode.start(text, opts.startOptions(options), node.#drain);
    return node;
  }

  /** The full node name, `name@host`, as an atom. */
  get name() {
    return this.#native.name;
  }

  /** The port the node listens on. */
  get port() {
    return this.#native.port;
  }

  get hidden() {
    return this.#native.hidden;
  }

  /** The pid that `node.send`, `rpc` and `call` come from. */
  get pid() {
    return this.#native.pid;
  }

  get closed() {
    return this.#closed;
  }

  /** The connected peers, as atoms. */
  nodes() {
    return this.#native.nodes();
  }

  /** `'pong'` or `'pang'`, like `net_adm:ping/1`. */
  async ping(peer) {
    opts.name(peer, 'the peer');
    // The core answers pang on a closed node; here that is an error like
    // for every other request.
    if (this.#closed) throw makeError('ECLOSED', 'closed');
    return this.#request(true, (id) => this.#native.ping(id, peer));
  }

  /**
   * Connects to `peer` now (sending connects by itself). `{ port, host }`
   * connects to a known address without asking EPMD.
   */
  async connect(peer, options) {
    opts.name(peer, 'the peer');
    const { host, port } = opts.optionsObject(options, 'options');
    if (host !== undefined && typeof host !== 'string') throw new TypeError('host must be a string');
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) {
      throw new TypeError('port must be a TCP port number');
    }
    await this.#request(true, (id) => this.#native.connect(id, peer, host, port));
    return true;
  }

  /** Calls `module:fun(...args)` on `peer` (like `erpc:call`) and resolves with its value. */
  async rpc(peer, module, fun, args, options) {
    opts.name(peer, 'the peer');
    opts.name(module, 'the module');
    opts.name(fun, 'the function');
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    options = opts.optionsObject(options, 'options');
    const timeout = opts.timeout(options, DEFAULT_TIMEOUT);
    const flags = opts.decodeFlags(options, this.#decode);
    const call = (id) => this.#native.rpc(id, peer, module, fun, args, timeout, flags);
    return this.#request(true, call, (bytes) => etf.decodeValue(bytes, flags));
  }

  /** `gen_server:call(dest, request, timeout)`. */
  async call(dest, request, options) {
    options = opts.optionsObject(options, 'options');
    const timeout = opts.timeout(options, DEFAULT_TIMEOUT);
    const flags = opts.decodeFlags(options, this.#decode);
    const call = (id) => this.#native.call(id, dest, request, timeout, flags);
    return this.#request(true, call, (bytes) => etf.decodeValue(bytes, flags));
  }

  /** `gen_server:cast(dest, request)`. */
  cast(dest, request) {
    this.#native.cast(dest, request);
    this.#staged();
  }

  /** Sends `message` to `dest` from the node's own pid. */
  send(dest, message) {
    // The addon converts what lib/etf.js leaves to it, with its errors.
    if (!etf.withMessage(dest, message, this.#sendEncoded)) this.#native.send(dest, message);
    this.#staged();
  }

  /** A new mailbox, registered as `name` when one is given. */
  mailbox(name, options) {
    if (name !== undefined && name !== null) opts.name(name, 'the mailbox name');
    options = opts.optionsObject(options, 'options');
    const decode = opts.decodeFlags(options, this.#decode);
    const mailbox = new Mailbox(internal, this.#native.mailbox(name ?? undefined), decode, {
      request: (held, call, decode) => this.#request(held, call, decode),
      staged: () => this.#staged(),
      forget: (box) => this.#mailboxes.delete(box),
    });
    // Held until closed, like an Erlang process that lives until it exits:
    // a registered mailbox must not vanish with garbage collection.
    this.#mailboxes.add(mailbox);
    return mailbox;
  }

  /** Lets the process exit while the node is open (pending requests still hold it). */
  unref() {
    this.#unrefed = true;
    this.#updateRef();
    return this;
  }

  /** Undoes `unref()`. */
  ref() {
    this.#unrefed = false;
    this.#updateRef();
    return this;
  }

  /**
   * Closes the node: unregisters from EPMD, closes every connection and
   * mailbox, and rejects pending requests with a ClosedError.
   */
  close() {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = this.#request(true, (id) => this.#native.close(id)).then(() => {
        this.#mailboxes.clear();
      });
      this.#updateRef();
    }
    return this.#closing;
  }

  /** `decode` turns the ETF bytes of an answer into its value. */
  #request(held, call, decode) {
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    return new Promise((resolve, reject) => {
      // The answer always comes later, through the thread-safe function, so
      // the request can be recorded after the call; a call that throws
      // records nothing and rejects.
      call(id);
      this.#staged();
      this.#requests.set(id, { resolve, reject, held, decode });
      if (held) this.#hold(1);
    });
  }

  /** Calls were staged for the addon's threads: flush them when this turn's code is done. */
  #staged() {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #settleOne(id, error, value) {
    const request = this.#requests.get(id);
    if (!request) return;
    this.#requests.delete(id);
    if (request.held) this.#hold(-1);
    if (error) {
      request.reject(error);
    } else if (request.decode && value) {
      try {
        request.resolve(request.decode(value));
      } catch (err) {
        request.reject(err);
      }
    } else {
      request.resolve(value);
    }
  }

  #hold(delta) {
    this.#held += delta;
    this.#updateRef();
  }

  #updateRef() {
    const wanted = (!this.#closed && !this.#unrefed) || this.#held > 0;
    if (wanted !== this.#referenced && this.#native) {
      this.#native.keepAlive(wanted);
      this.#referenced = wanted;
    }
  }
}

class Mailbox {
  #native;
  #decode;
  #ops;
  #pid;
  /** Receives waiting in the addon: while there are any, a message is theirs first. */
  #waiting = 0;
  /** Messages taken without waiting since the last receive that went through the event loop. */
  #inARow = 0;
  #sendEncoded = (buffer, split, end) => this.#native.sendEncoded(buffer, split, end);

  /** Use `node.mailbox(name)`; `ops` are the node's request machinery. */
  constructor(key, native, decode, ops) {
    if (key !== internal) throw new TypeError('use node.mailbox(name) to make a mailbox');
    this.#native = native;
    this.#decode = decode;
    this.#ops = ops;
  }

  /** The mailbox's pid. */
  get pid() {
    this.#pid ??= this.#native.pid;
    return this.#pid;
  }

  /** The registered name as an atom, or undefined. */
  get name() {
    return this.#native.name;
  }

  get closed() {
    return this.#native.closed;
  }

  /** Sends `message` to `dest` (a Pid, a Ref alias, or `[name, node]`), like `!`. */
  send(dest, message) {
    if (!etf.withMessage(dest, message, this.#sendEncoded)) this.#native.send(dest, message);
    this.#ops.staged();
  }

  /**
   * The next message or signal, or `null` after `timeout` ms (default: wait
   * as long as it takes). Rejects with a ClosedError once the mailbox is
   * closed and empty.
   */
  async receive(options) {
    options = opts.optionsObject(options, 'options');
    const timeout = opts.timeout(options, Infinity);
    const flags = opts.decodeFlags(options, this.#decode);
    // A queued message is taken at once, but now and then a receive waits
    // its turn in the event loop, so that a flood of messages does not
    // hold up timers and I/O.
    if (this.#waiting === 0 && this.#inARow < BATCH) {
      const bytes = this.#native.tryReceive();
      if (bytes !== undefined) {
        this.#inARow++;
        return etf.decodeMessage(bytes, flags);
      }
    }
    this.#inARow = 0;
    // A receive with a deadline holds the process alive like a timer; one
    // without is a listener, like a server's, and holds it only through
    // the node.
    const held = Number.isFinite(timeout);
    const call = (id) => this.#native.receive(id, timeout, flags);
    this.#waiting++;
    try {
      return await this.#ops.request(held, call, (bytes) => etf.decodeMessage(bytes, flags));
    } finally {
      this.#waiting--;
    }
  }

  /** Every message until the mailbox closes. */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      let message;
      try {
        message = await this.receive();
      } catch (err) {
        if (err instanceof ClosedError) return;
        throw err;
      }
      yield message;
    }
  }

  /** Links to `pid`: an exit on either side reaches the other. */
  async link(pid) {
    await this.#ops.request(true, (id) => this.#native.link(id, pid));
  }

  async unlink(pid) {
    await this.#ops.request(true, (id) => this.#native.unlink(id, pid));
  }

  /**
   * Monitors a process (a Pid or `[name, node]`) and resolves with the
   * monitor's Ref; a `down` message with that `ref` arrives when it ends.
   * Given a node name, monitors the node: a `node_down` message arrives
   * when the connection to it is lost.
   */
  async monitor(target) {
    return this.#ops.request(true, (id) => this.#native.monitor(id, target));
  }

  /** Removes a monitor (its Ref), or a node monitor (the node's name). */
  async demonitor(target) {
    await this.#ops.request(true, (id) => this.#native.demonitor(id, target));
  }

  /**
   * Closes the mailbox: linked processes get an exit signal with `reason`
   * (default `normal`), monitoring ones a `DOWN`; a pending receive
   * rejects, and `for await` over the mailbox ends.
   */
  close(reason = Symbol.for('normal')) {
    this.#native.close(reason);
    this.#ops.forget(this);
  }
}

module.exports = { Node, Mailbox };
