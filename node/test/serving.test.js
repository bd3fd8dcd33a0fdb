'use strict';
// Serving BEAM callers from JavaScript (API.md, "Serving BEAM callers"): gen_server calls,
// casts and plain messages into node.serve, rpc/erpc into node.expose, NOREPLY and
// node.reply, box.reply, handler errors as BEAM sees them — all driven by a real BEAM node
// (OTP 25) with Elixir's modules on its path, so that GenServer.call is Elixir's own.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const erldp = require('..');
const { BeamPeer, randomName, atom, otpChroots, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
const ELIXIR_EBIN = '/usr/lib/elixir/lib/elixir/ebin';
let peer;
let node;

startPeerAndNode({ peer: { args: ['-pa', ELIXIR_EBIN] } }, (started) => ({ peer, node } = started));

/** Evaluates `expr` on the peer with no variables bound by earlier commands. */
async function beam(expr) {
  await peer.eval('f()');
  return peer.eval(expr);
}

/** Our node as an Erlang atom literal. */
const us = () => atom(Symbol.keyFor(node.name));

/** A promise and the function that resolves it. */
function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('GenServer.call from Elixir runs the handler with (request, from) and replies with its value', async () => {
  const seen = [];
  const served = node.serve('calc', (request, from) => {
    seen.push({ request, from });
    const [op, a, b] = request;
    if (op === sym('add')) return a + b;
    throw new TypeError(`unknown request ${String(op)}`);
  });
  try {
    assert.equal(served.name, sym('calc'));
    assert.ok(served.pid instanceof erldp.Pid);
    assert.equal(served.pid.node, node.name);
    assert.equal(await beam(`'Elixir.GenServer':call({calc, ${us()}}, {add, 2, 3})`), '5');
    assert.equal(await beam(`gen_server:call({calc, ${us()}}, {add, 40, 2})`), '42');
    assert.equal(seen.length, 2);
    assert.ok(seen[0].request instanceof erldp.Tuple);
    // `from` is gen_server's {Pid, Tag}: the caller's pid and its alias tag.
    assert.ok(seen[0].from instanceof erldp.Tuple);
    assert.equal(seen[0].from.length, 2);
    assert.equal(seen[0].from[0].node, sym(peer.node));
    // The served pid answers calls made to it directly.
    const direct = await node.rpc(peer.node, 'gen_server', 'call', [served.pid, erldp.tuple(sym('add'), 1, 1)]);
    assert.equal(direct, 2);
  } finally {
    served.close();
  }
});

test('GenServer.cast and a plain message run the handler with from null, in order with calls', async () => {
  const seen = [];
  let count = 0;
  const served = node.serve('counter', (request, from) => {
    seen.push({ request, from });
    if (request === sym('get')) return count;
    count += 1;
    return sym('ignored');
  });
  try {
    const value = await beam(
      `true = net_kernel:connect_node(${us()}), 'Elixir.GenServer':cast({counter, ${us()}}, bump), {counter, ${us()}} ! bump_by_send, ` +
        `gen_server:cast({counter, ${us()}}, bump), gen_server:call({counter, ${us()}}, get)`,
    );
    assert.equal(value, '3');
    assert.deepEqual(
      seen.map((s) => [s.request, s.from]),
      [
        [sym('bump'), null],
        [sym('bump_by_send'), null],
        [sym('bump'), null],
        [sym('get'), seen[3].from],
      ],
    );
    assert.ok(seen[3].from instanceof erldp.Tuple);
  } finally {
    served.close();
  }
});

test('a throwing handler makes that call exit at once with {Class, Message}; serving goes on', async () => {
  const served = node.serve('thrower', (request) => {
    if (request === sym('type')) return null.nope;
    if (request === sym('plain')) throw new Error('plain failure');
    if (request === sym('reject')) return Promise.reject(new RangeError('rejected'));
    if (request === sym('string')) throw 'a string'; // eslint-disable-line no-throw-literal
    // What cannot be read without throwing: before, each killed the process.
    if (request === sym('symbol')) throw Object.assign(new Error(), { message: Symbol('m') });
    if (request === sym('stack')) {
      const err = new TypeError('no stack');
      Object.defineProperty(err, 'stack', { get: () => { throw new Error('stack getter'); } });
      throw err;
    }
    if (request === sym('then')) return { get then() { throw new RangeError('then getter'); } };
    if (request === sym('proxy')) throw new Proxy(new Error('p'), { getPrototypeOf() { throw new Error('trap'); } });
    if (request === sym('uri')) {
      const err = new Error('bad uri');
      err.stack = 'Error: bad uri\n    at f (file:///x%E0.js:1:1)';
      throw err;
    }
    return sym('fine');
  });
  try {
    const exit = (request) =>
      beam(`{'EXIT', {R, {gen_server, call, _}}} = (catch gen_server:call({thrower, ${us()}}, ${request}, 10000)), R`);
    assert.match(await exit('type'), /^\{'TypeError',<<"Cannot read properties of null \(reading 'nope'\)">>\}$/);
    assert.equal(await exit('plain'), `{'Error',<<"plain failure">>}`);
    assert.equal(await exit('reject'), `{'RangeError',<<"rejected">>}`);
    assert.equal(await exit('string'), `{'Error',<<"a string">>}`);
    assert.equal(await exit('symbol'), `{'Error',<<"Symbol(m)">>}`);
    assert.equal(await exit('stack'), `{'TypeError',<<"no stack">>}`);
    assert.equal(await exit('then'), `{'RangeError',<<"then getter">>}`);
    assert.equal(await exit('proxy'), `{'Error',<<"(unprintable)">>}`);
    assert.equal(await exit('uri'), `{'Error',<<"bad uri">>}`);
    // The exit comes through the call's monitor: a caller that traps exits sees the same.
    assert.equal(
      await beam(
        `process_flag(trap_exit, true), {'EXIT', {R, _}} = (catch gen_server:call({thrower, ${us()}}, plain)), R`,
      ),
      `{'Error',<<"plain failure">>}`,
    );
    assert.equal(await beam(`gen_server:call({thrower, ${us()}}, ok)`), 'fine');
    // Elixir formats the reason as the exit of a GenServer.call.
    const elixir = await beam(
      `try 'Elixir.GenServer':call({thrower, ${us()}}, plain) catch exit:E -> ` +
        `iolist_to_binary('Elixir.Exception':format_exit(E)) end`,
    );
    assert.match(elixir, /exited in: GenServer\.call\(\{:thrower, .*\*\* \(EXIT\) \{:Error, \\"plain failure\\"\}/s);
  } finally {
    served.close();
  }
});

test('an async handler answers with its Promise; NOREPLY and node.reply answer later', async () => {
  const pending = deferred();
  const served = node.serve('later', async (request, from) => {
    if (request === sym('async')) {
      await new Promise((resolve) => setImmediate(resolve));
      return 'from a Promise';
    }
    pending.resolve(from);
    return erldp.NOREPLY;
  });
  try {
    assert.equal(await beam(`gen_server:call({later, ${us()}}, async)`), '<<"from a Promise">>');
    const call = beam(`gen_server:call({later, ${us()}}, wait, 10000)`);
    const from = await pending.promise;
    // The next request may start while this one waits for its reply.
    const other = await node.rpc(peer.node, 'gen_server', 'call', [erldp.tuple(sym('later'), node.name), sym('async')]);
    assert.equal(other, 'from a Promise');
    node.reply(from, erldp.tuple(sym('ok'), 7));
    assert.equal(await call, '{ok,7}');
    assert.throws(() => node.reply(sym('not_from'), 1), { code: 'EINVAL' });
  } finally {
    served.close();
  }
});

test('requests to one served name run one at a time; { concurrency } lets N run at once', async () => {
  let running = 0;
  let most = 0;
  let counter = 0;
  const serial = node.serve('serial', async () => {
    running += 1;
    most = Math.max(most, running);
    // Several turns of the event loop: a handler that overlapped would be seen doing so.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    const seen = counter;
    await new Promise((resolve) => setImmediate(resolve));
    counter = seen + 1;
    running -= 1;
    return counter;
  });
  // Four handlers wait for each other: they can only finish if four run at once.
  const arrived = [];
  const allFour = deferred();
  const wide = node.serve(
    'wide',
    async (request) => {
      arrived.push(request);
      if (arrived.length === 4) allFour.resolve();
      await allFour.promise;
      return request;
    },
    { concurrency: 4 },
  );
  try {
    const callers = (name, n) =>
      `Self = self(), Ps = [spawn(fun() -> Self ! {I, gen_server:call({${name}, ${us()}}, I, 20000)} end) ` +
      `|| I <- lists:seq(1, ${n})], lists:sort([receive {I, R} -> R end || I <- lists:seq(1, ${n})])`;
    const results = await beam(callers('serial', 20));
    assert.equal(results, `[${Array.from({ length: 20 }, (_, i) => i + 1).join(',')}]`);
    assert.equal(most, 1);
    assert.equal(counter, 20);
    assert.equal(await beam(callers('wide', 4)), '[1,2,3,4]');
  } finally {
    serial.close();
    wide.close();
  }
});

test('a slow handler holds up no other name; a caller that gave up is skipped and the next call works', async () => {
  const gate = deferred();
  const started = deferred();
  const slow = node.serve('slow', async (request) => {
    started.resolve();
    await gate.promise;
    return request;
  });
  const quick = node.serve('quick', (request) => request);
  try {
    // The slow call waits on the gate; meanwhile another name answers, and the loop turns.
    const waiting = node.call([sym('slow'), node.name], sym('first'), { timeout: 20000 });
    await started.promise;
    assert.equal(await beam(`gen_server:call({quick, ${us()}}, 1)`), '1');
    // A BEAM caller of the slow name gives up: its call exits with timeout (its own clock,
    // not ours); the request it left is dropped unanswered.
    assert.match(await beam(`catch gen_server:call({slow, ${us()}}, second, 100)`), /timeout/);
    gate.resolve();
    assert.equal(await waiting, sym('first'));
    assert.equal(await beam(`gen_server:call({slow, ${us()}}, third)`), 'third');
  } finally {
    slow.close();
    quick.close();
  }
});

test('serve, unserve, expose and reply from inside a handler; unserve sends DOWN normal', async () => {
  const served = node.serve('outer', (request) => {
    if (request === sym('serve_inner')) {
      node.serve('inner', () => 'inner answer');
      return true;
    }
    return node.unserve('inner');
  });
  try {
    assert.equal(await beam(`gen_server:call({outer, ${us()}}, serve_inner)`), 'true');
    assert.equal(await beam(`gen_server:call({inner, ${us()}}, hi)`), '<<"inner answer">>');
    assert.equal(await beam(`gen_server:call({outer, ${us()}}, unserve_inner)`), 'true');
    assert.match(await beam(`catch gen_server:call({inner, ${us()}}, hi, 5000)`), /noproc/);
  } finally {
    served.close();
  }
  // A process that monitors the served name (its call after the monitor makes sure our node
  // has the monitor before the test goes on) and hands the DOWN to a collector.
  const watched = node.serve('watched', () => null);
  await beam('erldp_test:collect(watcher)');
  await beam(
    `Self = self(), spawn(fun() -> erlang:monitor(process, {watched, ${us()}}), ` +
      `gen_server:call({watched, ${us()}}, sync), Self ! monitored, receive D -> watcher ! D end end), ` +
      'receive monitored -> ok end',
  );
  assert.equal(node.unserve('watched'), true);
  assert.equal(node.unserve('watched'), false);
  const down = await beam('[D] = erldp_test:collected(watcher, 1, 10000), D');
  assert.match(down, /^\{'DOWN',#Ref<[\d.]+>,process,\{watched,[^}]+\},normal\}$/);
  assert.ok(down.includes(Symbol.keyFor(node.name)));
  watched.close();
});

test('a call handed over just before unserve exits normal, as one still waiting does', async () => {
  // The addon queues a request for the event loop; unserving while the loop is busy leaves it
  // queued with its handler gone. It used to be answered as an exception the program never
  // threw, {'Error', <<"the name is served no more">>}. When the call comes only after the
  // unserve it gets noproc instead: a few tries make sure the race itself is seen.
  const outcomes = [];
  const refused = (outcome) => outcome.startsWith("{'EXIT',{normal,");
  for (let attempt = 0; attempt < 5 && !outcomes.some(refused); attempt++) {
    const served = node.serve('late', () => 'answered');
    assert.equal(await beam(`gen_server:call({late, ${us()}}, warm)`), '<<"answered">>');
    await beam(
      `catch unregister(late_call), register(late_call, spawn(fun() -> timer:sleep(100), ` +
        `R = (catch gen_server:call({late, ${us()}}, x, 10000)), receive {get, P} -> P ! R end end)), ok`,
    );
    const until = Date.now() + 1500;
    while (Date.now() < until); // the call reaches the addon while the event loop is held
    assert.equal(node.unserve('late'), true);
    outcomes.push(await beam('late_call ! {get, self()}, receive X -> X after 15000 -> timeout end'));
    served.close();
  }
  for (const outcome of outcomes) {
    assert.match(outcome, /^\{'EXIT',\{(normal|noproc),\{gen_server,call,/, outcome);
  }
  assert.ok(outcomes.some(refused), outcomes.join('\n'));
});

test('rpc:call and erpc:call into an exposed module; an unexposed one is undef', async () => {
  const exposed = node.expose('js_math', async (fun, args) => {
    switch (fun) {
      case sym('add'):
        return args[0] + args[1];
      case sym('slow_double'):
        await new Promise((resolve) => setImmediate(resolve));
        return args[0] * 2;
      case sym('boom'):
        return undefinedFunction(args); // eslint-disable-line no-undef
      case sym('nothing'):
        throw new TypeError(`no function ${Symbol.keyFor(fun)}/${args.length}`);
      default:
        throw new erldp.Undef();
    }
  });
  try {
    assert.equal(exposed.module, sym('js_math'));
    assert.equal(await beam(`rpc:call(${us()}, js_math, add, [1, 2])`), '3');
    assert.equal(await beam(`erpc:call(${us()}, js_math, slow_double, [21])`), '42');
    assert.equal(await beam(`'Elixir.Task':await_many([` +
      `'Elixir.Task':async(fun() -> erpc:call(${us()}, js_math, add, [I, I]) end) || I <- lists:seq(1, 50)])` +
      ` =:= [2 * I || I <- lists:seq(1, 50)]`), 'true');
    // An exception: erpc's error with {Class, Message} and a stack in BEAM's frame shape.
    const raised = await beam(
      `try erpc:call(${us()}, js_math, boom, [1]) catch error:{exception, R, S} -> {R, S} end`,
    );
    assert.match(raised, /^\{\{'ReferenceError',<<"undefinedFunction is not defined">>\},\[\{[^,]+,[^,]+,0,\[\{file,"[^"]*serving\.test\.js"\},\{line,\d+\}\]\}/);
    // The package's own frames (the drain that ran the handler) are left out.
    assert.ok(!raised.includes('lib/node.js') && !raised.includes('lib/serving.js'), raised);
    const badrpc = await beam(`rpc:call(${us()}, js_math, nothing, [1, 2])`);
    assert.match(badrpc, /^\{badrpc,\{'EXIT',\{\{'TypeError',<<"no function nothing\/2">>\},\[/);
    assert.equal(
      await beam(`rpc:call(${us()}, not_exposed, f, [1])`),
      `{badrpc,{'EXIT',{undef,[{not_exposed,f,[1],[]}]}}}`,
    );
    // A function the handler does not have: what BEAM answers for a function its module lacks.
    assert.equal(
      await beam(`rpc:call(${us()}, js_math, nofun, [1])`),
      `{badrpc,{'EXIT',{undef,[{js_math,nofun,[1],[]}]}}}`,
    );
    assert.equal(
      await beam(`try erpc:call(${us()}, js_math, nofun, []) catch UC:UR -> {UC, UR} end`),
      `{error,{exception,undef,[{js_math,nofun,[],[]}]}}`,
    );
    assert.equal(await beam(`try erpc:call(${us()}, not_exposed, f, []) catch error:{exception, R, _} -> R end`), 'undef');
  } finally {
    exposed.close();
  }
  assert.equal(
    await beam(`rpc:call(${us()}, js_math, add, [1, 2])`),
    `{badrpc,{'EXIT',{undef,[{js_math,add,[1,2],[]}]}}}`,
  );
  const again = node.expose('js_math', () => 'again');
  assert.equal(node.unexpose('js_math'), true);
  assert.equal(node.unexpose('js_math'), false);
  again.close();
});

test('a mailbox answers gen_server calls it receives with box.reply', async () => {
  const box = node.mailbox('manual');
  try {
    const call = beam(`gen_server:call({manual, ${us()}}, {hello, 1}, 10000)`);
    const msg = await box.receive({ timeout: 10000 });
    assert.equal(msg.kind, 'message');
    const [tag, from, request] = msg.term;
    assert.equal(tag, sym('$gen_call'));
    assert.deepEqual([...request], [sym('hello'), 1]);
    box.reply(from, 'world');
    assert.equal(await call, '<<"world">>');
  } finally {
    box.close();
  }
});

test('a served name stays served with no reference to its handle; closing the node ends it', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  node.serve('unheld', () => 'still here');
  node.expose('unheld_math', () => 'still exposed');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await beam(`gen_server:call({unheld, ${us()}}, hi)`), '<<"still here">>');
  assert.equal(await beam(`erpc:call(${us()}, unheld_math, f, [])`), '<<"still exposed">>');
  // A served process linked from BEAM gets noconnection when our node closes.
  const other = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie });
  const linked = other.serve('linked', () => linked.pid);
  const name = atom(Symbol.keyFor(other.name));
  await beam('erldp_test:collect(link_watch)');
  await beam(
    `Self = self(), spawn(fun() -> process_flag(trap_exit, true), ` +
      `P = gen_server:call({linked, ${name}}, pid), link(P), gen_server:call({linked, ${name}}, sync), ` +
      'Self ! linked, receive E -> link_watch ! E end end), receive linked -> ok end',
  );
  await other.close();
  assert.match(await beam('[E] = erldp_test:collected(link_watch, 1, 10000), E'), /^\{'EXIT',<[\d.]+>,noconnection\}$/);
});

test('a handler whose value Erlang cannot hold answers EncodeError; a throwing cast handler goes on', async () => {
  let casts = 0;
  const served = node.serve('odd', (request) => {
    if (request === sym('function')) return () => 1;
    if (request === sym('count')) return casts;
    casts += 1;
    throw new Error('a cast that throws');
  });
  try {
    assert.match(
      await beam(`{'EXIT', {R, _}} = (catch gen_server:call({odd, ${us()}}, function)), R`),
      /^\{'EncodeError',<<".+">>\}$/,
    );
    assert.equal(
      await beam(`gen_server:cast({odd, ${us()}}, one), gen_server:cast({odd, ${us()}}, two), gen_server:call({odd, ${us()}}, count)`),
      '2',
    );
  } finally {
    served.close();
  }
});

test('bad arguments throw at once', () => {
  assert.throws(() => node.serve('x', 'not a function'), TypeError);
  assert.throws(() => node.serve(42, () => 1), TypeError);
  assert.throws(() => node.serve('x', () => 1, { concurency: 2 }), /did you mean "concurrency"/);
  assert.throws(() => node.serve('x', () => 1, { concurrency: 0 }), TypeError);
  assert.throws(() => node.expose('', () => 1), { code: 'EINVAL' });
  const served = node.serve('taken', () => 1);
  try {
    assert.throws(() => node.serve('taken', () => 2), { code: 'ENAMETAKEN' });
  } finally {
    served.close();
  }
});

// Calls, casts, exceptions, rpc and erpc from a BEAM node of each OTP compatibility chroot.
for (const otp of otpChroots()) {
  test(`OTP ${otp}: gen_server calls and casts into a served name, rpc and erpc into an exposed module`, async () => {
    const other = await BeamPeer.start({ cookie: peer.cookie, otp });
    let casts = 0;
    const served = node.serve(`calc_otp${otp}`, (request) => {
      if (request === sym('count')) return casts;
      if (request === sym('bump')) return (casts += 1);
      throw new TypeError(`bad request ${erldp.format(request)}`);
    });
    const exposed = node.expose(`js_otp${otp}`, async (fun, args) => erldp.tuple(fun, ...args));
    const run = async (expr) => {
      await other.eval('f()');
      return other.eval(expr);
    };
    try {
      const name = `{calc_otp${otp}, ${us()}}`;
      assert.equal(
        await run(`true = net_kernel:connect_node(${us()}), gen_server:cast(${name}, bump), gen_server:call(${name}, count)`),
        '1',
      );
      assert.equal(
        await run(`{'EXIT', {R, _}} = (catch gen_server:call(${name}, other, 10000)), R`),
        `{'TypeError',<<"bad request other">>}`,
      );
      assert.equal(await run(`erpc:call(${us()}, js_otp${otp}, f, [1, 2])`), '{f,1,2}');
      assert.equal(await run(`rpc:call(${us()}, js_otp${otp}, g, [])`), '{g}');
      assert.equal(
        await run(`rpc:call(${us()}, not_exposed, f, [1])`),
        `{badrpc,{'EXIT',{undef,[{not_exposed,f,[1],[]}]}}}`,
      );
    } finally {
      served.close();
      exposed.close();
      await other.stop();
    }
  });
}
