# frozen_string_literal: true

require "test_helper"

# Remote errors read as their node would put them (issue 16, items 10, 11 and 12): the core
# words them once, and an RpcError's message is those words, with the remote term unchanged in
# #reason. Against a BEAM node running Elixir's own modules.
class RemoteErrorsTest < Minitest::Test
  include ErlDPTest::Helpers

  def peer
    ErlDPTest.elixir_peer
  end

  def test_an_elixir_exception_reads_as_elixir_shows_it
    node = new_node
    raised = { __struct__: :"Elixir.MyApp.NotFound", __exception__: true, id: 7, message: "user 7 not found" }
    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :erlang, :error, [raised]) }
    assert_equal "remote error: ** (MyApp.NotFound) user 7 not found", error.message
    assert_equal [:error, raised], error.reason.first(2)

    # KeyError's struct has no message: KeyError.message/1 computes it, on the node.
    error = assert_raises(ErlDP::RpcError) { node.rpc(peer.node, :"Elixir.Keyword", :fetch!, [[], :k]) }
    assert_equal "remote error: ** (KeyError) key :k not found in: []", error.message
    assert_equal :"Elixir.KeyError", error.reason[1][:__struct__]
  end

  def test_an_undefined_module_with_an_elixir_namesake_says_so
    error = assert_raises(ErlDP::RpcError) { new_node.rpc(peer.node, :String, :upcase, ["x"]) }
    assert_includes error.message, "(no module 'String' there, but Elixir's String is 'Elixir.String')"
    assert_equal [:error, :undef], error.reason.first(2)
  end

  def test_a_failed_call_names_its_server
    error = assert_raises(ErlDP::RpcError) { new_node.call([:no_such_server, peer.node], :get) }
    assert_equal "remote exit: noproc (no process {no_such_server,#{peer.node}} to call)", error.message
    assert_equal ErlDP::Tuple[:exit, :noproc, []], error.reason
  end
end
