'use strict';
// lib/etf.js, the package's JavaScript codec, against the addon's converter
// (bindings/node/src/convert.rs), which it hands what it does not handle:
// both must give the same bytes, the same values and the same errors.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const erldp = require('..');
const native = require('../lib/native');
const etf = require('../lib/etf');
const { REPO } = require('./support/beam');

const sym = Symbol.for;
const FLAGS = [0, 1, 2, 4, 7];

/** Each corpus term as `term_to_binary/1` of the local OTP writes it. */
function corpus() {
  const file = path.join(REPO, 'tests', 'corpus.txt');
  const script = `{ok, Ts} = file:consult("${file}"), [io:format("~s~n", [binary:encode_hex(term_to_binary(T))]) || T <- Ts], halt().`;
  const out = execFileSync('erl', ['-noshell', '-eval', script], { encoding: 'utf8' });
  return out.trim().split('\n').map((hex) => Buffer.from(hex, 'hex'));
}

function outcome(run) {
  try {
    return { value: run() };
  } catch (err) {
    return { error: `${err.constructor.name} ${err.code} ${err.message} ${err.path ?? ''} ${err.offset ?? ''}` };
  }
}

function sameDecoding(bytes) {
  for (const flags of FLAGS) {
    assert.deepEqual(outcome(() => etf.decode(bytes, flags)), outcome(() => native.decode(bytes, flags)));
  }
}

function sameEncoding(value) {
  assert.deepEqual(outcome(() => etf.encode(value)), outcome(() => native.encode(value)));
}

test('the corpus decodes to the same values and encodes to the same bytes', () => {
  const terms = corpus();
  assert.ok(terms.length > 200);
  for (const bytes of terms) {
    sameDecoding(bytes);
    for (const flags of FLAGS) {
      const decoded = outcome(() => native.decode(bytes, flags));
      if ('value' in decoded) sameEncoding(decoded.value);
    }
    // Cut short or with a byte changed: the same error, or the same value.
    for (let i = 1; i < bytes.length; i += Math.ceil(bytes.length / 7)) {
      sameDecoding(bytes.subarray(0, i));
      const changed = Buffer.from(bytes);
      changed[i] ^= 0x41;
      sameDecoding(changed);
    }
  }
});

test('values at the edges of each encoding encode alike', () => {
  const texts = ['', 'ok', 'héllo', '日本', '😀', '\uD800', 'a'.repeat(255), 'a'.repeat(256), 'ü'.repeat(256), '__proto__'];
  const numbers = [0, -0, 255, 256, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 2 ** 53, 1.5, NaN, Infinity];
  const bigints = [0n, 255n, -(2n ** 31n), 2n ** 63n, -(2n ** 64n), 2n ** 2100n];
  const values = [
    ...texts,
    ...texts.map(sym),
    ...numbers,
    ...bigints,
    true,
    null,
    undefined,
    Symbol('local'),
    [],
    [1, 2, 255],
    [1, 256],
    [0n, 255n],
    new Array(65536).fill(7),
    Buffer.from([0xc3, 0x28]),
    new Uint8ClampedArray([1]),
    erldp.float(-0),
    erldp.tuple(),
    erldp.tuple(...new Array(300).fill(sym('x'))),
    new erldp.Pid('n@h', 1, 2, 3),
    new erldp.Pid(sym('日@h'), 2 ** 32 - 1, 0, 0),
    new erldp.Ref('n@h', 1, [0, 0, 0, 0, 5]),
    new erldp.Port('n@h', 2 ** 28, 1),
    new erldp.Port('n@h', 2n ** 64n - 1n, 1),
    new erldp.Bitstring(Buffer.from([0xff, 0xff]), 3),
    new erldp.ImproperList([1], 2),
    new erldp.ImproperList([1], [2]),
    new erldp.ImproperList([1], erldp.tuple(2)),
    new Map([[sym('b'), 1], [2n ** 70n, 2], [-3, 3], [1.5, 4], [erldp.float(-0), 5], [erldp.float(0), 6], ['b', 7], [Buffer.from('a'), 8], [null, 9]]),
    new Map([[1, 'a'], [1n, 'b']]),
    new Map([['a', 1], [Buffer.from('a'), 2]]),
    new Map([['\uD800', 1], ['\uFFFD', 2]]),
    new Map([[erldp.tuple(1), 'tuple keys go to the addon']]),
    new Map(Array.from({ length: 40 }, (_, i) => [40 - i, i])),
    new Map(Array.from({ length: 40 }, (_, i) => [i % 39, i])),
    { b: 1, a: [2], 10: 3, 9: 4, [sym('s')]: 5 },
    { a: 1, [sym('a')]: 2 },
    Object.assign(Object.create(null), { z: 1, y: 2 }),
    Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
    new Date(0),
    () => 1,
  ];
  for (const value of values) {
    sameEncoding(value);
    sameEncoding([value, erldp.tuple(value), { v: value }]);
  }
  const cyclic = [1];
  cyclic.push(cyclic);
  sameEncoding(cyclic);
});
