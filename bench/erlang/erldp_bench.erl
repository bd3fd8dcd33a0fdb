%% @doc The BEAM side of ErlDP's benchmarks (`make bench`, bench/rust/bench.rs).
%%
%% On the peer node, `start/0' registers the processes every client talks to:
%%   sink     counts `{seq, I, Bin}' messages and checks they arrive in order;
%%   blaster  on `{blast, Dest, N}' sends `{seq, I, <<0:128>>}' for I in 1..N to Dest;
%%            on `{big, Dest}' sends Dest one binary of `?BIG' bytes;
%%   bigsink  takes binaries and reports their size to whoever waits for one;
%%   serve_driver  on `{call | erpc, Target, N, Callers, ReplyTo}' has `Callers' processes
%%            call into the client's node `N' times each (gen_server:call to `Target', or
%%            erpc:call of `bench_math:add/2' on the node `Target') and sends ReplyTo
%%            `{serve_result, MedianUs, P99Us, CallsPerS}';
%%   bench_calc  a gen_server answering `{add, A, B}', for BEAM to BEAM.
%% The other node of the run (the anchor) calls the `beam_*' functions, which measure the
%% same shapes BEAM to BEAM against those processes.
-module(erldp_bench).
-behaviour(gen_server).

-export([start/0, sink_wait/2, big_wait/1, add/2]).
-export([beam_send/2, beam_receive/2, beam_rpc/2, beam_concurrent/3, beam_big_out/1,
         beam_big_in/1, beam_codec/2, beam_serve/4]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(BIG, (64 bsl 20)).
-define(PAYLOAD, <<0:128>>).

%% @doc Starts (or restarts) `sink', `blaster' and `bigsink'.
-spec start() -> ok.
start() ->
    [begin
         case whereis(Name) of
             undefined -> ok;
             Old -> unregister(Name), exit(Old, kill)
         end,
         register(Name, spawn(Fun))
     end || {Name, Fun} <- [{sink, fun() -> sink(0, true, none) end},
                            {blaster, fun() -> blaster(binary:copy(<<7>>, ?BIG)) end},
                            {bigsink, fun() -> bigsink(none, none) end},
                            {serve_driver, fun serve_driver/0}]],
    case whereis(bench_calc) of
        undefined -> ok;
        Calc -> unlink(Calc), exit(Calc, kill)
    end,
    {ok, _} = gen_server:start({local, bench_calc}, ?MODULE, [], []),
    ok.

%% @doc What `bench_math:add/2' and `bench_calc' compute.
-spec add(integer(), integer()) -> integer().
add(A, B) -> A + B.

%% @private
init([]) -> {ok, none}.

%% @private
handle_call({add, A, B}, _From, State) -> {reply, A + B, State}.

%% @private
handle_cast(_Request, State) -> {noreply, State}.

serve_driver() ->
    receive
        {Kind, Target, N, Callers, ReplyTo} ->
            spawn(fun() ->
                          {Median, P99, Rate} = measure_calls(Kind, Target, N, Callers),
                          ReplyTo ! {serve_result, float(Median), float(P99), float(Rate)}
                  end)
    end,
    serve_driver().

