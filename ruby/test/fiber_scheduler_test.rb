# frozen_string_literal: true

require "test_helper"
require "test_scheduler"

# Under a Fiber scheduler (async, Falcon) the blocking calls wait through the scheduler, so that
# the thread's other fibers run meanwhile. Shown by the order of events, not by time: a tick
# fiber sends what ends the wait of the other fiber, which it could not do if the wait held the
# thread.
class FiberSchedulerTest < Minitest::Test
  include ErlDPTest::Helpers

  # How long the waits would last if the tick fiber never ran: the test then fails on the order
  # of events instead of passing late.
  PATIENCE = 10

  class Poke < StandardError; end

  # Runs the block on a thread of its own with a TestScheduler; returns when every fiber it
  # scheduled is done (the thread's end closes the scheduler, which runs them).
  def scheduled(&block)
    thread = Thread.new do
      Fiber.set_scheduler(TestScheduler.new)
      block.call
    end
    thread.report_on_exception = false
    thread.join
  end

  # Three ticks, each a sleep (through the scheduler), then +finish+.
  def ticks(events, &finish)
    Fiber.schedule do
      3.times do |n|
        sleep 0.02
        events << [:tick, n]
      end
      finish.call
      events << :sent
    end
  end

  TICKED = [[:tick, 0], [:tick, 1], [:tick, 2], :sent].freeze

  def test_a_fiber_waiting_in_receive_lets_the_others_run
    node = new_node
    box = node.mailbox
    events = []
    scheduled do
      Fiber.schedule do
        events << :receiving
        events << [:received, box.receive(timeout: PATIENCE)&.term]
      end
      ticks(events) { node.send_message(box.pid, :wake_up) }
    end
    assert_equal [:receiving, *TICKED, [:received, :wake_up]], events
    assert_nil box.receive(timeout: 0), "one message, taken once"
  end

  def test_a_fiber_waiting_for_an_rpc_or_a_call_lets_the_others_run
    node = new_node
    node.connect(peer.node)
    peer.eval!("erldp_test:collect(fiber_gate)")
    events = []
    scheduled do
      Fiber.schedule do
        events << :calling
        # Answers when the gate has a message, or with [] after PATIENCE.
        events << [:answered, node.rpc(peer.node, :erldp_test, :collected, [:fiber_gate, 1, PATIENCE * 1000],
                                       timeout: PATIENCE * 2)]
      end
      ticks(events) { node.send_message([:fiber_gate, peer.node], :open) }
    end
    assert_equal [:calling, *TICKED, [:answered, [:open]]], events

    peer.eval!("erldp_test_server:start(fiber_srv)")
    events = []
    scheduled do
      Fiber.schedule do
        events << :calling
        events << [:answered, node.call([:fiber_srv, peer.node], ErlDP::Tuple[:sleep, 200], timeout: PATIENCE)]
      end
      Fiber.schedule { events << :other }
    end
    assert_equal [:calling, :other, [:answered, :ok]], events
  ensure
    peer.eval("exit(whereis(fiber_srv), kill)")
  end

  # An exception raised into a waiting fiber (Fiber#raise, a scheduler's timeout) stops the
  # rpc where it runs, as Thread#raise does without a scheduler.
  def test_a_fiber_interrupted_in_an_rpc_stops_it
    node = new_node
    node.connect(peer.node)
    sleeping = "lists:any(fun(P) -> process_info(P, current_function) =:= " \
               "{current_function, {timer, sleep, 1}} end, processes())"
    outcome = nil
    scheduled do
      caller = Fiber.schedule do
        node.rpc(peer.node, :timer, :sleep, [60_000], timeout: PATIENCE)
        outcome = :returned
      rescue Poke
        outcome = :interrupted
      rescue ErlDP::Timeout
        outcome = :timed_out
      end
      Fiber.schedule do
        peer.eval!("erldp_test:wait_for(fun() -> #{sleeping} end, 10000)")
        caller.raise(Poke) if caller.alive?
      end
    end
    assert_equal :interrupted, outcome
    assert_equal "true", peer.eval!("erldp_test:wait_for(fun() -> not #{sleeping} end, 10000)"),
                 "the interrupted rpc's worker was not stopped"
    assert_equal 3, node.rpc(peer.node, :erlang, :length, [[1, 2, 3]])
  end

  # Everything that waits works inside a fiber: starting, connecting, ping, rpc, call, receive
  # (with its timeout), closing.
  def test_every_blocking_call_works_in_a_fiber
    peer.eval!("erldp_test_server:start(fiber_echo)")
    results = {}
    scheduled do
      Fiber.schedule do
        node = ErlDP::Node.new("ruby_fiber_#{SecureRandom.alphanumeric(8).downcase}", cookie: peer.cookie)
        results[:connect] = node.connect(peer.node)
        results[:ping] = node.ping(peer.node)
        results[:rpc] = node.rpc(peer.node, :lists, :sum, [[1, 2, 3]])
        results[:call] = node.call([:fiber_echo, peer.node], ErlDP::Tuple[:echo, :hi])
        box = node.mailbox
        results[:timeout] = box.receive(timeout: 0.05)
        node.send_message(box.pid, :hello)
        results[:receive] = box.receive(timeout: PATIENCE).term
        begin
          node.rpc(peer.node, :erlang, :error, [:boom])
        rescue ErlDP::RpcError => e
          results[:error] = e.reason[1]
        end
        node.close
        results[:closed] = box.closed?
        begin
          box.receive(timeout: PATIENCE)
        rescue ErlDP::ClosedError
          results[:receive_closed] = true
        end
      end
    end
    assert_equal({ connect: true, ping: :pong, rpc: 6, call: :hi, timeout: nil, receive: :hello,
                   error: :boom, closed: true, receive_closed: true }, results)
  ensure
    peer.eval("exit(whereis(fiber_echo), kill)")
  end
end
