#!/usr/bin/env bash
# `make demo`: start a local Erlang node running examples/erlang/demo_server.erl, then have the
# ErlDP example programs join it, send, receive, rpc and call. Cleans up after itself, also on
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
erl_pid=
cleanup() {
  [ -n "$erl_pid" ] && kill "$erl_pid" 2>/dev/null && wait "$erl_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)
peer="demo_$RANDOM@$host"
cookie="demo_cookie_$RANDOM$RANDOM"

echo "==> building the examples"
cargo build --release -q -p erldp --example demo
npm --prefix node run --silent build >"$work/npm-build.log" 2>&1 || { cat "$work/npm-build.log"; exit 1; }

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
echo "==> Node.js (examples/node/demo.js)"
node examples/node/demo.js "$peer" "$cookie"

echo
echo "==> done; the Erlang node saw greetings from:"
erl -sname "check_$RANDOM" -setcookie "$cookie" -noshell -hidden \
    -eval "io:format(\"~p~n\", [gen_server:call({demo_server, '$peer'}, greeted)]), halt()."
