#!/usr/bin/env bash
# `make demo`: start a local Erlang node running examples/erlang/demo_server.erl, then have the
# ErlDP example programs (Rust, C, Ruby, Node.js) join it, send, receive, rpc and call; then, when
# Elixir is installed, an Elixir node with a GenServer that the `erldp` command, Ruby and Node.js
# call, and Elixir calling the calculators that Rust and C serve. Cleans up after itself, also
# on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
erl_pid=
echo_pid=
elixir_pid=
served_pids=
cleanup() {
  for pid in $echo_pid $elixir_pid $served_pids $erl_pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)
peer="demo_$RANDOM@$host"
cookie="demo_cookie_$RANDOM$RANDOM"
# Where cargo leaves its builds, as the Makefile has it.
release="${CARGO_TARGET_DIR:-target}/release"

echo "==> building the examples"
cargo build --release -q -p erldp --example demo --example serve -p erldp-cli
# The C examples are built the way the README shows: from `make install` with pkg-config.
make --no-print-directory -s install PREFIX="$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
for example in rpc_client echo_server calculator; do
  cc -std=c11 -Wall examples/c/$example.c $(pkg-config --cflags --libs erldp) \
     -Wl,-rpath,"$work/prefix/lib" -o "$work/$example"
done
# The Ruby extension comes from `make build`, which `make demo` runs first.
[ -f ruby/lib/erldp/erldp.so ] || { echo "ruby/lib/erldp/erldp.so is missing: run make build first"; exit 1; }

erlc -o "$work" examples/erlang/demo_server.erl
echo "==> starting Erlang node $peer"
erl -sname "${peer%@*}" -setcookie "$cookie" -noshell -pa "$work" \
    -eval 'demo_server:start(), io:format("ready~n").' >"$work/erl.log" 2>&1 &
erl_pid=$!
for _ in $(seq 100); do
  grep -q ready "$work/erl.log" && break
  kill -0 "$erl_pid" 2>/dev/null || { cat "$work/erl.log"; exit 1; }
  sleep 0.1
done
grep -q ready "$work/erl.log" || { echo "the Erlang node did not start"; cat "$work/erl.log"; exit 1; }

echo
echo "==> Rust (examples/rust/demo.rs)"
"$release"/examples/demo "$peer" "$cookie"

echo
echo "==> C (examples/c/rpc_client.c)"
"$work/rpc_client" "$peer" "$cookie"

echo
echo "==> C (examples/c/echo_server.c), with Erlang code talking to it"
"$work/echo_server" "c_echo_$RANDOM" "$cookie" >"$work/echo.log" 2>&1 &
echo_pid=$!
for _ in $(seq 100); do
  grep -q ready "$work/echo.log" && break
  kill -0 "$echo_pid" 2>/dev/null || { cat "$work/echo.log"; exit 1; }
  sleep 0.1
