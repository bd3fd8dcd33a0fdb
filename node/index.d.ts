/// <reference types="node" />

/**
 * ErlDP for Node.js: join an Erlang/Elixir cluster as a named node.
 *
 * ```js
 * const erldp = require("erldp");
 * const node = await erldp.Node.start("js", { cookie: "secret" });
 * await node.rpc("peer@host", "lists", "sum", [[1, 2, 3]]);   // 6
 * await node.close();
 * ```
 *
 * Nothing blocks the event loop: waiting happens on Rust threads and
 * results come back as Promises.
 *
 * @packageDocumentation
 */

/**
 * An Erlang term as a JavaScript value.
 *
 * | Erlang | JavaScript |
 * |---|---|
 * | atom | `Symbol.for(name)`; `true`/`false` are booleans, `nil` is `null` |
 * | integer | number when safe, else BigInt |
 * | float | number (`erldp.float(x)` sends an integral number as a float) |
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
  | Buffer
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
export type Dest = Pid | Ref | [name: Name, node: Name] | Tuple;

/** How received terms are decoded where JavaScript has a choice. */
export interface DecodeOptions {
  /** `"string"` (default): binaries are strings when valid UTF-8, else Buffers. `"buffer"`: always Buffers. */
  binaries?: 'string' | 'buffer';
  /** `"map"` (default): maps are Maps. `"object"`: plain objects when every key is an atom or a string. */
  maps?: 'map' | 'object';
  /** `"number"` (default): floats are numbers. `"float"`: {@link Float}s, so that `1.0` stays a float when sent back. */
  floats?: 'number' | 'float';
}

/** Options of {@link Node.start}; the decode options become the node's defaults. */
export interface StartOptions extends DecodeOptions {
  /** The cookie; default `$HOME/.erlang.cookie`, created like `erl` does when missing. */
  cookie?: string;
  /** Hidden like a C node (default `true`); `false` appears in the peers' `nodes()`. */
  hidden?: boolean;
  /**
   * `"auto"` (default): use the EPMD on its port, or start one inside this process.
   * `"external"`: require a running EPMD. `"none"`: neither register nor look up.
   */
  epmd?: 'auto' | 'external' | 'none';
  /** The EPMD port (default `$ERL_EPMD_PORT`, else 4369). */
  epmdPort?: number;
  /** The port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Like `-kernel net_ticktime`, in milliseconds (default 60000). */
  netTicktime?: number;
  /** How long connecting may take, in milliseconds (default 7000). */
  setupTimeout?: number;
  /** Long names (`js@host.example.com`); implied by a name with a dotted host. */
  longNames?: boolean;
}

/** Options of calls that wait for an answer. */
export interface CallOptions extends DecodeOptions {
  /**
   * How long to wait for the answer once the request is sent, in
   * milliseconds (default 5000); `Infinity` waits as long as it takes.
   * Connecting first, when the peer is not connected yet, is bounded by the
   * node's `setupTimeout`.
   */
  timeout?: number;
}

/** Options of {@link Mailbox.receive}. */
export interface ReceiveOptions extends DecodeOptions {
  /** Milliseconds; the default waits as long as it takes. */
  timeout?: number;
}

/** What a mailbox receives: a message or a signal. */
export interface Message<T = Term> {
  /** `message`, or the signal: `exit` (a linked process ended), `down` (a monitored one did), `node_down`. */
  kind: 'message' | 'exit' | 'down' | 'node_down';
  /**
   * The term as an Erlang process trapping exits would receive it: the
   * message, `{'EXIT', From, Reason}`, `{'DOWN', Ref, process, Who, Reason}` or
   * `{nodedown, Node}`.
   */
  term: T;
  /** The sender, when known. */
  from: Pid | undefined;
  /** The reason of an `exit` or `down` (`noconnection` when the connection was lost). */
  reason: Term | undefined;
  /** The monitor of a `down`. */
  ref: Ref | undefined;
  /** The node of a `node_down`. */
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
  ping(peer: Name): Promise<'pong' | 'pang'>;

  /**
   * Connects to `peer` now (sending connects by itself; this surfaces
   * connection errors early). With `port`, connects to `host:port` (default
   * host: the one in the peer's name) without asking EPMD.
   */
  connect(peer: Name, options?: { host?: string; port?: number }): Promise<true>;

  /**
   * Calls `module:fun(...args)` on `peer` like `erpc:call` and resolves with
   * its value. Rejects with an {@link RpcError} whose `reason` is
   * `Tuple[class, reason, stacktrace]` when it raised.
   */
  rpc<T = Term>(peer: Name, module: Name, fun: Name, args: Term[], options?: CallOptions): Promise<T>;

  /** `gen_server:call(dest, request, timeout)`; resolves with the reply. */
  call<T = Term>(dest: Dest, request: Term, options?: CallOptions): Promise<T>;

  /** `gen_server:cast(dest, request)`. */
  cast(dest: Dest, request: Term): void;

  /** Sends from the node's own pid, like `!`. */
  send(dest: Dest, message: Term): void;

  /** A new mailbox, registered as `name` when given; its decode options default to the node's. */
  mailbox(name?: Name | null, options?: DecodeOptions): Mailbox;

  /** Lets the process exit while the node is open; requests with a timeout still hold it. Returns the node. */
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
  link(pid: Pid): Promise<void>;

  /** Removes the link to `pid`; its exit signals no longer arrive. */
  unlink(pid: Pid): Promise<void>;

  /**
   * Monitors a process and resolves with the monitor's {@link Ref}; a `down`
   * message with that `ref` arrives when it ends (at once, with reason
   * `noproc`, if it does not exist). Given a node name, monitors the node: a
   * `node_down` message arrives when the connection is lost.
   */
  monitor(target: Pid | [name: Name, node: Name] | Tuple): Promise<Ref>;
  monitor(node: Name): Promise<void>;

  /** Removes a monitor (by its Ref) or a node monitor (by the node's name). */
  demonitor(target: Ref | Name): Promise<void>;

  /**
   * Closes the mailbox: linked processes get an exit signal with `reason`
   * (default `normal`), monitoring ones a `DOWN`.
   */
  close(reason?: Term): void;
}

/** An Erlang tuple: an Array, so it indexes and destructures like one. */
export class Tuple extends Array<Term> {}

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
}

/** A bitstring: the top `bits` (1 to 7) of the last of `bytes` belong to it. */
export class Bitstring {
  constructor(bytes: Uint8Array, bits: number);
  /** The bytes holding the bits, most significant first. */
  readonly bytes: Buffer;
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
  readonly bytes: Buffer;
  /** Whether `other` is the same fun (same encoding). */
  equals(other: unknown): boolean;
  /** `fun m:f/1`, or `#Fun<...>` for a closure. */
  toString(): string;
}

/** `term_to_binary`: the External Term Format of `value`. Throws an {@link EncodeError}. */
export function encode(value: Term): Buffer;

/** `binary_to_term`. Throws a {@link DecodeError}. */
export function decode(bytes: Uint8Array, options?: DecodeOptions): Term;

/** `value` in Erlang syntax, e.g. `{ok,<<"hi">>}`. */
export function format(value: Term): string;

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

/** `ENOTFOUND`: the node is not registered in EPMD on its host. */
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
