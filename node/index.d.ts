/**
 * ErlDP for Node.js: join an Erlang/Elixir cluster as a named node.
 *
 * ```js
 * import erldp from "erldp"; // an ES module; from CommonJS, require("erldp") in an async function
 * const node = await erldp.Node.start("js", { cookie: "secret" });
 * await node.rpc("peer@host", "lists", "sum", [[1, 2, 3]]);   // 6
 * await node.close();
 * ```
 *
 * Nothing blocks the event loop: waiting happens on Rust threads and
 * results come back as Promises.
 *
 * The types need nothing but TypeScript's own library (ES2022): where the
 * package gives a Node.js `Buffer`, the type is {@link Bytes}, which is
 * `Buffer` when `@types/node` is loaded and `Uint8Array` otherwise.
 *
 * @packageDocumentation
 */

/**
 * The type of the Buffers the package gives: Node.js's `Buffer` when its
 * types (`@types/node`) are part of the program, else `Uint8Array`, which
 * `Buffer` extends.
 */
export type Bytes = typeof globalThis extends {
  /** Node.js's `Buffer` constructor, declared by `@types/node`. */
  Buffer: {
    /** What `Buffer.alloc` returns is what a Buffer is. */
    alloc(size: number): infer B;
  };
}
  ? B
  : Uint8Array;

/**
 * What the `signal` options use of an `AbortSignal` (declared here, so that
 * the types need neither the DOM's nor Node.js's). `AbortController`'s
 * signal and `AbortSignal.timeout(ms)` fit.
 */
