'use strict';
// Whether a node keeps its process alive: scripts in test/fixtures run in
// their own processes against a real BEAM node.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const erldp = require('..');
const { BeamPeer, randomName } = require('./support/beam');

/** How long a script that should exit may take. */
const EXIT_TIMEOUT = 15000;

let peer;

before(async () => {
  peer = await BeamPeer.start();
});

after(async () => {
  await peer?.stop();
});

/**
 * Runs test/fixtures/`script` and resolves with `{ code, output }` once it
 * exits, or with `{ running: true, output }` if it is still running after
 * `ms` (then it is killed).
 */
function run(script, ms) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', script)], {
    env: { ...process.env, PEER: peer.node, COOKIE: peer.cookie, JS_NAME: randomName('js_') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ running: true, output });
    }, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ running: false, code, signal, output });
    });
  });
}

test('a script that closes its node exits by itself', async () => {
  const result = await run('closes.js', EXIT_TIMEOUT);
  assert.equal(result.running, false, `still running:\n${result.output}`);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /rpc Symbol\(.+\)\nloop ended\nclosed\n/);
});

test('a script that keeps its node open does not exit', async () => {
  const result = await run('stays-open.js', 3000);
  assert.equal(result.running, true, `exited:\n${result.output}`);
  assert.match(result.output, /open\n/);
});

test('an unref()ed node lets the script exit once its requests are answered', async () => {
  const started = Date.now();
  const result = await run('unref.js', EXIT_TIMEOUT);
  assert.equal(result.running, false, `still running:\n${result.output}`);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /slept Symbol\(ok\)\n/);
  assert.ok(Date.now() - started >= 1000, 'it waited for the rpc');
});

test('closing a mailbox of an unrefed node ends its loop before the process exits', async () => {
  const result = await run('unref-close.js', EXIT_TIMEOUT);
  assert.equal(result.running, false, `still running:\n${result.output}`);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /loop ended\n/);
});

test('an unrefed node that serves a name and exposes a module lets the process exit', async () => {
  const result = await run('serves-unref.js', EXIT_TIMEOUT);
  assert.equal(result.running, false, `still running:\n${result.output}`);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /pong\? pong\n/);
});

/** Collects garbage a few times, letting finished jobs drop what they held in between. */
async function collectGarbage() {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

test('a closed node nobody holds is collected; an open one goes on answering', async () => {
  // The addon's thread-safe function held every node strongly: closed nodes (and each one's
  // listening socket) stayed for good, one more for each start and close of a long program.
  // Started and closed in functions of their own: a suspended async function keeps what its
  // registers held, the last node of a loop among them.
  const startAndClose = async () => {
    const node = await erldp.Node.start(randomName('js_gc_'), { cookie: peer.cookie, epmd: 'none' });
    await node.close();
    return new WeakRef(node);
  };
  const closed = [];
  for (let i = 0; i < 5; i++) closed.push(await startAndClose());
  const pingFromAnOpenNode = async () => {
    const node = await erldp.Node.start(randomName('js_gc_'), { cookie: peer.cookie });
    return { openRef: new WeakRef(node), pong: node.ping(peer.node) };
  };
  const { openRef, pong } = await pingFromAnOpenNode();
  try {
    await collectGarbage();
    assert.deepEqual(
      closed.map((ref) => ref.deref() === undefined),
      [true, true, true, true, true],
      'every closed node is collected',
    );
    assert.equal(await pong, 'pong');
    assert.ok(openRef.deref(), 'an open node is held while it may answer');
  } finally {
    await openRef.deref()?.close();
  }
});
