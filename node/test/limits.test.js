'use strict';
// The limits README lists, as Node.start options, and a mailbox's queue length and limit,
// against a real BEAM node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { BeamPeer, randomName, atom, startPeerAndNode } = require('./support/beam');

let peer;
let node;

startPeerAndNode(
  {
    node: {
      mailboxQueueLimit: 3,
      maxMessageSize: 1 << 20,
      maxPendingHandshakes: 4,
      maxMonitorsPerPeer: 10,
      sendTimeout: 2000,
      sendQueueLimit: 1 << 20,
    },
  },
  (started) => ({ peer, node } = started),
);

const us = () => atom(Symbol.keyFor(node.name));

test('a mailbox past its queue limit drops messages and counts them; its length is visible', async () => {
  const box = node.mailbox('limited');
  try {
    assert.equal(box.queueLimit, 3, 'mailboxQueueLimit is where new mailboxes start');
    await peer.eval(`[{limited, ${us()}} ! {n, N} || N <- lists:seq(1, 5)], ok`);
    // The round trip comes after the five messages on the same connection.
    await node.rpc(peer.node, 'erlang', 'node', []);
    assert.equal(box.queueLength, 3);
    assert.equal(box.dropped, 2);
    assert.deepEqual((await box.receive({ timeout: 0 })).term[1], 1);
    assert.equal(box.queueLength, 2);
    box.queueLimit = null;
    assert.equal(box.queueLimit, null);
    await peer.eval(`[{limited, ${us()}} ! {n, N} || N <- lists:seq(6, 10)], ok`);
    await node.rpc(peer.node, 'erlang', 'node', []);
    assert.equal(box.queueLength, 7);
    assert.equal(box.dropped, 2);
    const rest = [];
    for (let i = 0; i < 7; i++) rest.push((await box.receive({ timeout: 0 })).term[1]);
    assert.deepEqual(rest, [2, 3, 6, 7, 8, 9, 10]);
    assert.throws(() => (box.queueLimit = -1), TypeError);
    assert.throws(() => (box.queueLimit = 1.5), TypeError);
  } finally {
    box.close();
  }
});

test('limit options are checked before the node starts', async () => {
  for (const options of [{ maxMessageSize: -1 }, { maxPendingHandshakes: 'many' }, { sendTimeout: 0 },
    { sendQueueLimit: -1 }, { mailboxQueueLimit: 2.5 }]) {
    await assert.rejects(erldp.Node.start(randomName('js_'), { cookie: peer.cookie, ...options }), TypeError);
  }
});

test('an rpc behind sends to a peer that reads nothing fails soon after its timeout, and is never sent', { timeout: 120_000 }, async () => {
  // Past the unread queue's limit (1 MiB), each send waits up to sendTimeout (2 s) for it to
  // drain, and they go out in order: 400 of 60 kB (more than the sockets take) hold the way to
  // the peer for minutes. Before, the rpc's timeout ran only once its turn came, and it stayed
  // pending all that time.
  const stalled = await BeamPeer.start({ cookie: peer.cookie });
  try {
    await node.connect(stalled.node);
    stalled.pause();
    const text = 'y'.repeat(60_000);
    for (let i = 0; i < 400; i++) node.send([Symbol.for('nobody'), stalled.node], text);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ran = Symbol.for('erldp_late_rpc_ran');
    await assert.rejects(node.rpc(stalled.node, 'persistent_term', 'put', [ran, true], { timeout: 1000 }), {
      code: 'ETIMEDOUT',
      message: `timeout: rpc persistent_term:put/2 on ${stalled.node}: no answer within 1000 ms`,
    });
    await assert.rejects(node.call([Symbol.for('nobody'), stalled.node], Symbol.for('x'), { timeout: 1000 }), {
      code: 'ETIMEDOUT',
    });
    // Once the peer reads again, the lane reaches the failed rpc: it must not run it late (it
    // did before, after its caller had been told it timed out). This rpc is sent after it.
    stalled.resume();
    assert.equal(await node.rpc(stalled.node, 'erlang', 'node', [], { timeout: 120_000 }), Symbol.for(stalled.node));
    assert.equal(await stalled.eval('persistent_term:get(erldp_late_rpc_ran, false)'), 'false');
  } finally {
    stalled.resume();
    await stalled.stop();
  }
});