export interface AbortSignalLike {
  /** Whether the signal was aborted. */
  readonly aborted: boolean;
  /** Why: the rejection a call aborted by the signal gets. */
  readonly reason?: unknown;
  /** Called by the package to learn of the abort. */
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  /** Called by the package once the call is over. */
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Options of the calls that wait only for their answer. */
export interface WaitOptions {
  /**
   * Rejects the call with the signal's reason as soon as it is aborted. An
   * rpc, call or receive is also stopped where it runs (the rpc's remote
   * worker is killed, the receive taken off its mailbox, a message it got
   * first kept for the next receive); other calls run on to their end and
   * their answers are dropped.
   */
  signal?: AbortSignalLike;
}

/**
 * An Erlang term as a JavaScript value.
 *
 * | Erlang | JavaScript |
 * |---|---|
 * | atom | `Symbol.for(name)`; `true`/`false` are booleans, `nil` is `null` (`atoms: "string"`: strings) |
 * | integer | number when safe, else BigInt; an integral number is sent as an integer at any size |
 * | float | number; {@link Float} when its value is integral (`1.0`, `-0.0`), so that it goes back as a float |
 * | binary | string when valid UTF-8, else Buffer (`binaries: "buffer"`: always Buffer) |
 * | list | Array (a charlist is an Array of numbers) |
 * | tuple | {@link Tuple} |
 * | map | Map (`maps: "object"`: a plain object when every key is an atom or a string) |
 * | pid, reference, port | {@link Pid}, {@link Ref}, {@link Port} |
 * | bitstring, improper list, fun | {@link Bitstring}, {@link ImproperList}, {@link Opaque} |
 */
export type Term =
  | symbol
  | boolean
  | null
  | number
  | bigint
  | string
  | Bytes
  | Uint8Array
  | Term[]
  | Tuple
  | Map<Term, Term>
  | { [key: string]: Term }
  | Float
  | Pid
  | Ref
  | Port
  | Bitstring
  | ImproperList
  | Opaque;

/** A name: a string, or an atom (`Symbol.for(name)`). */
export type Name = string | symbol;

/**
 * Where a message goes: a {@link Pid}, a {@link Ref} that is a process alias,
 * or a registered name on a node as `[name, node]`.
 */
export type Dest = Pid | Ref | [name: Name, node: Name] | Tuple | Global;

/** How received terms are decoded where JavaScript has a choice. */
export interface DecodeOptions {
  /** `"string"` (default): binaries are strings when valid UTF-8, else Buffers. `"buffer"`: always Buffers. */
  binaries?: 'string' | 'buffer';
  /** `"map"` (default): maps are Maps. `"object"`: plain objects when every key is an atom or a string. */
  maps?: 'map' | 'object';
  /**
   * `"auto"` (default): a float with an integral value (`1.0`, `-0.0`,
   * `1.0e20`) is a {@link Float}, which goes back as a float where a number
   * would go back as an integer; other floats are numbers. `"float"`: every
   * float is a {@link Float}. `"number"`: every float is a number (`1.0`
   * then goes back as `1`).
   */
  floats?: 'auto' | 'float' | 'number';
  /**
   * `"symbol"` (default): atoms are `Symbol.for(name)`. `"string"`: atoms
   * are strings, so that `JSON.stringify` keeps them (a map whose atom key
   * and binary key would then be the same string is an `EDECODE` error).
   * `true`, `false` and `nil` are `true`, `false` and `null` either way.
   */
  atoms?: 'symbol' | 'string';
}

/** Options of {@link Node.start}; the decode options become the node's defaults. */
export interface StartOptions extends DecodeOptions, WaitOptions {
  /** The cookie; default `$HOME/.erlang.cookie`, created like `erl` does when missing. */
  cookie?: string;
  /** Hidden like a C node (default `true`); `false` appears in the peers' `nodes()`. */
  hidden?: boolean;
  /**
   * `"auto"` (default): use the EPMD on its port, or start one inside this process
   * (with `distPort`, none). `"external"`: require a running EPMD. `"none"`:
   * neither register nor look up (reach peers with `connect`'s `port`, or `distPort`).
   */
  epmd?: 'auto' | 'external' | 'none';
  /** The EPMD port (default `$ERL_EPMD_PORT`, else 4369). */
  epmdPort?: number;
  /**
   * The one port every node of the cluster listens on, as BEAM's
   * `-erl_epmd_port` has it (clusters without EPMD): the node listens on it
   * and reaches each peer at it on the peer's host without asking EPMD
   * (`port` must then be 0 or the same). As BEAM then does, `epmd: "auto"`
   * registers with the EPMD that answers, if one does, and starts none;
   * `"none"` registers nowhere.
   */
  distPort?: number;
  /** The port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Like `-kernel net_ticktime`, in milliseconds (default 60000). */
  netTicktime?: number;
  /** How long connecting may take, in milliseconds (default 7000). */
  setupTimeout?: number;
  /** Long names (`js@host.example.com`); implied by a name with a dotted host. */
  longNames?: boolean;
  /**
   * TLS distribution, as BEAM nodes started with `-proto_dist inet_tls` run it (default:
   * plain TCP). A TLS node never falls back to plain TCP; certificate problems with a peer
   * reject with `ECONNECT` errors that name the cause. Certificate files that cannot serve
   * make `Node.start` reject with `EINVAL`.
   */
  tls?: TlsOptions;
  /**
   * IPv6 distribution, as `-proto_dist inet6_tcp` (`inet6_tls` with `tls`): listen on IPv6
   * and reach peers at the IPv6 addresses of their hosts (default `false`).
   */
  ipv6?: boolean;
  /** The largest message a peer may send, in bytes (default 1 GiB); a larger one ends its connection. */
  maxMessageSize?: number;
  /** How many peers may be in their handshake with us at once (default 64); more are closed at once. */
  maxPendingHandshakes?: number;
  /** How many links and monitors one peer may hold on our mailboxes (default 65536); past it it is disconnected. */
  maxMonitorsPerPeer?: number;
  /** How long a send may wait while a peer leaves `sendQueueLimit` unread, in milliseconds (default 60000); then it throws `ETIMEDOUT`. */
  sendTimeout?: number;
  /**
   * How many bytes one connection may hold that the peer has not taken before sends wait
   * (default 16 MiB). The signals the node owes a peer (answers to its links, unlinks and
   * monitors; exits and `DOWN`s of our mailboxes) never wait: as much again of them ends that
   * peer's connection.
   */
  sendQueueLimit?: number;
  /** The queue limit every new mailbox starts with (see {@link Mailbox.queueLimit}); default `null`, none. */
  mailboxQueueLimit?: number | null;
}

/**
 * The `tls` option of {@link Node.start}: our certificate, its key and the CAs we trust, or
 * instead `optfile`, the file BEAM's `-ssl_dist_optfile` reads (with every option it has).
 */
export interface TlsOptions {
  /** Our certificate (PEM file), presented in both roles; needed unless `optfile` is given. */
  certfile?: string;
  /** Its private key (PEM file); default: read from `certfile`. */
  keyfile?: string;
  /** The CAs (PEM file) a peer's certificate must chain to; needed with `verify_peer`. */
  cacertfile?: string;
  /**
   * `"verify_peer"` (default): a peer's certificate must chain to `cacertfile`; we check that
   * a server's names the host part of its node name, and require one from clients.
   * `"verify_none"`: any certificate is taken (encrypted, not authenticated).
   */
  verify?: 'verify_peer' | 'verify_none';
  /** The file BEAM's `-ssl_dist_optfile` reads, instead of the options above. */
  optfile?: string;
}

/** Options of calls that wait for an answer. */
export interface CallOptions extends DecodeOptions, WaitOptions {
  /**
   * How long to wait for the answer once the request is sent, in
   * milliseconds (default 5000); `Infinity` waits as long as it takes.
   * Connecting first, when the peer is not connected yet, is bounded by the
   * node's `setupTimeout`. A request that waits behind sends to a peer that
   * reads nothing (each up to `sendTimeout`) fails all the same, at most
   * `setupTimeout` and a second after its timeout.
   */
  timeout?: number;
}

/** Options of {@link Mailbox.receive}. */
export interface ReceiveOptions extends DecodeOptions, WaitOptions {
  /** Milliseconds; the default waits as long as it takes. */
  timeout?: number;
}

/** What a mailbox receives: a message or a signal. */
export interface Message<T = Term> {
  /**
   * `message`, or the signal: `exit` (a linked process ended), `down` (a monitored one did),
   * `node_down`, and `node_up` ({@link Mailbox.monitorNodes}).
   */
  kind: 'message' | 'exit' | 'down' | 'node_down' | 'node_up';
  /**
   * The term as an Erlang process trapping exits would receive it: the
   * message, `{'EXIT', From, Reason}`, `{'DOWN', Ref, process, Who, Reason}` or
   * `{nodedown, Node}` / `{nodeup, Node}`.
   */
  term: T;
  /** The sender, when known. */
  from: Pid | undefined;
  /** The reason of an `exit` or `down` (`noconnection` when the connection was lost). */
  reason: Term | undefined;
  /** The monitor of a `down`. */
  ref: Ref | undefined;
  /** The node of a `node_down` or `node_up`. */
  node?: symbol;
}

/**
 * A node of the cluster inside this process. An open node keeps the process
 * alive like a listening server; {@link Node.unref} and {@link Node.close}
 * let it exit.
 */
export class Node {
  private constructor();

