'use strict';
// Real BEAM peers for the tests: an Erlang node started by the test itself
// (random name and cookie, loopback, the shared EPMD) and driven over
// stdin/stdout by tests/erlang/erldp_test.erl, the JavaScript counterpart of
// tests/testkit. Each command line `Expr.` gets exactly one answer line,
// `\x02erldp-ok VALUE` or `\x02erldp-error CLASS:REASON`.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
/** The control module and the BEAM helpers shared with the Rust tests, and this package's own. */
const HELPERS = [path.join(REPO, 'tests', 'erlang'), __dirname];
const START_TIMEOUT = 60_000;
const STOP_TIMEOUT = 10_000;
const KEEP_LINES = 200;

/** Compiled helpers, by OTP: `system`, or a chroot's release. */
const ebins = new Map();

/** The helper sources: `[file name, contents]`. */
function helperSources() {
  return HELPERS.flatMap((dir) =>
    fs.readdirSync(dir).filter((f) => f.endsWith('.erl')).map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );
}

/**
 * Compiles the Erlang helper modules once per test process and OTP, with that OTP's erlc (older
 * beams may not load in a newer OTP): the system's into a temporary directory, a chroot's into
 * its own /var/tmp. Returns the directory as the node sees it.
 */
function compileHelpers(otp) {
  const key = otp ?? 'system';
  if (ebins.has(key)) return ebins.get(key);
  if (otp === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erldp-js-ebin-'));
    const sources = HELPERS.flatMap((d) =>
      fs.readdirSync(d).filter((f) => f.endsWith('.erl')).map((f) => path.join(d, f)),
    );
    execFileSync('erlc', ['-o', dir, ...sources], { stdio: 'inherit' });
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    ebins.set(key, dir);
    return dir;
  }
  const root = chrootOf(otp);
  const dir = fs.mkdtempSync(path.join(root, 'var', 'tmp', 'erldp-js-ebin-'));
  fs.mkdirSync(path.join(dir, 'src'));
  const inside = `/${path.relative(root, dir)}`;
  const sources = helperSources().map(([file, text]) => {
    fs.writeFileSync(path.join(dir, 'src', file), text);
    return `${inside}/src/${file}`;
  });
  execFileSync('chroot', [root, 'erlc', '-o', inside, ...sources], { stdio: 'inherit' });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  ebins.set(key, inside);
  return inside;
}

/** The root of the OTP compatibility chroot for `release` ("27", "29") that `make setup` builds. */
function chrootOf(release) {
  return path.join(REPO, '.otp', `otp${release}`);
}

/**
 * The OTP releases of the compatibility chroots to test against besides the system's, as the
 * Rust test kit finds them (tests/testkit/src/otp.rs): those that exist, none with
 * ERLDP_SKIP_OTP_COMPAT=1; with ERLDP_REQUIRE_OTP_COMPAT=1 (`make test`) a missing one throws.
 */
function otpChroots() {
  if (process.env.ERLDP_SKIP_OTP_COMPAT === '1') return [];
  const releases = ['27', '29'];
  const present = releases.filter((r) => fs.existsSync(path.join(chrootOf(r), 'usr', 'bin', 'erl')));
  if (process.env.ERLDP_REQUIRE_OTP_COMPAT === '1' && present.length < releases.length) {
    const missing = releases.filter((r) => !present.includes(r));
    throw new Error(`OTP compatibility chroots missing: ${missing.join(', ')}: run \`make setup\` as root`);
  }
  return present;
}

/** `prefix` and 10 random letters and digits: a valid, unique node name part. */
function randomName(prefix) {
  return prefix + crypto.randomBytes(8).toString('hex').slice(0, 10);
}

function randomCookie() {
  return Array.from(crypto.randomBytes(20), (b) => String.fromCharCode(65 + (b % 26))).join('');
}

