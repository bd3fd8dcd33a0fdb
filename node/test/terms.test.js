'use strict';
// The term mapping of API.md's Node.js table, checked on both sides: the
// whole corpus (tests/corpus.txt) goes BEAM -> JS -> BEAM and is compared
// with =:= by the BEAM; single values check each row of the table.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const erldp = require('..');
const { atom, REPO, startPeerAndNode } = require('./support/beam');

const sym = Symbol.for;
const CORPUS = path.join(REPO, 'tests', 'corpus.txt');
let peer;
let node;

startPeerAndNode({}, (started) => ({ peer, node } = started));

const us = () => atom(Symbol.keyFor(node.name));

/**
 * Echoes `{From, I, Term}` back to From as `{I, Term}` until the box closes.
 * A term that cannot go back (with plain numbers, `#{{1} => a, {1.0} => b}`
 * has two equal keys) is answered with `encode_failed`.
 */
async function echo(box) {
  for await (const m of box) {
    const [from, index, term] = m.term;
    try {
      box.send(from, erldp.tuple(index, term));
    } catch (err) {
      if (!(err instanceof erldp.EncodeError)) throw err;
      box.send(from, erldp.tuple(index, sym('encode_failed')));
    }
  }
}

/** Runs the corpus through `box` (see erldp_js_test:round_trip/2). */
async function roundTrip(box) {
  const echoing = echo(box);
  const dest = `{${atom(Symbol.keyFor(box.name))}, ${us()}}`;
  // ~w, so that a list of indices does not print as a string.
  const text = await peer.eval(`lists:flatten(io_lib:format("~w", [erldp_js_test:round_trip(${dest}, ${JSON.stringify(CORPUS)})]))`);
  box.close();
  await echoing;
  const match = /^"\{(\d+),\[([\d,]*)\],\[([\d,]*)\]\}"$/.exec(text);
  assert.ok(match, `round_trip answered ${text}`);
  const [, count, mismatched, lossy] = match;
  const list = (s) => (s ? s.split(',').map(Number) : []);
  return { count: Number(count), mismatched: list(mismatched), lossy: list(lossy) };
}

test('the corpus round-trips exactly with { floats: "float" }', async () => {
  const result = await roundTrip(node.mailbox('corpus_float', { floats: 'float' }));
  assert.ok(result.count > 200, `corpus of ${result.count} terms`);
  assert.deepEqual(result.mismatched, []);
});

test('the corpus round-trips exactly with binaries as Buffers', async () => {
  const result = await roundTrip(node.mailbox('corpus_buffer', { floats: 'float', binaries: 'buffer' }));
  assert.deepEqual(result.mismatched, []);
});

test('the corpus round-trips exactly with the defaults', async () => {
  const result = await roundTrip(node.mailbox('corpus_default'));
  assert.ok(result.lossy.length > 10, 'the corpus has integral floats');
  assert.deepEqual(result.mismatched, []);
});

test('with { floats: "number" }, only floats with integral values come back changed', async () => {
  const result = await roundTrip(node.mailbox('corpus_number', { floats: 'number' }));
  assert.deepEqual(result.mismatched, result.lossy);
});

let boxes = 0;

/** What the peer sends for `expr`, decoded with `options`. */
async function fromBeam(expr, options) {
  const name = `from_beam_${++boxes}`;
  const box = node.mailbox(name, options);
  try {
    await peer.eval(`{${name}, ${us()}} ! (${expr})`);
    const message = await box.receive({ timeout: 5000 });
    return message.term;
  } finally {
    box.close();
  }
}

/** `'true'` when `value`, sent from JS, is =:= to `expr` on the peer. */
async function sameOnBeam(value, expr) {
  await peer.eval('erldp_test:collect(same)');
  node.send([sym('same'), peer.node], value);
  return peer.eval(`(fun([V]) -> V =:= (${expr}) orelse {got, V} end)(erldp_test:collected(same, 1, 5000))`);
}

test('atoms are symbols; true and false are booleans, nil is null', async () => {
  assert.deepEqual(await fromBeam("[ok, 'hello world', true, false, nil, undefined]"), [
    sym('ok'),
    sym('hello world'),
    true,
    false,
    null,
    sym('undefined'),
  ]);
  assert.equal(await sameOnBeam([sym('ok'), true, false, null], '[ok, true, false, nil]'), 'true');
});