  /**
   * Starts a node: listens, registers `name` with EPMD, and is ready to
   * connect and be connected to. `"js"` becomes `js@<short hostname>`.
   */
  static start(name: Name, options?: StartOptions): Promise<Node>;

  /** The full node name, `name@host`. */
  readonly name: symbol;
  /** The port the node listens on. */
  readonly port: number;
  /** Whether the node is hidden (the default): not listed in the peers' `nodes()`. */
  readonly hidden: boolean;
  /** The pid that {@link Node.send}, {@link Node.rpc} and {@link Node.call} come from. */
  readonly pid: Pid;
  /** Whether {@link Node.close} was called. */
  readonly closed: boolean;

  /** The connected peers. */
  nodes(): symbol[];

  /** Like `net_adm:ping/1`. */
  ping(peer: Name, options?: WaitOptions): Promise<'pong' | 'pang'>;

  /**
   * Connects to `peer` now (sending connects by itself; this surfaces
   * connection errors early). With `port`, connects to `host:port` (default
   * host: the one in the peer's name) without asking EPMD. The host is
   * resolved for the node's address family within its `setupTimeout`, anew
   * for each reconnect (`ENOTFOUND` when it has no address, `ETIMEDOUT` when
   * the resolver does not answer), and remembered for `peer` even when this
   * connect fails: later connects and sends go there, not through EPMD,
   * until another `connect` names another.
   */
  connect(peer: Name, options?: { host?: string; port?: number } & WaitOptions): Promise<true>;

  /**
   * Calls `module:fun(...args)` on `peer` like `erpc:call` and resolves with
   * its value. Rejects with an {@link RpcError} whose `reason` is
   * `Tuple[class, reason, stacktrace]` when it raised.
   */
  rpc<T = Term>(peer: Name, module: Name, fun: Name, args?: Term[], options?: CallOptions): Promise<T>;

  /** `gen_server:call(dest, request, timeout)`; resolves with the reply. */
  call<T = Term>(dest: Dest, request: Term, options?: CallOptions): Promise<T>;

  /** `gen_server:cast(dest, request)`. */
  cast(dest: Dest, request: Term): void;

  /** Sends from the node's own pid, like `!`. */
  send(dest: Dest, message: Term): void;

  /** A new mailbox, registered as `name` when given; its decode options default to the node's. */
  mailbox(name?: Name | null, options?: DecodeOptions): Mailbox;

