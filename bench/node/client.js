'use strict';
// The Node.js client of `make bench`: the scenarios of bench/rust/bench.rs through the erldp
// package, as a Node program would use it.
//
//   node bench/node/client.js SCENARIO PEER COOKIE ARG
//
// Prints "key value" lines. The codec scenario also times JSON.stringify/JSON.parse on the
// same data, made JSON-shaped: atoms become strings, tuples arrays, maps objects with string
// keys, big integers strings, binaries that are not UTF-8 hex strings.

const fs = require('fs');
const path = require('path');
const erldp = require(path.join(__dirname, '..', '..', 'node'));

const now = () => Number(process.hrtime.bigint()) / 1e9;
const report = (key, value) => console.log(`${key} ${value.toFixed(2)}`);
const atom = Symbol.for;
const TIMEOUT = { timeout: 120000 };

function peakRssMib() {
  const kib = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
  return Number(kib) / 1024;
}

// Nanoseconds per item: runs `work` over every item, for at least half a second.
function perItem(items, work) {
  let rounds = 0;
  const started = now();
  let elapsed;
  do {
    for (const item of items) work(item);
    rounds += 1;
  } while ((elapsed = now() - started) < 0.5);
  return (elapsed * 1e9) / (rounds * items.length);
}

function jsonShaped(value) {
  if (typeof value === 'symbol') return Symbol.keyFor(value);
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (Array.isArray(value)) return value.map(jsonShaped);
  if (value instanceof Map) {
    const object = {};
    for (const [key, item] of value) {
      object[typeof key === 'string' ? key : JSON.stringify(jsonShaped(key))] = jsonShaped(item);
    }
    return object;
  }
  if (value === null || typeof value !== 'object') return value;
  return String(value);
}

function codec(file) {
  const data = fs.readFileSync(file);
  const encoded = [];
  for (let offset = 0; offset < data.length; ) {
    const len = data.readUInt32BE(offset);
    encoded.push(data.subarray(offset + 4, offset + 4 + len));
    offset += 4 + len;
  }
  // JavaScript numbers cannot tell 1 from 1.0, so a map with both {1} and {1.0} as keys
  // decodes to duplicate keys: such terms are left out of every measurement here.
  const kept = encoded.filter((bytes) => {
    try {
      erldp.encode(erldp.decode(bytes));
      return true;
    } catch {
      return false;
    }
  });
  console.log(`codec_terms ${kept.length}`);
  encoded.length = 0;
  encoded.push(...kept);
  const values = encoded.map((bytes) => erldp.decode(bytes));
  const shaped = values.map(jsonShaped);
  const texts = shaped.map((value) => JSON.stringify(value));
  report('encode_ns', perItem(values, (value) => erldp.encode(value)));
  report('decode_ns', perItem(encoded, (bytes) => erldp.decode(bytes)));
  report('json_encode_ns', perItem(shaped, (value) => JSON.stringify(value)));
  report('json_decode_ns', perItem(texts, (text) => JSON.parse(text)));
}

async function oneWay(node, peer, n) {
  const sink = [atom('sink'), peer];
  const payload = Buffer.alloc(16);
  const seq = atom('seq');
  const started = now();
  for (let i = 1; i <= n; i++) node.send(sink, erldp.tuple(seq, i, payload));
  const [count, inOrder] = await node.rpc(peer, 'erldp_bench', 'sink_wait', [n, 60000], TIMEOUT);
  const elapsed = now() - started;
  if (count !== n || inOrder !== true) throw new Error(`the sink got ${count} (in order: ${inOrder}), not ${n}`);
  report('msgs_per_s', n / elapsed);
}

async function receiveBlast(node, peer, n) {
  const box = node.mailbox('inbox');
  const started = now();
  node.send([atom('blaster'), peer], erldp.tuple(atom('blast'), erldp.tuple(atom('inbox'), node.name), n));
  for (let i = 1; i <= n; i++) {
    const message = await box.receive({ timeout: 60000 });
    if (message === null) throw new Error(`message ${i} did not come`);
    if (message.term[1] !== i) throw new Error(`message ${i} came as ${message.term[1]}`);
  }
  report('msgs_per_s', n / (now() - started));
}

async function rpc(node, peer, n) {
  const times = [];
  const started = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await node.rpc(peer, 'erlang', 'node', [], TIMEOUT);
    times.push((now() - t) * 1e6);
  }
  const total = now() - started;
  times.sort((a, b) => a - b);
  report('median_us', times[Math.floor(n / 2)]);
  report('p99_us', times[Math.floor((n * 99) / 100)]);
  report('calls_per_s', n / total);
}

async function concurrent(node, peer, perCaller) {
  const started = now();
  const caller = async () => {
    for (let i = 0; i < perCaller; i++) await node.rpc(peer, 'erlang', 'node', [], TIMEOUT);
  };
  await Promise.all(Array.from({ length: 16 }, caller));
  report('calls_per_s', (16 * perCaller) / (now() - started));
}

async function bigOut(node, peer, bytes) {
  const big = Buffer.alloc(bytes, 7);
  const started = now();
  node.send([atom('bigsink'), peer], big);
  const size = await node.rpc(peer, 'erldp_bench', 'big_wait', [60000], TIMEOUT);
  const elapsed = now() - started;
  if (size !== bytes) throw new Error(`bigsink got ${size} bytes`);
  report('mb_per_s', bytes / 1e6 / elapsed);
  report('peak_rss_mib', peakRssMib());
}

async function bigIn(node, peer, bytes) {
  const box = node.mailbox('inbox', { binaries: 'buffer' });
  const started = now();
  node.send([atom('blaster'), peer], erldp.tuple(atom('big'), erldp.tuple(atom('inbox'), node.name)));
  const message = await box.receive({ timeout: 60000 });
  const elapsed = now() - started;
  if (message === null || message.term.length !== bytes) throw new Error('the binary did not come whole');
  report('mb_per_s', bytes / 1e6 / elapsed);
  report('peak_rss_mib', peakRssMib());
}

async function main() {
  const [scenario, peer, cookie, arg] = process.argv.slice(2);
  if (scenario === 'codec') return codec(arg);
  const node = await erldp.Node.start(`bench_js_${process.pid}`, { cookie });
  await node.connect(peer);
  const n = Number(arg);
  const scenarios = { send: oneWay, receive: receiveBlast, rpc, concurrent, big_out: bigOut, big_in: bigIn };
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario](node, peer, n);
  await node.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
