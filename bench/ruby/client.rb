# frozen_string_literal: true

# The Ruby client of `make bench`: the scenarios of bench/rust/bench.rs through the erldp gem,
# as a Ruby program would use it.
#
#   ruby -Iruby/lib bench/ruby/client.rb SCENARIO PEER COOKIE ARG
#
# Prints "key value" lines. The codec scenario also times Ruby's JSON on the same data, made
# JSON-shaped: atoms become strings, tuples arrays, map keys strings, binaries that are not
# UTF-8 hex strings.

require "erldp"
require "json"

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def peak_rss_mib = File.read("/proc/self/status")[/VmHWM:\s+(\d+)/, 1].to_i / 1024.0

def report(key, value) = puts(format("%s %.2f", key, value))

TIMEOUT = 120

# Nanoseconds per item: runs the block over every item, for at least half a second.
def per_item(items)
  rounds = 0
  started = now
  while (elapsed = now - started) < 0.5 || rounds.zero?
    items.each { |item| yield item }
    rounds += 1
  end
  elapsed * 1e9 / (rounds * items.size)
end

def json_shaped(value)
  case value
  when Symbol then value.to_s
  when Array then value.map { |v| json_shaped(v) }
  when Hash then value.to_h { |k, v| [k.is_a?(String) ? k : json_shaped(k).to_s, json_shaped(v)] }
  when String then value.valid_encoding? && value.encoding == Encoding::UTF_8 ? value : value.unpack1("H*")
  when Integer, Float, true, false, nil then value
  else value.to_s
  end
end

def codec(path)
  data = File.binread(path)
  encoded = []
  offset = 0
  while offset < data.bytesize
    len = data.byteslice(offset, 4).unpack1("N")
    encoded << data.byteslice(offset + 4, len)
    offset += 4 + len
  end
  values = encoded.map { |bytes| ErlDP.binary_to_term(bytes) }
  shaped = values.map { |value| json_shaped(value) }
  texts = shaped.map { |value| JSON.generate(value) }
  report("encode_ns", per_item(values) { |value| ErlDP.term_to_binary(value) })
  report("decode_ns", per_item(encoded) { |bytes| ErlDP.binary_to_term(bytes) })
  report("json_encode_ns", per_item(shaped) { |value| JSON.generate(value) })
  report("json_decode_ns", per_item(texts) { |text| JSON.parse(text) })
end

def one_way(node, peer, n)
  sink = [:sink, peer]
  payload = ("\0" * 16).b
  started = now
  (1..n).each { |i| node.send_message(sink, ErlDP::Tuple[:seq, i, payload]) }
  count, in_order = node.rpc(peer, :erldp_bench, :sink_wait, [n, 60_000], timeout: TIMEOUT)
  elapsed = now - started
  raise "the sink got #{count} (in order: #{in_order}), not #{n}" unless count == n && in_order == true

  report("msgs_per_s", n / elapsed)
end

def receive_blast(node, peer, n)
  box = node.mailbox(:inbox)
  started = now
  node.send_message([:blaster, peer], ErlDP::Tuple[:blast, ErlDP::Tuple[:inbox, node.name], n])
  (1..n).each do |i|
    message = box.receive(timeout: 60) or raise "message #{i} did not come"
    raise "message #{i} came as #{message.term[1]}" unless message.term[1] == i
  end
  report("msgs_per_s", n / (now - started))
end

def rpc(node, peer, n)
  started = now
  times = Array.new(n) do
    t = now
    node.rpc(peer, :erlang, :node, [], timeout: TIMEOUT)
    (now - t) * 1e6
  end
  total = now - started
  times.sort!
  report("median_us", times[n / 2])
  report("p99_us", times[n * 99 / 100])
  report("calls_per_s", n / total)
end

def concurrent(node, peer, per_caller)
  started = now
  Array.new(16) { Thread.new { per_caller.times { node.rpc(peer, :erlang, :node, [], timeout: TIMEOUT) } } }.each(&:join)
  report("calls_per_s", 16 * per_caller / (now - started))
end

def big_out(node, peer, bytes)
  big = ("\x07" * bytes).b
  started = now
  node.send_message([:bigsink, peer], big)
  size = node.rpc(peer, :erldp_bench, :big_wait, [60_000], timeout: TIMEOUT)
  elapsed = now - started
  raise "bigsink got #{size} bytes" unless size == bytes

  report("mb_per_s", bytes / 1e6 / elapsed)
  report("peak_rss_mib", peak_rss_mib)
end

def big_in(node, peer, bytes)
  box = node.mailbox(:inbox)
  started = now
  node.send_message([:blaster, peer], ErlDP::Tuple[:big, ErlDP::Tuple[:inbox, node.name]])
  message = box.receive(timeout: 60) or raise "the binary did not come"
  elapsed = now - started
  raise "got #{message.term.bytesize} bytes" unless message.term.bytesize == bytes

  report("mb_per_s", bytes / 1e6 / elapsed)
  report("peak_rss_mib", peak_rss_mib)
end

# BEAM calls in: serves bench_calc and exposes bench_math, then has the peer's serve_driver make
# `callers` processes call in `calls` times each (gen_server:call, or erpc:call for "erpc") and
# send the result, which is printed.
def serve(node, peer, kind, calls, callers)
  node.serve(:bench_calc) { |(_, a, b), _from| a + b }
  node.expose(:bench_math) { |_fun, (a, b)| a + b }
  result = node.mailbox(:bench_result)
  target = kind == :call ? ErlDP::Tuple[:bench_calc, node.name] : ErlDP::Tuple[node.name, :bench_math]
  node.send_message([:serve_driver, peer],
                    ErlDP::Tuple[kind, target, calls, callers, ErlDP::Tuple[:bench_result, node.name]])
  message = result.receive(timeout: TIMEOUT) or abort "no serve result within #{TIMEOUT} s"
  _, median, p99, rate = message.term
  report("median_us", median)
  report("p99_us", p99)
  report("calls_per_s", rate)
end

# The peer's serve_driver calls in with this many processes for serve_concurrent (CALLERS in
# bench/rust/bench.rs).
SERVE_CALLERS = 16

scenario, peer, cookie, arg = ARGV
if scenario == "codec"
  codec(arg)
else
  peer = peer.to_sym
  node = ErlDP::Node.new("bench_rb_#{Process.pid}", cookie: cookie)
  node.connect(peer)
  n = Integer(arg)
  case scenario
  when "send" then one_way(node, peer, n)
  when "receive" then receive_blast(node, peer, n)
  when "rpc" then rpc(node, peer, n)
  when "concurrent" then concurrent(node, peer, n)
  when "big_out" then big_out(node, peer, n)
  when "big_in" then big_in(node, peer, n)
  when "serve_call" then serve(node, peer, :call, n, 1)
  when "serve_concurrent" then serve(node, peer, :call, n, SERVE_CALLERS)
  when "serve_erpc" then serve(node, peer, :erpc, n, 1)
  else abort "unknown scenario #{scenario}"
  end
  node.close
end
