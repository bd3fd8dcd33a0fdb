'use strict';
// Every line of API.md's Node.js example, and the rest of the Node.js
// surface it lists, against a real BEAM node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { BeamPeer, randomName, atom, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
let peer;
let node;

// const node = await erldp.Node.start("js", { cookie: "secret" });
startPeerAndNode({}, (started) => ({ peer, node } = started));

/** Our node as an Erlang atom literal. */
const us = () => atom(Symbol.keyFor(node.name));

test('Node.start: a hidden node named name@host with the given cookie', async () => {
  assert.equal(typeof node.name, 'symbol');
  assert.match(Symbol.keyFor(node.name), /^js_[0-9a-f]{10}@/);
  assert.equal(node.hidden, true);
  assert.ok(node.port > 0);
  assert.ok(node.pid instanceof erldp.Pid);
});

test('Node.start({ hidden: false }) is a visible node', async () => {
  const visible = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie, hidden: false });
  try {
    assert.equal(visible.hidden, false);
    await visible.connect(peer.node);
    assert.equal(await peer.eval(`lists:member(${atom(Symbol.keyFor(visible.name))}, nodes())`), 'true');
  } finally {
    await visible.close();
  }
});

test('await node.ping("peer@host") is pong; an unknown node is pang', async () => {
  assert.equal(await node.ping(peer.node), 'pong');
  const host = peer.node.split('@')[1];
  assert.equal(await node.ping(`nobody_${Date.now()}@${host}`), 'pang');
});

test('await node.rpc(peer, "erlang", "node", []) is the peer atom', async () => {
  assert.equal(await node.rpc(peer.node, 'erlang', 'node', []), sym(peer.node));
  assert.equal(await node.rpc(peer.node, 'erlang', 'node'), sym(peer.node), 'args default to []');
});

test('node.rpc(node, mod, fun, args, { timeout }) passes arguments and returns the value', async () => {
  assert.equal(await node.rpc(peer.node, 'lists', 'sum', [[1, 2, 3]], { timeout: 5000 }), 6);
  assert.equal(await node.rpc(sym(peer.node), sym('lists'), sym('sum'), [[]]), 0);
  const reversed = await node.rpc(peer.node, 'lists', 'reverse', [['a', sym('b'), 3]]);
  assert.deepEqual(reversed, [3, sym('b'), 'a']);
});

test('node.mailbox("inbox"), box.send([echo, peer], tuple(box.pid, "hi")), await box.receive', async () => {
  await peer.eval('erldp_test:echo_start(echo)');
  const box = node.mailbox('inbox');
  try {
    assert.equal(box.name, sym('inbox'));
    assert.ok(box.pid instanceof erldp.Pid);
    assert.equal(box.pid.node, node.name);
    box.send([sym('echo'), peer.node], erldp.tuple(box.pid, 'hi'));
    const msg = await box.receive({ timeout: 5000 });
    assert.equal(msg.kind, 'message');
    assert.ok(msg.term instanceof erldp.Tuple);
    assert.deepEqual([...msg.term], [sym('echo'), 'hi']);
    assert.ok(msg.from instanceof erldp.Pid);
    assert.equal(msg.from.node, sym(peer.node));
    assert.equal(msg.reason, undefined);
    assert.equal(msg.ref, undefined);
    // The registered name reaches the mailbox from Erlang too.
    await peer.eval(`{inbox, ${us()}} ! {from_beam, self()}`);
    const byName = await box.receive({ timeout: 5000 });
    assert.equal(byName.term[0], sym('from_beam'));
    assert.ok(byName.term[1].equals(byName.from));
  } finally {
    box.close();
  }
});

test('box.receive({ timeout }) is null on timeout', async () => {
  const box = node.mailbox();
  const started = Date.now();
  assert.equal(await box.receive({ timeout: 100 }), null);
  assert.ok(Date.now() - started >= 90);
  box.close();
});

