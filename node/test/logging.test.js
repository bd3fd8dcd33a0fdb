'use strict';
// ERLDP_LOG and erldp.setLogger against a real BEAM node. The log is the process's: each test
// puts it back off.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { promisify } = require('node:util');
const erldp = require('..');
const { BeamPeer, randomName } = require('./support/beam');

let peer;

before(async () => {
  peer = await BeamPeer.start();
});

after(async () => {
  await peer?.stop();
});

afterEach(() => {
  erldp.setLogger(null);
  erldp.setLogLevel('off');
});

/** Waits (on the event loop, where the records arrive) until `records` has one that `test` accepts. */
async function waitFor(records, test) {
  const deadline = Date.now() + 10_000;
  while (!records.some(test)) {
    assert.ok(Date.now() < deadline, `no such record among:\n${records.map((r) => r.message).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return records.find(test);
}

test("setLogger: the records of the node's threads reach the callback on the event loop", async () => {
  const records = [];
  erldp.setLogger((record) => records.push(record));
  const node = await erldp.Node.start(randomName('js_log_'), { cookie: peer.cookie });
  try {
    await node.connect(peer.node);
    const connected = await waitFor(records, (r) => r.message.startsWith(`connected to ${peer.node} (outgoing`));
    assert.equal(connected.level, 'info');
    assert.equal(connected.target, 'erldp::node');
    assert.ok(connected.thread.length > 0);
    assert.ok(connected.time instanceof Date && Math.abs(connected.time - Date.now()) < 60_000);
    assert.ok(records.every((r) => r.level !== 'debug' && r.level !== 'trace'), 'info by default');

    erldp.setLogLevel('debug');
    const other = await erldp.Node.start(randomName('js_log_'), { cookie: peer.cookie });
    await other.connect(peer.node);
    await waitFor(records, (r) => r.level === 'debug' && r.message.startsWith(`handshake with ${peer.node} (outgoing) succeeded`));
    await other.close();

    erldp.setLogger(null);
    erldp.setLogLevel('off');
    const seen = records.length;
    await node.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(records.length, seen, 'no record after the logger is removed');
  } finally {
    await node.close();
  }
  assert.throws(() => erldp.setLogger('console'), TypeError);
  assert.throws(() => erldp.setLogLevel('loud'), TypeError);
  assert.throws(() => erldp.setLogger(() => {}, { levl: 'info' }), /did you mean "level"/);
});

test('ERLDP_LOG logs to standard error from the moment the package loads', async () => {
  const script = `
    const erldp = require(${JSON.stringify(path.join(__dirname, '..'))});
    (async () => {
      const node = await erldp.Node.start(${JSON.stringify(randomName('js_env_'))}, { cookie: ${JSON.stringify(peer.cookie)} });
      await node.connect(${JSON.stringify(peer.node)});
      await node.close();
    })();`;
  const run = async (value) => {
    const env = { ...process.env };
    if (value === undefined) delete env.ERLDP_LOG;
    else env.ERLDP_LOG = value;
    const { stderr } = await promisify(execFile)(process.execPath, ['-e', script], { env });
    return stderr;
  };
  assert.match(await run('info'), new RegExp(` INFO  erldp::node \\[[^\\]]+\\] connected to ${peer.node} `));
  assert.equal(await run(undefined), '');
  assert.match(await run('loud'), /erldp: .*ERLDP_LOG="loud" is not a log level.*; logging stays off/);
});
