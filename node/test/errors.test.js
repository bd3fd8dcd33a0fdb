'use strict';
// Each error code where it belongs, against real BEAM nodes.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const erldp = require('..');
const { BeamPeer, randomName, randomCookie, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
let peer;
let node;

startPeerAndNode({}, (started) => ({ peer, node } = started));

/** Asserts that `promise` rejects with an ErlDPError of `Class` and `code`; returns the error. */
async function rejectsWith(promise, Class, code) {
  const err = await promise.then(
    (value) => assert.fail(`resolved with ${String(value)} instead of rejecting with ${code}`),
    (e) => e,
  );
  assert.ok(err instanceof Class, `${err} is a ${Class.name}`);
  assert.ok(err instanceof erldp.ErlDPError);
  assert.equal(err.code, code);
  assert.equal(err.name, Class.name);
  return err;
}

test('EAUTH: the peer has another cookie', async () => {
  const stranger = await erldp.Node.start(randomName('js_'), { cookie: randomCookie() });
  try {
    const err = await rejectsWith(stranger.connect(peer.node), erldp.AuthError, 'EAUTH');
    assert.equal(err.node, peer.node);
    assert.doesNotMatch(err.message, new RegExp(peer.cookie), 'the cookie is not in the message');
  } finally {
    await stranger.close();
  }
});

test('ENOTFOUND: no such node in EPMD', async () => {
  const host = peer.node.split('@')[1];
  const ghost = `ghost_${Date.now()}@${host}`;
  const err = await rejectsWith(node.connect(ghost), erldp.NodeNotFoundError, 'ENOTFOUND');
  assert.equal(err.node, ghost);
  await rejectsWith(node.rpc(ghost, 'erlang', 'node', []), erldp.NodeNotFoundError, 'ENOTFOUND');
});

test('ECONNECT: nothing listens at the address, or the connection is lost mid-call', async () => {
  const closed = net.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address();
  await new Promise((resolve) => closed.close(resolve));
  // A short name, as ours: a long one is refused before any connecting.
  const host = node.name.description.split('@')[1];
  await rejectsWith(node.connect(`nobody@${host}`, { port }), erldp.ConnectionError, 'ECONNECT');
  // Starting with a required EPMD that is not there.
  const start = erldp.Node.start(randomName('js_'), { epmd: 'external', epmdPort: port });
  await rejectsWith(start, erldp.ConnectionError, 'ECONNECT');

  const doomed = await BeamPeer.start({ cookie: peer.cookie });
  await node.connect(doomed.node);
  const call = node.rpc(doomed.node, 'timer', 'sleep', [30000], { timeout: 60000 });
  const failed = rejectsWith(call, erldp.ConnectionError, 'ECONNECT');
  // Killed once the call runs there: killed before its request went out, the rpc would
  // connect anew and find no node (ENOTFOUND) rather than lose its connection.
  const sleeping = 'length([P || P <- processes(), process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}])';
  while ((await doomed.eval(sleeping)) === '0') {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await doomed.kill();
  const err = await failed;
  assert.equal(err.node, doomed.node);
});

test('ETIMEDOUT: an rpc or call that does not answer in time', async () => {
  // Were the timeout not kept, the rpc would resolve when the peer answers.
  await rejectsWith(
    node.rpc(peer.node, 'timer', 'sleep', [5000], { timeout: 100 }),
    erldp.TimeoutError,
    'ETIMEDOUT',
  );
  await peer.eval('{ok, _} = erldp_test_server:start(slow_server)');
  await rejectsWith(
    node.call([sym('slow_server'), peer.node], erldp.tuple(sym('sleep'), 2000), { timeout: 100 }),
    erldp.TimeoutError,
    'ETIMEDOUT',
  );
});

test('ERPC: the remote code raised, or the server is not there; reason is the remote term', async () => {
  const error = await rejectsWith(node.rpc(peer.node, 'erlang', 'error', [sym('oops')]), erldp.RpcError, 'ERPC');
  assert.deepEqual([error.reason[0], error.reason[1]], [sym('error'), sym('oops')]);
  const thrown = await rejectsWith(node.rpc(peer.node, 'erlang', 'throw', [42]), erldp.RpcError, 'ERPC');
  assert.deepEqual([...thrown.reason], [sym('throw'), 42, []]);
  const exited = await rejectsWith(node.rpc(peer.node, 'erlang', 'exit', ['bye']), erldp.RpcError, 'ERPC');
  assert.deepEqual([...exited.reason], [sym('exit'), 'bye', []]);
  const undef = await rejectsWith(node.rpc(peer.node, 'no_such_module', 'f', []), erldp.RpcError, 'ERPC');
  assert.equal(undef.reason[1], sym('undef'));
  const noproc = await rejectsWith(node.call([sym('no_such_server'), peer.node], 1), erldp.RpcError, 'ERPC');
  assert.deepEqual([...noproc.reason], [sym('exit'), sym('noproc'), []]);
});

test('EDECODE: bytes that are not a term', () => {
  assert.throws(
    () => erldp.decode(Buffer.from([131, 104, 2, 97])),
    (err) => err instanceof erldp.DecodeError && err.code === 'EDECODE' && typeof err.offset === 'number',
  );
  assert.throws(() => erldp.decode(Buffer.from([1, 2, 3])), { code: 'EDECODE' });
});

test('EENCODE: a value with no Erlang counterpart, thrown by send and rejected by rpc', async () => {
  const box = node.mailbox();
  assert.throws(
    () => box.send([sym('x'), peer.node], { ok: [1, undefined] }),
    (err) => err instanceof erldp.EncodeError && err.code === 'EENCODE' && err.path === '[ok][1]',
  );
  box.close();
  const err = await rejectsWith(node.rpc(peer.node, 'erlang', 'display', [() => 1]), erldp.EncodeError, 'EENCODE');
  assert.equal(err.path, '[0]');
  await rejectsWith(node.call([sym('x'), peer.node], new Date()), erldp.EncodeError, 'EENCODE');
});

test('ECLOSED: using a closed mailbox or node', async () => {
  const box = node.mailbox();
  box.close();
  await rejectsWith(box.receive(), erldp.ClosedError, 'ECLOSED');
  assert.throws(() => box.send([sym('x'), peer.node], 1), { code: 'ECLOSED' });
  await rejectsWith(box.link(node.pid), erldp.ClosedError, 'ECLOSED');
});

test('EINVAL: malformed node names and destinations; TypeError for wrong argument types', async () => {
  await rejectsWith(node.rpc('no at sign', 'erlang', 'node', []), erldp.InvalidArgumentError, 'EINVAL');
  await rejectsWith(erldp.Node.start('not a name!'), erldp.InvalidArgumentError, 'EINVAL');
  assert.throws(() => node.send(42, 'x'), { code: 'EINVAL' });
  assert.throws(() => node.mailbox('rex'), { code: 'EINVAL' });
  await assert.rejects(node.rpc(peer.node, 'erlang', 'node', 'not an array'), TypeError);
  await assert.rejects(node.rpc(peer.node, 'erlang', 'node', [], { timeout: -1 }), TypeError);
  await assert.rejects(erldp.Node.start('js', { epmd: 'sometimes' }), TypeError);
});

test('ENAMETAKEN: a node name EPMD has, a mailbox name the node has', async () => {
  const [alive] = node.name.description.split('@');
  const err = await rejectsWith(erldp.Node.start(alive, { cookie: peer.cookie }), erldp.NameTakenError, 'ENAMETAKEN');
  assert.match(err.message, /EPMD/);
  const box = node.mailbox('taken_here');
  try {
    assert.throws(() => node.mailbox('taken_here'), { code: 'ENAMETAKEN', name: 'NameTakenError' });
  } finally {
    box.close();
  }
});

test('EIO: the listen port is taken; an ErlDPError of no subclass', async () => {
  const taken = net.createServer();
  await new Promise((resolve) => taken.listen(0, '0.0.0.0', resolve));
  try {
    const { port } = taken.address();
    const start = erldp.Node.start(randomName('js_'), { cookie: peer.cookie, port });
    const err = await rejectsWith(start, erldp.ErlDPError, 'EIO');
    assert.equal(Object.getPrototypeOf(err), erldp.ErlDPError.prototype);
    assert.match(err.message, new RegExp(`port ${port}`));
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('an error code the package does not know is a TypeError, not a guess', () => {
  const { makeError } = require('../lib/errors');
  assert.throws(() => makeError('EBOGUS', 'from nowhere'), TypeError);
  assert.throws(() => makeError('toString', 'from nowhere'), TypeError);
  assert.ok(makeError('EIO', 'disk on fire') instanceof erldp.ErlDPError);
});
