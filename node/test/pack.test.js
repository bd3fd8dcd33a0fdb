'use strict';
// `npm pack` makes a package that installs offline into a clean directory and works there as a
// user gets it: required from CommonJS, imported by name from an ES module (against a real BEAM
// node), and type-checked by a strict `tsc` with nothing installed but the package (no
// @types/node).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { BeamPeer, randomName } = require('./support/beam');

const ROOT = path.join(__dirname, '..');
let dir;
let app;

const npm = (args, cwd) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erldp-pack-'));
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT));
  const files = packed.files.map((f) => f.path).sort();
  assert.ok(files.some((f) => /^erldp\..+\.node$/.test(f)), `the native addon is packed: ${files}`);
  for (const file of ['index.js', 'index.d.ts', 'lib/node.js', 'package.json']) assert.ok(files.includes(file), file);
  assert.ok(!files.some((f) => f.startsWith('test/')), 'tests are not packed');

  app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), '{"name": "app", "version": "1.0.0", "private": true}');
  npm(['install', '--offline', '--no-audit', '--no-fund', path.join(dir, packed.filename)], app);
  assert.deepEqual(fs.readdirSync(path.join(app, 'node_modules')).filter((f) => !f.startsWith('.')), ['erldp']);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the installed package loads with require', () => {
  const script = `
    const erldp = require('erldp');
    const bytes = erldp.encode(erldp.tuple(Symbol.for('ok'), 'loaded'));
    process.stdout.write(erldp.format(erldp.decode(bytes)) + ' ' + typeof erldp.Node.start);`;
  const output = execFileSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8' });
  assert.equal(output, '{ok,<<"loaded">>} function');
});

test('an ES module imports it by name and talks to a BEAM node', async (t) => {
  const peer = await BeamPeer.start();
  t.after(() => peer.stop());
  fs.writeFileSync(
    path.join(app, 'main.mjs'),
    `import { Node, tuple, format, Float, RpcError, NOREPLY, global, PubSub } from 'erldp';
import erldp from 'erldp';
const [peer, cookie, name] = process.argv.slice(2);
const node = await Node.start(name, { cookie });
try {
  const sum = await node.rpc(peer, 'lists', 'sum', [[1, 2, 2 ** 53]], { signal: AbortSignal.timeout(20000) });
  const float = await node.rpc(peer, 'erlang', 'float', [3]);
  const same = await node.rpc(peer, 'erlang', 'is_float', [float]);
  let unknown;
  try { await node.rpc(peer, 'lists', 'sum', [[]], { cookiee: 'x' }); } catch (err) { unknown = err.message; }
  console.log(JSON.stringify({
    sum: String(sum), float: float instanceof Float, same, unknown, named: erldp.Node === Node,
    tuple: format(tuple(Symbol.for('ok'))), rpcError: typeof RpcError,
    serving: typeof NOREPLY === 'symbol' && typeof PubSub === 'function' && global('x') instanceof erldp.Global,
  }));
} finally {
  await node.close();
}
`,
  );
  const { stdout } = await promisify(execFile)(process.execPath, ['main.mjs', peer.node, peer.cookie, randomName('esm_')], {
    cwd: app,
  });
  const result = JSON.parse(stdout);
  assert.deepEqual(result, {
    sum: String(2n ** 53n + 3n),
    float: true,
    same: true,
    unknown: result.unknown,
    named: true,
    tuple: '{ok}',
    rpcError: 'function',
    serving: true,
  });
  assert.match(result.unknown, /^unknown option "cookiee" in rpc options \(known: timeout, signal, /);
});

test('the types check with tsc --strict and nothing but the package installed', () => {
  fs.copyFileSync(path.join(__dirname, 'types-installed.ts'), path.join(app, 'check.ts'));
  fs.writeFileSync(path.join(app, 'check.mts'), "import { Node, tuple, type Tuple } from 'erldp';\nconst t: Tuple = tuple(1);\nvoid Node;\nvoid t;\n");
  const tsc = require.resolve('typescript/bin/tsc');
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
  const output = (() => {
    try {
      return execFileSync(process.execPath, [tsc, ...args, 'check.ts', 'check.mts'], { cwd: app, encoding: 'utf8' });
    } catch (err) {
      return err.stdout + err.stderr;
    }
  })();
  assert.equal(output, '');
});
