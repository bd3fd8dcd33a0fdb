'use strict';
// erldp.elixir against a BEAM node running Elixir's own modules: every helper's value is
// checked by Elixir code, and what Elixir code returns is read back, in each decoded shape.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const erldp = require('..');
const { startPeerAndNode, elixirPeer } = require('./support/beam');

const { elixir, tuple } = erldp;
const sym = Symbol.for;
let peer;
let node;

startPeerAndNode({ ...elixirPeer(), prefix: 'js_ex_' }, (started) => ({ peer, node } = started));

const call = (module, fun, args, options) => node.rpc(peer.node, elixir.module(module), fun, args, options);

test('module names', async () => {
  assert.equal(elixir.module('MyApp.Api'), sym('Elixir.MyApp.Api'));
  assert.equal(elixir.module(sym('Elixir.MyApp.Api')), sym('Elixir.MyApp.Api'));
  assert.equal(elixir.module('lists'), sym('lists'));
  assert.equal(elixir.alias(sym('Elixir.MyApp.Api')), 'MyApp.Api');
  assert.equal(elixir.alias('lists'), undefined);
  assert.equal(await call('String', 'upcase', ['hi']), 'HI');
});

test('structs with their module name, in every decoded shape', async () => {
  const url = ['https://example.com:8443/a?b=c'];
  for (const options of [{}, { maps: 'object' }, { maps: 'object', atoms: 'string' }]) {
    const uri = await call('URI', 'parse', url, options);
    assert.equal(elixir.structName(uri), 'URI', JSON.stringify(options));
    assert.ok(elixir.isStruct(uri, 'URI') && !elixir.isStruct(uri, 'Date'));
  }
  assert.equal(elixir.structName(new Map([[1, 2]])), undefined);
  assert.equal(elixir.isStruct({ a: 1 }), false);
  const made = elixir.struct('URI', {
    scheme: 'http', host: 'erldp.test', path: '/x', port: null, userinfo: null, query: null, fragment: null, authority: null,
  });
  assert.equal(made.__struct__, sym('Elixir.URI'));
  assert.equal(await call('URI', 'to_string', [made]), 'http://erldp.test/x');
});

test('keyword lists', async () => {
  const list = elixir.keyword({ timeout: 5, retry: true });
  assert.deepEqual(list, [tuple(sym('timeout'), 5), tuple(sym('retry'), true)]);
  assert.equal(await call('Keyword', 'keyword?', [list]), true);
  assert.equal(await call('Keyword', 'get', [list, sym('retry')]), true);
  const back = await call('Keyword', 'put_new', [list, sym('a'), 1]);
  assert.ok(elixir.isKeyword(back));
  assert.deepEqual(elixir.fromKeyword(back), { a: 1, timeout: 5, retry: true });
  assert.deepEqual(elixir.fromKeyword([tuple(sym('a'), 1), tuple(sym('a'), 2)]), { a: 1 });
  assert.deepEqual(elixir.keyword(new Map([[sym('x'), 1]])), [tuple(sym('x'), 1)]);
  assert.throws(() => elixir.fromKeyword([1]), TypeError);
});

test('charlists', async () => {
  assert.equal(await call('List', 'to_string', [elixir.charlist('héllo ☃ 😀')]), 'héllo ☃ 😀');
  assert.equal(elixir.fromCharlist(await call('String', 'to_charlist', ['héllo ☃ 😀'])), 'héllo ☃ 😀');
  assert.throws(() => elixir.fromCharlist([-1]), RangeError);
});

test('DateTime, NaiveDateTime, Date and Time both ways, to the millisecond', async () => {
  const instant = new Date(Date.UTC(2023, 10, 14, 22, 13, 20, 123));
  assert.equal(await call('DateTime', 'to_iso8601', [elixir.dateTime(instant)]), '2023-11-14T22:13:20.123Z');
  const [ok, received, offset] = await call('DateTime', 'from_iso8601', ['2024-02-29T23:59:58.654321+05:30']);
  assert.deepEqual([ok, offset], [sym('ok'), 19800]);
  assert.equal(elixir.fromCalendar(received).toISOString(), '2024-02-29T18:29:58.654Z');
  const shifted = await call('DateTime', 'shift_zone!', [elixir.dateTime(instant), 'Etc/UTC']);
  assert.equal(elixir.fromCalendar(shifted).getTime(), instant.getTime());

  assert.equal(await call('NaiveDateTime', 'to_iso8601', [elixir.naiveDateTime(instant)]), '2023-11-14T22:13:20.123');
  assert.equal(await call('Date', 'to_iso8601', [elixir.date(instant)]), '2023-11-14');
  assert.equal(await call('Time', 'to_iso8601', [elixir.time(instant)]), '22:13:20.123');
  const [, date] = await call('Date', 'new', [2024, 2, 29]);
  assert.equal(elixir.fromCalendar(date).toISOString(), '2024-02-29T00:00:00.000Z');
  const [, clock] = await call('Time', 'new', [23, 59, 1, tuple(5999, 6)]);
  assert.equal(elixir.fromCalendar(clock).toISOString(), '1970-01-01T23:59:01.005Z');
  const [, naive] = await call('NaiveDateTime', 'new', [1, 5, 6, 7, 8, 9], { maps: 'object', atoms: 'string' });
  assert.equal(elixir.fromCalendar(naive).toISOString(), '0001-05-06T07:08:09.000Z');
  assert.equal(elixir.fromCalendar('x'), 'x');
  assert.throws(() => elixir.dateTime(new Date(NaN)), TypeError);
});

test('toJs and fromJs convert at any depth', async () => {
  const instant = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const sent = elixir.fromJs({ at: [instant], on: tuple(instant), n: 1 });
  const echoed = await node.rpc(peer.node, 'erlang', 'hd', [[sent]]);
  assert.deepEqual(elixir.toJs(echoed), new Map([[sym('at'), [instant]], [sym('n'), 1], [sym('on'), tuple(instant)]]));
  assert.equal(await call('DateTime', 'to_iso8601', [sent.at[0]]), '2024-01-02T03:04:05.000Z');
});