/** An Erlang atom literal. */
function atom(name) {
  return `'${String(name).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

class BeamPeer {
  #child;
  #output = [];
  #waiting = [];
  #ready;
  #exited;
  #buffer = '';
  node = '';

  /**
   * Starts `erl` with the control module and waits until it is up.
   * Options: `cookie`, `hidden`, `args` (more erl arguments), `otp` (a release of
   * {@link otpChroots}: that chroot's `erl`, else the system's).
   */
  static async start(options = {}) {
    const peer = new BeamPeer(options);
    peer.node = await peer.#ready;
    return peer;
  }

  constructor({ cookie = randomCookie(), hidden = false, args = [], otp } = {}) {
    this.cookie = cookie;
    const name = randomName('erldp_js_');
    const argv = ['-sname', name, '-setcookie', cookie, '-noshell', '+Bd', '-pa', compileHelpers(otp)];
    if (hidden) argv.push('-hidden');
    argv.push(...args, '-s', 'erldp_test', 'main');
    // chroot execs erl in place: the child is the emulator either way.
    const [program, programArgs] = otp === undefined ? ['erl', argv] : ['chroot', [chrootOf(otp), 'erl', ...argv]];
    this.#child = spawn(program, programArgs, {
      env: { ...process.env, ERL_CRASH_DUMP_SECONDS: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A test process that dies without stopping its peers must not leave them running.
    const kill = () => this.#child.kill('SIGKILL');
    process.on('exit', kill);
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        process.off('exit', kill);
        resolve({ code, signal });
        this.#fail(new Error(`the BEAM peer exited (${signal ?? code})`));
      });
    });
    this.#child.stdout.setEncoding('utf8').on('data', (chunk) => this.#read(chunk));
    this.#child.stderr.setEncoding('utf8').on('data', (chunk) => this.#keep(chunk.trimEnd()));
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.#error('did not come up within 60 s')), START_TIMEOUT);
      this.#waiting.push({
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
        ready: true,
      });
    });
  }

  /**
   * Evaluates an Erlang expression sequence (the final `.` may be left out)
   * and resolves with its value printed by `~0tp`; rejects when it raised.
   */
  async eval(expr) {
    const answer = await this.#command(expr);
    if (answer.ok) return answer.value;
    throw this.#error(`\`${expr}\` raised ${answer.value}`);
  }

  /** Like `eval`, but resolves with `CLASS:REASON` when it raised (and fails when it did not). */
  async evalError(expr) {
    const answer = await this.#command(expr);
    if (!answer.ok) return answer.value;
    throw this.#error(`\`${expr}\` returned ${answer.value} instead of raising`);
  }

  /** SIGKILL: the node disappears without closing anything. */
  async kill() {
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGSTOP: the node reads nothing and answers nothing until {@link resume}. */
  pause() {
    this.#child.kill('SIGSTOP');
  }

  /** SIGCONT after {@link pause}. */
  resume() {
    this.#child.kill('SIGCONT');
  }

  /** Ends the node cleanly (EOF on stdin halts it), killing it after 10 s. */
  async stop() {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The last lines the peer printed, with the commands sent as `> ...`. */
  get output() {
    return this.#output.join('\n');
  }

  #command(expr) {
    const line = expr.trimEnd().endsWith('.') ? expr.trimEnd() : `${expr.trimEnd()}.`;
    this.#keep(`> ${line}`);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${line}\n`);
    });
  }

  #read(chunk) {
    this.#buffer += chunk;
    let end;
    while ((end = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      this.#keep(line);
      const at = line.indexOf('\x02');
      if (at >= 0) this.#marker(line.slice(at + 1));
    }
  }

  #marker(text) {
    const [, kind, rest] = /^erldp-(ready|ok|error) ?(.*)$/.exec(text) ?? [];
    if (!kind) return;
    const waiting = this.#waiting[0];
    if (!waiting || Boolean(waiting.ready) !== (kind === 'ready')) return;
    this.#waiting.shift();
    if (kind === 'ready') waiting.resolve(rest);
    else waiting.resolve({ ok: kind === 'ok', value: rest });
  }

  #keep(line) {
    this.#output.push(line);
    if (this.#output.length > KEEP_LINES) this.#output.shift();
  }

  #fail(err) {
    for (const waiting of this.#waiting.splice(0)) waiting.reject(err);
  }

  #error(what) {
    return new Error(`${this.node || 'BEAM peer'}: ${what}\n--- its recent output ---\n${this.output}\n---`);
  }
}

/**
 * The start of most test files: a BEAM peer and a node of ours on its cookie, started by a
 * `before` hook and closed (the node first) by an `after` hook, both registered here. `ready` is
 * called with `{ peer, node }` once both are up, and awaited: more set-up goes there, since
 * another top-level `before` of the file may run alongside this one. Options: `peer` (of {@link BeamPeer.start}),
 * `setup` (awaited with the peer before the node starts), `prefix` (of the node's random name,
 * `js_`), `node` (of `Node.start`, besides the peer's cookie).
 */
function startPeerAndNode({ peer: peerOptions, setup, prefix = 'js_', node: nodeOptions } = {}, ready) {
  const { before, after } = require('node:test');
  const erldp = require('../..');
  let peer;
  let node;
  before(async () => {
    peer = await BeamPeer.start(peerOptions);
    if (setup) await setup(peer);
    node = await erldp.Node.start(randomName(prefix), { cookie: peer.cookie, ...nodeOptions });
    await ready({ peer, node });
  });
  after(async () => {
    await node?.close();
    await peer?.stop();
  });
}

/**
 * {@link startPeerAndNode} options for a peer that runs Elixir's own modules: the ebin of the
 * system's Elixir on its path, and the elixir application started.
 */
function elixirPeer() {
  const lib = execFileSync('elixir', ['-e', 'IO.write(:code.lib_dir(:elixir))'], { encoding: 'utf8' });
  return {
    peer: { args: ['-pa', path.join(lib, 'ebin')] },
    setup: (peer) => peer.eval('{ok, _} = application:ensure_all_started(elixir)'),
  };
}

module.exports = { BeamPeer, randomName, randomCookie, atom, otpChroots, startPeerAndNode, elixirPeer, REPO };
