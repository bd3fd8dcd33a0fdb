'use strict';
// Messages to one peer arrive in the order they were sent, from a node and its mailbox, small
// and 64 KiB or more (which the core writes from the sender's memory), written as ETF by the
// package or converted by the addon, while the connection is being made and once it is up,
// with the peer's lane busy or idle. Every send takes the lane today; a send that skips it
// (tried in a8ba264: from the JavaScript thread when the connection has room) must wait for
// what is still on the lane: without that, a small message right after a large one went out
// ahead of it and this test failed.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
const ROUNDS = 40;
const PER_ROUND = 50;
const BIG = 70 * 1024;
/** An answer that never comes fails the test here instead of hanging it. */
const GUARD = { timeout: 120_000 };

let peer;
let node;

startPeerAndNode({}, (started) => ({ peer, node } = started));

/** A map with a tuple key: lib/etf.js leaves it to the addon's converter (`send`, not `sendEncoded`). */
const converted = () => new Map([[erldp.tuple(1, 2), true]]);

/** The payload of message `k`: small or 64 KiB and more, written as ETF by the package or converted by the addon. */
const payloads = [
  () => Buffer.alloc(16),
  () => Buffer.alloc(16),
  () => converted(),
  () => Buffer.alloc(BIG, 7),
  () => Buffer.alloc(16),
  () => [converted(), Buffer.alloc(BIG, 9)],
  () => Buffer.alloc(16),
];

test('messages from a node and its mailbox to one peer keep their order, direct or on the lane', GUARD, async () => {
  await peer.eval('erldp_js_test:sequence_start(order_sink)');
  const box = node.mailbox();
  const senders = [
    [node, sym('node'), 0],
    [box, sym('box'), 0],
  ];
  const sink = [sym('order_sink'), peer.node];
  let sent = 0;
  // The first round is sent before the connection is made, in one turn of the event loop.
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++, sent++) {
      const from = senders[Math.floor(sent / 3) % 2];
      from[2] += 1;
      from[0].send(sink, erldp.tuple(from[1], from[2], payloads[sent % payloads.length]()));
    }
    // Lanes get their staged sends at the end of a turn: the next round starts with them
    // running, or after an rpc's round trip, with them most likely done.
    if (round % 2 === 0) await new Promise(setImmediate);
    else await node.rpc(peer.node, 'erlang', 'node', []);
  }
  assert.equal(await peer.eval(`erldp_js_test:sequence_wait(order_sink, ${sent}, 60000)`), `{${sent},[]}`);

  box.close();
  assert.throws(() => box.send(sink, erldp.tuple(sym('box'), 0, 0)), { code: 'ECLOSED' });
});

// A mailbox's sends, replies and links run on its peer's lane after the call returned; its
// close must still come after them, as a process's exit signal comes after what it sent. Before,
// close ran at once: the lane then found the mailbox closed and dropped every message.
test('what a mailbox sent or replied before close reaches the peer before its exit signal', GUARD, async () => {
  // Records messages until the exit signal of a linked process, then gives them up.
  await peer.eval(
    'register(close_sink, spawn(fun() -> process_flag(trap_exit, true), ' +
      'L = fun L(A) -> receive {n, _} = M -> L([M | A]); {\'EXIT\', _, _} = E -> ' +
      'receive {dump, P} -> P ! lists:reverse([E | A]) end end end, L([]) end))',
  );
  const sink = await node.rpc(peer.node, 'erlang', 'whereis', [sym('close_sink')]);
  const box = node.mailbox();
  const linked = box.link(sink);
  for (let i = 1; i <= 100; i++) box.send(sink, erldp.tuple(sym('n'), i));
  box.close(sym('bye'));
  await linked;
  assert.equal(box.closed, true);
  assert.throws(() => box.send(sink, erldp.tuple(sym('n'), 101)), { code: 'ECLOSED' });
  await assert.rejects(box.monitor(sink), { code: 'ECLOSED' });
  assert.equal(
    await peer.eval(
      'close_sink ! {dump, self()}, receive R -> ' +
        '{length(R), [I || {n, I} <- R] =:= lists:seq(1, 100), element(3, lists:last(R))} ' +
        'after 60000 -> timeout end',
    ),
    '{101,true,bye}',
  );

  // Its name is free at once, a receive with nothing queued rejects, and it takes no new calls,
  // while its close still waits for what it handed over.
  // (Before the lanes run, at the end of this turn: the core has not closed it yet.)
  const named = node.mailbox('closing_named');
  named.send(sink, erldp.tuple(sym('n'), 0));
  named.close();
  const again = node.mailbox('closing_named');
  assert.throws(() => named.monitorNodes(), { code: 'ECLOSED' });
  assert.throws(() => named.demonitorNodes(), { code: 'ECLOSED' });
  await assert.rejects(named.receive(), { code: 'ECLOSED' });
  again.close();

  const server = node.mailbox('closing_server');
  const call = peer.eval(`gen_server:call({closing_server, '${Symbol.keyFor(node.name)}'}, hi, 60000)`);
  const [, from] = (await server.receive({ timeout: 60_000 })).term;
  server.reply(from, sym('answer'));
  server.close(sym('bye'));
  assert.equal(await call, 'answer');
  assert.throws(() => server.reply(from, 1), { code: 'ECLOSED' });
});
