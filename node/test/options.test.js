'use strict';
// Options: a misspelt option is an error that names it, and every call that waits takes an
// AbortSignal, against a real BEAM node. An aborted rpc or receive is stopped where it runs;
// an aborted receive loses no message.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { randomName, atom, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
let peer;
let node;

startPeerAndNode({ prefix: 'js_opt_' }, (started) => ({ peer, node } = started));

const us = () => atom(Symbol.keyFor(node.name));

test('unknown options are TypeErrors naming the option, with the one probably meant', async () => {
  await assert.rejects(erldp.Node.start(randomName('js_'), { cookiee: 'x' }), {
    name: 'TypeError',
    message: /^unknown option "cookiee" in Node.start options \(known: cookie, .*\); did you mean "cookie"\?$/,
  });
  await assert.rejects(node.rpc(peer.node, 'erlang', 'node', [], { timout: 10 }), /unknown option "timout" .*did you mean "timeout"\?/);
  await assert.rejects(node.call([sym('x'), peer.node], sym('y'), { Timeout: 1 }), /unknown option "Timeout"/);
  await assert.rejects(node.connect(peer.node, { hots: 'localhost' }), /unknown option "hots" .*did you mean "host"\?/);
  await assert.rejects(node.ping(peer.node, { sginal: null }), /unknown option "sginal" .*did you mean "signal"\?/);
  assert.throws(() => node.mailbox('m', { map: 'object' }), /unknown option "map" in mailbox options .*"maps"/);
  const box = node.mailbox();
  await assert.rejects(box.receive({ timeoutMs: 1 }), /unknown option "timeoutMs" in receive options/);
  await assert.rejects(box.monitor(peer.node, { x: 1 }), /unknown option "x" in monitor options/);
  assert.throws(() => erldp.decode(erldp.encode(1), { binary: 'buffer' }), /did you mean "binaries"/);
  await assert.rejects(node.rpc(peer.node, 'erlang', 'node', [], { signal: 'stop' }), /option signal must be an AbortSignal/);
  box.close();
});

// Before, each said only "option netTicktime has an invalid value: 0" (and for an empty
// cookie, "...: " with nothing after it).
test('an option of the wrong value says what it takes and what it was given', async () => {
  const start = (options) => erldp.Node.start(randomName('js_'), { cookie: 'c', ...options });
  await assert.rejects(start({ netTicktime: 0 }), {
    name: 'TypeError',
    message: 'option netTicktime must be a number of milliseconds above 0, not 0',
  });
  await assert.rejects(start({ cookie: '' }), { message: 'option cookie must be a non-empty string, not ""' });
  await assert.rejects(start({ port: 70000 }), { message: 'option port must be a port from 0 to 65535, not 70000' });
  await assert.rejects(start({ hidden: 'yes' }), { message: 'option hidden must be a boolean, not "yes"' });
  await assert.rejects(start({ maxMessageSize: 1.5 }), { message: 'option maxMessageSize must be a whole number from 0, not 1.5' });
});

