'use strict';
// Nothing blocks the event loop: thousands of requests in flight while a
// timer measures how late the loop runs it.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const erldp = require('..');
const { BeamPeer, randomName } = require('./support/beam');

const CALLS = 2000;
const TICK_MS = 10;
const MAX_LAG_MS = 200;

let peer;
let node;

before(async () => {
  // Idle BEAM schedulers spin by default, taking the CPU from the loop
  // under test on a small machine.
  peer = await BeamPeer.start({ args: ['+sbwt', 'none', '+sbwtdcpu', 'none', '+sbwtdio', 'none'] });
  // What is measured is whether this process blocks its own event loop, not
  // whether other programs on a busy machine take the CPU from it: where
  // allowed (root), the JavaScript thread and the threads it starts from
  // now on run ahead of them (the BEAM peer, started before, does not).
  try {
    os.setPriority(-10);
  } catch {
    // Not allowed: measure at the normal priority.
  }
  node = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie });
  // Connected, and the code compiled by V8, before anything is measured.
  await burst();
});

after(async () => {
  await node?.close();
  await peer?.stop();
});

/** Runs `work` while a `setInterval` records how late each tick fires; resolves with the work's result and the worst lag. */
async function measuringLag(work) {
  let last = performance.now();
  let maxLag = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - TICK_MS);
    last = now;
  }, TICK_MS);
  try {
    const result = await work();
    return { result, maxLag };
  } finally {
    clearInterval(timer);
  }
}

/**
 * CALLS concurrent rpcs, each followed by a second one: `timer:sleep` so
 * that the calls really overlap, then `integer_to_binary` to check that
 * every answer reaches its own caller.
 */
async function burst() {
  const results = await Promise.all(
    Array.from({ length: CALLS }, (_, i) =>
      node
        .rpc(peer.node, 'timer', 'sleep', [i % 50], { timeout: 30000 })
        .then(() => node.rpc(peer.node, 'erlang', 'integer_to_binary', [i], { timeout: 30000 })),
    ),
  );
  results.forEach((value, i) => assert.equal(value, String(i)));
}

test(`${CALLS} concurrent rpcs all answer correctly and the event loop keeps running`, async (t) => {
  const started = performance.now();
  const { maxLag } = await measuringLag(burst);
  const elapsed = performance.now() - started;
  const line = `${CALLS} x 2 rpcs in ${elapsed.toFixed(0)} ms; max event-loop lag ${maxLag.toFixed(1)} ms`;
  t.diagnostic(line);
  console.log(line);
  assert.ok(maxLag < MAX_LAG_MS, `the event loop lagged ${maxLag.toFixed(1)} ms`);
});

test('a slow peer and waiting receives do not hold the loop either', async (t) => {
  const box = node.mailbox();
  const { maxLag } = await measuringLag(async () => {
    const receives = Array.from({ length: 200 }, () => box.receive({ timeout: 300 }));
    const slow = node.rpc(peer.node, 'timer', 'sleep', [500], { timeout: 2000 });
    const host = peer.node.split('@')[1];
    const ghosts = Array.from({ length: 20 }, (_, i) => node.ping(`ghost${i}_${Date.now()}@${host}`));
    assert.deepEqual(new Set(await Promise.all(receives)), new Set([null]));
    assert.equal(await slow, Symbol.for('ok'));
    assert.deepEqual(new Set(await Promise.all(ghosts)), new Set(['pang']));
  });
  box.close();
  t.diagnostic(`max event-loop lag ${maxLag.toFixed(1)} ms`);
  assert.ok(maxLag < MAX_LAG_MS, `the event loop lagged ${maxLag.toFixed(1)} ms`);
});