%% `Callers' processes making `N' calls each into `Target': `{MedianUs, P99Us, CallsPerS}'
%% over every call; each reply is checked.
measure_calls(Kind, Target, N, Callers) ->
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Self ! {times, self(), caller(Kind, Target, N)} end)
            || _ <- lists:seq(1, Callers)],
    Times = lists:sort(lists:append([receive {times, Pid, T} -> T end || Pid <- Pids])),
    Total = micros_since(T0),
    Count = length(Times),
    {lists:nth(Count div 2 + 1, Times) / 1000, lists:nth(Count * 99 div 100 + 1, Times) / 1000,
     Count / Total * 1.0e6}.

caller(Kind, Target, N) ->
    [begin
         T = erlang:monotonic_time(nanosecond),
         Sum = call_once(Kind, Target, I),
         Sum = I + 1,
         erlang:monotonic_time(nanosecond) - T
     end || I <- lists:seq(1, N)].

call_once(call, Server, I) -> gen_server:call(Server, {add, I, 1}, 10000);
call_once(erpc, {Node, Module}, I) -> erpc:call(Node, Module, add, [I, 1], 10000).

%% @doc BEAM to BEAM: `Callers' processes making `N' calls each into `Peer', gen_server:call to
%% its `bench_calc' (`Kind' call) or erpc:call of `erldp_bench:add/2' (`erpc'):
%% `{MedianUs, P99Us, CallsPerS}'.
-spec beam_serve(call | erpc, node(), pos_integer(), pos_integer()) -> {float(), float(), float()}.
beam_serve(call, Peer, N, Callers) ->
    measure_calls(call, {bench_calc, Peer}, N, Callers);
beam_serve(erpc, Peer, N, Callers) ->
    measure_calls(erpc, {Peer, ?MODULE}, N, Callers).

sink(N, InOrder, Waiter) ->
    receive
        {seq, I, _Bin} -> answer(N + 1, InOrder andalso I =:= N + 1, Waiter);
        {wait, From, Count} -> answer(N, InOrder, {From, Count})
    end.

answer(N, InOrder, {From, Count}) when N >= Count ->
    From ! {sink, N, InOrder},
    sink(0, true, none);
answer(N, InOrder, Waiter) ->
    sink(N, InOrder, Waiter).

%% @doc Waits until the sink has `Count' messages; returns `{Count, InOrder}' and resets it.
-spec sink_wait(non_neg_integer(), timeout()) -> {non_neg_integer(), boolean()} | timeout.
sink_wait(Count, Timeout) ->
    sink ! {wait, self(), Count},
    receive
        {sink, N, InOrder} -> {N, InOrder}
    after Timeout -> timeout
    end.

blaster(Big) ->
    receive
        {blast, Dest, N} -> spawn(fun() -> blast(Dest, 1, N) end);
        {big, Dest} -> Dest ! Big
    end,
    blaster(Big).

blast(_Dest, I, N) when I > N -> ok;
blast(Dest, I, N) ->
    Dest ! {seq, I, ?PAYLOAD},
    blast(Dest, I + 1, N).

bigsink(Size, Waiter) ->
    receive
        Bin when is_binary(Bin) -> big_answer(byte_size(Bin), Waiter);
        {wait, From} -> big_answer(Size, From)
    end.

big_answer(Size, From) when is_integer(Size), is_pid(From) ->
    From ! {bigsink, Size},
    bigsink(none, none);
big_answer(Size, Waiter) ->
    bigsink(Size, Waiter).

%% @doc Waits until `bigsink' got a binary; returns its size and forgets it.
-spec big_wait(timeout()) -> non_neg_integer() | timeout.
big_wait(Timeout) ->
    bigsink ! {wait, self()},
    receive
        {bigsink, Size} -> Size
    after Timeout -> timeout
    end.

micros_since(T0) ->
    erlang:monotonic_time(microsecond) - T0.

%% @doc One-way throughput to `sink' on `Node': msgs/s until the sink has all `N' in order.
-spec beam_send(node(), pos_integer()) -> float().
beam_send(Node, N) ->
    T0 = erlang:monotonic_time(microsecond),
    blast({sink, Node}, 1, N),
    {N, true} = erpc:call(Node, ?MODULE, sink_wait, [N, 60000]),
    N / micros_since(T0) * 1.0e6.

%% @doc Receive throughput: asks the blaster on `Node' for `N' messages and receives them
%% (checking their order); msgs/s from the request to the last message.
-spec beam_receive(node(), pos_integer()) -> float().
beam_receive(Node, N) ->
    register(inbox, self()),
    T0 = erlang:monotonic_time(microsecond),
    {blaster, Node} ! {blast, {inbox, node()}, N},
    ok = receive_seq(1, N),
    Micros = micros_since(T0),
    unregister(inbox),
    N / Micros * 1.0e6.

