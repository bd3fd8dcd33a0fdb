# frozen_string_literal: true

require "test_helper"

# Conversions and blocking calls under GC.stress, which collects (and, with auto-compaction,
# moves objects) at every allocation: an object the extension forgot to keep alive or pinned
# is freed or moved while still in use, and the round trip comes back wrong or crashes.
class GcStressTest < Minitest::Test
  include ErlDPTest::Helpers

  CORPUS = File.join(ErlDPTest::REPO, "tests/corpus.txt")

  def test_round_trips_under_gc_stress
    node = new_node
    box = node.mailbox(:stressed)
    peer.eval!("erldp_test:collect(stressed_back)")
    # Every eighth corpus term: all kinds of terms, in a run that stays short under GC.stress.
    peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          {ok, Terms} = file:consult("#{CORPUS}"),
          Sample = [T || {I, T} <- lists:enumerate(Terms), I rem 8 =:= 0],
          persistent_term:put(erldp_ruby_sample, Sample),
          {stressed, #{atom(node.name)}} ! Sample
      end)().
    ERLANG
    reversed = nil
    under_gc_stress do
      sample = box.receive(timeout: 30).term
      copy = ErlDP.binary_to_term(ErlDP.term_to_binary(sample))
      reversed = node.rpc(peer.node, :lists, :reverse, [copy], timeout: 30)
      box.send_message([:stressed_back, peer.node], sample)
    end
    assert_equal "true", peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          Sample = persistent_term:get(erldp_ruby_sample),
          [Sample] =:= erldp_test:collected(stressed_back, 1, 30000)
      end)().
    ERLANG
    box.send_message([:stressed_back, peer.node], reversed)
    assert_equal "true", peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          Sample = persistent_term:get(erldp_ruby_sample),
          [Sample, lists:reverse(Sample)] =:= erldp_test:collected(stressed_back, 2, 30000)
      end)().
    ERLANG
  end

  def test_signals_and_errors_under_gc_stress
    node = new_node
    box = node.mailbox
    peer.eval!("erldp_test:collect(stress_target)")
    target = node.rpc(peer.node, :erlang, :whereis, [:stress_target])
    under_gc_stress do
      ref = box.monitor(target)
      sync(node)
      peer.eval!("exit(whereis(stress_target), {shutdown, [1, <<\"two\">>, {3}]})")
      message = box.receive(timeout: 10)
      assert_equal [:down, ref, ErlDP::Tuple[:shutdown, [1, "two", ErlDP::Tuple[3]]]],
                   [message.kind, message.ref, message.reason]
      error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :error, [ErlDP::Tuple[:boom, "x" * 40]]) }
      assert_equal ErlDP::Tuple[:boom, "x" * 40], error.reason[1]
      error = assert_raises(ErlDP::EncodeError) { box.send_message(target, [{ key: [Object.new] }]) }
      assert_equal "[0][:key][0]", error.path
    end
  end

  private

  def under_gc_stress
    compacting = GC.respond_to?(:auto_compact=)
    GC.auto_compact = true if compacting
    GC.stress = true
    yield
  ensure
    GC.stress = false
    GC.auto_compact = false if compacting
  end
end
