%% @doc The BEAM side of ErlDP's benchmarks: a counting sink, a blaster, and BEAM-to-BEAM
%% anchors measured with the same shapes.
-module(erldp_bench).

-export([sink_start/0, sink_wait/2, blast/3, beam_send/3, beam_rpc/3]).

%% @doc Registers `sink': counts `{seq, I, Bin}' messages and checks they arrive in order.
-spec sink_start() -> pid().
sink_start() ->
    case whereis(sink) of
        undefined -> ok;
        Old -> exit(Old, kill), timer:sleep(10)
    end,
    Pid = spawn(fun() -> sink(0, true, none) end),
    register(sink, Pid),
    Pid.

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

%% @doc Sends `N' messages `{seq, I, <<0:128>>}' to `Dest'; returns the microseconds it took.
-spec blast(term(), pos_integer(), term()) -> non_neg_integer().
blast(Dest, N, Payload) ->
    T0 = erlang:monotonic_time(microsecond),
    blast_loop(Dest, 1, N, Payload),
    erlang:monotonic_time(microsecond) - T0.

blast_loop(_Dest, I, N, _Payload) when I > N -> ok;
blast_loop(Dest, I, N, Payload) ->
    Dest ! {seq, I, Payload},
    blast_loop(Dest, I + 1, N, Payload).

%% @doc BEAM-to-BEAM one-way throughput: sends `N' messages to `sink' on `Node' and waits
%% until it has them all; returns microseconds.
-spec beam_send(node(), pos_integer(), term()) -> non_neg_integer().
beam_send(Node, N, Payload) ->
    T0 = erlang:monotonic_time(microsecond),
    blast_loop({sink, Node}, 1, N, Payload),
    {N, true} = erpc:call(Node, ?MODULE, sink_wait, [N, 60000]),
    erlang:monotonic_time(microsecond) - T0.

%% @doc BEAM-to-BEAM rpc round trips of `erlang:node/0': returns the sorted microsecond times.
-spec beam_rpc(node(), pos_integer(), timeout()) -> [non_neg_integer()].
beam_rpc(Node, N, Timeout) ->
    lists:sort([begin
                    T0 = erlang:monotonic_time(nanosecond),
                    Node = erpc:call(Node, erlang, node, [], Timeout),
                    erlang:monotonic_time(nanosecond) - T0
                end || _ <- lists:seq(1, N)]).
