'use strict';
// TLS (`{ tls }`) and IPv6 (`{ ipv6: true }`) distribution against BEAM nodes started with
// `-proto_dist inet_tls` and `inet6_tcp`. The certificates are made here with the `openssl`
// command.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const erldp = require('..');
const { BeamPeer, randomName, atom } = require('./support/beam');

let dir;
const file = (name) => path.join(dir, name);

/** A CA, a node certificate it signed for this host's loopback names, a CA that signed nothing. */
function makeCertificates() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erldp-js-tls-'));
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  const host = os.hostname().split('.')[0];
  for (const ca of ['ca', 'other_ca']) {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', file(`${ca}.key`), '-out', file(`${ca}.pem`), '-days', '365', '-subj', `/CN=ErlDP JS ${ca}`);
  }
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', file('node.key'), '-out', file('node.csr'), '-subj', '/CN=node');
  fs.writeFileSync(file('node.ext'),
    `subjectAltName=DNS:${host},DNS:localhost,IP:127.0.0.1,IP:::1\n` +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', file('node.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('node.pem'), '-days', '365', '-extfile', file('node.ext'));
  const opts = `[{certfile, ${JSON.stringify(file('node.pem'))}}, {keyfile, ${JSON.stringify(file('node.key'))}}, ` +
    `{cacertfile, ${JSON.stringify(file('ca.pem'))}}, {verify, verify_peer}]`;
  fs.writeFileSync(file('opt.conf'), `[{server, ${opts}}, {client, ${opts}}].\n`);
}

let tlsPeer;
let inet6Peer;
const nodes = [];

before(async () => {
  makeCertificates();
  [tlsPeer, inet6Peer] = await Promise.all([
    BeamPeer.start({ args: ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', file('opt.conf')] }),
    BeamPeer.start({ args: ['-proto_dist', 'inet6_tcp'] }),
  ]);
});

after(async () => {
  await Promise.all(nodes.map((node) => node.close()));
  await tlsPeer?.stop();
  await inet6Peer?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function start(peer, options) {
  const node = await erldp.Node.start(randomName('js_'), { cookie: peer.cookie, ...options });
  nodes.push(node);
  return node;
}

const tls = (cacertfile = 'ca.pem') => ({
  certfile: file('node.pem'),
  keyfile: file('node.key'),
  cacertfile: file(cacertfile),
  verify: 'verify_peer',
});

/** {Protocol, Family} of the peer's connection to `node`. */
function carried(peer, node) {
  return peer.eval(`(fun() -> {ok, Info} = net_kernel:node_info(${atom(Symbol.keyFor(node.name))}), ` +
    '{address, {net_address, _, _, P, F}} = lists:keyfind(address, 1, Info), {P, F} end)()');
}

test('tls: both directions, with the options or the option file', async () => {
  const node = await start(tlsPeer, { tls: tls() });
  assert.equal(await node.rpc(tlsPeer.node, 'erlang', 'node', []), Symbol.for(tlsPeer.node));
  assert.equal(await carried(tlsPeer, node), '{tls,inet}');
  const other = await start(tlsPeer, { tls: { optfile: file('opt.conf') } });
  assert.equal(await tlsPeer.eval(`net_adm:ping(${atom(Symbol.keyFor(other.name))})`), 'pong');
  assert.equal(await carried(tlsPeer, other), '{tls,inet}');
});

test('tls: refusals are ECONNECT errors that name the cause', async () => {
  const node = await start(tlsPeer, { tls: tls('other_ca.pem') });
  await assert.rejects(node.connect(tlsPeer.node), (err) => {
    assert.equal(err.code, 'ECONNECT');
    assert.match(err.message, /not signed by a CA in our cacertfile/);
    return true;
  });
  const plain = await start(tlsPeer, {});
  await assert.rejects(plain.connect(tlsPeer.node), (err) => {
    assert.equal(err.code, 'ECONNECT');
    assert.match(err.message, /runs TLS distribution/);
    return true;
  });
});

test('tls: options are checked', async () => {
  await assert.rejects(start(tlsPeer, { tls: { ...tls(), verfy: 'verify_none' } }),
    (err) => err instanceof TypeError && /unknown option "verfy" in option tls.*did you mean "verify"/.test(err.message));
  await assert.rejects(start(tlsPeer, { tls: { ...tls(), verify: 'verify_all' } }),
    (err) => err instanceof TypeError && /verify_peer/.test(err.message));
  await assert.rejects(start(tlsPeer, { tls: { ...tls(), keyfile: file('ca.pem') } }),
    (err) => err.code === 'EINVAL' && err.message.includes('ca.pem'));
  await assert.rejects(start(tlsPeer, { tls: { optfile: file('opt.conf'), verify: 'verify_none' } }),
    (err) => err.code === 'EINVAL' && /optfile/.test(err.message));
});

test('ipv6: an inet6_tcp node is reached over IPv6', async () => {
  const node = await start(inet6Peer, { ipv6: true });
  assert.equal(await node.rpc(inet6Peer.node, 'erlang', 'node', []), Symbol.for(inet6Peer.node));
  assert.equal(await carried(inet6Peer, node), '{tcp,inet6}');
  await assert.rejects(start(inet6Peer, { ipv6: 'yes' }), TypeError);
});
