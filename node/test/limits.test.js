'use strict';
// The limits README lists, as Node.start options, and a mailbox's queue length and limit,
// against a real BEAM node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { randomName, atom, startPeerAndNode } = require('./support/beam');

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
