'use strict';
// Nothing blocks the event loop: thousands of requests in flight while the
// loop goes on running timers. Shown by order, not by time: the requests
// wait on the peer for a gate that a timer of this process opens, so they
// can only answer once the loop has run that timer while they were in
// flight; and the answers, when they all come at once, are settled in
// batches between which the loop runs other work.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startPeerAndNode } = require('./support/beam');

const CALLS = 2000;
const sym = Symbol.for;
/** An answer that never comes fails the test here instead of hanging it. */
const GUARD = { timeout: 120_000 };

let peer;
let node;

startPeerAndNode({}, (started) => ({ peer, node } = started));

/** Runs `work` while `setImmediate` keeps noting a turn of the event loop in `events`. */
async function turning(events, work) {
  let running = true;
  const turn = () => {
    if (!running) return;
    events.push('turn');
    setImmediate(turn);
  };
  setImmediate(turn);
  try {
    return await work();
  } finally {
    running = false;
  }
}

test(`${CALLS} concurrent rpcs all answer correctly while the event loop keeps running`, GUARD, async () => {
  await peer.eval('erldp_js_test:gate_start(burst_gate)');
  const events = [];
  const results = await turning(events, () => {
    // Each rpc waits on the peer until the timer below opens the gate, then a second rpc
    // checks that every answer reaches its own caller.
    const calls = Array.from({ length: CALLS }, (_, i) =>
      node
        .rpc(peer.node, 'erldp_js_test', 'gate_wait', [sym('burst_gate'), i], { timeout: 60_000 })
        .then((first) => {
          events.push('answer');
          return node.rpc(peer.node, 'erlang', 'integer_to_binary', [first], { timeout: 60_000 });
        }),
    );
    setTimeout(() => {
      events.push('open');
      node.send([sym('burst_gate'), peer.node], sym('open'));
    }, 1);
    return Promise.all(calls);
  });
  results.forEach((value, i) => assert.equal(value, String(i)));
  const open = events.indexOf('open');
  const first = events.indexOf('answer');
  const last = events.lastIndexOf('answer');
  assert.ok(open >= 0 && open < first, 'the timer ran while every rpc was waiting');
  assert.ok(
    events.slice(first, last).includes('turn'),
    `the event loop turned while ${CALLS} answers were settled`,
  );
});

test('waiting receives, a slow rpc and failing pings leave the loop free', GUARD, async () => {
  await peer.eval('erldp_js_test:gate_start(slow_gate)');
  const box = node.mailbox();
  const events = [];
  const receives = Array.from({ length: 200 }, () =>
    box.receive({ timeout: 60_000 }).then((message) => {
      events.push('received');
      return message.term;
    }),
  );
  const slow = node
    .rpc(peer.node, 'erldp_js_test', 'gate_wait', [sym('slow_gate'), sym('done')], { timeout: 60_000 })
    .then((value) => {
      events.push('rpc');
      return value;
    });
  const host = peer.node.split('@')[1];
  const ghosts = Array.from({ length: 20 }, (_, i) => node.ping(`ghost${i}_${Date.now()}@${host}`));
  setTimeout(() => {
    events.push('timer');
    for (let i = 0; i < 200; i++) box.send(box.pid, i);
    node.send([sym('slow_gate'), peer.node], sym('open'));
  }, 1);
  const got = await Promise.all(receives);
  assert.deepEqual(
    got.sort((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal(await slow, sym('done'));
  assert.deepEqual(new Set(await Promise.all(ghosts)), new Set(['pang']));
  assert.equal(events[0], 'timer', 'nothing was answered before the timer ran');
  box.close();
});