done
c_node=$(sed -n 's/^echo_server: ready as //p' "$work/echo.log")
[ -n "$c_node" ] || { echo "the C echo server did not start"; cat "$work/echo.log"; exit 1; }
echo "c: echo_server is $c_node"
# The monitor makes halt() wait until `stop` reached the C node and it closed its mailbox.
erl -sname "talk_$RANDOM" -setcookie "$cookie" -noshell -hidden -eval "
    Echo = {echo, '$c_node'},
    Echo ! {self(), {hello, from_erlang}},
    receive {echo, Msg} -> io:format(\"erlang: Echo ! {self(), {hello, from_erlang}} -> {echo, ~0tp}~n\", [Msg])
    after 5000 -> io:format(\"erlang: no echo~n\") end,
    io:format(\"erlang: gen_server:call(Echo, ping) -> ~0tp~n\", [gen_server:call(Echo, ping, 5000)]),
    Ref = monitor(process, Echo),
    Echo ! stop,
    receive {'DOWN', Ref, process, _, _} -> ok after 5000 -> ok end,
    halt()."
wait "$echo_pid"
echo_pid=
sed -n 's/^echo_server: stopped/c: echo_server stopped/p' "$work/echo.log"

echo
echo "==> Ruby (examples/ruby/demo.rb)"
ruby -Iruby/lib examples/ruby/demo.rb "$peer" "$cookie"

echo
echo "==> Node.js (examples/node/demo.js)"
node examples/node/demo.js "$peer" "$cookie"

if command -v elixir >/dev/null; then
  elixir_node="demo_ex_$RANDOM@$host"
  echo
  echo "==> starting Elixir node $elixir_node (examples/elixir/demo.exs)"
  elixir --sname "${elixir_node%@*}" --cookie "$cookie" examples/elixir/demo.exs >"$work/elixir.log" 2>&1 &
  elixir_pid=$!
  for _ in $(seq 200); do
    grep -q ready "$work/elixir.log" && break
    kill -0 "$elixir_pid" 2>/dev/null || { cat "$work/elixir.log"; exit 1; }
    sleep 0.1
  done
  grep -q ready "$work/elixir.log" || { echo "the Elixir node did not start"; cat "$work/elixir.log"; exit 1; }
  erldp=("$release"/erldp --cookie "$cookie")
  echo "\$ erldp ping $elixir_node"
  "${erldp[@]}" ping "$elixir_node"
  echo "\$ erldp rpc $elixir_node 'Elixir.String':upcase(<<\"from the erldp command\">>)"
  "${erldp[@]}" rpc "$elixir_node" "'Elixir.String':upcase(<<\"from the erldp command\">>)"
  echo "\$ erldp eval $elixir_node \"'Elixir.GenServer':call('Elixir.Demo.Counter', bump)\""
  "${erldp[@]}" eval "$elixir_node" "'Elixir.GenServer':call('Elixir.Demo.Counter', bump)"
  ruby -Iruby/lib -rerldp -e '
    ErlDP::Node.new("ruby_ex_demo", cookie: ARGV[1]) do |node|
      count = node.call([:"Elixir.Demo.Counter", ARGV[0].to_sym], :bump, timeout: 5)
      puts "ruby: GenServer.call(Demo.Counter, :bump) on Elixir -> #{count}"
    end' "$elixir_node" "$cookie"
  node -e '
    const erldp = require("./node");
    (async () => {
      const node = await erldp.Node.start("node_ex_demo", { cookie: process.argv[2] });
      const count = await node.call([Symbol.for("Elixir.Demo.Counter"), process.argv[1]], Symbol.for("bump"));
      console.log(`node: GenServer.call(Demo.Counter, :bump) on Elixir -> ${count}`);
      await node.close();
    })().catch((err) => { console.error(err); process.exit(1); });' "$elixir_node" "$cookie"
  echo "\$ erldp rpc $elixir_node 'Elixir.GenServer':call('Elixir.Demo.Counter', count)"
  "${erldp[@]}" rpc "$elixir_node" "'Elixir.GenServer':call('Elixir.Demo.Counter', count)"
  # A remote Elixir exception reads as Elixir shows it, in every language.
  echo "\$ erldp rpc $elixir_node 'Elixir.Keyword':'fetch!'([], k)"
  "${erldp[@]}" rpc "$elixir_node" "'Elixir.Keyword':'fetch!'([], k)" 2>&1 || echo "(exit status $?: the remote code raised)"
else
  echo
  echo "==> Elixir is not installed: skipping the Elixir node"
fi

# $1: a name for messages, $2: the log, then the program and its arguments. Sets $started to the
# node name the program announces with "...: ready as NODE".
start_server() {
  local what=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  served_pids="$served_pids $!"
  for _ in $(seq 100); do
    grep -q "ready as" "$log" && break
    sleep 0.1
  done
  started=$(sed -n 's/^.*: ready as //p' "$log")
  [ -n "$started" ] || { echo "$what did not start"; cat "$log"; exit 1; }
}

if command -v elixir >/dev/null; then
  echo
  echo "==> Rust (examples/rust/serve.rs), C (examples/c/calculator.c) and Node.js (examples/node/serve.js) serve a calculator; Elixir calls them"
  echo "    (the Rust node is visible: it joins Elixir's global cluster, its calculator a global name)"
  start_server "the Rust calculator" "$work/serve.log" \
    "$release"/examples/serve "rust_calc_$RANDOM" "$cookie"
  rust_node=$started
  start_server "the C calculator" "$work/calculator.log" "$work/calculator" "c_calc_$RANDOM" "$cookie"
  c_node=$started
  start_server "the Node.js calculator" "$work/serve-js.log" node examples/node/serve.js "js_calc_$RANDOM" "$cookie"
  js_node=$started
  elixir --sname "caller_$RANDOM" --cookie "$cookie" examples/elixir/call_served.exs "$rust_node" "$c_node" "$js_node"
  # Each stops on the cast `stop` the Elixir script sends last.
  for pid in $served_pids; do wait "$pid"; done
  served_pids=
  sed -n 's/^serve: stopped/rust: the calculator stopped/p' "$work/serve.log"
  sed -n 's/^calculator: stopped/c: the calculator stopped/p' "$work/calculator.log"
  sed -n 's/^serve: stopped/node: the calculator stopped/p' "$work/serve-js.log"

  echo
  echo "==> Ruby (examples/ruby/serve.rb) serves a calculator; Elixir calls it"
  start_server "the Ruby calculator" "$work/ruby_serve.log" \
    ruby -Iruby/lib examples/ruby/serve.rb "ruby_calc_$RANDOM" "$cookie"
  ruby_node=$started
  elixir --sname "caller_$RANDOM" --cookie "$cookie" examples/elixir/call_ruby.exs "$ruby_node"
  for pid in $served_pids; do wait "$pid"; done
  served_pids=
  sed -n 's/^serve: stopped/ruby: the calculator stopped/p' "$work/ruby_serve.log"
fi

echo
echo "==> done; the Erlang node saw greetings from:"
erl -sname "check_$RANDOM" -setcookie "$cookie" -noshell -hidden \
    -eval "io:format(\"~p~n\", [gen_server:call({demo_server, '$peer'}, greeted)]), halt()."