  /**
   * Serves `name`: BEAM's `gen_server:call({name, node}, request)` runs `handler(request, from)`
   * on the event loop and is answered with its value (or its Promise's); casts and plain
   * messages run it with `from` null. Requests run one at a time in arrival order (a Promise
   * settles before the next starts) unless `concurrency` allows more. Return {@link NOREPLY}
   * to answer later with {@link Node.reply}. A throw reaches the caller at once as
   * `{Class, Message}` (e.g. `{'TypeError', <<"...">>}`). Returns at once.
   */
  serve<R extends Term = Term>(
    name: Name,
    handler: (request: R, from: Term | null) => Term | void | typeof NOREPLY | PromiseLike<Term | void | typeof NOREPLY>,
    options?: ServeOptions,
  ): Served;

  /**
   * Makes `rpc:call(node, module, fun, args)` and `erpc:call` run `handler(fun, args)`; its
   * value (or its Promise's) is the result. Calls may overlap (`concurrency` bounds them, 64
   * by default); a throw comes back as `error:{exception, {Class, Message}, Stack}`.
   * Modules not exposed are `undef`, as on BEAM, and so is a function the handler lacks when
   * it throws {@link Undef}. Returns at once. `fun` is a symbol, or a
   * string when atoms are decoded as strings (`atoms: 'string'`, of the node or these options).
   */
  expose<A extends Term[] = Term[]>(
    module: Name,
    handler: (fun: symbol | string, args: A) => Term | void | PromiseLike<Term | void>,
    options?: ServeOptions,
  ): Exposed;

  /** Stops serving `name`; false when it was not served. */
  unserve(name: Name): boolean;

  /** Stops exposing `module`; false when it was not exposed. */
  unexpose(module: Name): boolean;

  /** Answers the call that came with `from` (the handler's `{Pid, Tag}`) with `value`, as `gen:reply/2`. */
  reply(from: Term, value: Term): void;

  /**
   * `global:register_name(name, pid)` for a mailbox (or a pid) of this node: true, or false
   * when the name is taken. Needs a visible node (`hidden: false`).
   */
  registerGlobal(name: Name | Term, box: Mailbox | Pid): Promise<boolean>;

  /** `global:whereis_name(name)`: the pid, or null. */
  whereisGlobal(name: Name | Term): Promise<Pid | null>;

  /** `global:unregister_name(name)`. */
  unregisterGlobal(name: Name | Term): Promise<void>;

  /**
   * `pg:get_members(scope, group)` (scope `pg` unless given): ours and the peers'. The first
   * use of a scope on this node starts it, and the peers' members arrive as they answer: that
   * first call may lack them (call it once at start when that matters).
   */
  members(group: Term, options?: ScopeOptions & DecodeOptions): Promise<Pid[]>;

  /**
   * Lets the process exit while the node is open; requests with a finite timeout still hold it
   * (one with `timeout: Infinity` waits like a listener, as a `receive` without one does).
   * Returns the node.
   */
  unref(): this;

  /** Undoes {@link Node.unref}. */
  ref(): this;

  /**
   * Unregisters from EPMD, closes every connection and mailbox, and
   * rejects pending requests with a {@link ClosedError}.
   */
  close(): Promise<void>;
}

/**
 * A process of this node: Erlang code can send to it, link to it and
 * monitor it. `for await (const message of mailbox)` reads messages until
 * the mailbox closes.
 */
export class Mailbox implements AsyncIterable<Message> {
  private constructor();

  /** The mailbox's pid: where Erlang code sends to reach it. */
  readonly pid: Pid;
  /** The registered name, if any. */
  readonly name: symbol | undefined;
  /** Whether the mailbox is closed. */
  readonly closed: boolean;
  /** Messages and signals waiting to be received, like `process_info(Pid, message_queue_len)`. */
  readonly queueLength: number;
  /**
   * The queue limit: while `queueLength` is at it, a further message is dropped (as one to a
   * process that no longer exists) and counted in {@link Mailbox.dropped}; exit, down and
   * nodedown signals are always queued, but for exits sent with `exit/2`, which count as
   * messages. `null` (the default unless `mailboxQueueLimit` gave
   * one) queues everything, as BEAM does. Lowering it drops nothing already queued.
   */
  queueLimit: number | null;
  /** How many messages were dropped because the queue was at its limit. */
  readonly dropped: number;

  /**
   * Sends `message` to `dest` like `!`: it throws for a bad message, and a
   * message to a node that cannot be reached is dropped.
   */
  send(dest: Dest, message: Term): void;

  /**
   * The next message or signal; `null` once `timeout` ms pass. Rejects with
   * a {@link ClosedError} when the mailbox is closed and empty.
   */
  receive<T = Term>(options?: ReceiveOptions): Promise<Message<T> | null>;

