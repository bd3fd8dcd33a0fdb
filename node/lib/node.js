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
//
// A call given an AbortSignal rejects with the signal's reason when it is
// aborted, and the addon stops it where it runs: an rpc's remote worker is
// killed, a call's monitor removed, a receive taken off its mailbox. A
// message that reached an aborted receive first is not dropped: the mailbox
// keeps it for the next receive, ahead of later messages. (Connecting, ping
// and links run on to their end; their answers are dropped.)

const util = require('node:util');
const { NativeNode } = require('./native');
const { ClosedError, makeError } = require('./errors');
const opts = require('./options');
const etf = require('./etf');
const { Serving } = require('./serving');

/**
 * How long after its timeout (and the connect before it, up to `setupTimeout`) an rpc or call
 * fails on the JavaScript side if the addon has not settled it. The addon times it from when
 * it is sent; a request queued behind sends to a peer that reads nothing (each waiting up to
 * `sendTimeout`) is sent late, and would keep its caller (and the process) waiting far past
 * its timeout. The backstop aborts it in the addon too, so a request failed that way is not
 * sent when its turn comes.
 */
const BACKSTOP_MS = 1000;

/** The core's default setup timeout (`setupTimeout`). */
const DEFAULT_SETUP_MS = 7000;

/** The longest delay `setTimeout` takes: a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The backstop of a request with `timeout` ms on a node whose connects take up to `setup` ms,
 * or none for one too long for a timer.
 */
function backstop(timeout, setup, what) {
  const after = timeout + setup + BACKSTOP_MS;
  return after <= MAX_TIMER_MS ? { timeout, after, what } : undefined;
}

