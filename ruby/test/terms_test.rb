# frozen_string_literal: true

require "test_helper"

# The term mapping table of API.md, checked against the BEAM: terms made by Erlang come in,
# Ruby objects go out, and Erlang compares with =:=.
class TermsTest < Minitest::Test
  include ErlDPTest::Helpers

  CORPUS = File.join(ErlDPTest::REPO, "tests/corpus.txt")

  # Every corpus term goes BEAM -> Ruby object -> BEAM and must come back exactly (=:=).
  def test_corpus_round_trip
    node = new_node
    box = node.mailbox(:corpus_echo)
    peer.eval!("erldp_test:collect(corpus_back)")
    count = Integer(peer.eval!(<<~ERLANG.tr("\n", " ")))
      (fun() ->
          {ok, Terms} = file:consult("#{CORPUS}"),
          [{corpus_echo, #{atom(node.name)}} ! {I, T} || {I, T} <- lists:enumerate(Terms)],
          length(Terms)
      end)().
    ERLANG
    assert_operator count, :>, 200
    count.times do
      message = box.receive(timeout: 10)
      refute_nil message, "a corpus term did not arrive"
      box.send_message([:corpus_back, peer.node], message.term)
    end
    differing = peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          {ok, Terms} = file:consult("#{CORPUS}"),
          Back = maps:from_list(erldp_test:collected(corpus_back, #{count}, 30000)),
          [{I, T, maps:get(I, Back, missing)} || {I, T} <- lists:enumerate(Terms), maps:get(I, Back, missing) =/= T]
      end)().
    ERLANG
    assert_equal "[]", differing
  end

  # The same corpus through ErlDP.binary_to_term and ErlDP.term_to_binary.
  def test_corpus_through_term_to_binary
    node = new_node
    box = node.mailbox(:binaries)
    peer.eval!("erldp_test:collect(binaries_back)")
    peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          {ok, Terms} = file:consult("#{CORPUS}"),
          {binaries, #{atom(node.name)}} ! [term_to_binary(T) || T <- Terms]
      end)().
    ERLANG
    binaries = box.receive(timeout: 10).term
    back = binaries.map { |binary| ErlDP.term_to_binary(ErlDP.binary_to_term(binary)) }
    box.send_message([:binaries_back, peer.node], back)
    assert_equal "[]", peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          {ok, Terms} = file:consult("#{CORPUS}"),
          [Back] = erldp_test:collected(binaries_back, 1, 10000),
          [T || {T, B} <- lists:zip(Terms, Back), binary_to_term(B) =/= T]
      end)().
    ERLANG
  end

  # Objects made in Ruby (hashes in insertion order, not the BEAM's key order) encode to the very
  # bytes of term_to_binary/1.
  def test_term_to_binary_of_ruby_objects_is_byte_identical
    release = peer.eval!("erlang:system_info(otp_release)")
    skip "term_to_binary/1 writes every atom as UTF-8 from OTP 26 on" unless release == '"25"'
    node = new_node
    box = node.mailbox(:expected)
    values = [
      { b: 2, a: 1, 1 => :x, 1.0 => :y, "k" => [1], ErlDP::Tuple[1] => nil, [] => { z: 1, y: 2 } },
      Array.new(65_535, 7), Array.new(65_536, 7), [1, 256, -1, 2**40, 2**64, -(2**70), 255, 300],
      ErlDP::Tuple[*1..300], [:é, :λ, :日本, :"hello world", true, false, nil, :"#{'ü' * 255}"],
      [1.5, "abc", "\xE9".b, ErlDP::ImproperList.new([1, 2], :t), ErlDP::Bitstring.new("\xFF".b, 3)],
    ]
    peer.eval!(<<~ERLANG.tr("\n", " "))
      {expected, #{atom(node.name)}} ! [term_to_binary(T) || T <- [
        \#{b => 2, a => 1, 1 => x, 1.0 => y, <<"k">> => [1], {1} => nil, [] => \#{z => 1, y => 2}},
        lists:duplicate(65535, 7), lists:duplicate(65536, 7),
        [1, 256, -1, 1 bsl 40, 1 bsl 64, -(1 bsl 70), 255, 300],
        list_to_tuple(lists:seq(1, 300)),
        [list_to_atom([233]), list_to_atom([955]), list_to_atom([26085, 26412]), 'hello world',
         true, false, nil, list_to_atom(lists:duplicate(255, 252))],
        [1.5, <<"abc">>, <<233>>, [1, 2 | t], <<7:3>>]]].
    ERLANG
    expected = box.receive(timeout: 10).term
    values.zip(expected).each do |value, bytes|
      assert_equal bytes.b, ErlDP.term_to_binary(value), value.inspect[0, 80]
    end
  end

  def test_erlang_terms_decode_to_the_ruby_classes_of_the_table
    node = new_node
    box = node.mailbox(:decode)
    peer.eval!(<<~ERLANG.tr("\n", " "))
      {decode, #{atom(node.name)}} ! [a, 'hello world', true, false, nil, 42, 1 bsl 100, -(1 bsl 100),
        1.5, <<"héllo"/utf8>>, <<255, 0>>, <<1, 2:3>>, "abc", [1 | 2], {ok, 1}, \#{a => 1, <<"k">> => [1]},
        self(), make_ref(), hd(erlang:ports()), fun lists:sum/1].
    ERLANG
    values = box.receive(timeout: 5).term
    assert_instance_of Array, values
    atom, spaced, yes, no, none, int, big, negative, float, utf8, bytes, bits, charlist, improper, tuple,
      map, pid, ref, port, fun = values
    assert_equal [:a, :"hello world", true, false, nil], [atom, spaced, yes, no, none]
    assert_equal [42, 2**100, -2**100, 1.5], [int, big, negative, float]
    assert_equal ["héllo", Encoding::UTF_8], [utf8, utf8.encoding]
    assert_equal ["\xFF\x00".b, Encoding::BINARY], [bytes, bytes.encoding]
    assert_equal ErlDP::Bitstring.new("\x01\x40".b, 11), bits
    assert_equal [11, "<<1,2:3>>"], [bits.bits, bits.to_s]
    assert_equal [97, 98, 99], charlist
    assert_equal ErlDP::ImproperList.new([1], 2), improper
    assert_instance_of ErlDP::Tuple, tuple
    tuple => [:ok, value]
    assert_equal 1, value
    assert_equal({ a: 1, "k" => [1] }, map)
    assert_instance_of ErlDP::Pid, pid
    assert_equal peer.node, pid.node
    assert_instance_of ErlDP::Ref, ref
    assert_instance_of ErlDP::Port, port
    assert_instance_of ErlDP::Opaque, fun
    assert_equal [:export, "fun lists:sum/1"], [fun.kind, fun.to_s]
    assert [pid, ref, port, fun].all?(&:frozen?)
  end

  def test_ruby_values_encode_per_the_table
    node = new_node
    box = node.mailbox
    peer.eval!("erldp_test:collect(encoded)")
    box.send_message([:encoded, peer.node], [
      :a, true, false, nil, 42, 2**100, -2**100, 2**63, -2**63 - 1, 1.5, -0.0,
      "héllo", "\xFF".b, "é".encode(Encoding::ISO_8859_1), ErlDP::Bitstring.new("\x20", 3),
      [1, 2], [], ErlDP::ImproperList.new([1], 2), ErlDP::Tuple[:ok, 1], ErlDP::Tuple[],
      { a: 1, "k" => [1], ErlDP::Tuple[1] => [1] }
    ])
    assert_equal "true", peer.eval!(<<~ERLANG.tr("\n", " "))
      [[a, true, false, nil, 42, 1 bsl 100, -(1 bsl 100), 1 bsl 63, -(1 bsl 63) - 1, 1.5, -0.0,
        <<"héllo"/utf8>>, <<255>>, <<233>>, <<1:3>>,
        [1, 2], [], [1 | 2], {ok, 1}, {},
        \#{a => 1, <<"k">> => [1], {1} => [1]}]]
      =:= erldp_test:collected(encoded, 1, 5000).
    ERLANG
  end

  # Identifiers and funs from Erlang go back unchanged; a closure still runs after the trip.
  def test_pids_refs_ports_and_funs_round_trip
    node = new_node
    box = node.mailbox(:opaque_echo)
    peer.eval!("erldp_test:collect(opaque_back)")
    peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          N = 21,
          Values = {self(), make_ref(), hd(erlang:ports()), fun lists:sum/1, fun(X) -> X * N end},
          persistent_term:put(erldp_ruby_opaque, Values),
          {opaque_echo, #{atom(node.name)}} ! Values
      end)().
    ERLANG
    values = box.receive(timeout: 5).term
    assert_equal :local, values[4].kind
    box.send_message([:opaque_back, peer.node], values)
    assert_equal "{true,42}", peer.eval!(<<~ERLANG.tr("\n", " "))
      (fun() ->
          [Back] = erldp_test:collected(opaque_back, 1, 5000),
          {Back =:= persistent_term:get(erldp_ruby_opaque), (element(5, Back))(2)}
      end)().
    ERLANG
  end

  # A value is its own copy (ActiveSupport's deep_dup dups every value of a Hash) and goes
  # through Marshal as its ETF. Before, dup and clone raised TypeError (allocator undefined),
  # and so did Marshal.dump (no _dump_data).
  def test_values_dup_clone_and_marshal_as_themselves
    node = new_node
    box = node.mailbox(:marshaled)
    peer.eval!("{marshaled, #{atom(node.name)}} ! {self(), make_ref(), hd(erlang:ports()), fun lists:sum/1}.")
    values = box.receive(timeout: 5).term
    assert_equal [ErlDP::Pid, ErlDP::Ref, ErlDP::Port, ErlDP::Opaque], values.map(&:class)
    values.each do |value|
      assert_same value, value.dup
      assert_same value, value.clone
      assert_same value, value.clone(freeze: true)
      assert_raises(ArgumentError) { value.clone(freeze: false) }
      back = Marshal.load(Marshal.dump(value))
      assert_equal value, back
      assert_predicate back, :frozen?
    end
    held = { owner: values[0], refs: [values[1]] }
    assert_equal held, Marshal.load(Marshal.dump(held))
    error = assert_raises(TypeError) { ErlDP::Pid._load(ErlDP.term_to_binary(values[1])) }
    assert_match(/marshaled ErlDP::Pid holds ErlDP::Ref/, error.message)
  end

  def test_pids_and_refs_are_hash_keys
    node = new_node
    box = node.mailbox(:keys)
    peer.eval!("(fun() -> R = make_ref(), [{keys, #{atom(node.name)}} ! {self(), R} || _ <- [1, 2]] end)().")
    first = box.receive(timeout: 5).term
    second = box.receive(timeout: 5).term
    refute first.equal?(second)
    assert_equal first, second
    assert first[0].eql?(second[0])
    assert_equal first[1].hash, second[1].hash
    index = { first[0] => :pid, first[1] => :ref }
    assert_equal [:pid, :ref], [index[second[0]], index[second[1]]]
    refute_equal first[0], box.pid
  end

  # Lists of integers decode in one piece while every element is a Fixnum; the boundary of
  # Fixnum and Bignum (2**62 on 64-bit Ruby) must not move any value.
  def test_integer_lists_across_the_fixnum_boundary
    edges = [2**62 - 1, 2**62, -(2**62), -(2**62) - 1, 0, 255, 256, -1]
    [edges, edges.first(1), [2**62 - 1, -(2**62)], [2**62], (0..300).to_a, [1, :a, 2]].each do |list|
      decoded = ErlDP.binary_to_term(ErlDP.term_to_binary(list))
      assert_equal list, decoded
      assert_instance_of Array, decoded
    end
    assert_equal [104, 105], ErlDP.binary_to_term("\x83k\x00\x02hi".b)
  end

  def test_tuples_and_lists_stay_apart
    refute_equal ErlDP::Tuple[1, 2], [1, 2]
    refute ErlDP::Tuple[].eql?([])
    hash = { [] => :list, ErlDP::Tuple[] => :tuple }
    assert_equal 2, hash.size
    assert_equal "ErlDP::Tuple[:ok, 1]", ErlDP::Tuple[:ok, 1].inspect
  end

  def test_unsupported_values_raise_encode_error_with_their_path
    box = new_node.mailbox
    error = assert_raises(ErlDP::EncodeError) do
      box.send_message([:anyone, peer.node], [1, 2, { opts: Object.new }])
    end
    assert_equal "[2][:opts]", error.path
    assert_match(/at \[2\]\[:opts\]: Object has no Erlang form/, error.message)

    error = assert_raises(ErlDP::EncodeError) { box.send_message([:anyone, peer.node], 1..2) }
    assert_equal "", error.path
    error = assert_raises(ErlDP::EncodeError) do
      box.send_message([:anyone, peer.node], ErlDP::ImproperList.new([1, Float::NAN], :t))
    end
    assert_equal ".elements[1]", error.path
    error = assert_raises(ErlDP::EncodeError) { new_node.rpc(peer.node, :erlang, :node, [1, :"#{'x' * 256}"]) }
    assert_equal "[1]", error.path
    looped = []
    looped << looped
    assert_raises(ErlDP::EncodeError) { box.send_message([:anyone, peer.node], looped) }
    error = assert_raises(ErlDP::EncodeError) { ErlDP.term_to_binary({ "é" => 1, "é".b => 2 }) }
    assert_match(/same Erlang term/, error.message)
  end

  # A term as deep as the core decodes, received in a thread (whose stack is smaller than the
  # main thread's) and sent back.
  def test_deep_terms_in_a_thread
    node = new_node
    box = node.mailbox(:deep)
    peer.eval!("erldp_test:collect(deep_back)")
    deep = "lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 2000))"
    peer.eval!("{deep, #{atom(node.name)}} ! #{deep}")
    Thread.new { box.send_message([:deep_back, peer.node], box.receive(timeout: 5).term) }.join
    assert_equal "true", peer.eval!("[#{deep}] =:= erldp_test:collected(deep_back, 1, 5000)")
  end

  def test_binary_to_term_rejects_garbage
    assert_raises(ErlDP::DecodeError) { ErlDP.binary_to_term("not a term") }
    assert_raises(ErlDP::DecodeError) { ErlDP.binary_to_term("\x83h\x02a\x01".b) }
  end
end

