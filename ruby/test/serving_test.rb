# frozen_string_literal: true

require "test_helper"

# API.md "Serving BEAM callers" for Ruby: node.serve, node.expose, unserve, unexpose, reply,
# NOREPLY and Mailbox#reply, called by real BEAM nodes (Erlang and Elixir, OTP 25, and the
# OTP 27/29 chroots when they are there).
class ServingTest < Minitest::Test
  include ErlDPTest::Helpers

  # How long a BEAM caller waits in these tests: long enough never to be what ends a call on a
  # loaded machine, so that a call that should exit at once but waits shows up as a timeout.
  CALL_MS = 30_000

  # Bindings of the shared peer's shell persist: each test starts with none and leaves none
  # for the other test classes.
  def setup
    super
    peer.eval!("f()")
  end

  def teardown
    super
    peer.eval!("f()")
  end

  def call(node, name, request)
    "gen_server:call({#{name}, #{atom(node.name)}}, #{request}, #{CALL_MS})"
  end

  # A calculator that raises ArgumentError for what it does not know.
  def calculator(node, name = :calc, **options)
    node.serve(name, **options) do |request, _from|
      case request
      in [:add, Integer => a, Integer => b] then a + b
      in [:div, Integer, 0] then raise ArgumentError, "bad x"
      else raise ArgumentError, "not a calculation: #{request.inspect}"
      end
    end
  end

  def test_gen_server_call_cast_and_send_from_elixir
    elixir = ErlDPTest.elixir_peer
    node = new_node(cookie: elixir.cookie)
    seen = Queue.new
    served = node.serve(:calc) do |request, from|
      seen << [request, from]
      case request
      in [:add, a, b] then a + b
      else :ignored
      end
    end
    assert_equal :calc, served.name
    assert_equal node.name, served.pid.node
    assert_equal "5", elixir.eval!("'Elixir.GenServer':call({calc, #{atom(node.name)}}, {add, 2, 3}, #{CALL_MS})")
    request, from = seen.pop
    assert_equal ErlDP::Tuple[:add, 2, 3], request
    assert_instance_of ErlDP::Tuple, from
    assert_instance_of ErlDP::Pid, from[0]

    elixir.eval!("ok = 'Elixir.GenServer':cast({calc, #{atom(node.name)}}, {note, 1})")
    assert_equal [ErlDP::Tuple[:note, 1], nil], seen.pop
    elixir.eval!("{calc, #{atom(node.name)}} ! {plain, 2}")
    assert_equal [ErlDP::Tuple[:plain, 2], nil], seen.pop
  end

  def test_a_raising_block_makes_the_call_exit_at_once_and_serving_goes_on
    node = new_node
    calculator(node)
    assert_equal "{'ArgumentError',<<\"bad x\">>}",
                 peer.eval!("{'EXIT', {Reason, {gen_server, call, [_, {'div', 1, 0}, #{CALL_MS}]}}} = " \
                            "catch #{call(node, :calc, "{'div', 1, 0}")}, Reason")
    assert_equal "3", peer.eval!(call(node, :calc, "{add, 1, 2}"))
  end

  # A block that raises an Interrupt ends its thread, as it ends any Ruby thread, after failing
  # the call; another thread takes its place. Before, the name stayed registered with no thread
  # to run it, and every later call timed out. (A block that calls exit ends the program, as
  # exit does in any thread.)
  def test_a_block_that_ends_its_thread_leaves_the_name_served
    node = new_node
    node.serve(:fragile) { |request, _from| request == :interrupt ? raise(Interrupt) : request }
    2.times do
      assert_match(/\A\{'EXIT',\{\{'Interrupt'/, peer.eval!("catch #{call(node, :fragile, 'interrupt')}"))
      assert_equal "fine", peer.eval!(call(node, :fragile, "fine"))
    end
  end

  def test_what_elixir_prints_for_a_raising_block
    elixir = ErlDPTest.elixir_peer
    node = new_node(cookie: elixir.cookie)
    calculator(node)
    printed = elixir.eval!(<<~ERL)
      try 'Elixir.GenServer':call({calc, #{atom(node.name)}}, {'div', 1, 0}, #{CALL_MS})
      catch exit:Reason -> 'Elixir.Exception':format_exit(Reason)
      end
    ERL
    assert_includes printed, "{:ArgumentError, \\\"bad x\\\"}"
  end

  def test_noreply_and_a_later_reply_while_the_next_request_runs
    node = new_node
    froms = Queue.new
    node.serve(:later) do |request, from|
      next :pong if request == :ping

      froms << from
      ErlDP::NOREPLY
    end
    peer.eval!("P = spawn(fun() -> R = #{call(node, :later, 'deferred')}, receive {get, F} -> F ! {result, R} end end)")
    from = Timeout.timeout(CALL_MS / 1000) { froms.pop }
    # The deferred call does not hold up the name.
    assert_equal "pong", peer.eval!(call(node, :later, "ping"))
    node.reply(from, :later)
    assert_equal "later", peer.eval!("P ! {get, self()}, receive {result, R} -> R after #{CALL_MS} -> timeout end")
  end

  def test_mailbox_reply_answers_a_gen_server_call
    node = new_node
    box = node.mailbox(:inbox)
    peer.eval!("P = spawn(fun() -> R = #{call(node, :inbox, 'hello')}, receive {get, F} -> F ! {result, R} end end)")
    message = box.receive(timeout: CALL_MS / 1000)
    message => { term: [:"$gen_call", from, :hello] }
    box.reply(from, :world)
    assert_equal "world", peer.eval!("P ! {get, self()}, receive {result, R} -> R after #{CALL_MS} -> timeout end")
  end

  def test_requests_to_one_name_run_one_at_a_time_in_order
    node = new_node
    inside = 0
    most = 0
    count = 0
    lock = Mutex.new
    node.serve(:counter) do |_request, _from|
      lock.synchronize { most = [most, inside += 1].max }
      # A read, a pause that lets other threads run, a write: overlapping calls would lose counts.
      seen = count
      Thread.pass
      sleep 0.001
      count = seen + 1
      lock.synchronize { inside -= 1 }
      count
    end
    replies = peer.eval!(<<~ERL)
      Callers = [spawn_monitor(fun() -> exit({ok, #{call(node, :counter, 'bump')}}) end) || _ <- lists:seq(1, 20)],
      lists:sort([receive {'DOWN', M, process, _, {ok, V}} -> V end || {_, M} <- Callers])
    ERL
    assert_equal "[#{(1..20).to_a.join(',')}]", replies
    assert_equal 20, count
    assert_equal 1, most
  end

  def test_concurrency_lets_that_many_run_at_once
    node = new_node
    arrived = Queue.new
    gate = Queue.new
    node.serve(:wide, concurrency: 4) do |request, _from|
      arrived << request
      gate.pop
      request
    end
    peer.eval!("P = spawn(fun() -> Rs = [rpc:async_call(node(), gen_server, call, [{wide, #{atom(node.name)}}, N, #{CALL_MS}]) " \
               "|| N <- lists:seq(1, 6)], receive {get, F} -> F ! {result, [rpc:yield(K) || K <- Rs]} end end)")
    # Four run at once: all four are inside the block before any may finish.
    first = Array.new(4) { Timeout.timeout(CALL_MS / 1000) { arrived.pop } }
    assert_equal 4, first.uniq.size
    6.times { gate << :go }
    assert_equal "[1,2,3,4,5,6]", peer.eval!("P ! {get, self()}, receive {result, R} -> R after #{CALL_MS} -> timeout end")
    assert_equal 2, Array.new(2) { arrived.pop }.size
  end

  def test_expose_answers_rpc_and_erpc_and_raises_readably
    node = new_node
    raise_line = __LINE__ + 4
    node.expose(:ruby_math) do |fun, args|
      case [fun, args]
      in [:add, [Integer => a, Integer => b]] then a + b
      in [:fail, _] then raise ArgumentError, "bad x"
      else raise ErlDP::Undef
      end
    end
    n = atom(node.name)
    # A function the block does not have: what BEAM answers for a function its module lacks.
    assert_equal "{badrpc,{'EXIT',{undef,[{ruby_math,nofun,[1],[]}]}}}",
                 peer.eval!("rpc:call(#{n}, ruby_math, nofun, [1])")
    assert_equal "{error,{exception,undef,[{ruby_math,add,[1],[]}]}}",
                 peer.eval!("try erpc:call(#{n}, ruby_math, add, [1]) catch UC:UR -> {UC, UR} end")
    assert_equal "3", peer.eval!("rpc:call(#{n}, ruby_math, add, [1, 2])")
    assert_equal "7", peer.eval!("erpc:call(#{n}, ruby_math, add, [3, 4])")
    # Over our node and a BEAM node, which lacks the module.
    assert_equal "{ok,5}",
                 peer.eval!("[R, {error, {exception, undef, _}}] = erpc:multicall([#{n}, node()], ruby_math, add, [2, 3]), R")
    assert_equal "{badrpc,{'EXIT',{undef,[{nothere,f,[1],[]}]}}}", peer.eval!("rpc:call(#{n}, nothere, f, [1])")
    assert_equal "{error,undef}",
                 peer.eval!("try erpc:call(#{n}, nothere, f, []) catch error:{exception, undef, _} -> {error, undef} end")

    frame = peer.eval!(<<~ERL)
      try erpc:call(#{n}, ruby_math, fail, []) of V -> {returned, V}
      catch error:{exception, {'ArgumentError', <<"bad x">>}, [{C, M, A, [{file, F}, {line, L}]} | _]}
                when is_atom(C), is_atom(M), is_integer(A), is_list(F), is_integer(L) ->
          {filename:basename(F), L}
      end
    ERL
    assert_equal "{\"serving_test.rb\",#{raise_line}}", frame
    assert_equal "ok", peer.eval!(<<~ERL)
      {badrpc, {'EXIT', {{'ArgumentError', <<"bad x">>}, [_ | _]}}} = rpc:call(#{n}, ruby_math, fail, []), ok
    ERL
  end

  def test_unexpose_and_unserve_make_names_unknown_again
    node = new_node
    exposed = node.expose(:ruby_math) { |_fun, args| args.sum }
    served = calculator(node)
    n = atom(node.name)
    assert_equal "6", peer.eval!("rpc:call(#{n}, ruby_math, sum, [1, 2, 3])")
    refute exposed.closed?
    assert_equal [:ruby_math, :ruby_math], [exposed.name, exposed.module]
    refute served.closed?
    peer.eval!("P = spawn(fun() -> Ref = erlang:monitor(process, {calc, #{n}}), " \
               "receive {'DOWN', Ref, process, _, Why} -> receive {get, F} -> F ! {down, Why} end end end)")
    peer.eval!("erldp_test:wait_for(fun() -> element(2, erlang:process_info(P, monitors)) =/= [] end, 10000)")
    assert_equal "3", peer.eval!(call(node, :calc, "{add, 1, 2}"))

    assert node.unexpose(:ruby_math)
    assert exposed.closed?
    refute node.unexpose(:ruby_math)
    assert_equal "{badrpc,{'EXIT',{undef,[{ruby_math,sum,[1],[]}]}}}", peer.eval!("rpc:call(#{n}, ruby_math, sum, [1])")
    assert node.unserve("calc")
    assert served.closed?
    refute node.unserve(:calc)
    assert_equal "{down,normal}", peer.eval!("P ! {get, self()}, receive R -> R after #{CALL_MS} -> timeout end")
    assert_equal "noproc", peer.eval!("{'EXIT', {noproc, _}} = catch #{call(node, :calc, '{add, 1, 2}')}, noproc")
  end

  # exit(Pid, kill) ends a served name as it ends a gen_server; the handle's threads go with it,
  # not when the handle is closed.
  def test_a_name_killed_from_beam_leaves_no_threads
    node = new_node
    served = node.serve(:doomed, concurrency: 2) { |request, _from| request == :pid ? served.pid : request }
    n = atom(node.name)
    assert_equal "killed", peer.eval!("P = gen_server:call({doomed, #{n}}, pid, #{CALL_MS}), " \
                                      "R = erlang:monitor(process, P), exit(P, kill), " \
                                      "receive {'DOWN', R, process, P, Why} -> Why after #{CALL_MS} -> timeout end")
    assert served.closed?
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (CALL_MS / 1000)
    sleep 0.01 while Thread.list.any? { |t| t.name == "erldp serve doomed" } && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    assert_empty Thread.list.select { |t| t.name == "erldp serve doomed" }
    served.close
  end

  def test_blocks_may_serve_unserve_expose_and_reply
    node = new_node
    node.serve(:boss) do |request, from|
      case request
      when :hire then node.serve(:worker) { |r, _| ErlDP::Tuple[:worked, r] } && :hired
      when :fire then node.unserve(:worker)
      when :teach then node.expose(:skills) { |fun, _| fun } && :taught
      when :now
        node.reply(from, :direct)
        ErlDP::NOREPLY
      end
    end
    assert_equal "hired", peer.eval!(call(node, :boss, "hire"))
    assert_equal "{worked,x}", peer.eval!(call(node, :worker, "x"))
    assert_equal "true", peer.eval!(call(node, :boss, "fire"))
    assert_equal "taught", peer.eval!(call(node, :boss, "teach"))
    assert_equal "juggle", peer.eval!("rpc:call(#{atom(node.name)}, skills, juggle, [])")
    assert_equal "direct", peer.eval!(call(node, :boss, "now"))
  end

  def test_a_reply_with_no_erlang_form_or_a_message_that_is_no_text_fails_the_call_readably
    node = new_node
    node.serve(:odd) do |request, _from|
      raise "bytes \xFF".b if request == :bytes

      Object.new
    end
    assert_equal "'ErlDP::EncodeError'",
                 peer.eval!("{'EXIT', {{Class, _}, _}} = catch #{call(node, :odd, 'x')}, Class")
    # Bytes that are not UTF-8 are replaced: the message BEAM gets is text.
    assert_equal "true", peer.eval!("{'EXIT', {{'RuntimeError', Text}, _}} = catch #{call(node, :odd, 'bytes')}, " \
                                    "Text =:= <<\"bytes \"/utf8, 16#FFFD/utf8>>")
  end

  def test_closing_the_node_lets_a_running_block_finish
    node = new_node
    entered = Queue.new
    gate = Queue.new
    served = node.serve(:slow) do |_request, _from|
      entered << true
      gate.pop
      :finished
    end
    peer.eval!("P = spawn(fun() -> R = (catch #{call(node, :slow, 'go')}), receive {get, F} -> F ! {result, R} end end)")
    Timeout.timeout(CALL_MS / 1000) { entered.pop }
    closer = Thread.new { node.close }
    # Once the name is unserved, close is waiting for the block.
    Timeout.timeout(CALL_MS / 1000) { Thread.pass until served.closed? }
    gate << :go
    closer.join
    assert_equal "finished", peer.eval!("P ! {get, self()}, receive {result, R} -> R after #{CALL_MS} -> timeout end")
  end

  # Handler threads wait for requests with the GVL released and can be interrupted: a program
  # that serves still ends on Ctrl-C. (The child sets Ruby's own SIGINT handler, which a shell
  # running the tests in the background would otherwise have it inherit as ignored.)
  def test_ctrl_c_ends_a_program_that_serves
    script = <<~RUBY
      trap("INT", "DEFAULT")
      require "erldp"
      node = ErlDP::Node.new(ARGV[0], cookie: ARGV[1])
      node.serve(:calc) { |request, _from| request }
      node.expose(:ruby_math) { |fun, _args| fun }
      puts node.name
      $stdout.flush
      sleep
    RUBY
    lib = File.expand_path("../lib", __dir__)
    name = "ruby_int_#{SecureRandom.alphanumeric(8).downcase}"
    IO.popen([RbConfig.ruby, "-I", lib, "-e", script, name, peer.cookie], err: %i[child out]) do |child|
      served = Timeout.timeout(CALL_MS / 1000) { child.gets }.to_s.strip
      assert_equal "hi", peer.eval!("gen_server:call({calc, '#{served}'}, hi, #{CALL_MS})")
      Process.kill(:INT, child.pid)
      _, status = Timeout.timeout(CALL_MS / 1000) { Process.wait2(child.pid) }
      assert_equal Signal.list["INT"], status.termsig, child.read
    end
  end

  # A program that served a call and ends without closing its node ends quietly: its idle
  # threads, ended by the exit, start no others (each printed "can't alloc thread").
  def test_a_program_that_serves_ends_quietly
    script = <<~RUBY
      require "erldp"
      node = ErlDP::Node.new(ARGV[0], cookie: ARGV[1])
      node.serve(:calc) { |request, _from| request }
      puts node.name
      $stdout.flush
      $stdin.gets
    RUBY
    lib = File.expand_path("../lib", __dir__)
    name = "ruby_end_#{SecureRandom.alphanumeric(8).downcase}"
    IO.popen([RbConfig.ruby, "-I", lib, "-e", script, name, peer.cookie], "r+", err: %i[child out]) do |child|
      served = Timeout.timeout(CALL_MS / 1000) { child.gets }.to_s.strip
      assert_equal "hi", peer.eval!("gen_server:call({calc, '#{served}'}, hi, #{CALL_MS})")
      child.puts
      _, status = Timeout.timeout(CALL_MS / 1000) { Process.wait2(child.pid) }
      output = child.read
      assert status.success?, output
      refute_match(/ThreadError/, output)
    end
  end

  def test_serve_without_a_block_or_twice
    node = new_node
    assert_raises(ArgumentError) { node.serve(:x) }
    calculator(node)
    assert_raises(ErlDP::NameTaken) { calculator(node) }
    node.expose(:m) { nil }
    assert_raises(ArgumentError) { node.expose(:m) { nil } }
  end

  def test_the_otp_chroots_call_and_rpc_into_ruby
    skip "no OTP compatibility chroot (make setup as root)" if ErlDPTest::BeamPeer.chroots.empty?

    ErlDPTest::BeamPeer.chroots.each do |root|
      other = ErlDPTest::BeamPeer.new(otp: root)
      begin
        node = new_node(cookie: other.cookie)
        calculator(node)
        node.expose(:ruby_math) { |fun, args| fun == :fail ? raise(ArgumentError, "bad x") : args.sum }
        n = atom(node.name)
        release = other.eval!("erlang:system_info(otp_release)")
        assert_equal "5", other.eval!("gen_server:call({calc, #{n}}, {add, 2, 3}, #{CALL_MS})"), release
        assert_equal "{'ArgumentError',<<\"bad x\">>}",
                     other.eval!("{'EXIT', {R, _}} = catch gen_server:call({calc, #{n}}, {'div', 1, 0}, #{CALL_MS}), R"), release
        assert_equal "6", other.eval!("erpc:call(#{n}, ruby_math, sum, [1, 2, 3])"), release
        assert_equal "6", other.eval!("rpc:call(#{n}, ruby_math, sum, [1, 2, 3])"), release
        assert_equal "{'ArgumentError',<<\"bad x\">>}",
                     other.eval!("try erpc:call(#{n}, ruby_math, fail, []) catch error:{exception, R, _} -> R end"), release
      ensure
        other.stop
      end
    end
  end
end
