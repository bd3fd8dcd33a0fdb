# frozen_string_literal: true

# ErlDP from Ruby: join a BEAM node, rpc, send and receive, call a gen_server, and be reached
# by Erlang code.
#
# Run by `make demo`, or by hand against any node running examples/erlang/demo_server.erl
# (after `make build`):
#
#   ruby -Iruby/lib examples/ruby/demo.rb demo@myhost COOKIE

require "erldp"

peer, cookie = ARGV
abort "usage: demo.rb PEER_NODE COOKIE" unless peer && cookie
peer = peer.to_sym

ErlDP::Node.new("ruby_demo", cookie: cookie) do |node|
  puts "ruby: started #{node.name} (hidden, like a C node)"
  puts "ruby: ping #{peer} -> #{node.ping(peer)}"

  release = node.rpc(peer, :erlang, :system_info, [:otp_release], timeout: 5)
  puts "ruby: rpc erlang:system_info(otp_release) -> #{release.pack('U*')}"
  puts "ruby: rpc lists:sum([1,2,3,4]) -> #{node.rpc(peer, :lists, :sum, [[1, 2, 3, 4]])}"
  begin
    node.rpc(peer, :erlang, :binary_to_atom, [42])
  rescue ErlDP::RpcError => e
    e.reason => [klass, reason, _stacktrace]
    puts "ruby: rpc erlang:binary_to_atom(42) raised #{klass}:#{reason}"
  end

  inbox = node.mailbox(:inbox)
  inbox.send_message([:echo, peer], ErlDP::Tuple[inbox.pid, "hi from Ruby"])
  case inbox.receive(timeout: 5)
  in { term: [:echo, text] } then puts "ruby: echo replied #{text.inspect}"
  in nil then puts "ruby: no echo within 5 s"
  end

  greeting = node.call([:demo_server, peer], ErlDP::Tuple[:greet, "Ruby"], timeout: 5)
  puts "ruby: gen_server:call(demo_server, {greet, <<\"Ruby\">>}) -> #{greeting.inspect}"

  # Erlang code reaches us by name: ask the BEAM node to send to our inbox.
  node.rpc(peer, :erlang, :send, [ErlDP::Tuple[:inbox, node.name], ErlDP::Tuple[:from_beam, peer, "sent with !"]])
  message = inbox.receive(timeout: 5)
  puts "ruby: received #{message.term.inspect} from #{message.from}"
end
puts "ruby: closed"