receive_seq(I, N) when I > N -> ok;
receive_seq(I, N) ->
    receive
        {seq, I, _} -> receive_seq(I + 1, N)
    after 60000 -> {timeout, I}
    end.

%% @doc `N' sequential `erpc:call(Node, erlang, node, [])': `{MedianUs, P99Us, CallsPerS}'.
-spec beam_rpc(node(), pos_integer()) -> {float(), float(), float()}.
beam_rpc(Node, N) ->
    T0 = erlang:monotonic_time(microsecond),
    Times = lists:sort([begin
                            T = erlang:monotonic_time(nanosecond),
                            Node = erpc:call(Node, erlang, node, [], 5000),
                            erlang:monotonic_time(nanosecond) - T
                        end || _ <- lists:seq(1, N)]),
    Total = micros_since(T0),
    {lists:nth(N div 2 + 1, Times) / 1000, lists:nth(N * 99 div 100 + 1, Times) / 1000,
     N / Total * 1.0e6}.

%% @doc `Callers' processes each making `PerCaller' sequential rpcs: total calls/s.
-spec beam_concurrent(node(), pos_integer(), pos_integer()) -> float().
beam_concurrent(Node, Callers, PerCaller) ->
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() ->
                               [Node = erpc:call(Node, erlang, node, [], 5000)
                                || _ <- lists:seq(1, PerCaller)],
                               Self ! {done, self()}
                       end) || _ <- lists:seq(1, Callers)],
    [receive {done, Pid} -> ok end || Pid <- Pids],
    Callers * PerCaller / micros_since(T0) * 1.0e6.

%% @doc A binary of `?BIG' bytes to `bigsink' on `Node': MB/s until it reports the size.
-spec beam_big_out(node()) -> float().
beam_big_out(Node) ->
    Big = binary:copy(<<7>>, ?BIG),
    T0 = erlang:monotonic_time(microsecond),
    {bigsink, Node} ! Big,
    ?BIG = erpc:call(Node, ?MODULE, big_wait, [60000]),
    ?BIG / micros_since(T0).

%% @doc A binary of `?BIG' bytes from the blaster on `Node': MB/s from request to arrival.
-spec beam_big_in(node()) -> float().
beam_big_in(Node) ->
    register(inbox, self()),
    T0 = erlang:monotonic_time(microsecond),
    {blaster, Node} ! {big, {inbox, node()}},
    Size = receive Bin when is_binary(Bin) -> byte_size(Bin) after 60000 -> timeout end,
    Micros = micros_since(T0),
    unregister(inbox),
    ?BIG = Size,
    ?BIG / Micros.

%% @doc `term_to_binary/1' and `binary_to_term/1' over the terms in `File' (one per line,
%% `file:consult/1' syntax), `Rounds' times: `{EncodeNsPerTerm, DecodeNsPerTerm}'.
-spec beam_codec(file:filename(), pos_integer()) -> {float(), float()}.
beam_codec(File, Rounds) ->
    {ok, Terms} = file:consult(File),
    Encoded = [term_to_binary(T) || T <- Terms],
    Count = length(Terms) * Rounds,
    T0 = erlang:monotonic_time(nanosecond),
    repeat(fun() -> [term_to_binary(T) || T <- Terms] end, Rounds),
    T1 = erlang:monotonic_time(nanosecond),
    repeat(fun() -> [binary_to_term(B) || B <- Encoded] end, Rounds),
    T2 = erlang:monotonic_time(nanosecond),
    {(T1 - T0) / Count, (T2 - T1) / Count}.

repeat(_Fun, 0) -> ok;
repeat(Fun, N) -> _ = Fun(), repeat(Fun, N - 1).
