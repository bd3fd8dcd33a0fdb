'use strict';
// README's Node.js quick start, saved and run as the newcomer it is written for would run it,
// against a real BEAM node running the demo peer it names (examples/erlang/demo_server.erl).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const { BeamPeer, randomName, REPO } = require('./support/beam');

/** The README's code block that starts with `// quickstart.mjs`. */
function quickstart() {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('// quickstart.mjs');
  assert.ok(start >= 0, 'README has the Node.js quick start');
  return readme.slice(start, readme.indexOf('```', start));
}

/** `text` with every `from` replaced by `to`; `from` must be there, or the README moved on. */
function replaced(text, from, to) {
  assert.ok(text.includes(from), `the quick start has ${from}`);
  return text.split(from).join(to);
}

test("README's Node.js quick start runs as written", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erldp-readme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync('erlc', ['-o', dir, path.join(REPO, 'examples', 'erlang', 'demo_server.erl')]);
  const peer = await BeamPeer.start({ args: ['-pa', dir] });
  t.after(() => peer.stop());
  await peer.eval('ok = demo_server:start()');

  let program = quickstart();
  program = replaced(program, 'from "erldp"', `from ${JSON.stringify(path.join(REPO, 'node', 'index.js'))}`);
  program = replaced(program, 'Node.start("js"', `Node.start(${JSON.stringify(randomName('js_'))}`);
  program = replaced(program, 'cookie: "secret"', `cookie: ${JSON.stringify(peer.cookie)}`);
  program = replaced(program, '"peer@host"', JSON.stringify(peer.node));
  const file = path.join(dir, 'quickstart.mjs');
  fs.writeFileSync(file, program);

  const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 60_000 });
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0], /^message \{echo,<<"hi">>\} #Pid<'[^']+'\.\d+\.\d+\.\d+>$/);
  assert.equal(lines[1], 'TimeoutError');
  assert.equal(lines.length, 2, `nothing else printed:\n${stdout}`);
  assert.equal(await peer.eval('gen_server:call(demo_server, greeted)'), '[<<"js">>]');
});
