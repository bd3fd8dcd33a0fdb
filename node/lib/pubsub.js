'use strict';
// erldp.PubSub: this node as one node of a Phoenix.PubSub running its default adapter, so that
// a mailbox receives what `Phoenix.PubSub.broadcast/3` sends on any node of the cluster and
// what we broadcast reaches Elixir's subscribers.
//
// It does on the wire what phoenix_pubsub v2.1.3 does (lib/phoenix/pubsub/pg2.ex,
// lib/phoenix/pubsub/supervisor.ex, lib/phoenix/pubsub.ex): in the pg scope
// 'Elixir.Phoenix.PubSub', a PubSub named `Name` has `pool_size` groups — the adapter name
// `Module.concat(Name, "Adapter")`, then `<adapter>_2` ... `<adapter>_N` — and each node runs one
// worker per group, registered locally under the group's name and joined to it. A broadcast
// sends `{forward_to_local, Topic, Message, Dispatcher}` to the members of one group on the
// other nodes (a direct broadcast to `{Group, Node}`), and each worker delivers `Message`
// unchanged to its node's subscribers of `Topic`. Here the workers are mailboxes and the
// subscribers mailboxes (or any local pid); subscriptions live in this object, as Registry
// holds them in Elixir.

const { Tuple, tuple } = require('./terms');
const elixir = require('./elixir');
const opts = require('./options');

/** The pg scope Phoenix.PubSub's supervisor starts (its application's pg scope). */
const SCOPE = Symbol.for('Elixir.Phoenix.PubSub');
/** Phoenix.PubSub's default dispatcher, which the adapter forwards with each message. */
const DISPATCHER = Symbol.for('Elixir.Phoenix.PubSub');
const FORWARD = Symbol.for('forward_to_local');

function moduleText(name) {
  const text = typeof name === 'symbol' ? Symbol.keyFor(name) : name;
  return text.startsWith('Elixir.') ? text : Symbol.keyFor(elixir.module(text));
}

function topicOf(topic) {
  if (typeof topic !== 'string') throw new TypeError('a Phoenix.PubSub topic is a string');
  return topic;
}

class PubSub {
  #node;
  #groups;
  #workers = [];
  /** topic -> Set of subscriber pids (their string forms, to compare) with the Pid. */
  #topics = new Map();
  #closed = false;

  /**
   * Joins the Phoenix.PubSub named `name` (`"MyApp.PubSub"`, as Elixir names it in
   * `{Phoenix.PubSub, name: MyApp.PubSub}`) with `{ poolSize }` as the Elixir side's
   * `pool_size` (1 by default; it must be the same on every node).
   */
  static async start(node, name, options) {
    opts.name(name, 'the PubSub name');
    options = opts.optionsObject(options, 'PubSub options', 'pubsub');
    const poolSize = options.poolSize ?? 1;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1024) {
      throw new TypeError('option poolSize must be a whole number from 1 to 1024');
    }
    const pubsub = new PubSub(node, moduleText(name), poolSize);
    try {
      await pubsub.#start();
    } catch (err) {
      pubsub.close();
      throw err;
    }
    return pubsub;
  }

  constructor(node, name, poolSize) {
    this.#node = node;
    const adapter = `${name}.Adapter`;
    this.#groups = [adapter];
    for (let n = 2; n <= poolSize; n++) this.#groups.push(`${adapter}_${n}`);
  }

  /** The pool's groups, as atoms: the adapter's name first. */
  get groups() {
    return this.#groups.map((group) => Symbol.for(group));
  }

  async #start() {
    for (const group of this.#groups) {
      const worker = this.#node.mailbox(group);
      this.#workers.push(worker);
      await worker.join(Symbol.for(group), { scope: SCOPE });
      this.#serve(worker).catch((err) => process.emitWarning(`erldp.PubSub: worker ${group} stopped: ${err}`));
    }
  }

  /** A worker's loop: each forwarded message goes to this node's subscribers of its topic. */
  async #serve(worker) {
    for await (const message of worker) {
      const term = message.term;
      if (message.kind !== 'message' || !(term instanceof Tuple) || term.length !== 4) continue;
      if (term[0] !== FORWARD || typeof term[1] !== 'string') continue;
      this.#deliver(worker, term[1], term[2]);
    }
  }

  #deliver(from, topic, message) {
    const subscribers = this.#topics.get(topic);
    if (!subscribers) return;
    for (const pid of subscribers.values()) from.send(pid, message);
  }

  /** Subscribes `box` (a mailbox, or a pid of this node) to `topic`: it receives each message broadcast on it. */
  subscribe(box, topic) {
    const pid = box.pid ?? box;
    let subscribers = this.#topics.get(topicOf(topic));
    if (!subscribers) this.#topics.set(topic, (subscribers = new Map()));
    subscribers.set(String(pid), pid);
  }

  /** Undoes `subscribe`; false when `box` was not subscribed to `topic`. */
  unsubscribe(box, topic) {
    const pid = box.pid ?? box;
    const subscribers = this.#topics.get(topicOf(topic));
    const removed = subscribers?.delete(String(pid)) ?? false;
    if (subscribers?.size === 0) this.#topics.delete(topic);
    return removed;
  }

  /**
   * `Phoenix.PubSub.broadcast/3`: `message` to every subscriber of `topic` on every node, ours
   * included. Resolves once it is sent.
   */
  async broadcast(topic, message) {
    topicOf(topic);
    if (this.#closed) throw new TypeError('the PubSub is closed');
    const [worker] = this.#workers;
    const members = await this.#node.members(Symbol.for(this.#groups[0]), { scope: SCOPE });
    const forward = tuple(FORWARD, topic, message, DISPATCHER);
    for (const pid of members) {
      if (pid.node !== this.#node.name) worker.send(pid, forward);
    }
    this.#deliver(worker, topic, message);
  }

  /** `Phoenix.PubSub.direct_broadcast/4`: `message` to the subscribers of `topic` on `node` only. */
  directBroadcast(node, topic, message) {
    opts.name(node, 'the node');
    topicOf(topic);
    const [worker] = this.#workers;
    const atom = typeof node === 'symbol' ? node : Symbol.for(node);
    if (atom === this.#node.name) this.#deliver(worker, topic, message);
    else worker.send([Symbol.for(this.#groups[0]), atom], tuple(FORWARD, topic, message, DISPATCHER));
  }

  /** Leaves the PubSub: the workers close, and with them their memberships. */
  close() {
    this.#closed = true;
    for (const worker of this.#workers.splice(0)) worker.close();
    this.#topics.clear();
  }
}

module.exports = { PubSub };
