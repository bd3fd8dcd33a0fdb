#!/usr/bin/env bash
# `make demo`: start a local Erlang node running examples/erlang/demo_server.erl, then have the
# ErlDP example programs join it, send, receive, rpc and call. Cleans up after itself, also on
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
erl_pid=
echo_pid=
cleanup() {
  for pid in $echo_pid $erl_pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)
peer="demo_$RANDOM@$host"
cookie="demo_cookie_$RANDOM$RANDOM"

echo "==> building the examples"
cargo build --release -q -p erldp --example demo
# The C examples are built the way the README shows: from `make install` with pkg-config.
make --no-print-directory -s install PREFIX="$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
for example in rpc_client echo_server; do
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
target/release/examples/demo "$peer" "$cookie"

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

echo
echo "==> done; the Erlang node saw greetings from:"
erl -sname "check_$RANDOM" -setcookie "$cookie" -noshell -hidden \
    -eval "io:format(\"~p~n\", [gen_server:call({demo_server, '$peer'}, greeted)]), halt()."
