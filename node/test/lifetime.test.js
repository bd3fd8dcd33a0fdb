'use strict';
// Whether a node keeps its process alive: scripts in test/fixtures run in
// their own processes against a real BEAM node.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
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