/** A name as text: a symbol's key, else the string. */
function text(name) {
  return typeof name === 'symbol' ? Symbol.keyFor(name) : String(name);
}

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
  /** The node's `setupTimeout`, which a request's connect may take before its timeout runs. */
  #setupTimeout = DEFAULT_SETUP_MS;
  #mailboxes = new Set();
  #settle = (id, error, value) => this.#settleOne(id, error, value);
  #serving;
  #dispatch = (handler, token, bytes) => this.#serving.dispatch(handler, token, bytes);
  #drain = () => {
    if (this.#native.drain(this.#settle, this.#dispatch, BATCH)) setImmediate(this.#drain);
  };
  /**
   * What the addon's thread-safe function wakes. That function is a root for the garbage
   * collector, so it holds the node weakly once the node has closed: a strong hold kept every
   * closed node, its native node and its listening socket alive for good. An open node stays
   * held, as its answers must find it whoever else holds it.
   */
  #link = { strong: this, weak: new WeakRef(this) };

  static #waker(link) {
    return () => (link.strong ?? link.weak.deref())?.#drain();
  }
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
    this.#serving = new Serving(() => this.#native, decode);
  }

  /**
   * Starts a node named `name` (`"js"` becomes `js@<short hostname>`), listening
   * and registered with EPMD.
   */
  static async start(name, options) {
    opts.name(name, 'the node name');
    options = opts.optionsObject(options, 'Node.start options', 'start');
    const signal = opts.signal(options);
    const node = new Node(internal, opts.decodeFlags(options));
    node.#setupTimeout = options.setupTimeout ?? DEFAULT_SETUP_MS;
    const starting = NativeNode.start(text(name), opts.startOptions(options), Node.#waker(node.#link));
    if (signal === undefined) {
      node.#native = await starting;
      return node;
    }
    if (signal.aborted) {
      // Starting cannot be undone halfway: close the node once it is up.
      starting.then((native) => node.#abandonStart(native), () => {});
      throw opts.abortReason(signal);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        starting.then((native) => node.#abandonStart(native), () => {});
        reject(opts.abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      starting.then(
        (native) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) return;
          node.#native = native;
          resolve(node);
        },
        (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  /** A node whose start was aborted: closed as soon as it is up. */
  #abandonStart(native) {
    this.#native = native;
    this.close().catch(() => {});
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
  async ping(peer, options) {
    opts.name(peer, 'the peer');
    const signal = opts.signal(opts.optionsObject(options, 'ping options', 'wait'));
    // The core answers pang on a closed node; here that is an error like
    // for every other request.
    if (this.#closed) throw makeError('ECLOSED', 'closed');
    return this.#request(true, (id) => this.#native.ping(id, peer), undefined, signal);
  }

  /**
   * Connects to `peer` now (sending connects by itself). `{ port, host }`
   * connects to a known address without asking EPMD, resolving the host at
   * each connect (see index.d.ts).
   */
  async connect(peer, options) {
    opts.name(peer, 'the peer');
    options = opts.optionsObject(options, 'connect options', 'connect');
    const { host, port } = options;
    const signal = opts.signal(options);
    if (host !== undefined && typeof host !== 'string') throw new TypeError('host must be a string');
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) {
      throw new TypeError('port must be a TCP port number');
    }
    await this.#request(true, (id) => this.#native.connect(id, peer, host, port), undefined, signal);
    return true;
  }

  /** Calls `module:fun(...args)` on `peer` (like `erpc:call`) and resolves with its value; `args` defaults to `[]`. */
  async rpc(peer, module, fun, args = [], options) {
    opts.name(peer, 'the peer');
    opts.name(module, 'the module');
    opts.name(fun, 'the function');
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    options = opts.optionsObject(options, 'rpc options', 'request');
    const timeout = opts.timeout(options, DEFAULT_TIMEOUT);
    const flags = opts.decodeFlags(options, this.#decode);
    const signal = opts.signal(options);
    const what = () => `rpc ${text(module)}:${text(fun)}/${args.length} on ${text(peer)}`;
    const stop = backstop(timeout, this.#setupTimeout, what);
    const call = (id) => this.#native.rpc(id, peer, module, fun, args, timeout, flags, signal !== undefined || stop !== undefined);
    const decode = (bytes) => etf.decodeValue(bytes, flags);
    return this.#request(Number.isFinite(timeout), call, decode, signal, undefined, stop);
  }

  /** `gen_server:call(dest, request, timeout)`. */
  async call(dest, request, options) {
    options = opts.optionsObject(options, 'call options', 'request');
    const timeout = opts.timeout(options, DEFAULT_TIMEOUT);
    const flags = opts.decodeFlags(options, this.#decode);
    const signal = opts.signal(options);
    const what = () => `gen_server call to ${util.inspect(dest, { breakLength: Infinity })}`;
    const stop = backstop(timeout, this.#setupTimeout, what);
    const call = (id) => this.#native.call(id, dest, request, timeout, flags, signal !== undefined || stop !== undefined);
    const decode = (bytes) => etf.decodeValue(bytes, flags);
    return this.#request(Number.isFinite(timeout), call, decode, signal, undefined, stop);
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

  /**
   * Serves `name`: `gen_server:call`s run `handler(request, from)` and are answered with its
   * value (or its Promise's); casts and plain messages run it with `from` null. One request
   * at a time unless `{ concurrency }`. Returns the Served handle (`pid`, `name`, `close()`).
   */
  serve(name, handler, options) {
    this.#checkOpen();
    return this.#serving.serve(name, handler, options);
  }

  /** Makes `rpc:call`/`erpc:call` of `module` run `handler(fun, args)`; returns the Exposed handle. */
  expose(module, handler, options) {
    this.#checkOpen();
    return this.#serving.expose(module, handler, options);
  }

  /** Stops serving `name`; false when it was not served. */
  unserve(name) {
    return this.#serving.unserve(name);
  }

  /** Stops exposing `module`; false when it was not exposed. */
  unexpose(module) {
    return this.#serving.unexpose(module);
  }

  /** Answers the call that came with `from` (`{Pid, Tag}`) with `value`, as `gen:reply/2`. */
  reply(from, value) {
    this.#native.reply(from, value);
    this.#staged();
  }

  /** `global:register_name(name, pid)` for a mailbox of this node: true, or false when taken. */
  async registerGlobal(name, box) {
    const pid = box instanceof Mailbox ? box.pid : box;
    return this.#request(true, (id) => this.#native.registerGlobal(id, name, pid), decodePlain);
  }

  /** `global:whereis_name(name)`: the Pid, or null. */
  async whereisGlobal(name) {
    return this.#request(true, (id) => this.#native.whereisGlobal(id, name), decodePlain);
  }

  /** `global:unregister_name(name)`. */
  async unregisterGlobal(name) {
    await this.#request(true, (id) => this.#native.unregisterGlobal(id, name));
  }

  /** `pg:get_members(scope, group)`: the pids in `group`, ours and the peers'. */
  async members(group, options) {
    options = opts.optionsObject(options, 'members options', 'members');
    const flags = opts.decodeFlags(options, this.#decode);
    const signal = opts.signal(options);
    const scope = scopeOf(options);
    const call = (id) => this.#native.members(id, group, scope);
    return this.#request(true, call, (bytes) => etf.decodeValue(bytes, flags), signal);
  }

  /** A new mailbox, registered as `name` when one is given. */
  mailbox(name, options) {
    if (name !== undefined && name !== null) opts.name(name, 'the mailbox name');
    options = opts.optionsObject(options, 'mailbox options', 'mailbox');
    const decode = opts.decodeFlags(options, this.#decode);
    this.#checkOpen();
    const mailbox = new Mailbox(internal, this.#native.mailbox(name ?? undefined), decode, {
      request: (held, call, decode, signal, late) => this.#request(held, call, decode, signal, late),
      staged: () => this.#staged(),
      forget: (box) => this.#mailboxes.delete(box),
      hold: (delta) => this.#hold(delta),
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
        this.#serving.clear();
        // Every request of the node has settled before its close did.
        this.#link.strong = undefined;
      });
      this.#updateRef();
    }
    return this.#closing;
  }

  /**
   * `decode` turns the ETF bytes of an answer into its value. With `signal`,
   * aborting rejects at once; the answer that comes later goes to `late`, if
   * given (`late.aborted()` then, `late.settled(error, value)` when it comes),
   * else nowhere. With `backstop` (`{ after, what }`), a request the addon
   * has not settled `after` ms from now fails as timed out (see `backstop`).
   */
  #request(held, call, decode, signal, late, backstop) {
    if (signal?.aborted) return Promise.reject(opts.abortReason(signal));
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    return new Promise((resolve, reject) => {
      // The answer always comes later, through the thread-safe function, so
      // the request can be recorded after the call; a call that throws
      // records nothing and rejects.
      call(id);
      this.#staged();
      const request = { resolve, reject, held, decode, done: undefined, backstop: undefined };
      this.#requests.set(id, request);
      if (held) this.#hold(1);
      if (backstop) {
        request.backstop = setTimeout(() => {
          const error = makeError('ETIMEDOUT', `timeout: ${backstop.what()}: no answer within ${backstop.timeout} ms`);
          // Still waiting for its lane, it is never sent; sent, it is abandoned (as on a timeout).
          this.#native.abort(id);
          this.#settleOne(id, error, undefined);
        }, backstop.after);
        // The request holds the process, as `held` says; the timer does not add to it.
        request.backstop.unref();
      }
      if (signal) {
        const onAbort = () => {
          clearTimeout(request.backstop);
          if (request.held) this.#hold(-1);
          request.held = false;
          request.done = undefined;
          request.resolve = () => {};
          request.reject = () => {};
          request.decode = undefined;
          request.late = late;
          late?.aborted();
          // Stopped where it runs, when the addon can; a receive still
          // settles (with the message that came first, if one did).
          this.#native.abort(id);
          if (!late) this.#requests.delete(id);
          reject(opts.abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        request.done = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  /** Calls were staged for the addon's threads: flush them when this turn's code is done. */
  #staged() {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Throws ECLOSED once `close()` was called: the addon closes the node on a thread of its own,
   * so until that is done it would still take a new name or mailbox.
   */
  #checkOpen() {
    if (this.#closed) throw makeError('ECLOSED', 'closed');
  }

  #settleOne(id, error, value) {
    const request = this.#requests.get(id);
    if (!request) return;
    this.#requests.delete(id);
    if (request.held) this.#hold(-1);
    clearTimeout(request.backstop);
    request.done?.();
    if (request.late) {
      request.late.settled(error, value);
    } else if (error) {
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
  /** `close` holds the process until the receives it ends have settled (see `close`). */
  #closeHeld = false;
  /**
   * Aborted receives whose answer has not come yet: each may have taken a message the
   * addon's queue no longer holds, which must reach the stash before a later one is taken.
   */
  #owed = 0;
  /** Messages taken without waiting since the last receive that went through the event loop. */
  #inARow = 0;
  /**
   * The ETF of messages that came for receives already aborted, oldest first: they are the
   * mailbox's next messages. (While such a receive waits in the addon, the addon's queue is
   * empty: a message goes to a waiting receive first.)
   */
  #stash = [];
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

  /** Messages and signals waiting to be received, like `process_info(Pid, message_queue_len)`. */
  get queueLength() {
    return this.#native.queueLength + this.#stash.length;
  }

  /** The queue limit (see README's Limits), or null for none. */
  get queueLimit() {
    return this.#native.queueLimit;
  }

  set queueLimit(limit) {
    this.#native.setQueueLimit(opts.queueLimit(limit, 'queueLimit'));
  }

  /** Messages dropped because the queue was at its limit. */
  get dropped() {
    return this.#native.dropped;
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
    options = opts.optionsObject(options, 'receive options', 'receive');
    const timeout = opts.timeout(options, Infinity);
    const flags = opts.decodeFlags(options, this.#decode);
    const signal = opts.signal(options);
    if (signal?.aborted) throw opts.abortReason(signal);
    if (this.#stash.length > 0) return etf.decodeMessage(this.#stash.shift(), flags);
    // A queued message is taken at once, but now and then a receive waits
    // its turn in the event loop, so that a flood of messages does not
    // hold up timers and I/O.
    if (this.#waiting === 0 && this.#owed === 0 && this.#inARow < BATCH) {
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
    const call = (id) => this.#native.receive(id, timeout, flags, signal !== undefined);
    // A message for this receive comes after any that aborted receives left.
    const next = (bytes) => {
      if (this.#stash.length === 0) return bytes;
      this.#stash.push(bytes);
      return this.#stash.shift();
    };
    const late = {
      aborted: () => {
        this.#owed++;
      },
      settled: (error, bytes) => {
        this.#owed--;
        if (!error && bytes) this.#stash.push(bytes);
      },
    };
    this.#waiting++;
    let message;
    try {
      message = await this.#ops.request(held, call, (bytes) => etf.decodeMessage(next(bytes), flags), signal, late);
    } finally {
      this.#waiting--;
      if (this.#waiting === 0 && this.#closeHeld) {
        this.#closeHeld = false;
        this.#ops.hold(-1);
      }
    }
    if (message === null && this.#stash.length > 0) return etf.decodeMessage(this.#stash.shift(), flags);
    return message;
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
  async link(pid, options) {
    const signal = opts.signal(opts.optionsObject(options, 'link options', 'wait'));
    await this.#ops.request(true, (id) => this.#native.link(id, pid), undefined, signal);
  }

  async unlink(pid, options) {
    const signal = opts.signal(opts.optionsObject(options, 'unlink options', 'wait'));
    await this.#ops.request(true, (id) => this.#native.unlink(id, pid), undefined, signal);
  }

  /**
   * Monitors a process (a Pid or `[name, node]`) and resolves with the
   * monitor's Ref; a `down` message with that `ref` arrives when it ends.
   * Given a node name, monitors the node: a `node_down` message arrives
   * when the connection to it is lost.
   */
  async monitor(target, options) {
    const signal = opts.signal(opts.optionsObject(options, 'monitor options', 'wait'));
    return this.#ops.request(true, (id) => this.#native.monitor(id, target), undefined, signal);
  }

  /** Removes a monitor (its Ref), or a node monitor (the node's name). */
  async demonitor(target, options) {
    const signal = opts.signal(opts.optionsObject(options, 'demonitor options', 'wait'));
    await this.#ops.request(true, (id) => this.#native.demonitor(id, target), undefined, signal);
  }

  /** Answers the call that came with `from` (`{Pid, Tag}`) with `value`, as `gen:reply/2`. */
  reply(from, value) {
    this.#native.reply(from, value);
    this.#ops.staged();
  }

  /** `pg:join(scope, group, pid)`: joins `group` of `{ scope }` (default `pg`). */
  async join(group, options) {
    options = opts.optionsObject(options, 'join options', 'scope');
    const scope = scopeOf(options);
    await this.#ops.request(true, (id) => this.#native.join(id, group, scope), undefined, opts.signal(options));
  }

  /** `pg:leave(scope, group, pid)`: false when the mailbox was not in the group. */
  async leave(group, options) {
    options = opts.optionsObject(options, 'leave options', 'scope');
    const scope = scopeOf(options);
    const call = (id) => this.#native.leave(id, group, scope);
    return this.#ops.request(true, call, decodePlain, opts.signal(options));
  }

  /** `net_kernel:monitor_nodes(true)`: a `node_up` or `node_down` message for each peer that comes or goes. */
  monitorNodes() {
    this.#native.monitorNodes();
  }

  /** Undoes one `monitorNodes()`. */
  demonitorNodes() {
    this.#native.demonitorNodes();
  }

  /**
   * Closes the mailbox: linked processes get an exit signal with `reason`
   * (default `normal`), monitoring ones a `DOWN`; a pending receive
   * rejects, and `for await` over the mailbox ends. That happens after what
   * the mailbox sent, replied, linked or monitored before has gone out, as
   * a process's exit comes after its messages; at once the name is free and
   * later calls fail (a later receive once nothing is queued).
   */
  close(reason = Symbol.for('normal')) {
    this.#native.close(reason);
    this.#ops.forget(this);
    // The receives it ends settle later, through the addon: until they have, the process stays,
    // so that what follows a `for await` over the mailbox runs even on an unref()ed node.
    if (this.#waiting > 0 && !this.#closeHeld) {
      this.#closeHeld = true;
      this.#ops.hold(1);
    }
  }
}

/** An answer that holds no binaries, maps or floats: a boolean, a Pid, `nil`. */
function decodePlain(bytes) {
  return etf.decodeValue(bytes, 0);
}

/** The `scope` option: an atom (string or symbol); undefined is `pg`. */
function scopeOf(options) {
  if (options.scope !== undefined) opts.name(options.scope, 'the scope');
  return options.scope;
}

module.exports = { Node, Mailbox };
