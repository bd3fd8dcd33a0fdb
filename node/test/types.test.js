'use strict';
// index.d.ts compiles, and the API.md usage type-checks against it (strict).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');

test('index.d.ts and test/types.ts type-check with tsc --strict', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const root = path.join(__dirname, '..');
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs', '--types', 'node'];
  const output = (() => {
    try {
      return execFileSync(process.execPath, [...args, 'index.d.ts', 'test/types.ts'], { cwd: root, encoding: 'utf8' });
    } catch (err) {
      return err.stdout + err.stderr;
    }
  })();
  assert.equal(output, '');
});
