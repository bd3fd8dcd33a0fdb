// Compiled (not run) by types.test.js: the API.md examples and the rest of
// the surface type-check against index.d.ts in strict mode, with @types/node
// loaded (the package's Buffers are then typed Buffer; test/pack.test.js
// checks the types without it).
import * as erldp from '..';

async function example(peer: string): Promise<void> {
  const node = await erldp.Node.start('js', { cookie: 'secret', hidden: true, epmd: 'auto', maps: 'object' });
  const pong: 'pong' | 'pang' = await node.ping(peer);
  const tls: erldp.TlsOptions = { certfile: 'node.pem', keyfile: 'node.key', cacertfile: 'ca.pem', verify: 'verify_peer' };
  await erldp.Node.start('tls', { tls, ipv6: true });
  await erldp.Node.start('tls', { tls: { optfile: 'ssl_dist.conf' } });
  const name = await node.rpc<symbol>(peer, 'erlang', 'node', []);
  const sum: erldp.Term = await node.rpc(peer, 'lists', 'sum', [[1, 2, 3]], { timeout: 5000 });
  const box = node.mailbox('inbox', { binaries: 'buffer' });
  box.send([Symbol.for('echo'), peer], erldp.tuple(box.pid, 'hi'));
  const msg = await box.receive({ timeout: 5000 });
  if (msg !== null) {
    const kind: 'message' | 'exit' | 'down' | 'node_down' | 'node_up' = msg.kind;
    const from: erldp.Pid | undefined = msg.from;
    console.log(kind, from?.toString(), msg.term, msg.reason, msg.ref?.equals(msg.ref));
  }
  for await (const m of box) {
    console.log(m.term);
  }
  const reply = await node.call([Symbol.for('server'), peer], Symbol.for('state'), { timeout: 1000 });
  node.cast([Symbol.for('server'), peer], erldp.tuple(Symbol.for('set'), 1));
  const connected: true = await node.connect(peer);
  const peers: symbol[] = node.nodes();
  const ref: erldp.Ref = await box.monitor(box.pid);
  await box.monitor(peer);
  await box.demonitor(ref);
  await box.link(box.pid);
  await box.unlink(box.pid);
  box.close(Symbol.for('shutdown'));
  node.unref().ref();
  const bytes: Buffer = erldp.encode(new Map<erldp.Term, erldp.Term>([[1, erldp.float(2)]]));
  const hex: string = bytes.toString('hex');
  const back: erldp.Term = erldp.decode(bytes, { floats: 'float', atoms: 'string' });
  const aborted = new AbortController();
  await node.rpc(peer, 'lists', 'sum', [[1]], { signal: aborted.signal, timeout: 100 });
  await box.receive({ signal: AbortSignal.timeout(10), floats: 'auto' });
  await node.ping(peer, { signal: aborted.signal });
  const text: string = erldp.format([new erldp.ImproperList([1], 2), new erldp.Bitstring(Buffer.from([1]), 3)]);
  try {
    await node.rpc(peer, 'erlang', 'error', [Symbol.for('badarg')]);
  } catch (err) {
    if (err instanceof erldp.RpcError) {
      const [cls, reason, stack] = err.reason;
      console.log(err.code, cls, reason, stack);
    } else if (err instanceof erldp.ErlDPError) {
      console.log(err.code);
    }
  }
  await node.close();
  console.log(pong, name, sum, reply, connected, peers, back, text, hex);
}

async function serving(node: erldp.Node): Promise<void> {
  const waiting: erldp.Term[] = [];
  const served: erldp.Served = node.serve('calc', async (request: erldp.Tuple, from) => {
    if (from !== null && request[0] === Symbol.for('later')) {
      waiting.push(from);
      return erldp.NOREPLY;
    }
    return (request[1] as number) + (request[2] as number);
  });
  const pid: erldp.Pid = served.pid;
  const name: symbol = served.name;
  node.serve('pool', () => Symbol.for('ok'), { concurrency: 8, maxQueue: 100, binaries: 'buffer' });
  const exposed: erldp.Exposed = node.expose('js_math', (fun, args) => {
    if (fun === Symbol.for('double')) return 2 * (args[0] as number);
    const name: string | undefined = typeof fun === 'symbol' ? Symbol.keyFor(fun) : fun;
    throw new TypeError(`no ${name}/${args.length}`);
  });
  const module: symbol = exposed.module;
  // README's typed handlers: a request's tuple elements, an rpc's arguments; Undef for the rest.
  node.serve<[symbol, number, number]>('adder', async ([op, a, b]) => (op === Symbol.for('add') ? a + b : 0));
  node.expose<[number]>('typed_math', async (fun, args) => {
    if (fun === Symbol.for('double')) return 2 * args[0];
    throw new erldp.Undef();
  });
  for (const from of waiting) node.reply(from, 42);
  const box = node.mailbox();
  box.reply(waiting[0], 'also');
  const unserved: boolean = node.unserve('pool');
  const unexposed: boolean = node.unexpose('js_math');
  served.close();
  exposed.close();
  console.log(pid, name, module, unserved, unexposed);
}

async function cluster(node: erldp.Node): Promise<void> {
  const box = node.mailbox();
  const registered: boolean = await node.registerGlobal('svc', box);
  await node.registerGlobal(Symbol.for('svc2'), box.pid);
  const where: erldp.Pid | null = await node.whereisGlobal('svc');
  await node.unregisterGlobal('svc');
  const dest: erldp.Dest = erldp.global('svc');
  box.send(dest, 'hi');
  await node.call(erldp.global('store'), Symbol.for('state'));
  node.cast(erldp.global('store'), 1);
  const ref: erldp.Ref = await box.monitor(erldp.global('store'));
  await box.join(Symbol.for('room'));
  await box.join('lobby', { scope: 'chat' });
  const left: boolean = await box.leave(Symbol.for('room'), { scope: Symbol.for('pg') });
  const members: erldp.Pid[] = await node.members(Symbol.for('room'), { scope: 'pg' });
  box.monitorNodes();
  const msg = await box.receive();
  if (msg?.kind === 'node_up') console.log(msg.node);
  box.demonitorNodes();
  const pubsub: erldp.PubSub = await erldp.PubSub.start(node, 'MyApp.PubSub', { poolSize: 2 });
  pubsub.subscribe(box, 'room:lobby');
  await pubsub.broadcast('room:lobby', erldp.tuple(Symbol.for('new_msg'), 'hi'));
  pubsub.directBroadcast('app@host', 'room:lobby', 1);
  const unsubscribed: boolean = pubsub.unsubscribe(box.pid, 'room:lobby');
  const groups: symbol[] = pubsub.groups;
  pubsub.close();
  console.log(registered, where, ref, left, members, unsubscribed, groups);
}

void example;
void serving;
void cluster;