test('integers are numbers when safe, else BigInts; both encode', async () => {
  const values = await fromBeam('[9007199254740991, 9007199254740992, -9007199254740992, 1 bsl 100]');
  assert.deepEqual(values, [2 ** 53 - 1, 2n ** 53n, -(2n ** 53n), 2n ** 100n]);
  assert.equal(await sameOnBeam([42, -7, 2n ** 100n, 5n], '[42, -7, 1 bsl 100, 5]'), 'true');
});

test('integral numbers are integers at every size, through the package and the addon', async () => {
  const big = [2 ** 53, -(2 ** 53), 2 ** 63, -(2 ** 63), 1e20, 2 ** 64 + 2 ** 12, 1e300, -0];
  const expr = '[1 bsl 53, -(1 bsl 53), 1 bsl 63, -(1 bsl 63), 100000000000000000000, (1 bsl 64) + 4096, trunc(1.0e300), 0]';
  assert.equal(await sameOnBeam(big, expr), 'true');
  // A value the package leaves to the addon (a fun) takes the whole message there.
  const fun = await fromBeam('fun lists:sum/1');
  assert.equal(await sameOnBeam([fun, ...big], `[fun lists:sum/1 | ${expr}]`), 'true');
  assert.equal(await peer.eval(`lists:all(fun erlang:is_integer/1, ${expr})`), 'true');
  assert.equal(erldp.format(2 ** 53), '9007199254740992');
});

test('floats: integral ones are erldp.Float, others numbers; each kind goes back as it came', async () => {
  const [half, two, negativeZero, huge] = await fromBeam('[1.5, 2.0, -0.0, 1.0e20]');
  assert.equal(half, 1.5);
  for (const float of [two, negativeZero, huge]) assert.ok(float instanceof erldp.Float, String(float));
  assert.ok(Object.is(negativeZero.value, -0));
  assert.equal(two + 1, 3, 'arithmetic works through valueOf');
  assert.equal(JSON.stringify([two, half]), '[2,1.5]');
  assert.equal(await sameOnBeam([half, two, negativeZero, huge], '[1.5, 2.0, -0.0, 1.0e20]'), 'true');
  assert.deepEqual(await fromBeam('[1.5, 2.0, -0.0]', { floats: 'number' }), [1.5, 2, -0]);
  const floats = await fromBeam('[2.0, -0.0, 2.5]', { floats: 'float' });
  assert.ok(floats.every((f) => f instanceof erldp.Float));
  // Every number from 2 ** 53 on is integral, so it is an integer unless made a Float.
  assert.equal(await sameOnBeam([1.5, erldp.float(2), erldp.float(-0), erldp.float(2.5e300)], '[1.5, 2.0, -0.0, 2.5e300]'), 'true');
});

test('atoms: "string" decodes atoms as strings, so that JSON.stringify keeps them', async () => {
  const options = { atoms: 'string', maps: 'object' };
  const user = await fromBeam("#{'__struct__' => 'Elixir.MyApp.User', name => <<\"ann\">>, role => admin, ok => true}", options);
  assert.equal(
    JSON.stringify(user),
    '{"__struct__":"Elixir.MyApp.User","name":"ann","ok":true,"role":"admin"}',
  );
  assert.deepEqual(await fromBeam('[ok, nil, false, {error, x}]', { atoms: 'string' }), [
    'ok',
    null,
    false,
    erldp.tuple('error', 'x'),
  ]);
  // An atom and a binary with the same text would be one key of a Map.
  await assert.rejects(fromBeam('#{a => 1, <<"a">> => 2}', { atoms: 'string' }), { code: 'EDECODE' });
  assert.ok((await fromBeam('#{a => 1, <<"a">> => 2}', { atoms: 'string', binaries: 'buffer' })) instanceof Map);
});

test('binaries are strings when valid UTF-8, else Buffers; binaries: "buffer" always Buffers', async () => {
  const [text, bytes] = await fromBeam('[<<"héllo"/utf8>>, <<195, 40>>]');
  assert.equal(text, 'héllo');
  assert.ok(Buffer.isBuffer(bytes));
  assert.deepEqual([...bytes], [195, 40]);
  const [asBuffer] = await fromBeam('[<<"abc">>]', { binaries: 'buffer' });
  assert.ok(Buffer.isBuffer(asBuffer) && asBuffer.toString() === 'abc');
  const sent = ['héllo', Buffer.from([1, 2]), new Uint8Array([3])];
  assert.equal(await sameOnBeam(sent, '[<<"héllo"/utf8>>, <<1,2>>, <<3>>]'), 'true');
});

