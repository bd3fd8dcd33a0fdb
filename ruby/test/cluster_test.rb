# frozen_string_literal: true

require "test_helper"

# API.md "Cluster membership" for Ruby: global names both ways and as destinations, pg groups
# both ways, node events; against BEAM nodes started with `-kernel start_pg true` (OTP 25, and
# the OTP 27/29 chroots when they are there).
class ClusterTest < Minitest::Test
  include ErlDPTest::Helpers

  WAIT_MS = 30_000

  # A peer of this class's own, running pg's default scope.
  def self.pg_peer(otp: nil)
    peer = ErlDPTest::BeamPeer.new(args: %w[-kernel start_pg true], otp: otp)
    peer.eval!("erldp_cluster:wait_started(#{WAIT_MS})")
    peer
  end

  def self.shared_peer
    @shared_peer ||= pg_peer.tap { |peer| Minitest.after_run { peer.stop } }
  end

  def peer
    self.class.shared_peer
  end

  def unique(prefix)
    :"#{prefix}_#{SecureRandom.alphanumeric(8).downcase}"
  end

  # Waits until the block is truthy; fails after WAIT_MS. Returns the block's value.
  def eventually(what)
    deadline = now + (WAIT_MS / 1000)
    loop do
      value = yield
      return value if value
      flunk "#{what}: not within #{WAIT_MS / 1000} s" if now > deadline

      sleep 0.01
    end
  end

  # A visible node in the peer's cluster, global synced on both sides: on the peer's, its
  # global:sync() returns; on ours, a name the peer registered is known.
  def visible_node(beam = peer)
    node = new_node(cookie: beam.cookie, hidden: false)
    node.connect(beam.node)
    assert_equal "ok", beam.eval!("erldp_cluster:sync(#{WAIT_MS})")
    canary = unique(:synced)
    beam.eval!("{yes, _} = erldp_cluster:register_name(#{canary})")
    eventually("the peer's names known here") { node.whereis_global(canary) }
    node
  end

  def test_global_names_registered_on_either_side_resolve_on_both
    global_both_ways(peer)
  end

  def test_global_names_are_destinations_for_send_call_cast_and_monitor
    node = visible_node
    name = unique(:calc)
    casts = Queue.new
    served = node.serve(name) do |request, from|
      from ? request.sum : casts << request
    end
    assert_equal true, node.register_global(name, served)
    assert_equal "3", peer.eval!("gen_server:call({global, #{name}}, [1, 2], #{WAIT_MS})")
    assert_equal 7, node.call(ErlDP::Global[name], [3, 4])
    node.cast(ErlDP::Global[name], [:cast])
    assert_equal [:cast], casts.pop

    echo = unique(:echo)
    peer.eval!("yes = global:register_name(#{echo}, erldp_test:echo_start(#{echo}))")
    box = node.mailbox
    eventually("#{echo} known here") { node.whereis_global(echo) }
    box.send_message(ErlDP::Global[echo], ErlDP::Tuple[box.pid, "hi"])
    assert_equal ErlDP::Tuple[:echo, "hi"], box.receive(timeout: WAIT_MS / 1000).term
    ref = box.monitor(ErlDP::Global[echo])
    # The monitor is in place on the peer before the peer kills the process.
    sync(node)
    peer.eval!("exit(whereis(#{echo}), kill)")
    down = box.receive(timeout: WAIT_MS / 1000)
    assert_equal [:down, ref, :killed], [down.kind, down.ref, down.reason]
    assert_equal "ErlDP::Global[:#{echo}]", ErlDP::Global[echo.to_s].inspect
    assert_equal ErlDP::Global[echo], ErlDP::Global[echo.to_s]
  end

  def test_a_hidden_node_cannot_register_but_finds_names
    node = new_node
    name = unique(:beam_name)
    peer.eval!("{yes, _} = erldp_cluster:register_name(#{name})")
    node.connect(peer.node)
    assert_equal peer.node, node.whereis_global(name).node
    error = assert_raises(ArgumentError) { node.register_global(unique(:ours), node.mailbox) }
    assert_match(/hidden/, error.message)
  end

  def test_pg_members_both_ways
    pg_both_ways(peer, new_node(cookie: peer.cookie))
  end

  def test_pg_in_another_scope_and_from_a_visible_node
    node = visible_node
    peer.eval!("erldp_cluster:start_scope(rooms)")
    group = unique(:lobby)
    box = node.mailbox
    box.join(group, scope: :rooms)
    assert_equal "[#{node.name}]", peer.eval!(<<~ERL)
      erldp_test:wait_for(fun() -> pg:get_members(rooms, #{group}) =/= [] end, #{WAIT_MS}),
      [node(P) || P <- pg:get_members(rooms, #{group})]
    ERL
    assert_equal [box.pid], node.members(group, scope: "rooms")
    assert_equal [], node.members(group)
  end

  def test_monitor_nodes_sees_node_up_and_node_down
    node = new_node
    box = node.mailbox
    box.monitor_nodes
    node.connect(peer.node)
    up = box.receive(timeout: WAIT_MS / 1000)
    assert_equal [:node_up, peer.node], [up.kind, up.node]
    assert up.node_up?
    assert_equal ErlDP::Tuple[:nodeup, peer.node], up.term
    peer.eval!("true = erlang:disconnect_node(#{atom(node.name)})")
    down = box.receive(timeout: WAIT_MS / 1000)
    assert_equal [:node_down, peer.node], [down.kind, down.node]
    box.demonitor_nodes
    node.connect(peer.node)
    assert_nil box.receive(timeout: 0.2)
  end

  # tests/erlang/erldp_pubsub.erl reproduces phoenix_pubsub v2.1.3's default adapter
  # (lib/phoenix/pubsub/pg2.ex): its scope, group names and message shapes.
  def test_pubsub_broadcasts_reach_our_subscribers_and_ours_reach_beam_subscribers
    node = new_node
    node.connect(peer.node)
    name = "T#{SecureRandom.alphanumeric(6).downcase}.PubSub"
    groups = peer.eval!("Gs = erldp_pubsub:start('Elixir.#{name}', 2), " \
                        "erldp_pubsub:subscribe('Elixir.#{name}', <<\"room\">>, erldp_test:collect(sub_#{name.downcase.tr('.', '_')})), Gs")
    assert_equal "['Elixir.#{name}.Adapter','Elixir.#{name}.Adapter_2']", groups
    pubsub = ErlDP::PubSub.new(node, name, pool_size: 2)
    box = node.mailbox
    assert_equal [:"Elixir.#{name}.Adapter", :"Elixir.#{name}.Adapter_2"], pubsub.groups
    pubsub.subscribe(box, "room")
    # BEAM's scope lists our worker in each group before BEAM broadcasts to it.
    pubsub.groups.each do |group|
      peer.eval!("erldp_test:wait_for(fun() -> length(pg:get_members('Elixir.Phoenix.PubSub', '#{group}')) =:= 2 end, #{WAIT_MS})")
    end
    peer.eval!("erldp_pubsub:broadcast('Elixir.#{name}', <<\"room\">>, {hello, from_beam})")
    assert_equal ErlDP::Tuple[:hello, :from_beam], box.receive(timeout: WAIT_MS / 1000).term
    peer.eval!("erldp_pubsub:direct_broadcast(#{atom(node.name)}, 'Elixir.#{name}', <<\"room\">>, direct)")
    assert_equal :direct, box.receive(timeout: WAIT_MS / 1000).term
    # Ours: BEAM's worker is in the group once our scope has heard of it.
    eventually("BEAM's worker known here") { node.members(pubsub.groups.first, scope: ErlDP::PubSub::SCOPE).size == 2 }
    pubsub.broadcast("room", ErlDP::Tuple[:hello, :from_ruby])
    assert_equal ErlDP::Tuple[:hello, :from_ruby], box.receive(timeout: WAIT_MS / 1000).term
    assert_equal "[{hello,from_beam},{hello,from_ruby}]",
                 peer.eval!("erldp_test:collected(sub_#{name.downcase.tr('.', '_')}, 2, #{WAIT_MS})")
    assert_equal true, pubsub.unsubscribe(box, "room")
    assert_equal false, pubsub.unsubscribe(box, "room")
    pubsub.close
    assert_equal "ok", peer.eval!("erldp_test:wait_for(fun() -> length(pg:get_members('Elixir.Phoenix.PubSub', " \
                                  "'Elixir.#{name}.Adapter')) =:= 1 andalso ok end, #{WAIT_MS})")
  end

  def test_the_otp_chroots_share_global_names_and_pg_groups
    skip "no OTP compatibility chroot (make setup as root)" if ErlDPTest::BeamPeer.chroots.empty?

    ErlDPTest::BeamPeer.chroots.each do |root|
      other = self.class.pg_peer(otp: root)
      begin
        global_both_ways(other)
        pg_both_ways(other, new_node(cookie: other.cookie))
      ensure
        other.stop
      end
    end
  end

  private

  def global_both_ways(beam)
    node = visible_node(beam)
    ours = unique(:ruby_name)
    box = node.mailbox
    assert_equal true, node.register_global(ours, box)
    assert_equal false, node.register_global(ours, node.mailbox)
    assert_equal box.pid, node.whereis_global(ours)
    assert_equal node.name.to_s, beam.eval!("node(global:whereis_name(#{ours}))")
    beam.eval!("global:send(#{ours}, hello)")
    assert_equal :hello, box.receive(timeout: WAIT_MS / 1000).term

    theirs = unique(:beam_name)
    beam.eval!("{yes, _} = erldp_cluster:register_name(#{theirs})")
    assert_equal beam.node, eventually("#{theirs} known here") { node.whereis_global(theirs) }.node

    node.unregister_global(ours)
    assert_nil node.whereis_global(ours)
    assert_equal "ok", beam.eval!("erldp_cluster:await_whereis(#{ours}, [node()], undefined, #{WAIT_MS})")
    again = unique(:ruby_name)
    assert node.register_global(again, box)
    node.close
    assert_equal "ok", beam.eval!("erldp_cluster:await_whereis(#{again}, [node()], undefined, #{WAIT_MS})")
  end

  def pg_both_ways(beam, node)
    node.connect(beam.node)
    group = unique(:room)
    box = node.mailbox
    box.join(group)
    assert_equal "[#{node.name}]", beam.eval!(<<~ERL)
      erldp_test:wait_for(fun() -> pg:get_members(pg, #{group}) =/= [] end, #{WAIT_MS}),
      [node(P) || P <- pg:get_members(pg, #{group})]
    ERL
    beam.eval!("erldp_cluster:join(pg, #{group}, 2)")
    members = eventually("the peer's members here") { (found = node.members(group)).size == 3 && found }
    assert_equal [beam.node, beam.node, node.name].sort, members.map(&:node).sort
    assert_equal true, box.leave(group)
    assert_equal false, box.leave(group)
    assert_equal "[]", beam.eval!(<<~ERL)
      erldp_test:wait_for(fun() -> [P || P <- pg:get_members(pg, #{group}), node(P) =/= node()] =:= [] end, #{WAIT_MS}),
      [P || P <- pg:get_members(pg, #{group}), node(P) =/= node()]
    ERL
  end
end
