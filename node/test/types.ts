// Compiled (not run) by types.test.js: the API.md examples and the rest of
// the surface type-check against index.d.ts in strict mode, with @types/node
// loaded (the package's Buffers are then typed Buffer; test/pack.test.js
// checks the types without it).
import * as erldp from '..';

async function example(peer: string): Promise<void> {
  const node = await erldp.Node.start('js', { cookie: 'secret', hidden: true, epmd: 'auto', maps: 'object' });
  const pong: 'pong' | 'pang' = await node.ping(peer);
  const name = await node.rpc<symbol>(peer, 'erlang', 'node', []);
  const sum: erldp.Term = await node.rpc(peer, 'lists', 'sum', [[1, 2, 3]], { timeout: 5000 });
  const box = node.mailbox('inbox', { binaries: 'buffer' });
  box.send([Symbol.for('echo'), peer], erldp.tuple(box.pid, 'hi'));
  const msg = await box.receive({ timeout: 5000 });
  if (msg !== null) {
    const kind: 'message' | 'exit' | 'down' | 'node_down' = msg.kind;
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

void example;