test('for await (const m of box) reads messages and ends when the box closes', async () => {
  const box = node.mailbox('loop');
  await peer.eval(`[{loop, ${us()}} ! N || N <- [1, 2, 3]]`);
  const seen = [];
  for await (const m of box) {
    seen.push(m.term);
    if (seen.length === 3) setTimeout(() => box.close(), 50);
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(box.closed, true);
  await assert.rejects(box.receive(), erldp.ClosedError);
});

test('receives take messages in order, and a flood of them lets timers run', async () => {
  const box = node.mailbox('flood');
  const first = box.receive();
  const second = box.receive();
  await peer.eval(`[{flood, ${us()}} ! N || N <- lists:seq(1, 2000)]`);
  assert.deepEqual([(await first).term, (await second).term], [1, 2]);
  let ticked = false;
  setTimeout(() => (ticked = true), 0);
  const seen = [];
  while (seen.length < 1998) seen.push((await box.receive()).term);
  assert.deepEqual(seen, Array.from({ length: 1998 }, (_, i) => i + 3));
  assert.equal(ticked, true, 'a timer ran while the queued messages were taken');
  box.close();
});

test('node.connect(peer) is true and node.nodes() lists the peer', async () => {
  assert.equal(await node.connect(peer.node), true);
  assert.ok(node.nodes().includes(sym(peer.node)));
});

test('epmd: "none" and node.connect(peer, { port }) reach a peer without EPMD', async () => {
  const [alive, host] = peer.node.split('@');
  const answer = await peer.eval(`{port, P, _} = erl_epmd:port_please(${atom(alive)}, ${atom(host)}), P`);
  for (const address of ['127.0.0.1', 'localhost']) {
    const direct = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie, epmd: 'none' });
    try {
      assert.equal(await direct.connect(peer.node, { host: address, port: Number(answer) }), true);
      assert.equal(await direct.rpc(peer.node, 'erlang', 'node', []), sym(peer.node));
    } finally {
      await direct.close();
    }
  }
});

test('distPort (clusters without EPMD, as -erl_epmd_port) is the port the node listens on', async () => {
  const first = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie, epmd: 'none' });
  const { port } = first;
  await first.close();
  const other = port === 65535 ? port - 1 : port + 1;
  await assert.rejects(
    erldp.Node.start(randomName('js_'), { cookie: peer.cookie, epmd: 'none', distPort: port, port: other }),
    (err) => err instanceof TypeError && /distPort/.test(err.message),
  );
  const node2 = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie, epmd: 'none', distPort: port });
  try {
    assert.equal(node2.port, port);
  } finally {
    await node2.close();
  }
});

test('node.call and node.cast reach a gen_server', async () => {
  await peer.eval('{ok, _} = erldp_test_server:start(js_server)');
  const server = [sym('js_server'), peer.node];
  assert.equal(await node.call(server, sym('state'), { timeout: 5000 }), sym('undefined'));
  assert.equal(await node.call(server, erldp.tuple(sym('set'), 42)), sym('ok'));
  assert.equal(await node.call(server, sym('state')), 42);
  node.cast(server, erldp.tuple(sym('set'), 'cast'));
  assert.equal(await node.call(server, sym('state')), 'cast');
  assert.deepEqual(await node.call(server, sym('casts')), [erldp.tuple(sym('set'), 'cast')]);
  // By pid too.
  const pid = await node.rpc(peer.node, 'erlang', 'whereis', [sym('js_server')]);
  assert.deepEqual(await node.call(pid, erldp.tuple(sym('echo'), [1, 2])), [1, 2]);
});

test('messages to one peer arrive in the order they were sent', async () => {
  await peer.eval('erldp_test:collect(ordered)');
  const box = node.mailbox();
  for (let i = 1; i <= 1000; i++) box.send([sym('ordered'), peer.node], i);
  await new Promise((resolve) => setTimeout(resolve, 10));
  for (let i = 1001; i <= 2000; i++) box.send([sym('ordered'), peer.node], i);
  const check = 'erldp_test:collected(ordered, 2000, 10000) =:= lists:seq(1, 2000)';
  assert.equal(await peer.eval(check), 'true');
  box.close();
});

test('node.send sends from the node pid', async () => {
  await peer.eval('erldp_test:collect(node_send)');
  node.send([sym('node_send'), sym(peer.node)], sym('hello'));
  assert.equal(await peer.eval('erldp_test:collected(node_send, 1, 5000)'), '[hello]');
});

test('box.link: exit signals both ways; box.unlink removes the link', async () => {
  const box = node.mailbox('linked');
  // Erlang side ends: the mailbox gets an exit message.
  const worker = await node.rpc(peer.node, 'erlang', 'spawn', [
    sym('timer'),
    sym('sleep'),
    [sym('infinity')],
  ]);
  await box.link(worker);
  await node.rpc(peer.node, 'erlang', 'exit', [worker, sym('boom')]);
  const exit = await box.receive({ timeout: 5000 });
  assert.equal(exit.kind, 'exit');
  assert.ok(exit.from.equals(worker));
  assert.equal(exit.reason, sym('boom'));
  assert.deepEqual([...exit.term], [sym('EXIT'), worker, sym('boom')]);

  // Our side ends: box.close(reason) reaches a linked, trapping process.
  const trapper = await peer.eval('erldp_test:collect(trapper, [trap_exit])');
  assert.match(trapper, /^<.*>$/);
  const pid = await node.rpc(peer.node, 'erlang', 'whereis', [sym('trapper')]);
  const other = node.mailbox();
  await other.link(pid);
  await other.unlink(pid);
  await box.link(pid);
  box.close(sym('bye'));
  const got = await peer.eval('erldp_test:collected(trapper, 1, 5000)');
  assert.match(got, /^\[\{'EXIT',<[\d.]+>,bye\}\]$/);
  other.close();
  // other was unlinked, so its close sent nothing.
  assert.equal(await peer.eval('timer:sleep(200), length(erldp_test:collected(trapper))'), '1');
});

