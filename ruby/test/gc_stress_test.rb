# frozen_string_literal: true

require "test_helper"

# Conversions and blocking calls under GC.stress, which collects at every allocation, with
# every object moved between the steps: an object the extension forgot to keep alive or pinned
# is freed or moved while still in use, and the round trip comes back wrong or crashes.
#
# Where Ruby survives it (3.3 on), objects move at every collection too (auto-compaction).
# Ruby 3.1 does not: after a long run, GC.stress with auto-compaction makes it abort in its own
# sweep ("[BUG] ... can't remove str from str_id" while freeing a Symbol, under a method lookup
# at the block's first line), never without auto-compaction. There each step is followed by a
# full compaction (GC.verify_compaction_references) instead.
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
      move_objects
      copy = ErlDP.binary_to_term(ErlDP.term_to_binary(sample))
      move_objects
      reversed = node.rpc(peer.node, :lists, :reverse, [copy], timeout: 30)
      move_objects
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

  # The arguments of a call into Ruby, several of them, each made of many objects.
  def test_exposed_calls_under_gc_stress
    node = new_node
    node.expose(:stressed) { |fun, args| [fun, args] }
    under_gc_stress do
      answer = peer.eval!(<<~ERLANG.tr("\n", " "))
        (fun() ->
            Args = [[{I, <<"b">>, list_to_atom("a" ++ integer_to_list(I))} || I <- lists:seq(1, 40)],
                    \#{k => [1.5, "text"], 'élan' => {}}, -(1 bsl 70), self()],
            [echo, Args] =:= erpc:call(#{atom(node.name)}, stressed, echo, Args, 60000)
        end)().
      ERLANG
      assert_equal "true", answer
    end
  end

  def test_signals_and_errors_under_gc_stress
    node = new_node
    box = node.mailbox
    peer.eval!("erldp_test:collect(stress_target)")
    target = node.rpc(peer.node, :erlang, :whereis, [:stress_target])
    under_gc_stress do
      ref = box.monitor(target)
      sync(node)
      move_objects
      peer.eval!("exit(whereis(stress_target), {shutdown, [1, <<\"two\">>, {3}]})")
      message = box.receive(timeout: 10)
      move_objects
      assert_equal [:down, ref, ErlDP::Tuple[:shutdown, [1, "two", ErlDP::Tuple[3]]]],
                   [message.kind, message.ref, message.reason]
      error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :error, [ErlDP::Tuple[:boom, "x" * 40]]) }
      assert_equal ErlDP::Tuple[:boom, "x" * 40], error.reason[1]
      error = assert_raises(ErlDP::EncodeError) { box.send_message(target, [{ key: [Object.new] }]) }
      assert_equal "[0][:key][0]", error.path
    end
  end

  private

  AUTO_COMPACT = GC.respond_to?(:auto_compact=) && RUBY_VERSION >= "3.3"

  def under_gc_stress
    GC.auto_compact = true if AUTO_COMPACT
    GC.stress = true
    yield
  ensure
    GC.stress = false
    GC.auto_compact = false if AUTO_COMPACT
  end

  # Moves every object that can move, and checks Ruby's references to them.
  def move_objects
    GC.verify_compaction_references(toward: :empty) if !AUTO_COMPACT && GC.respond_to?(:verify_compaction_references)
  end
end
