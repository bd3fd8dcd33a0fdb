'use strict';
// ErlDP from Node.js: join a BEAM node, rpc, send and receive, call a
// gen_server, and be reached by Erlang code.
//
// Run by `make demo`, or by hand against any node running
// examples/erlang/demo_server.erl:
//
//   node examples/node/demo.js demo@myhost COOKIE

const erldp = require('../../node'); // require('erldp') in a project that installed the package

const atom = Symbol.for;

async function main(peer, cookie) {
  const node = await erldp.Node.start('node_demo', { cookie });
  console.log(`node: started ${Symbol.keyFor(node.name)} (hidden, like a C node)`);

  console.log(`node: ping ${peer} -> ${await node.ping(peer)}`);

  const release = await node.rpc(peer, 'erlang', 'system_info', [atom('otp_release')]);
  console.log(`node: rpc erlang:system_info(otp_release) -> ${erldp.format(release)}`);
  const sum = await node.rpc(peer, 'lists', 'sum', [[1, 2, 3, 4]]);
  console.log(`node: rpc lists:sum([1,2,3,4]) -> ${sum}`);

  try {
    await node.rpc(peer, 'erlang', 'binary_to_atom', [42]);
  } catch (err) {
    console.log(`node: rpc erlang:binary_to_atom(42) -> ${err.code}: ${erldp.format(err.reason)}`);
  }

  const inbox = node.mailbox('inbox');
  inbox.send([atom('echo'), peer], erldp.tuple(inbox.pid, 'hi from Node.js'));
  const reply = await inbox.receive({ timeout: 5000 });
  console.log(`node: echo replied ${erldp.format(reply.term)}`);

  const greeting = await node.call([atom('demo_server'), peer], erldp.tuple(atom('greet'), 'Node.js'));
  console.log(`node: gen_server:call(demo_server, {greet, <<"Node.js">>}) -> ${greeting}`);

  // Erlang code reaches us by name: ask the BEAM node to send to our inbox.
  const message = erldp.tuple(atom('from_beam'), atom(peer), 'sent with !');
  await node.rpc(peer, 'erlang', 'send', [erldp.tuple(atom('inbox'), node.name), message]);
  for await (const received of inbox) {
    console.log(`node: received ${erldp.format(received.term)} from ${received.from}`);
    break;
  }

  await node.close();
  console.log('node: closed');
}

const [peer, cookie] = process.argv.slice(2);
if (!peer || !cookie) {
  console.error('usage: node examples/node/demo.js PEER_NODE COOKIE');
  process.exit(2);
}
main(peer, cookie).catch((err) => {
  console.error(err);
  process.exit(1);
});