test('lists are Arrays (a charlist is numbers); tuples are erldp.Tuple', async () => {
  const [list, chars, tuple] = await fromBeam('[[1, a], "hi", {ok, 1}]');
  assert.deepEqual(list, [1, sym('a')]);
  assert.deepEqual(chars, [104, 105]);
  assert.ok(tuple instanceof erldp.Tuple && Array.isArray(tuple));
  assert.deepEqual([...tuple], [sym('ok'), 1]);
  assert.ok(!(tuple.map((x) => x) instanceof erldp.Tuple), 'derived arrays are plain Arrays');
  assert.equal(await sameOnBeam([[1, 2], erldp.tuple(sym('ok'), [])], '[[1, 2], {ok, []}]'), 'true');
});

test('maps are Maps, or plain objects with maps: "object"; objects encode with atom keys', async () => {
  const map = await fromBeam('#{a => 1, <<"b">> => 2, 3 => c}');
  assert.ok(map instanceof Map);
  assert.equal(map.get(sym('a')), 1);
  assert.equal(map.get('b'), 2);
  assert.equal(map.get(3), sym('c'));
  assert.deepEqual(await fromBeam('#{a => 1, <<"b">> => [x]}', { maps: 'object' }), { a: 1, b: [sym('x')] });
  // Not every key is an atom or string: still a Map.
  assert.ok((await fromBeam('#{1 => a}', { maps: 'object' })) instanceof Map);
  const sent = [new Map([[erldp.tuple(1), 'one']]), { name: 'x', [sym('tag')]: 1 }];
  assert.equal(await sameOnBeam(sent, '[#{{1} => <<"one">>}, #{name => <<"x">>, tag => 1}]'), 'true');
});