test('box.monitor(pid) gives a Ref and a down message; box.demonitor stops it', async () => {
  const box = node.mailbox();
  const spawnSleeper = () =>
    node.rpc(peer.node, 'erlang', 'spawn', [sym('timer'), sym('sleep'), [sym('infinity')]]);
  const worker = await spawnSleeper();
  const ref = await box.monitor(worker);
  assert.ok(ref instanceof erldp.Ref);
  await node.rpc(peer.node, 'erlang', 'exit', [worker, sym('kill')]);
  const down = await box.receive({ timeout: 5000 });
  assert.equal(down.kind, 'down');
  assert.ok(down.ref.equals(ref));
  assert.ok(down.from.equals(worker));
  assert.equal(down.reason, sym('killed'));
  assert.equal(down.term[0], sym('DOWN'));

  // By name, and demonitored: no down arrives.
  await peer.eval('erldp_test:collect(watched)');
  const byName = await box.monitor([sym('watched'), peer.node]);
  await box.demonitor(byName);
  await peer.eval('exit(whereis(watched), kill)');
  assert.equal(await box.receive({ timeout: 300 }), null);

  // A process that does not exist is down at once with noproc.
  const gone = await spawnSleeper();
  await node.rpc(peer.node, 'erlang', 'exit', [gone, sym('kill')]);
  await box.monitor(gone);
  const noproc = await box.receive({ timeout: 5000 });
  assert.equal(noproc.reason, sym('noproc'));
  box.close();
});

test('box.monitor(node) sends node_down when the connection goes', async () => {
  const other = await BeamPeer.start({ cookie: peer.cookie });
  const box = node.mailbox();
  try {
    await box.monitor(other.node);
    await other.kill();
    const down = await box.receive({ timeout: 10000 });
    assert.equal(down.kind, 'node_down');
    assert.equal(down.node, sym(other.node));
    assert.deepEqual([...down.term], [sym('nodedown'), sym(other.node)]);
  } finally {
    box.close();
  }
});

test('an ERPC error has .reason, the remote error term', async () => {
  const err = await node.rpc(peer.node, 'erlang', 'error', [sym('badarg')]).catch((e) => e);
  assert.ok(err instanceof erldp.RpcError);
  assert.ok(err instanceof erldp.ErlDPError);
  assert.equal(err.code, 'ERPC');
  assert.ok(err.reason instanceof erldp.Tuple);
  assert.equal(err.reason[0], sym('error'));
  assert.equal(err.reason[1], sym('badarg'));
  assert.ok(Array.isArray(err.reason[2]));
});

test('node.unref() and node.ref() return the node', () => {
  assert.equal(node.unref(), node);
  assert.equal(node.ref(), node);
});

test('await node.close() closes the node, its mailboxes and its requests', async () => {
  const other = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie });
  const box = other.mailbox('closing');
  const pending = assert.rejects(box.receive(), { code: 'ECLOSED' });
  await other.connect(peer.node);
  const slow = assert.rejects(other.rpc(peer.node, 'timer', 'sleep', [10000], { timeout: 20000 }), erldp.ClosedError);
  await other.close();
  assert.equal(other.closed, true);
  await pending;
  await slow;
  await assert.rejects(other.ping(peer.node), erldp.ClosedError);
  await assert.rejects(other.rpc(peer.node, 'erlang', 'node', []), erldp.ClosedError);
  assert.throws(() => box.send([sym('x'), peer.node], 1), erldp.ClosedError);
  assert.throws(() => other.mailbox(), erldp.ClosedError);
  // The peer saw the connection go, and EPMD forgot the name.
  const [alive, host] = Symbol.keyFor(other.name).split('@');
  const name = atom(Symbol.keyFor(other.name));
  assert.equal(await peer.eval(`erldp_test:wait_for(fun() -> not lists:member(${name}, nodes(hidden)) end, 5000)`), 'true');
  assert.equal(await peer.eval(`erl_epmd:port_please(${atom(alive)}, ${atom(host)})`), 'noport');
});

test('in the turn that calls close(), serve, expose and mailbox already throw ECLOSED', async () => {
  // The addon closes on a thread of its own (here it has a connection to close too); they used
  // to succeed until it had.
  const other = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie });
  await other.connect(peer.node);
  const closing = other.close();
  assert.equal(other.closed, true);
  assert.throws(() => other.serve('late', () => 1), erldp.ClosedError);
  assert.throws(() => other.expose('late_mod', () => 1), erldp.ClosedError);
  assert.throws(() => other.mailbox(), erldp.ClosedError);
  await closing;
});
