'use strict';
// ErlDP from Node.js, called by BEAM: a calculator served as a process and a module exposed to
// `rpc`, their handlers on the event loop.
//
// Run by `make demo`, or by hand:
//
//   node examples/node/serve.js js_calc COOKIE
//
// and then, from an Elixir node with the same cookie (`iex --sname x --cookie COOKIE`):
//
//   GenServer.call({:calculator, :"js_calc@host"}, {:add, 2, 3})   # 5
//   GenServer.call({:calculator, :"js_calc@host"}, {:div, 1, 0})   # exits: {:RangeError, "division by zero"}
//   :rpc.call(:"js_calc@host", :js_math, :hypot, [3, 4])          # 5.0
//   :erpc.call(:"js_calc@host", :js_math, :fetch, [7])            # answered after an await
//   GenServer.cast({:calculator, :"js_calc@host"}, :stop)          # ends the program

const erldp = require('../../node'); // require('erldp') in a project that installed the package

const atom = Symbol.for;

const isInteger = (x) => Number.isInteger(x) || typeof x === 'bigint';

/** `{add | sub | mul | div, A, B}` on integers of any size, as BEAM's. */
function calculate(request) {
  const [op, a, b] = Array.isArray(request) ? request : [];
  if (!isInteger(a) || !isInteger(b)) {
    throw new TypeError(`not a calculation: ${erldp.format(request)}`);
  }
  // Integers from 2^53 up arrive as BigInt; in BigInt every result is exact.
  const [x, y] = [BigInt(a), BigInt(b)];
  switch (op) {
    case atom('add'):
      return x + y;
    case atom('sub'):
      return x - y;
    case atom('mul'):
      return x * y;
    case atom('div'):
      if (y === 0n) throw new RangeError('division by zero');
      return x / y;
    default:
      throw new TypeError(`not a calculation: ${erldp.format(request)}`);
  }
}

/** `js_math:hypot(X, Y)`, and `js_math:fetch(N)`, which awaits before it answers. */
async function jsMath(fun, args) {
  switch (fun) {
    case atom('hypot'):
      return erldp.float(Math.hypot(...args));
    case atom('fetch'):
      await new Promise((resolve) => setTimeout(resolve, 10));
      return erldp.tuple(atom('fetched'), args[0]);
    default:
      // What BEAM answers for a function its module lacks (Elixir: UndefinedFunctionError).
      throw new erldp.Undef();
  }
}

async function main(name, cookie) {
  const node = await erldp.Node.start(name, { cookie });
  let stop;
  const stopped = new Promise((resolve) => {
    stop = resolve;
  });
  node.serve('calculator', (request, from) => {
    // A call has a `from`; a cast or a plain message has none, and its value is ignored.
    if (from === null) {
      if (request === atom('stop')) stop();
      return null;
    }
    return calculate(request);
  });
  node.expose('js_math', jsMath);
  console.log(`serve: ready as ${Symbol.keyFor(node.name)}`);
  await stopped;
  console.log('serve: stopped');
  await node.close();
}

const [name, cookie] = process.argv.slice(2);
if (!name || !cookie) {
  console.error('usage: node examples/node/serve.js NODE_NAME COOKIE');
  process.exit(2);
}
main(name, cookie).catch((err) => {
  console.error(err);
  process.exit(1);
});
