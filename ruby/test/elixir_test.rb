# frozen_string_literal: true

require "test_helper"

# ErlDP::Elixir against a BEAM node running Elixir's own modules: every helper's value is
# checked by Elixir code, and what Elixir code returns is read back.
class ElixirTest < Minitest::Test
  include ErlDPTest::Helpers

  def peer
    ErlDPTest.elixir_peer
  end

  def ex(name)
    ErlDP::Elixir.module(name)
  end

  def test_module_names
    assert_equal :"Elixir.MyApp.Api", ErlDP::Elixir.module("MyApp.Api")
    assert_equal :"Elixir.MyApp.Api", ErlDP::Elixir.module(:"Elixir.MyApp.Api")
    assert_equal :lists, ErlDP::Elixir.module("lists")
    assert_equal "MyApp.Api", ErlDP::Elixir.alias(:"Elixir.MyApp.Api")
    assert_nil ErlDP::Elixir.alias(:lists)
    node = new_node(cookie: peer.cookie)
    assert_equal "HI", node.rpc(peer.node, ex("String"), :upcase, ["hi"])
  end

  def test_structs_with_their_module_name
    node = new_node(cookie: peer.cookie)
    uri = node.rpc(peer.node, ex("URI"), :parse, ["https://example.com:8443/a?b=c"])
    assert_equal "URI", ErlDP::Elixir.struct_name(uri)
    assert ErlDP::Elixir.struct?(uri, "URI")
    refute ErlDP::Elixir.struct?(uri, "Date")
    refute ErlDP::Elixir.struct?({ a: 1 })
    assert_nil ErlDP::Elixir.struct_name({ a: 1 })
    assert_equal ["example.com", 8443], [uri[:host], uri[:port]]
    made = ErlDP::Elixir.struct("URI", scheme: "http", host: "erldp.test", port: nil, path: "/x", userinfo: nil,
                                       query: nil, fragment: nil, authority: nil)
    assert_equal :"Elixir.URI", made[:__struct__]
    assert_equal "http://erldp.test/x", node.rpc(peer.node, ex("URI"), :to_string, [made])
  end

  def test_keyword_lists
    node = new_node(cookie: peer.cookie)
    list = ErlDP::Elixir.keyword(timeout: 5, retry: true)
    assert_equal [ErlDP::Tuple[:timeout, 5], ErlDP::Tuple[:retry, true]], list
    assert_equal true, node.rpc(peer.node, ex("Keyword"), :keyword?, [list])
    assert_equal true, node.rpc(peer.node, ex("Keyword"), :get, [list, :retry])
    back = node.rpc(peer.node, ex("Keyword"), :put_new, [list, :a, 1])
    assert ErlDP::Elixir.keyword?(back)
    assert_equal({ a: 1, timeout: 5, retry: true }, ErlDP::Elixir.from_keyword(back))
    assert_equal({ a: 1 }, ErlDP::Elixir.from_keyword([ErlDP::Tuple[:a, 1], ErlDP::Tuple[:a, 2]]))
    assert_raises(ArgumentError) { ErlDP::Elixir.from_keyword([1]) }
    assert_raises(ArgumentError) { ErlDP::Elixir.keyword("a" => 1) }
  end

  def test_charlists
    node = new_node(cookie: peer.cookie)
    assert_equal "héllo ☃", node.rpc(peer.node, ex("List"), :to_string, [ErlDP::Elixir.charlist("héllo ☃")])
    chars = node.rpc(peer.node, ex("String"), :to_charlist, ["héllo ☃"])
    assert_equal "héllo ☃", ErlDP::Elixir.from_charlist(chars)
    assert_raises(ArgumentError) { ErlDP::Elixir.from_charlist([-1]) }
  end

  def test_datetime_both_ways_keeps_microseconds
    node = new_node(cookie: peer.cookie)
    time = Time.at(1_700_000_000, 123_456_789, :nsec, in: "+02:00")
    sent = ErlDP::Elixir.datetime(time)
    assert_equal "2023-11-14T22:13:20.123456Z", node.rpc(peer.node, ex("DateTime"), :to_iso8601, [sent])
    ok, received, offset = node.rpc(peer.node, ex("DateTime"), :from_iso8601, ["2024-02-29T23:59:58.654321+05:30"])
    assert_equal [:ok, 19_800], [ok, offset]
    back = ErlDP::Elixir.from_calendar(received)
    assert_equal Time.utc(2024, 2, 29, 18, 29, Rational(58_654_321, 1_000_000)), back
    assert_equal 0, back.utc_offset, "from_iso8601 gives the UTC DateTime"
    shifted = node.rpc(peer.node, ex("DateTime"), :from_naive!, [ErlDP::Elixir.naive_datetime(time), "Etc/UTC"])
    assert_equal Time.utc(2023, 11, 15, 0, 13, Rational(20_123_456, 1_000_000)), ErlDP::Elixir.from_calendar(shifted)
  end

  def test_naive_datetime_date_and_time
    node = new_node(cookie: peer.cookie)
    naive = ErlDP::Elixir.naive_datetime(Time.utc(2024, 5, 6, 7, 8, 9.5))
    assert_equal "2024-05-06T07:08:09.500000", node.rpc(peer.node, ex("NaiveDateTime"), :to_iso8601, [naive])
    assert_equal "2024-02-29", node.rpc(peer.node, ex("Date"), :to_iso8601, [ErlDP::Elixir.date(Date.new(2024, 2, 29))])
    assert_equal "07:08:09.000001", node.rpc(peer.node, ex("Time"), :to_iso8601,
                                             [ErlDP::Elixir.time(Time.utc(2000, 1, 1, 7, 8, Rational(9_000_001, 1_000_000)))])
    _, date = node.rpc(peer.node, ex("Date"), :new, [2024, 2, 29])
    assert_equal Date.new(2024, 2, 29), ErlDP::Elixir.from_calendar(date)
    _, clock = node.rpc(peer.node, ex("Time"), :new, [23, 59, 1, ErlDP::Tuple[5000, 3]])
    assert_equal Time.utc(1970, 1, 1, 23, 59, Rational(1_005, 1000)), ErlDP::Elixir.from_calendar(clock)
    _, naive_back = node.rpc(peer.node, ex("NaiveDateTime"), :new, [2024, 5, 6, 7, 8, 9])
    assert_equal Time.utc(2024, 5, 6, 7, 8, 9), ErlDP::Elixir.from_calendar(naive_back)
  end

  def test_to_ruby_and_from_ruby_convert_at_any_depth
    node = new_node(cookie: peer.cookie)
    time = Time.utc(2024, 1, 2, 3, 4, 5)
    sent = ErlDP::Elixir.from_ruby({ at: [time], on: ErlDP::Tuple[Date.new(2024, 1, 2)], n: 1 })
    echoed = node.rpc(peer.node, :erlang, :hd, [[sent]])
    assert_equal({ at: [time], on: ErlDP::Tuple[Date.new(2024, 1, 2)], n: 1 }, ErlDP::Elixir.to_ruby(echoed))
    assert_equal "2024-01-02T03:04:05.000000Z", node.rpc(peer.node, ex("DateTime"), :to_iso8601, [sent[:at][0]])
    assert_equal "x", ErlDP::Elixir.to_ruby("x")
  end
end
