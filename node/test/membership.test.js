'use strict';
// Cluster membership from JavaScript (API.md, "Cluster membership"): global names both ways
// and as destinations, pg groups both ways, node_up/node_down — against real BEAM nodes
// (OTP 25) started with `-kernel start_pg true`, our node visible (`hidden: false`) so that
// it takes part in global.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { BeamPeer, randomName, atom, otpChroots, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
const PG = ['-kernel', 'start_pg', 'true'];
let peer;
let node;

startPeerAndNode({ peer: { args: PG }, node: { hidden: false } }, async (started) => {
  ({ peer, node } = started);
  await node.connect(peer.node);
  await peer.eval('erldp_cluster:wait_started(30000)');
  await peer.eval(`erldp_cluster:await_mesh([node()], [${us()}], 30000)`);
});

/** Evaluates `expr` on `on` (default: the peer) with no variables bound by earlier commands. */
async function beam(expr, on = peer) {
  await on.eval('f()');
  return on.eval(expr);
}

/** Our node as an Erlang atom literal. */
function us() {
  return atom(Symbol.keyFor(node.name));
}

let collectors = 0;

/**
 * Evaluates `expr` on the peer with `P` bound to `pid`, which gets there the way pids do:
 * in a message (a collector on the peer keeps it).
 */
async function withPid(pid, expr, on = peer) {
  const name = `js_pid_${++collectors}`;
  await beam(`erldp_test:collect(${name})`, on);
  node.send([sym(name), on.node], pid);
  return beam(`[P] = erldp_test:collected(${name}, 1, 10000), ${expr}`, on);
}

/** Waits, turn after turn of the event loop, until `check()` resolves truthy (the test's own timeout bounds it). */
async function until(check) {
  for (;;) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('global:sync() returns on the BEAM node while our visible node is connected', async () => {
  assert.equal(node.hidden, false);
  assert.equal(await beam('global:sync()'), 'ok');
  assert.equal(await beam(`lists:member(${us()}, nodes())`), 'true');
});

test('registerGlobal: BEAM resolves the name to our mailbox and sends to it', async () => {
  const box = node.mailbox();
  try {
    assert.equal(await node.registerGlobal('js_svc', box), true);
    assert.deepEqual(await node.whereisGlobal('js_svc'), box.pid);
    assert.equal(await withPid(box.pid, 'global:whereis_name(js_svc) =:= P'), 'true');
    await beam('global:send(js_svc, {hello, from_beam})');
    const msg = await box.receive({ timeout: 10000 });
    assert.deepEqual([...msg.term], [sym('hello'), sym('from_beam')]);
    // A second process cannot take the name.
    const other = node.mailbox();
    assert.equal(await node.registerGlobal(sym('js_svc'), other), false);
    other.close();
    await node.unregisterGlobal('js_svc');
    assert.equal(await node.whereisGlobal('js_svc'), null);
    assert.equal(await beam('global:whereis_name(js_svc)'), 'undefined');
  } finally {
    box.close();
  }
});

test('a name BEAM registers is known here; erldp.global(name) sends, calls, casts and monitors', async () => {
  await beam('erldp_test:echo_start(echo), yes = global:register_name(beam_echo, whereis(echo))');
  const echo = await node.whereisGlobal('beam_echo');
  assert.ok(echo instanceof erldp.Pid);
  assert.equal(echo.node, sym(peer.node));
  const box = node.mailbox();
  try {
    box.send(erldp.global('beam_echo'), erldp.tuple(box.pid, 'hi'));
    const msg = await box.receive({ timeout: 10000 });
    assert.deepEqual([...msg.term], [sym('echo'), 'hi']);
    // A gen_server registered globally on BEAM, called and cast to by its global name.
    await beam("{ok, _} = gen_server:start({global, beam_store}, erldp_test_server, [], []), ok");
    assert.equal(await node.call(erldp.global('beam_store'), erldp.tuple(sym('echo'), 5)), 5);
    node.cast(erldp.global('beam_store'), erldp.tuple(sym('put'), 'cast'));
    assert.deepEqual(await node.call(erldp.global('beam_store'), sym('casts')), [erldp.tuple(sym('put'), 'cast')]);
    const ref = await box.monitor(erldp.global('beam_store'));
    await beam('gen_server:stop({global, beam_store})');
    const down = await box.receive({ timeout: 10000 });
    assert.equal(down.kind, 'down');
    assert.ok(down.ref.equals(ref));
    assert.equal(down.reason, sym('normal'));
    await assert.rejects(node.call(erldp.global('nobody_here'), 1), (err) => err instanceof erldp.ErlDPError);
  } finally {
    box.close();
  }
});

test('a served name registered globally answers gen_server:call({global, Name}, ...)', async () => {
  const served = node.serve('calc_g', (request) => request[1] + request[2]);
  try {
    assert.equal(await node.registerGlobal('js_calc', served.pid), true);
    assert.equal(await beam('gen_server:call({global, js_calc}, {add, 20, 22})'), '42');
    assert.equal(await node.call(erldp.global('js_calc'), erldp.tuple(sym('add'), 1, 2)), 3);
  } finally {
    served.close();
  }
  // The name goes with the process.
  await until(async () => (await beam('global:whereis_name(js_calc)')) === 'undefined');
});

test('a hidden node cannot register global names, and asks a peer where one is', async () => {
  const hidden = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie });
  try {
    await hidden.connect(peer.node);
    const box = hidden.mailbox();
    await assert.rejects(hidden.registerGlobal('hidden_name', box), /hidden/);
    await beam('erldp_test:echo_start(echo2), yes = global:register_name(beam_echo2, whereis(echo2))');
    const found = await hidden.whereisGlobal('beam_echo2');
    assert.ok(found instanceof erldp.Pid);
    assert.equal(found.node, sym(peer.node));
  } finally {
    await hidden.close();
  }
});