test('pids, references and ports are erldp.Pid, Ref and Port with equals() and toString()', async () => {
  const [pid, ref, port] = await fromBeam('[self(), make_ref(), hd(erlang:ports())]');
  assert.ok(pid instanceof erldp.Pid);
  assert.ok(ref instanceof erldp.Ref);
  assert.ok(port instanceof erldp.Port);
  assert.equal(pid.node, sym(peer.node));
  assert.ok(pid.equals(new erldp.Pid(peer.node, pid.id, pid.serial, pid.creation)));
  assert.ok(!pid.equals(node.pid));
  assert.match(String(pid), /^#Pid<'erldp_js_\w+@[\w.-]+'\.\d+\.\d+\.\d+>$/);
  assert.match(String(ref), /^#Ref<'erldp_js_\w+@[\w.-]+'(\.\d+)+>$/);
  assert.match(String(port), /^#Port<'erldp_js_\w+@[\w.-]+'\.\d+\.\d+>$/);
  // JSON keeps the node, a symbol JSON.stringify would drop: before, a pid became {"id":..,"serial":..,"creation":..}.
  assert.equal(JSON.stringify({ from: pid, refs: [ref], port }), JSON.stringify({ from: String(pid), refs: [String(ref)], port: String(port) }));
  await peer.eval('erldp_test:collect(ids)');
  node.send([sym('ids'), peer.node], erldp.tuple(pid, ref, port));
  const check =
    '(fun([{P, R, Q}]) -> {is_pid(P), is_reference(R), is_port(Q), node(P) =:= node()} end)(erldp_test:collected(ids, 1, 5000))';
  assert.equal(await peer.eval(check), '{true,true,true,true}');
});

test('bitstrings, improper lists and funs are Bitstring, ImproperList and Opaque', async () => {
  const [bits, improper, fun, closure] = await fromBeam('[<<1, 7:3>>, [a, b | c], fun lists:sum/1, fun(X) -> X end]');
  assert.ok(bits instanceof erldp.Bitstring);
  assert.equal(bits.bits, 3);
  assert.equal(bits.bitSize, 11);
  assert.ok(improper instanceof erldp.ImproperList);
  assert.deepEqual(improper.elements, [sym('a'), sym('b')]);
  assert.equal(improper.tail, sym('c'));
  assert.ok(fun instanceof erldp.Opaque);
  assert.equal(String(fun), 'fun lists:sum/1');
  assert.ok(closure instanceof erldp.Opaque);
  await peer.eval('erldp_test:collect(others)');
  node.send([sym('others'), peer.node], [bits, improper, fun, closure]);
  const check = '(fun([[B, I, F, C]]) -> {B, I, F([1, 2]), C(ok)} end)(erldp_test:collected(others, 1, 5000))';
  assert.equal(await peer.eval(check), '{<<1,7:3>>,[a,b|c],3,ok}');
  const made = [new erldp.Bitstring(Buffer.from([255]), 1), new erldp.ImproperList([1], 2)];
  assert.equal(await sameOnBeam(made, '[<<1:1>>, [1|2]]'), 'true');
});

test('anything else is an EENCODE error naming its path', () => {
  const box = node.mailbox();
  const dest = [sym('nobody'), peer.node];
  const cases = [
    [{ opts: [1, undefined] }, '[opts][1]'],
    [[1, 2, () => 3], '[2]'],
    [erldp.tuple(new Date(0)), '[0]'],
    [new Map([[sym('k'), NaN]]), '[k]'],
    [[Symbol('local')], '[0]'],
    [new erldp.ImproperList([1], undefined), '[|]'],
    // Sparse: the length costs JavaScript nothing, and is no size to make room for.
    [new Array(2 ** 32 - 1), '[0]'],
    [erldp.tuple(...new Array(5)), '[0]'],
    [new erldp.ImproperList(new Array(2 ** 32 - 1), []), '[0]'],
  ];
  for (const [value, path] of cases) {
    assert.throws(
      () => box.send(dest, value),
      (err) => err instanceof erldp.EncodeError && err.code === 'EENCODE' && err.path === path,
      `path ${path}`,
    );
  }
  box.close();
});

test('a name longer than an atom is refused before it becomes one', async () => {
  const long = 'm'.repeat(300);
  await assert.rejects(node.rpc(peer.node, long, 'f', []), { code: 'EINVAL', message: /: the module m{40}\.\.\. is longer than an atom may be \(255 characters\)$/ });
  // An empty name names nothing, in every language alike; the error says which name it is.
  await assert.rejects(node.rpc(peer.node, 'erlang', '', []), { code: 'EINVAL', message: /: the function is empty$/ });
  await assert.rejects(async () => node.whereisGlobal(''), { code: 'EINVAL', message: /: the global name is empty$/ });
  await assert.rejects(node.rpc(peer.node, 'erlang', Symbol.for(long), []), { code: 'EINVAL' });
  // A destination's names too, as Symbols (before: EENCODE, as for a value).
  assert.throws(() => node.send([Symbol.for(long), peer.node], 1), { code: 'EINVAL', message: /registered name m{40}\.\.\./ });
  assert.throws(() => node.cast([Symbol.for(long), peer.node], 1), { code: 'EINVAL' });
  await assert.rejects(node.call([Symbol.for(long), peer.node], 1), { code: 'EINVAL' });
  assert.equal((await node.rpc(peer.node, 'erlang', 'atom_to_list', [Symbol.for('a'.repeat(255))])).length, 255);
});

test('encode/decode/format work without a node', () => {
  const value = erldp.tuple(sym('ok'), 'hi', [1, 2n ** 70n], new Map([[1, erldp.float(2)]]));
  const bytes = erldp.encode(value);
  assert.equal(bytes[0], 131);
  assert.equal(erldp.format(value), '{ok,<<"hi">>,[1,1180591620717411303424],#{1 => 2.0}}');
  assert.throws(() => erldp.format(new Array(2 ** 32 - 1)), { code: 'EENCODE', path: '[0]' });
  assert.deepEqual(erldp.decode(bytes, { floats: 'float' }), value);
  assert.deepEqual(erldp.decode(bytes), value, 'an integral float comes back as a Float');
  assert.throws(() => erldp.decode(Buffer.from([131, 200])), { code: 'EDECODE', offset: 1 });
  assert.throws(() => erldp.decode(bytes, { maps: 'nope' }), TypeError);
  assert.throws(() => erldp.decode(bytes, { map: 'object' }), /unknown option "map" in decode options .*did you mean "maps"/);
});
