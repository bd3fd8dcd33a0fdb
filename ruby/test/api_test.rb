# frozen_string_literal: true

require "test_helper"

# The Ruby section of API.md, line by line, against a real BEAM node.
class ApiTest < Minitest::Test
  include ErlDPTest::Helpers

  def test_node_new_starts_a_hidden_node_registered_with_epmd
    node = new_node
    alive, host = node.name.to_s.split("@")
    assert node.hidden?
    assert_equal Socket.gethostname.split(".").first, host
    assert_equal "{ok,#{node.port}}",
                 peer.eval!("case erl_epmd:port_please(\"#{alive}\", \"#{host}\") of {port, P, _} -> {ok, P}; E -> E end")
  end

  def test_node_new_visible_and_with_a_block
    name = nil
    result = ErlDP::Node.new("ruby_block_#{SecureRandom.alphanumeric(6).downcase}", cookie: peer.cookie,
                                                                                   hidden: false) do |node|
      name = node.name
      refute node.hidden?
      node.connect(peer.node)
      assert_equal "true", peer.eval!("erldp_test:wait_for(fun() -> lists:member(#{atom(name)}, nodes(visible)) end, 10000)")
      :done
    end
    assert_equal :done, result
    assert_equal "true", peer.eval!("erldp_test:wait_for(fun() -> not lists:member(#{atom(name)}, nodes(connected)) end, 10000)")
  end

  def test_connect_returns_true_and_the_peer_sees_us
    node = new_node
    assert_equal true, node.connect(peer.node)
    # The peer's net_kernel learns of the connection a moment after our side of the handshake ends.
    assert_equal "true", peer.eval!("erldp_test:wait_for(fun() -> lists:member(#{atom(node.name)}, nodes(hidden)) end, 10000)")
    assert_includes node.nodes, peer.node
  end

  def test_ping
    node = new_node
    assert_equal :pong, node.ping(peer.node)
    assert_equal :pang, node.ping(:"nobody_#{SecureRandom.alphanumeric(6).downcase}@#{peer.node.to_s.split('@').last}")
  end

  def test_rpc
    node = new_node
    assert_equal peer.node, node.rpc(peer.node, :erlang, :node, [])
    assert_equal 6, node.rpc(peer.node, :lists, :sum, [[1, 2, 3]], timeout: 5)
    assert_equal "hello", node.rpc(peer.node.to_s, "erlang", "list_to_binary", ["hello".bytes])
  end

  def test_mailbox_with_a_registered_name
    node = new_node
    box = node.mailbox(:inbox)
    assert_equal :inbox, box.name
    assert_equal node.name, box.pid.node
    assert_nil node.mailbox.name
    peer.eval!("{inbox, #{atom(node.name)}} ! {hello, self()}")
    message = box.receive(timeout: 5)
    assert_equal :message, message.kind
    assert_instance_of ErlDP::Pid, message.from
    assert_equal ErlDP::Tuple[:hello, message.from], message.term
    assert_raises(ErlDP::NameTaken) { node.mailbox(:inbox) }
  end

  def test_send_message_and_receive
    node = new_node
    box = node.mailbox(:inbox)
    peer.eval!("erldp_test:echo_start(echo)")
    box.send_message([:echo, peer.node], ErlDP::Tuple[box.pid, "hi"])
    msg = box.receive(timeout: 5)
    assert_instance_of ErlDP::Message, msg
    matched = case msg
              in { kind: :message, term: [:echo, text] } then text
              end
    assert_equal "hi", matched
    assert msg.message?
  end

  def test_receive_returns_nil_when_nothing_comes
    box = new_node.mailbox
    assert_nil box.receive(timeout: 0)
    assert_nil box.receive(timeout: 0.05)
  end

  def test_node_send_message_comes_from_the_node_pid
    node = new_node
    peer.eval!("erldp_test:collect(from_node)")
    node.send_message([:from_node, peer.node], :ping)
    assert_equal "[ping]", peer.eval!("erldp_test:collected(from_node, 1, 5000)")
  end

  def test_call_and_cast
    node = new_node
    peer.eval!("erldp_test_server:start(my_server, initial)")
    server = [:my_server, peer.node]
    assert_equal ErlDP::Tuple[:unknown_call, :get_state], node.call(server, :get_state, timeout: 5)
    assert_equal :initial, node.call(server, :state, timeout: 5)
    assert_nil node.cast(server, ErlDP::Tuple[:set, 42])
    assert_equal 42, node.call(server, :state)
    pid = node.rpc(peer.node, :erlang, :whereis, [:my_server])
    assert_equal ErlDP::Tuple[1, 2], node.call(pid, ErlDP::Tuple[:echo, ErlDP::Tuple[1, 2]])
  ensure
    peer.eval!("erldp_test_server:stop(my_server)")
  end

  # A node name may be a String or a Symbol wherever one is taken, as rpc always allowed.
  def test_node_names_and_registered_names_may_be_strings_everywhere
    node = new_node
    peer.eval!("erldp_test_server:start(string_server, initial)")
    name = peer.node.to_s
    assert_equal :initial, node.call(["string_server", name], :state, timeout: 5)
    assert_equal :initial, node.call([:string_server, name], :state, timeout: 5)
    assert_nil node.cast(ErlDP::Tuple["string_server", name], ErlDP::Tuple[:set, 7])
    assert_equal 7, node.call(["string_server", peer.node], :state)
    peer.eval!("erldp_test:collect(string_box)")
    node.send_message(["string_box", name], :one)
    node.mailbox.send_message([:string_box, name], :two)
    assert_equal "[one,two]", peer.eval!("erldp_test:collected(string_box, 2, 5000)")
    box = node.mailbox
    assert_equal peer.node, box.monitor(name)
    box.demonitor(name)
    ref = box.monitor(["string_server", name])
    assert_instance_of ErlDP::Ref, ref
    assert_equal :pong, node.ping(name)
    assert_raises(ArgumentError) { node.call(["", name], :state) }
    assert_raises(ArgumentError) { node.call([1, name], :state) }
  ensure
    peer.eval!("erldp_test_server:stop(string_server)")
  end

  def test_each_message_ends_on_close
    node = new_node
    box = node.mailbox(:stream)
    seen = Queue.new
    reader = Thread.new { box.each_message { |message| seen << message.term } }
    peer.eval!("[{stream, #{atom(node.name)}} ! N || N <- [1, 2, 3]]")
    assert_equal [1, 2, 3], Array.new(3) { seen.pop }
    box.close
    assert_same box, reader.value
    assert_raises(ErlDP::ClosedError) { box.receive(timeout: 0) }
  end

  def test_each_message_without_a_block_is_an_enumerator
    node = new_node
    box = node.mailbox(:enum)
    peer.eval!("[{enum, #{atom(node.name)}} ! N || N <- [1, 2]]")
    assert_equal [1, 2], box.each_message.first(2).map(&:term)
  end

  def test_node_close
    node = new_node
    box = node.mailbox
    node.connect(peer.node)
    waiting = Thread.new do
      Thread.current.report_on_exception = false
      box.receive
    end
    node.close
    assert node.closed?
    assert_raises(ErlDP::ClosedError) { waiting.value }
    assert_raises(ErlDP::ClosedError) { node.rpc(peer.node, :erlang, :node, []) }
    assert_raises(ErlDP::ClosedError) { node.mailbox }
    assert_raises(ErlDP::ClosedError) { node.ping(peer.node) }
    node.close
  end

  def test_box_close_with_a_reason_reaches_monitors
    node = new_node
    box = node.mailbox
    watch_from_beam(box.pid)
    box.close(ErlDP::Tuple[:shutdown, "done"])
    assert box.closed?
    assert_equal "[{down,{shutdown,<<\"done\">>}}]", peer.eval!("erldp_test:collected(downs, 1, 5000)")
  end

  # A reason with no Erlang form fails the close before anything closes: the mailbox, registered,
  # stays open and kept by its node (which would otherwise let the GC close a name BEAM reaches).
  def test_a_close_that_fails_keeps_a_registered_mailbox
    node = new_node
    box = node.mailbox(:kept_box)
    assert_raises(ErlDP::EncodeError) { box.close(Object.new) }
    refute box.closed?
    assert node.instance_variable_get(:@kept).key?(box)
    box.close
    refute node.instance_variable_get(:@kept).key?(box)
  end

  def test_link_both_ways
    node = new_node
    box = node.mailbox
    peer.eval!("erldp_test:collect(trapper, [trap_exit])")
    trapper = node.rpc(peer.node, :erlang, :whereis, [:trapper])
    assert_nil box.link(trapper)
    box.close(:bye)
    assert_match(/\[\{'EXIT',<[\d.]+>,bye\}\]/, peer.eval!("erldp_test:collected(trapper, 1, 5000)"))

    box = node.mailbox
    peer.eval!("erldp_test:collect(victim)")
    victim = node.rpc(peer.node, :erlang, :whereis, [:victim])
    box.link(victim)
    sync(node)
    peer.eval!("exit(whereis(victim), boom)")
    message = box.receive(timeout: 5)
    assert_equal :exit, message.kind
    assert_equal victim, message.from
    assert_equal :boom, message.reason
    assert_equal ErlDP::Tuple[:EXIT, victim, :boom], message.term
  end

  def test_unlink
    node = new_node
    box = node.mailbox(:unlinker)
    peer.eval!("erldp_test:collect(victim)")
    victim = node.rpc(peer.node, :erlang, :whereis, [:victim])
    box.link(victim)
    assert_nil box.unlink(victim)
    sync(node)
    # Signals between two nodes keep their order: the marker comes after any exit signal.
    peer.eval!("exit(whereis(victim), boom), {unlinker, #{atom(node.name)}} ! marker")
    assert_equal :marker, box.receive(timeout: 5).term
  end

  def test_monitor_and_demonitor_a_process
    node = new_node
    box = node.mailbox(:watcher)
    peer.eval!("erldp_test:collect(target)")
    target = node.rpc(peer.node, :erlang, :whereis, [:target])
    ref = box.monitor(target)
    assert_instance_of ErlDP::Ref, ref
    sync(node)
    peer.eval!("exit(whereis(target), kill)")
    message = box.receive(timeout: 5)
    assert_equal :down, message.kind
    assert_equal ref, message.ref
    assert_equal :killed, message.reason
    assert_equal target, message.from
    assert_equal ErlDP::Tuple[:DOWN, ref, :process, target, :killed], message.term

    peer.eval!("erldp_test:collect(target)")
    ref = box.monitor([:target, peer.node])
    assert_nil box.demonitor(ref)
    sync(node)
    peer.eval!("exit(whereis(target), kill), {watcher, #{atom(node.name)}} ! marker")
    assert_equal :marker, box.receive(timeout: 5).term
  end

  def test_monitor_by_name
    node = new_node
    box = node.mailbox
    peer.eval!("erldp_test:collect(named)")
    ref = box.monitor([:named, peer.node])
    sync(node)
    peer.eval!("exit(whereis(named), kill)")
    message = box.receive(timeout: 5)
    assert_equal :down, message.kind
    assert_equal ref, message.ref
    assert_equal ErlDP::Tuple[:DOWN, ref, :process, ErlDP::Tuple[:named, peer.node], :killed], message.term
  end

  def test_monitor_of_a_missing_process_is_down_at_once
    node = new_node
    box = node.mailbox
    ref = box.monitor([:nobody_here, peer.node])
    message = box.receive(timeout: 5)
    assert_equal [:down, ref, :noproc], [message.kind, message.ref, message.reason]
  end

  def test_nodes_lists_connected_peers
    node = new_node
    assert_equal [], node.nodes
    node.connect(peer.node)
    assert_equal [peer.node], node.nodes
  end

  def test_beam_reaches_us_by_name_and_pid
    node = new_node
    box = node.mailbox(:reachable)
    node.rpc(peer.node, :erlang, :send, [ErlDP::Tuple[:reachable, node.name], :by_name])
    assert_equal :by_name, box.receive(timeout: 5).term
    node.rpc(peer.node, :erlang, :send, [box.pid, :by_pid])
    assert_equal :by_pid, box.receive(timeout: 5).term
  end

  private

  # Has a BEAM process monitor `pid` and keep its DOWN reason in the collector `downs`.
  def watch_from_beam(pid)
    peer.eval!("erldp_test:collect(downs)")
    ruby_node = pid.node
    box = new_node.mailbox
    peer.eval!("erldp_test:collect(pids)")
    box.send_message([:pids, peer.node], pid)
    # Inside a fun, so that the variables do not stay bound in the shared peer. The ping is
    # answered by our node after it has handled the monitor, which travels first.
    peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          [Pid] = erldp_test:collected(pids, 1, 5000),
          #{atom(ruby_node)} = node(Pid),
          Parent = self(),
          spawn(fun() ->
                    Ref = erlang:monitor(process, Pid),
                    pong = net_adm:ping(node(Pid)),
                    Parent ! monitoring,
                    receive {'DOWN', Ref, process, _, Reason} -> downs ! {down, Reason} end
                end),
          receive monitoring -> ok end
      end)().
    ERLANG
  end
end