test('an aborted rpc or call rejects with the signal reason at once', async () => {
  const controller = new AbortController();
  const slow = node.rpc(peer.node, 'timer', 'sleep', [60_000], { timeout: Infinity, signal: controller.signal });
  const reason = new Error('user gave up');
  controller.abort(reason);
  await assert.rejects(slow, (err) => err === reason);

  // Already aborted: nothing is sent.
  await peer.eval('erldp_test:collect(not_called)');
  await assert.rejects(
    node.call([sym('not_called'), peer.node], sym('hello'), { signal: AbortSignal.abort() }),
    { name: 'AbortError' },
  );
  assert.equal(await peer.eval('erldp_test:collected(not_called, 0, 200)'), '[]');

  // A signal that never fires changes nothing; the node goes on working.
  assert.equal(await node.rpc(peer.node, 'lists', 'sum', [[1, 2]], { signal: new AbortController().signal }), 3);
  await assert.rejects(node.ping(peer.node, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(await node.ping(peer.node, { signal: new AbortController().signal }), 'pong');
  await assert.rejects(node.connect(peer.node, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

/** Erlang: whether a process of the peer is in `timer:sleep/1`. */
const SLEEPING = 'lists:any(fun(P) -> process_info(P, current_function) =:= {current_function, {timer, sleep, 1}} end, processes())';

test('an aborted rpc is stopped where it runs: its remote worker is killed', async () => {
  const controller = new AbortController();
  const slow = node.rpc(peer.node, 'timer', 'sleep', [60_000], { timeout: Infinity, signal: controller.signal });
  assert.equal(await peer.eval(`erldp_test:wait_for(fun() -> ${SLEEPING} end, 10000)`), 'true');
  controller.abort();
  await assert.rejects(slow, { name: 'AbortError' });
  assert.equal(await peer.eval(`erldp_test:wait_for(fun() -> not ${SLEEPING} end, 10000)`), 'true');
  assert.equal(await node.rpc(peer.node, 'erlang', 'length', [[1, 2, 3]]), 3);
});

// Without a timeout the receive after an aborted one waits for ever unless the aborted one
// stopped waiting in the addon: the message would go to it, and wait in the mailbox's stash.
test('an aborted receive is taken off its mailbox: the next one gets the message', { timeout: 20_000 }, async () => {
  const box = node.mailbox('taken_off');
  const controller = new AbortController();
  const aborted = box.receive({ signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  const next = box.receive();
  await peer.eval(`{taken_off, ${us()}} ! hello, ok`);
  assert.equal((await next).term, sym('hello'));
  box.close();
});

test('an aborted receive keeps its message for the next receive, in order', async () => {
  const box = node.mailbox('abortable');
  const controller = new AbortController();
  const waiting = box.receive({ signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  // The message that the aborted receive's native side takes, then two more.
  await peer.eval(`[{abortable, ${us()}} ! N || N <- [1, 2, 3]], ok`);
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await box.receive({ timeout: 5000 })).term);
  assert.deepEqual(got, [1, 2, 3]);

  // Two aborted receives, then one that waits: it gets the first message.
  const first = new AbortController();
  const second = new AbortController();
  const a = box.receive({ signal: first.signal });
  const b = box.receive({ signal: second.signal });
  first.abort();
  second.abort();
  await Promise.allSettled([a, b]);
  const c = box.receive({ timeout: 5000 });
  await peer.eval(`[{abortable, ${us()}} ! N || N <- [4, 5, 6]], ok`);
  assert.equal((await c).term, 4);
  assert.equal((await box.receive({ timeout: 5000 })).term, 5);
  assert.equal((await box.receive({ timeout: 5000 })).term, 6);
  assert.equal(await box.receive({ timeout: 0 }), null);
  box.close();
});

test('messages sent as a receive is aborted come out in order', async () => {
  // The aborted receive's native side takes 1 after the abort; 2 must not overtake it. Before,
  // the next receive took 2 from the queue while 1 was still on its way to the stash.
  const box = node.mailbox();
  const got = [];
  for (let round = 0; round < 20; round++) {
    const controller = new AbortController();
    const waiting = box.receive({ signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 5));
    box.send(box.pid, [round, 1]);
    box.send(box.pid, [round, 2]);
    controller.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
    got.push((await box.receive({ timeout: 5000 })).term, (await box.receive({ timeout: 5000 })).term);
  }
  const expected = [];
  for (let round = 0; round < 20; round++) expected.push([round, 1], [round, 2]);
  assert.deepEqual(got, expected);
  box.close();
});

test('Node.start with an aborted signal rejects, and the node it started is closed', async () => {
  const name = randomName('js_abort_');
  await assert.rejects(erldp.Node.start(name, { cookie: peer.cookie, signal: AbortSignal.abort() }), {
    name: 'AbortError',
  });
  // The name is free again once the started node is closed.
  const host = peer.node.split('@')[1];
  const check = `erldp_test:wait_for(fun() -> erl_epmd:port_please("${name}", "${host}") =:= noport end, 10000)`;
  assert.equal(await peer.eval(check), 'true');
});

test('timeouts of Infinity or more than a Duration holds wait for ever: nothing overflows', async () => {
  const other = await erldp.Node.start(randomName('js_'), {
    cookie: peer.cookie,
    setupTimeout: Infinity,
    sendTimeout: 1e300,
  });
  try {
    assert.equal(await other.ping(peer.node), 'pong');
    assert.equal(await other.rpc(peer.node, 'erlang', 'byte_size', [Buffer.alloc(1 << 20)], { timeout: 1e300 }), 1 << 20);
    const box = other.mailbox();
    box.send(box.pid, 42);
    assert.equal((await box.receive({ timeout: 1e300 })).term, 42);
    box.close();
  } finally {
    await other.close();
  }
});