test('pg: our mailbox joins a group BEAM lists, and BEAM members are listed here', async () => {
  const box = node.mailbox();
  try {
    await box.join(sym('room'));
    assert.equal(await withPid(box.pid, 'erldp_cluster:await_members(pg, room, [P], [node()], 10000)'), 'ok');
    const beamPids = await beam('Ps = erldp_cluster:join(pg, room, 2), length(Ps)');
    assert.equal(beamPids, '2');
    const members = await until(async () => {
      const now = await node.members(sym('room'));
      return now.length === 3 && now;
    });
    assert.equal(members.filter((pid) => pid.node === sym(peer.node)).length, 2);
    assert.ok(members.some((pid) => pid.equals(box.pid)));
    // Another scope: the group there is another group.
    await beam('erldp_cluster:start_scope(chat)');
    await box.join('lobby', { scope: 'chat' });
    assert.equal(
      await withPid(box.pid, 'erldp_cluster:await_members(chat, <<"lobby">>, [P], [node()], 10000)'),
      'ok',
    );
    assert.equal(await box.leave(sym('room')), true);
    assert.equal(await box.leave(sym('room')), false);
    assert.equal(
      await withPid(box.pid, 'erldp_test:wait_for(fun() -> not lists:member(P, pg:get_members(pg, room)) end, 10000)'),
      'true',
    );
    assert.equal((await node.members(sym('room'))).length, 2);
  } finally {
    box.close();
  }
  // Closing the mailbox ends its memberships.
  await until(async () => (await beam('pg:get_members(chat, <<"lobby">>)')) === '[]');
});

