// Compiled by pack.test.js, where the package is installed alone into a clean directory (no
// @types/node): the types stand on their own, Buffers are Uint8Arrays, and what is not a term
// or not a tuple does not type-check (each @ts-expect-error fails the check if there is no error).
import * as erldp from 'erldp';
import { Node, tuple, type Term, type Tuple } from 'erldp';

async function example(peer: string): Promise<void> {
  const controller = new AbortController();
  const node = await Node.start('ts', { cookie: 'secret', floats: 'auto', atoms: 'string', signal: controller.signal });
  const sum = await node.rpc(peer, 'lists', 'sum', [[1, 2, 2 ** 53]], { timeout: 5000, signal: AbortSignal.timeout(1000) });
  const box = node.mailbox('inbox');
  const message = await box.receive({ timeout: 100, signal: controller.signal });
  await node.ping(peer, { signal: controller.signal });
  await box.monitor(peer, { signal: controller.signal });
  const bytes: Uint8Array = erldp.encode(tuple(Symbol.for('ok'), erldp.float(1)));
  const back: Term = erldp.decode(bytes, { floats: 'number', atoms: 'symbol' });
  const ok: Tuple = tuple(Symbol.for('ok'), 1);
  const user = erldp.elixir.struct('MyApp.User', { name: 'ann', tags: erldp.elixir.keyword({ admin: true }) });
  const when: Date | Term = erldp.elixir.fromCalendar(erldp.elixir.dateTime(new Date()));
  const api: symbol = erldp.elixir.module('MyApp.Api');
  const text: string = erldp.elixir.fromCharlist(erldp.elixir.charlist('hi'));
  console.log(sum, message?.term, back, ok, user, when, api, text, erldp.elixir.structName(user));
  await node.close();

  // @ts-expect-error a plain array is a list, not a Tuple
  const notTuple: Tuple = [Symbol.for('ok'), 1];
  // @ts-expect-error functions are not terms
  const fn: Term = () => 1;
  // @ts-expect-error undefined is not a term
  const nothing: Term = undefined;
  // @ts-expect-error unknown options are errors here too
  await node.rpc(peer, 'm', 'f', [], { cookiee: 'x' });
  // @ts-expect-error floats is "auto", "float" or "number"
  erldp.decode(bytes, { floats: 'double' });
  console.log(notTuple, fn, nothing);
}

void example;
