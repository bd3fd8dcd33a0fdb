'use strict';
// Remote errors read as their node would put them (issue 16, items 10, 11 and 12): the core
// words them once, and an ERPC error's message is those words, with the remote term unchanged
// in `reason`. Against a BEAM node running Elixir's own modules.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { startPeerAndNode, elixirPeer } = require('./support/beam');

const sym = Symbol.for;
let peer;
let node;

startPeerAndNode({ ...elixirPeer(), prefix: 'js_err_' }, (started) => ({ peer, node } = started));

/** The ERPC error `promise` rejects with. */
async function rpcError(promise) {
  const err = await promise.then(
    (value) => assert.fail(`resolved with ${String(value)} instead of rejecting`),
    (e) => e,
  );
  assert.ok(err instanceof erldp.RpcError, `${err} is an RpcError`);
  assert.equal(err.code, 'ERPC');
  return err;
}

test('an Elixir exception reads as Elixir shows it; the raw term stays in reason', async () => {
  const raised = new Map([
    [sym('__struct__'), sym('Elixir.MyApp.NotFound')],
    [sym('__exception__'), true],
    [sym('id'), 7],
    [sym('message'), 'user 7 not found'],
  ]);
  const err = await rpcError(node.rpc(peer.node, 'erlang', 'error', [raised]));
  assert.equal(err.message, 'remote error: ** (MyApp.NotFound) user 7 not found');
  assert.equal(err.reason[0], sym('error'));
  assert.deepEqual(err.reason[1], raised);

  // KeyError's struct has no message: KeyError.message/1 computes it, on the node.
  const computed = await rpcError(node.rpc(peer.node, 'Elixir.Keyword', 'fetch!', [[], sym('k')]));
  assert.equal(computed.message, 'remote error: ** (KeyError) key :k not found in: []');
  assert.equal(computed.reason[1].get(sym('__struct__')), sym('Elixir.KeyError'));
});

test('an undefined module with an Elixir namesake says so', async () => {
  const err = await rpcError(node.rpc(peer.node, 'String', 'upcase', ['x']));
  assert.ok(
    err.message.includes("(no module 'String' there, but Elixir's String is 'Elixir.String')"),
    err.message,
  );
  assert.equal(err.reason[1], sym('undef'));
});

test('a failed call names its server', async () => {
  const err = await rpcError(node.call([sym('no_such_server'), peer.node], sym('get')));
  assert.equal(err.message, `remote exit: noproc (no process {no_such_server,${peer.node}} to call)`);
  assert.deepEqual([...err.reason], [sym('exit'), sym('noproc'), []]);
});