// tests/erlang/erldp_pubsub.erl reproduces phoenix_pubsub v2.1.3's default adapter
// (lib/phoenix/pubsub/pg2.ex): its scope, group names and message shapes.
test('erldp.PubSub: Phoenix.PubSub broadcasts reach our subscribers, and ours reach BEAM subscribers', async () => {
  const groups = await beam(
    "Gs = erldp_pubsub:start('Elixir.MyApp.PubSub', 2), " +
      "erldp_pubsub:subscribe('Elixir.MyApp.PubSub', <<\"room\">>, erldp_test:collect(sub)), Gs",
  );
  assert.equal(groups, "['Elixir.MyApp.PubSub.Adapter','Elixir.MyApp.PubSub.Adapter_2']");
  const pubsub = await erldp.PubSub.start(node, 'MyApp.PubSub', { poolSize: 2 });
  const box = node.mailbox();
  try {
    assert.deepEqual(pubsub.groups, [sym('Elixir.MyApp.PubSub.Adapter'), sym('Elixir.MyApp.PubSub.Adapter_2')]);
    pubsub.subscribe(box, 'room');
    // BEAM's scope lists our worker in each group before it broadcasts to it.
    for (const group of ['Adapter', 'Adapter_2']) {
      await beam(
        `erldp_test:wait_for(fun() -> length(pg:get_members('Elixir.Phoenix.PubSub', 'Elixir.MyApp.PubSub.${group}')) =:= 2 end, 10000)`,
      );
    }
    await beam("erldp_pubsub:broadcast('Elixir.MyApp.PubSub', <<\"room\">>, {hello, from_beam})");
    const got = await box.receive({ timeout: 10000 });
    assert.deepEqual([...got.term], [sym('hello'), sym('from_beam')]);
    await beam(`erldp_pubsub:direct_broadcast(${us()}, 'Elixir.MyApp.PubSub', <<"room">>, direct)`);
    assert.equal((await box.receive({ timeout: 10000 })).term, sym('direct'));
    // Ours: BEAM's worker is in the group once our scope has heard of it.
    await until(async () => (await node.members(sym('Elixir.MyApp.PubSub.Adapter'), { scope: 'Elixir.Phoenix.PubSub' })).length === 2);
    await pubsub.broadcast('room', erldp.tuple(sym('hello'), sym('from_js')));
    assert.deepEqual([...(await box.receive({ timeout: 10000 })).term], [sym('hello'), sym('from_js')]);
    assert.equal(await beam('erldp_test:collected(sub, 2, 10000)'), '[{hello,from_beam},{hello,from_js}]');
    assert.equal(pubsub.unsubscribe(box, 'room'), true);
    assert.equal(pubsub.unsubscribe(box, 'room'), false);
  } finally {
    pubsub.close();
    box.close();
  }
});

test('monitorNodes: node_up and node_down for a peer that comes and goes', async () => {
  const box = node.mailbox();
  const second = await BeamPeer.start({ cookie: peer.cookie, args: PG });
  try {
    box.monitorNodes();
    await node.connect(second.node);
    const up = await until(async () => {
      const msg = await box.receive({ timeout: 10000 });
      return msg.kind === 'node_up' && msg.node === sym(second.node) && msg;
    });
    assert.deepEqual([...up.term], [sym('nodeup'), sym(second.node)]);
    await second.stop();
    const down = await until(async () => {
      const msg = await box.receive({ timeout: 10000 });
      return msg.kind === 'node_down' && msg.node === sym(second.node) && msg;
    });
    assert.deepEqual([...down.term], [sym('nodedown'), sym(second.node)]);
    box.demonitorNodes();
  } finally {
    box.close();
    await second.stop();
  }
});

// The same against a BEAM node of each OTP compatibility chroot (27, 29) joined to the cluster:
// global's protocol and pg's discover differ in form between releases.
for (const otp of otpChroots()) {
  test(`OTP ${otp}: global names and pg groups both ways with a peer of that release`, async () => {
    const other = await BeamPeer.start({ cookie: peer.cookie, otp, args: PG });
    const box = node.mailbox();
    try {
      await node.connect(other.node);
      await beam('erldp_cluster:wait_started(60000)', other);
      await beam(`erldp_cluster:await_mesh([node(), ${atom(peer.node)}], [${us()}], 60000)`, other);
      assert.equal(await node.registerGlobal(`js_otp${otp}`, box), true);
      assert.equal(await withPid(box.pid, `global:whereis_name(js_otp${otp}) =:= P`, other), 'true');
      await beam(`yes = global:register_name(beam_otp${otp}, erldp_cluster:spawn_idle())`, other);
      const found = await node.whereisGlobal(`beam_otp${otp}`);
      assert.ok(found instanceof erldp.Pid);
      assert.equal(found.node, sym(other.node));
      await box.join(sym(`room_otp${otp}`));
      assert.equal(
        await withPid(box.pid, `erldp_cluster:await_members(pg, room_otp${otp}, [P], [node()], 10000)`, other),
        'ok',
      );
      await beam(`erldp_cluster:join(pg, room_otp${otp}, 1)`, other);
      const members = await until(async () => {
        const now = await node.members(sym(`room_otp${otp}`));
        return now.length === 2 && now;
      });
      assert.ok(members.some((pid) => pid.node === sym(other.node)));
    } finally {
      box.close();
      await other.stop();
    }
  });
}
