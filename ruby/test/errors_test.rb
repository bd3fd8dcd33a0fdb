# frozen_string_literal: true

require "test_helper"

# Each exception class, raised where it should be, by real failures.
class ErrorsTest < Minitest::Test
  include ErlDPTest::Helpers

  def test_every_error_is_an_erldp_error
    [ErlDP::ConnectionError, ErlDP::AuthError, ErlDP::NodeNotFound, ErlDP::Timeout, ErlDP::RpcError,
     ErlDP::DecodeError, ErlDP::EncodeError, ErlDP::ClosedError].each do |error|
      assert_operator error, :<, ErlDP::Error
    end
    assert_operator ErlDP::Error, :<, StandardError
  end

  def test_connection_error_when_nothing_listens
    port = TCPServer.open("127.0.0.1", 0) { |server| server.addr[1] }
    node = new_node
    # A short name, as ours: a long one is refused before any connecting.
    nobody = :"nobody@#{node.name.to_s.split("@").last}"
    error = assert_raises(ErlDP::ConnectionError) do
      node.connect(nobody, host: "127.0.0.1", port: port)
    end
    assert_match(/refused/i, error.message)
  end

  # A peer that dies fails what waits on it with ConnectionError, and monitors of the node
  # report it.
  def test_connection_error_when_the_peer_dies
    doomed = ErlDPTest::BeamPeer.new(cookie: peer.cookie)
    node = new_node
    box = node.mailbox
    assert_equal doomed.node, box.monitor(doomed.node)
    waiting = Thread.new do
      Thread.current.report_on_exception = false
      node.rpc(doomed.node, :timer, :sleep, [60_000], timeout: nil)
    end
    # The rpc runs on the peer before it dies: killed earlier, it could make the rpc connect
    # anew and find no node in EPMD.
    doomed.eval!("erldp_test:wait_for(fun() -> lists:any(fun(P) -> erlang:process_info(P, current_function) =:= " \
                 "{current_function, {timer, sleep, 1}} end, processes()) end, 30000)")
    doomed.kill
    error = assert_raises(ErlDP::ConnectionError) { waiting.value }
    assert_match(/connection/, error.message)
    message = box.receive(timeout: 30)
    assert_equal [:node_down, doomed.node], [message.kind, message.node]
    assert_equal ErlDP::Tuple[:nodedown, doomed.node], message.term
  ensure
    doomed&.stop
  end

  def test_auth_error_for_a_wrong_cookie
    node = new_node(cookie: "not-the-peer-cookie")
    error = assert_raises(ErlDP::AuthError) { node.connect(peer.node) }
    refute_includes error.message, "not-the-peer-cookie"
    refute_includes error.message, peer.cookie
    assert_equal :pang, node.ping(peer.node)
  end

  def test_node_not_found_when_epmd_does_not_know_the_name
    host = peer.node.to_s.split("@").last
    assert_raises(ErlDP::NodeNotFound) { new_node.connect(:"nobody_#{SecureRandom.alphanumeric(6).downcase}@#{host}") }
  end

  # As monitor_node/2 (and the other languages): a node that cannot be reached is no error, but
  # a nodedown message.
  def test_monitoring_a_node_that_cannot_be_reached_gives_nodedown
    host = peer.node.to_s.split("@").last
    nobody = :"nobody_#{SecureRandom.alphanumeric(6).downcase}@#{host}"
    box = new_node.mailbox
    assert_equal nobody, box.monitor(nobody)
    message = box.receive(timeout: 30)
    assert_equal [:node_down, nobody], [message.kind, message.node]
  end

  def test_timeout_for_an_rpc_and_a_call
    node = new_node
    error = assert_raises(ErlDP::Timeout) { node.rpc(peer.node, :timer, :sleep, [10_000], timeout: 0.1) }
    assert_match(%r{rpc timer:sleep/1 on #{peer.node}: no answer within 0.1 s}, error.message)
    peer.eval!("erldp_test_server:start(slow)")
    error = assert_raises(ErlDP::Timeout) do
      node.call([:slow, peer.node], ErlDP::Tuple[:sleep, 10_000], timeout: 0.1)
    end
    assert_match(/gen_server call to .*slow.*: no answer within 0.1 s/, error.message)
  ensure
    peer.eval!("exit(whereis(slow), kill)")
  end

  def test_timeouts_of_infinity_or_more_than_a_duration_holds_wait_for_ever
    node = new_node(setup_timeout: Float::INFINITY, send_timeout: 1e30, net_ticktime: 1e19)
    assert node.connect(peer.node)
    assert_equal 1 << 20, node.rpc(peer.node, :erlang, :byte_size, ["x" * (1 << 20)], timeout: 1e300)
    box = node.mailbox
    box.send_message(box.pid, 42)
    assert_equal 42, box.receive(timeout: Float::INFINITY).term
    assert_raises(ArgumentError) { new_node(setup_timeout: Float::NAN) }
  end

  def test_a_name_longer_than_an_atom_is_refused_naming_it
    node = new_node
    error = assert_raises(ArgumentError) { node.rpc(peer.node, :"#{"m" * 300}", :f, []) }
    assert_match(/\Ainvalid argument: the module m{40}\.\.\. is longer than an atom may be/, error.message)
    error = assert_raises(ArgumentError) { ErlDP::Global["g" * 256] }
    assert_match(/\Ainvalid argument: the global name g{40}\.\.\. is longer/, error.message)
    assert_equal :ok, ErlDP::Global["g" * 255].then { :ok }
    # An empty name names nothing, in every language alike.
    error = assert_raises(ArgumentError) { node.rpc(peer.node, :erlang, "", []) }
    assert_equal "invalid argument: the function is empty", error.message
    error = assert_raises(ArgumentError) { ErlDP::Global[""] }
    assert_equal "invalid argument: the global name is empty", error.message
  end

  def test_an_option_of_the_wrong_size_or_type_is_named
    error = assert_raises(RangeError) { new_node(listen_port: 70_000) }
    assert_match(/\Alisten_port: /, error.message)
    error = assert_raises(RangeError) { new_node(max_message_size: -1) }
    assert_match(/\Amax_message_size: /, error.message)
    error = assert_raises(TypeError) { new_node(epmd_port: "4369") }
    assert_match(/\Aepmd_port: /, error.message)
  end

  def test_rpc_error_carries_the_remote_term
    node = new_node
    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :binary_to_atom, [42]) }
    error.reason => [:error, :badarg, [[:erlang, :binary_to_atom, [42], _], *]]
    assert_instance_of ErlDP::Tuple, error.reason

    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :throw, [:oops]) }
    assert_equal [:throw, :oops], error.reason.first(2)
    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :exit, [ErlDP::Tuple[:shutdown, 1]]) }
    assert_equal [:exit, ErlDP::Tuple[:shutdown, 1]], error.reason.first(2)
    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :no_such_module, :f, []) }
    assert_equal [:error, :undef], error.reason.first(2)
  end

  def test_rpc_error_for_a_call_to_a_missing_server
    error = assert_raises(ErlDP::RpcError) { new_node.call([:no_such_server, peer.node], :hello) }
    assert_equal ErlDP::Tuple[:exit, :noproc, []], error.reason
  end

  def test_decode_error_for_bytes_that_are_no_term
    error = assert_raises(ErlDP::DecodeError) { ErlDP.binary_to_term("\x83\x77".b) }
    assert_match(/byte/, error.message)
  end

  def test_encode_error_names_the_path
    error = assert_raises(ErlDP::EncodeError) { new_node.send_message([:x, peer.node], [0, 1, { opts: -> {} }]) }
    assert_equal "[2][:opts]", error.path
  end

  def test_closed_error_after_close
    node = new_node
    box = node.mailbox
    box.close
    assert_raises(ErlDP::ClosedError) { box.receive(timeout: 1) }
    node.close
    assert_raises(ErlDP::ClosedError) { node.send_message([:x, peer.node], :late) }
    assert_raises(ErlDP::ClosedError) { node.call([:x, peer.node], :late) }
  end

  # dist_port (clusters without EPMD, as -erl_epmd_port): the node listens on that port, and a
  # listen_port other than it is a bad argument.
  def test_dist_port_is_the_port_the_node_listens_on
    first = new_node(epmd: :none)
    port = first.port
    first.close
    other = port == 65_535 ? port - 1 : port + 1
    error = assert_raises(ArgumentError) { new_node(epmd: :none, dist_port: port, listen_port: other) }
    assert_match(/dist_port/, error.message)
    assert_equal port, new_node(epmd: :none, dist_port: port).port
  end

  # An operating-system error outside any connection has no subclass of its own.
  def test_io_error_for_a_listen_port_in_use
    TCPServer.open("0.0.0.0", 0) do |taken|
      port = taken.addr[1]
      error = assert_raises(ErlDP::Error) { new_node(listen_port: port) }
      assert_equal ErlDP::Error, error.class
      assert_match(/port #{port}/, error.message)
    end
  end

  # A name in use is an ErlDP::Error, not a bad argument: a node name EPMD has, a mailbox name
  # the node has.
  def test_name_taken_for_a_node_name_and_a_mailbox_name
    node = new_node
    alive = node.name.to_s.split("@").first
    error = assert_raises(ErlDP::NameTaken) { ErlDP::Node.new(alive, cookie: peer.cookie) }
    assert_kind_of ErlDP::Error, error
    assert_match(/#{alive}.*EPMD/, error.message)
    node.mailbox(:taken)
    error = assert_raises(ErlDP::NameTaken) { node.mailbox(:taken) }
    assert_match(/taken/, error.message)
  end

  def test_invalid_arguments_are_ruby_argument_and_type_errors
    assert_raises(ArgumentError) { ErlDP::Node.new("not a name!", cookie: "c") }
    assert_raises(ArgumentError) { ErlDP::Node.new("ruby_x", cookie: "c", epmd: :sometimes) }
    assert_raises(ArgumentError) { ErlDP::Node.new("ruby_x", cookie: "") }
    node = new_node
    assert_raises(ArgumentError) { node.connect(:"no-at-sign") }
    assert_raises(ArgumentError) { node.send_message([1, 2], :x) }
    assert_raises(ArgumentError) { node.send_message(Object.new, :x) }
    assert_raises(ArgumentError) { node.mailbox.receive(timeout: -1) }
    assert_raises(TypeError) { node.rpc(42, :erlang, :node, []) }
    assert_raises(TypeError) { node.mailbox.link(:not_a_pid) }
    assert_raises(ArgumentError) { ErlDP::Bitstring.new("", 9) }
    assert_raises(ArgumentError) { ErlDP::ImproperList.new([1], [2]) }
  end

  # Before, "no implicit conversion to float from string" and "fixnum too big to convert into
  # `u16`": the conversion's words, naming neither the keyword nor what it takes.
  def test_a_timeout_or_port_of_the_wrong_kind_is_named
    node = new_node
    [-> { node.rpc(:"p@h", :erlang, :node, [], timeout: "5") },
     -> { node.call([:x, :"p@h"], :hi, timeout: "5") },
     -> { node.mailbox.receive(timeout: "1") }].each do |wrong|
      assert_match(/\Atimeout: must be a number of seconds or nil, not "\d"\z/, assert_raises(TypeError, &wrong).message)
    end
    error = assert_raises(ArgumentError) { node.connect(:"p@h", port: 70_000) }
    assert_match(/\Aport: must be an Integer from 0 to 65535 or nil, not 70000\z/, error.message)
  end
end
