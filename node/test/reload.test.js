'use strict';
// The package loaded again in one process, as Jest's module registry per test file and a
// cleared require.cache do: the addon is loaded once, and the copy loaded last must get
// instances of its own classes (before, the first copy's: `instanceof` failed in the second).
// A file of its own, since it loads the package twice.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

test('a package loaded again gets terms and errors of its own classes', async () => {
  const root = path.join(__dirname, '..');
  const first = require(root);
  for (const file of Object.keys(require.cache)) {
    const own = file.startsWith(root + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}`);
    if (own && !file.endsWith('.node')) delete require.cache[file];
  }
  const second = require(root);
  assert.notEqual(second.Pid, first.Pid);

  const node = await second.Node.start(`js_reload_${process.pid}@127.0.0.1`, { epmd: 'none', cookie: 'c' });
  try {
    const box = node.mailbox();
    assert.ok(box.pid instanceof second.Pid);
    box.send(box.pid, second.tuple(Symbol.for('hello'), box.pid));
    const { term } = await box.receive({ timeout: 5000 });
    assert.ok(term instanceof second.Tuple && term[1] instanceof second.Pid);
    assert.ok((await box.monitor(box.pid)) instanceof second.Ref);
    assert.throws(() => node.mailbox('rex'), (err) => err instanceof second.InvalidArgumentError);
    const failed = await node.connect('nobody@127.0.0.1').catch((err) => err);
    assert.ok(failed instanceof second.ErlDPError, String(failed));
  } finally {
    await node.close();
  }
});