  /** Each message in turn, waiting as long as it takes; ends when the mailbox closes. */
  [Symbol.asyncIterator](): AsyncIterator<Message>;

  /** Links to `pid`: when either side ends, the other gets an exit signal. */
  link(pid: Pid, options?: WaitOptions): Promise<void>;

  /** Removes the link to `pid`; its exit signals no longer arrive. */
  unlink(pid: Pid, options?: WaitOptions): Promise<void>;

  /**
   * Monitors a process and resolves with the monitor's {@link Ref}; a `down`
   * message with that `ref` arrives when it ends (at once, with reason
   * `noproc`, if it does not exist). Given a node name, monitors the node: a
   * `node_down` message arrives when the connection is lost.
   */
  monitor(target: Pid | [name: Name, node: Name] | Tuple | Global, options?: WaitOptions): Promise<Ref>;
  monitor(node: Name, options?: WaitOptions): Promise<void>;

  /** Removes a monitor (by its Ref) or a node monitor (by the node's name). */
  demonitor(target: Ref | Name, options?: WaitOptions): Promise<void>;

  /**
   * Answers the call that came with `from` (`{Pid, Tag}`) with `value`, as `gen:reply/2`, in
   * order with what the mailbox sent; `ECLOSED` once the mailbox is closed.
   */
  reply(from: Term, value: Term): void;

  /** `pg:join(scope, group, pid)` (scope `pg` unless given). */
  join(group: Term, options?: ScopeOptions): Promise<void>;

  /** `pg:leave(scope, group, pid)`: false when the mailbox was not in the group. */
  leave(group: Term, options?: ScopeOptions): Promise<boolean>;

  /**
   * `net_kernel:monitor_nodes(true)`: a message of kind `node_up` or `node_down` (term
   * `{nodeup, Node}` / `{nodedown, Node}`) for every peer that connects or goes.
   */
  monitorNodes(): void;

  /** Undoes one {@link Mailbox.monitorNodes}. */
  demonitorNodes(): void;

