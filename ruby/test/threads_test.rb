# frozen_string_literal: true

require "test_helper"
require "rbconfig"
require "socket"

# Blocking calls release the GVL and can be interrupted.
class ThreadsTest < Minitest::Test
  include ErlDPTest::Helpers

  # How long the interrupted calls would wait otherwise: a broken interrupt fails the test
  # instead of hanging it. No test asserts how fast an interrupt is, only that the call ended
  # by it, not by its own timeout.
  PATIENCE = 10

  class Poke < StandardError; end

  def test_sixteen_threads_rpc_at_once
    node = new_node
    node.connect(peer.node)
    results = Array.new(16) do |thread|
      Thread.new do
        Array.new(20) { |call| node.rpc(peer.node, :lists, :seq, [1, thread + call]) }
      end
    end.map(&:value)
    results.each_with_index do |calls, thread|
      calls.each_with_index { |value, call| assert_equal (1..(thread + call)).to_a, value }
    end
  end

  # While one thread waits in `receive`, others run: this one asks the BEAM to send the message
  # that ends the wait. Without the GVL released it would never get to.
  def test_other_threads_run_while_one_waits
    node = new_node
    box = node.mailbox(:waiter)
    waiting = Thread.new { box.receive(timeout: PATIENCE) }
    Thread.pass until waiting.stop?
    node.rpc(peer.node, :erlang, :send, [ErlDP::Tuple[:waiter, node.name], :wake_up])
    assert_equal :wake_up, waiting.value&.term
  end

  # A message holding a large binary is written from the sending thread until the socket has
  # taken it: to a stopped peer that send waits (up to its send_timeout), and other threads run
  # meanwhile. Were the GVL held, this thread would get it back only once the send had returned.
  def test_other_threads_run_while_a_large_send_waits_for_the_socket
    stopped = ErlDPTest::BeamPeer.new(cookie: peer.cookie)
    stopped.eval!("erldp_test:collect(bigsink)")
    node = new_node(send_timeout: PATIENCE)
    node.connect(stopped.node)
    big = ("\x07" * (32 << 20)).b
    stopped.pause
    begin
      started = Queue.new
      sending = Thread.new do
        started << true
        node.send_message([:bigsink, stopped.node], big)
      end
      started.pop
      # Time for the sender to reach the socket, which a stopped peer cannot empty.
      sleep 0.5
      assert sending.alive?, "the send returned, or held the GVL until it had"
    ensure
      stopped.resume
    end
    sending.join
    assert_equal (32 << 20).to_s,
                 stopped.eval!("[B] = erldp_test:collected(bigsink, 1, 30000), byte_size(B)")
  ensure
    stopped&.stop
  end

  def test_thread_raise_interrupts_receive
    box = new_node.mailbox
    interrupt(-> { box.receive(timeout: PATIENCE) }) { |thread| thread.raise(Poke) }
    assert_nil box.receive(timeout: 0), "the mailbox still works after the interrupt"
  end

  # An interrupt that lands as a message arrives leaves the message queued for the next
  # receive: the wait ends without taking it. Raced many times, as `Timeout.timeout` races a
  # message; the receiving thread takes the interrupt only while it blocks, so that whatever
  # the receive returned is counted.
  def test_an_interrupted_receive_loses_no_message
    node = new_node
    box = node.mailbox
    received = Queue.new
    rounds = 300
    rounds.times do |i|
      waiting = Thread.new do
        Thread.handle_interrupt(Poke => :on_blocking) do
          received << box.receive(timeout: PATIENCE)
        end
      rescue Poke
        nil
      end
      Thread.pass until waiting.stop?
      node.send_message(box.pid, i)
      waiting.raise(Poke)
      waiting.join
    end
    while (message = box.receive(timeout: 0))
      received << message
    end
    assert_equal (0...rounds).to_a, Array.new(received.size) { received.pop.term }.sort
  end

  def test_thread_raise_interrupts_an_rpc
    node = new_node
    node.connect(peer.node)
    sleeper = "{current_function, {timer, sleep, 1}}"
    arrived = lambda do
      peer.eval!("erldp_test:wait_for(fun() -> lists:any(fun(P) -> process_info(P, current_function) =:= " \
                 "#{sleeper} end, processes()) end, 5000)")
    end
    interrupt(-> { node.rpc(peer.node, :timer, :sleep, [60_000], timeout: PATIENCE) }, arrived) do |thread|
      thread.raise(Poke)
    end
    assert_equal "true", peer.eval!("erldp_test:wait_for(fun() -> not lists:any(fun(P) -> " \
                                    "process_info(P, current_function) =:= #{sleeper} end, processes()) end, 5000)"),
                 "the abandoned rpc's worker was not stopped"
    assert_equal 3, node.rpc(peer.node, :erlang, :length, [[1, 2, 3]])
  end

  def test_thread_raise_interrupts_a_call
    node = new_node
    peer.eval!("erldp_test_server:start(sleepy)")
    arrived = lambda do
      peer.eval!("erldp_test:wait_for(fun() -> process_info(whereis(sleepy), current_function) =:= " \
                 "{current_function, {timer, sleep, 1}} end, 5000)")
    end
    call = -> { node.call([:sleepy, peer.node], ErlDP::Tuple[:sleep, 60_000], timeout: PATIENCE) }
    interrupt(call, arrived) { |thread| thread.raise(Poke) }
  ensure
    peer.eval!("exit(whereis(sleepy), kill)")
  end

  # A node that accepts the connection and never answers the handshake: connecting would wait
  # for the whole setup_timeout. The core connects on a thread of its own, so the waiting Ruby
  # thread can be interrupted, and the next connect to that node waits for the same attempt.
  def test_thread_raise_interrupts_a_connect_and_a_deadline_bounds_one
    silent = TCPServer.new("127.0.0.1", 0)
    node = new_node(setup_timeout: 600)
    # A short name, as ours: a long one would be refused before any connecting.
    stuck = :"stuck@#{node.name.to_s.split("@").last}"
    connecting = Thread.new do
      Thread.current.report_on_exception = false
      node.connect(stuck, host: "127.0.0.1", port: silent.addr[1])
    end
    accepted = silent.accept
    Thread.pass until connecting.stop?
    connecting.raise(Poke)
    assert_raises(Poke) { connecting.value }
    assert_raises(ErlDP::Timeout) { node.rpc(stuck, :erlang, :node, [], timeout: 0.2) }
    assert_equal [], node.nodes
  ensure
    accepted&.close
    silent&.close
  end

  def test_timeout_timeout_interrupts_receive
    box = new_node.mailbox
    started = now
    assert_raises(Timeout::Error) { Timeout.timeout(0.2) { box.receive(timeout: PATIENCE) } }
    assert_operator now - started, :<, PATIENCE, "ended by the receive's own timeout"
  end

  def test_thread_kill_ends_a_waiting_thread
    box = new_node.mailbox
    waiting = Thread.new { box.receive(timeout: PATIENCE) }
    Thread.pass until waiting.stop?
    waiting.kill
    assert waiting.join(PATIENCE / 2), "the killed thread waited on"
  end

  # An interrupt handled without an exception does not end the wait: a signal with a trap
  # handler, which Ruby runs in the main thread, here the one waiting.
  def test_a_trap_handler_does_not_end_receive
    node = new_node
    box = node.mailbox(:trapped)
    trapped = Queue.new
    previous = Signal.trap(:USR2) { trapped << true }
    sender = Thread.new do
      Thread.pass until Thread.main.stop?
      Process.kill(:USR2, Process.pid)
      trapped.pop
      node.send_message([:trapped, node.name], :after_the_signal)
    end
    assert_equal :after_the_signal, box.receive(timeout: PATIENCE)&.term
    sender.join
  ensure
    Signal.trap(:USR2, previous || "DEFAULT")
  end

  # Ctrl-C is SIGINT to a program whose main thread waits in `receive`.
  def test_ctrl_c_interrupts_receive_in_the_main_thread
    script = <<~RUBY
      require "erldp"
      node = ErlDP::Node.new("ruby_sigint_#{SecureRandom.alphanumeric(6).downcase}", cookie: "sigint")
      box = node.mailbox
      $stdout.puts "waiting"
      $stdout.flush
      begin
        box.receive(timeout: #{PATIENCE})
        $stdout.puts "not interrupted"
      rescue Interrupt
        $stdout.puts "interrupted"
        exit 3
      end
    RUBY
    lib = File.join(ErlDPTest::REPO, "ruby/lib")
    Open3.popen2(RbConfig.ruby, "-I", lib, "-e", script) do |stdin, stdout, process|
      stdin.close
      assert_equal "waiting\n", stdout.gets
      wait_until_blocked(process.pid)
      Process.kill(:INT, process.pid)
      assert_equal "interrupted\n", stdout.gets
      assert_equal 3, process.value.exitstatus
    end
  end

  private

  # Runs `call` in a thread, waits until the thread blocks in it (and `arrived` says that the
  # request reached the peer), then pokes it with the block; fails unless the poke ended it.
  def interrupt(call, arrived = nil)
    thread = Thread.new do
      Thread.current.report_on_exception = false
      call.call
      flunk "the call returned instead of being interrupted"
    rescue Poke
      :poked
    end
    arrived&.call
    Thread.pass until thread.stop?
    yield thread
    assert_equal :poked, thread.value
  end

  # A thread blocked without the GVL shows as sleeping to Ruby; another process's main thread
  # shows so in /proc once it waits in the kernel.
  def wait_until_blocked(pid)
    stat = "/proc/#{pid}/task/#{pid}/stat"
    deadline = now + 30
    until File.read(stat).split(") ").last.start_with?("S")
      flunk "the child never blocked" if now > deadline
      Thread.pass
    end
  end
end
