'use strict';
// `npm pack` makes a package that installs and loads without the network.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

test('npm pack produces a package that installs offline and loads', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erldp-pack-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });

  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], path.join(__dirname, '..')));
  const files = packed.files.map((f) => f.path).sort();
  assert.ok(files.some((f) => /^erldp\..+\.node$/.test(f)), `the native addon is packed: ${files}`);
  for (const file of ['index.js', 'index.d.ts', 'lib/node.js', 'package.json']) assert.ok(files.includes(file), file);
  assert.ok(!files.some((f) => f.startsWith('test/')), 'tests are not packed');

  const app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), '{"name": "app", "version": "1.0.0", "private": true}');
  npm(['install', '--offline', '--no-audit', '--no-fund', path.join(dir, packed.filename)], app);
  const script = `
    const erldp = require('erldp');
    const bytes = erldp.encode(erldp.tuple(Symbol.for('ok'), 'loaded'));
    process.stdout.write(erldp.format(erldp.decode(bytes)) + ' ' + typeof erldp.Node.start);`;
  const output = execFileSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8' });
  assert.equal(output, '{ok,<<"loaded">>} function');
});