  /**
   * Closes the mailbox: linked processes get an exit signal with `reason`
   * (default `normal`), monitoring ones a `DOWN`, after what the mailbox
   * sent, replied, linked or monitored before (as a process's exit comes
   * after its messages). At once it reads `closed`, its registered name is
   * free, later calls throw or reject with `ECLOSED`, and a later `receive`
   * rejects once the messages it holds are taken; a `receive` already
   * waiting settles when those calls have run (with a message that came
   * meanwhile, or `ECLOSED`).
   */
  close(reason?: Term): void;
}

/** Options of {@link Node.serve} and {@link Node.expose}; decode options apply to requests. */
export interface ServeOptions extends DecodeOptions {
  /** How many requests run at once: 1 for a served name, 64 for an exposed module. */
  concurrency?: number;
  /** How many may wait beyond those (65536); past it a request is refused with `{overload, Text}`. */
  maxQueue?: number;
}

/** The pg scope of a group operation: an atom, `pg` by default. */
export interface ScopeOptions extends WaitOptions {
  /** The scope: an atom (a string is the atom), `pg` by default. */
  scope?: Name;
}

/** What a serve handler returns to answer later, with {@link Node.reply}. */
export const NOREPLY: unique symbol;

/**
 * Thrown by an expose handler for a function it does not have (or an arity it does not take):
 * the caller gets what BEAM gives for a call to a function that does not exist, `undef` with the
 * call as its stack (`{badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}}` from `rpc:call`,
 * `error:{exception, undef, [...]}` from `erpc`). Any error whose `name` is `undef` counts.
 */
export class Undef extends Error {
  constructor(message?: string);
}

/** A served name ({@link Node.serve}). */
export class Served {
  private constructor();
  /** The served process's pid: BEAM may link to it and monitor it. */
  readonly pid: Pid;
  /** The served name. */
  readonly name: symbol;
  /** Stops serving: monitors get `DOWN` and links the exit signal, reason `normal`. */
  close(): void;
}

/** An exposed module ({@link Node.expose}). */
export class Exposed {
  private constructor();
  /** The exposed module. */
  readonly module: symbol;
  /** Stops exposing it: the module is `undef` again. */
  close(): void;
}

/** A name registered with `global`, as a destination: send, call, cast and monitor resolve it. */
export class Global {
  private constructor();
  /** The global name, as given (a string is the atom). */
  readonly name: Name;
}

/** The destination of the process registered globally as `name` (a string is the atom). */
export function global(name: Name): Global;

/**
 * This node as one node of a Phoenix.PubSub running its default (pg) adapter, as
 * phoenix_pubsub 2.1 does on the wire: subscribed mailboxes receive what
 * `Phoenix.PubSub.broadcast/3` sends on any node, unchanged, and {@link PubSub.broadcast}
 * reaches Elixir's subscribers.
 */
export class PubSub {
  private constructor();
  /**
   * Joins the PubSub named `name` as Elixir names it (`"MyApp.PubSub"`); `poolSize` must be
   * the Elixir side's `pool_size` (1 by default).
   */
  static start(node: Node, name: Name, options?: { poolSize?: number }): Promise<PubSub>;
  /** The pool's pg groups in the scope `Elixir.Phoenix.PubSub`, the adapter's name first. */
  readonly groups: symbol[];
  /** `box` (or a pid of this node) receives each message broadcast on `topic`. */
  subscribe(box: Mailbox | Pid, topic: string): void;
  /** Undoes {@link PubSub.subscribe}; false when it was not subscribed. */
  unsubscribe(box: Mailbox | Pid, topic: string): boolean;
  /** `Phoenix.PubSub.broadcast/3`: to every subscriber of `topic` on every node, ours included. */
  broadcast(topic: string, message: Term): Promise<void>;
  /** `Phoenix.PubSub.direct_broadcast/4`: to the subscribers of `topic` on `node` only. */
  directBroadcast(node: Name, topic: string, message: Term): void;
  /** Leaves the PubSub: its workers close and leave their groups. */
  close(): void;
}

/**
 * An Erlang tuple: an Array, so it indexes and destructures like one. Make
 * one with {@link tuple}; a plain array is sent as a list, and the type
 * says so: `const t: Tuple = [Symbol.for("ok"), 1]` does not type-check.
 */
export class Tuple extends Array<Term> {
  /** Tells a Tuple from an array of the same elements. */
  private readonly erldpTuple: true;
}

/** `{...elements}` as a {@link Tuple}. */
export function tuple(...elements: Term[]): Tuple;

/** A float that stays a float when sent, even with an integral value. */
export class Float {
  constructor(value: number);
  /** The number. */
  readonly value: number;
  /** The number, so that arithmetic works on a `Float`. */
  valueOf(): number;
  /** The number, for `JSON.stringify`. */
  toJSON(): number;
  /** Erlang syntax, e.g. `1.0`. */
  toString(): string;
}

/** `erldp.float(1)` is sent as `1.0`. */
export function float(value: number): Float;

/** A process identifier. */
export class Pid {
  constructor(node: Name, id: number, serial: number, creation: number);
  /** The node the process lives on. */
  readonly node: symbol;
  /** The process number. */
  readonly id: number;
  /** The serial (wraps of `id`). */
  readonly serial: number;
  /** The incarnation of the node that created the pid. */
  readonly creation: number;
  /** Whether `other` is the same pid. */
  equals(other: unknown): boolean;
  /** `#Pid<'node@host'.Id.Serial.Creation>`. */
  toString(): string;
  /** The text form, as `toString()`: `JSON.stringify` keeps the node. */
  toJSON(): string;
}

/** A reference; also a process alias. */
export class Ref {
  constructor(node: Name, creation: number, ids: number[]);
  /** The node that made the reference. */
  readonly node: symbol;
  /** The incarnation of that node. */
  readonly creation: number;
  /** The id words, as sent on the wire. */
  readonly ids: readonly number[];
  /** Equal as the BEAM compares references (trailing zero ids do not count). */
  equals(other: unknown): boolean;
  /** `#Ref<'node@host'.Id1.Id2.Id3.Creation>`. */
  toString(): string;
  /** The text form, as `toString()`: `JSON.stringify` keeps the node. */
  toJSON(): string;
}

/** A port identifier. */
export class Port {
  constructor(node: Name, id: number | bigint, creation: number);
  /** The node the port lives on. */
  readonly node: symbol;
  /** The port number (a BigInt beyond the safe integers). */
  readonly id: number | bigint;
  /** The incarnation of the node that created the port. */
  readonly creation: number;
  /** Whether `other` is the same port. */
  equals(other: unknown): boolean;
  /** `#Port<'node@host'.Id.Creation>`. */
  toString(): string;
  /** The text form, as `toString()`: `JSON.stringify` keeps the node. */
  toJSON(): string;
}

/** A bitstring: the top `bits` (1 to 7) of the last of `bytes` belong to it. */
export class Bitstring {
  constructor(bytes: Uint8Array, bits: number);
  /** The bytes holding the bits, most significant first. */
  readonly bytes: Bytes;
  /** How many bits of the last byte belong to the bitstring, 1 to 7. */
  readonly bits: number;
  /** The length in bits, as `bit_size/1`. */
  readonly bitSize: number;
  /** Erlang syntax, e.g. `<<1,2:3>>`. */
  toString(): string;
}

/** A list whose tail is not a list: `[...elements | tail]`. */
export class ImproperList {
  constructor(elements: Term[], tail: Term);
  /** The elements before the tail. */
  elements: Term[];
  /** The tail, which is not a list. */
  tail: Term;
}

/** A fun, kept as its external encoding so that it goes back unchanged. */
export class Opaque {
  constructor(bytes: Uint8Array);
  /** The fun's external encoding, tag byte first. */
  readonly bytes: Bytes;
  /** Whether `other` is the same fun (same encoding). */
  equals(other: unknown): boolean;
  /** `fun m:f/1`, or `#Fun<...>` for a closure. */
  toString(): string;
}

/**
 * Elixir's values as JavaScript sees them, and back. Decoded values may be
 * Maps or plain objects, with atoms as symbols or strings (the decode
 * options): the readers take each shape; the builders make plain objects,
 * which encode as atom-keyed maps.
 *
 * ```js
 * const { elixir } = require("erldp");
 * await node.rpc(peer, elixir.module("String"), "upcase", ["hi"]);   // "HI"
 * elixir.struct("MyApp.User", { name: "ann" });   // %MyApp.User{name: "ann"}
 * elixir.keyword({ timeout: 5 });                 // [timeout: 5]
 * elixir.fromCalendar(await node.rpc(peer, elixir.module("DateTime"), "utc_now", []));  // a Date
 * ```
 *
 * Precision: a JavaScript Date holds milliseconds; Elixir's calendar types
 * microseconds, which are cut to milliseconds when read. A Date is sent as a
 * DateTime in UTC (`microsecond` with precision 3); a NaiveDateTime is read
 * as UTC, an Elixir Date as midnight UTC, an Elixir Time as that time on
 * 1970-01-01 UTC. Only the ISO calendar is converted.
 */
export namespace elixir {
  /** The atom for a module named as Elixir code names it: `"MyApp.Api"` is `Symbol.for("Elixir.MyApp.Api")`; other names (`"lists"`) as they are. */
  function module(name: Name): symbol;
  /** The module's name as Elixir writes it: `Symbol.for("Elixir.MyApp.Api")` is `"MyApp.Api"`; `undefined` for a module that is not Elixir's. */
  function alias(module: Name): string | undefined;
  /** `%Module{...fields}`: a plain object with the module's atom under `__struct__`. Elixir code may expect every field of the struct. */
  function struct(module: Name, fields?: { [field: string]: Term }): { [field: string]: Term };
  /** The struct's module as Elixir writes it (`"MyApp.User"`), or `undefined` when `value` is no struct. */
  function structName(value: unknown): string | undefined;
  /** Whether `value` is a struct, of `module` when given. */
  function isStruct(value: unknown, module?: Name): boolean;
  /** A keyword list (`[timeout: 5]`): the pairs, in order, as `{atom, value}` tuples. */
  function keyword(pairs: { [key: string]: Term } | Map<Name, Term> | [Name, Term][]): Tuple[];
  /** Whether `value` is a keyword list: an array of two-element tuples with atom keys. */
  function isKeyword(value: unknown): boolean;
  /** A keyword list as a plain object; for a key given twice the first value counts, as with `Keyword.get/2`. */
  function fromKeyword(list: Term): { [key: string]: Term };
  /** A charlist (Erlang's strings, Elixir's `~c"hi"`): the string's code points. */
  function charlist(text: string): number[];
  /** The string a charlist holds. */
  function fromCharlist(list: number[]): string;
  /** A `%DateTime{}` in UTC for a Date. */
  function dateTime(date: Date): { [field: string]: Term };
  /** A `%NaiveDateTime{}` with the Date's UTC date and clock. */
  function naiveDateTime(date: Date): { [field: string]: Term };
  /** A `%Date{}` with the Date's UTC date. */
  function date(date: Date): { [field: string]: Term };
  /** A `%Time{}` (a time of day) with the Date's UTC clock. */
  function time(date: Date): { [field: string]: Term };
  /** The Date for a DateTime, NaiveDateTime, Date or Time struct; any other value as it is. */
  function fromCalendar(value: Term): Term | Date;
  /** `value` with every calendar struct in it, at any depth, a Date. */
  function toJs(value: Term): unknown;
  /** `value` with every Date in it, at any depth, a `%DateTime{}` in UTC. */
  function fromJs(value: unknown): Term;
}

/** `term_to_binary`: the External Term Format of `value`. Throws an {@link EncodeError}. */
export function encode(value: Term): Bytes;

/** `binary_to_term`. Throws a {@link DecodeError}. */
export function decode(bytes: Uint8Array, options?: DecodeOptions): Term;

/** `value` in Erlang syntax, e.g. `{ok,<<"hi">>}`. */
export function format(value: Term): string;

/** How much ErlDP logs (the README's logging table). */
export type LogLevel = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** One of ErlDP's log records, as {@link setLogger}'s callback receives it. */
export interface LogRecord {
  /** How important it is. */
  level: Exclude<LogLevel, 'off'>;
  /** The module that logged it: `erldp::node`, `erldp::connection`, ... */
  target: string;
  /** The (Rust) thread that logged it, e.g. the connection's reader. */
  thread: string;
  /** The text. */
  message: string;
  /** When it was logged. */
  time: Date;
}

/**
 * Sends ErlDP's log records to `callback` on the event loop instead of
 * standard error (the node's threads never wait for it; if the loop falls
 * 10,000 records behind, newer ones are dropped and a `warn` record says how
 * many); `null` sends them to standard error again. The level is
 * `options.level`, else `ERLDP_LOG`'s when it is set, else `"info"`.
 * `ERLDP_LOG` alone logs to standard error from the moment the package loads.
 */
export function setLogger(callback: ((record: LogRecord) => void) | null, options?: { level?: LogLevel }): void;

/** Sets how much ErlDP logs, overriding `ERLDP_LOG`. */
export function setLogLevel(level: LogLevel): void;

/** Every error of the package; `code` tells which. */
export class ErlDPError extends Error {
  /** Which kind of failure this is; each subclass has one code. */
  readonly code:
    | 'ECONNECT'
    | 'EAUTH'
    | 'ENOTFOUND'
    | 'ETIMEDOUT'
    | 'ERPC'
    | 'EDECODE'
    | 'EENCODE'
    | 'ECLOSED'
    | 'EINVAL'
    | 'ENAMETAKEN'
    | 'EIO';
  /** The peer concerned (ECONNECT, EAUTH, ENOTFOUND). */
  readonly node?: string;
}

/** `ECONNECT`: connecting failed other than by the cookie, or the connection was lost. */
export class ConnectionError extends ErlDPError {
  /** Always `'ECONNECT'`. */
  readonly code: 'ECONNECT';
}

/** `EAUTH`: the cookies did not match. */
export class AuthError extends ErlDPError {
  /** Always `'EAUTH'`. */
  readonly code: 'EAUTH';
}

/**
 * `ENOTFOUND`: the node is not registered in EPMD on its host, or its host
 * has no address.
 */
export class NodeNotFoundError extends ErlDPError {
  /** Always `'ENOTFOUND'`. */
  readonly code: 'ENOTFOUND';
}

/** `ETIMEDOUT`: no answer in time. */
export class TimeoutError extends ErlDPError {
  /** Always `'ETIMEDOUT'`. */
  readonly code: 'ETIMEDOUT';
}

/** `ERPC`: the remote call raised or could not run. */
export class RpcError extends ErlDPError {
  /** Always `'ERPC'`. */
  readonly code: 'ERPC';
  /** The remote error term: `Tuple[class, reason, stacktrace]`. */
  readonly reason: Tuple;
}

/** `EDECODE`: bytes that should hold a term do not. */
export class DecodeError extends ErlDPError {
  /** Always `'EDECODE'`. */
  readonly code: 'EDECODE';
  /** Where decoding failed. */
  readonly offset: number;
}

/** `EENCODE`: a value has no Erlang counterpart. */
export class EncodeError extends ErlDPError {
  /** Always `'EENCODE'`. */
  readonly code: 'EENCODE';
  /** Where the value is, e.g. `[2][opts]`. */
  readonly path: string;
}

/** `ECLOSED`: the node or mailbox is closed. */
export class ClosedError extends ErlDPError {
  /** Always `'ECLOSED'`. */
  readonly code: 'ECLOSED';
}

/** `EINVAL`: an argument is not acceptable (a malformed node name, a bad destination). */
export class InvalidArgumentError extends ErlDPError {
  /** Always `'EINVAL'`. */
  readonly code: 'EINVAL';
}

/** `ENAMETAKEN`: a name that must be unique is in use (the node name in EPMD, a mailbox's registered name). */
export class NameTakenError extends ErlDPError {
  /** Always `'ENAMETAKEN'`. */
  readonly code: 'ENAMETAKEN';
}
