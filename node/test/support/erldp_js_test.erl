%% @doc BEAM-side helpers of the Node package's tests (node/test), compiled with
%% tests/erlang/*.erl by test/support/beam.js.
-module(erldp_js_test).

-export([round_trip/2, integral_float/1, gate_start/1, gate_wait/2,
         sequence_start/1, sequence_wait/3]).

%% @doc Sends every term of the corpus at `Path' to `Box' as `{self(), I, Term}' and
%% expects `{I, Term}' back. Returns `{Count, Mismatched, Lossy}': the number of
%% terms, the (1-based) indices of those that did not come back `=:=', and the
%% indices of those holding a float that a JavaScript number turns into an integer.
-spec round_trip(pid() | {atom(), node()}, file:filename()) ->
          {non_neg_integer(), [pos_integer()], [pos_integer()]}.
round_trip(Box, Path) ->
    {ok, Terms} = file:consult(Path),
    Indexed = lists:zip(lists:seq(1, length(Terms)), Terms),
    Mismatched = [I || {I, T} <- Indexed, not echoed(Box, I, T)],
    Lossy = [I || {I, T} <- Indexed, integral_float(T)],
    {length(Terms), Mismatched, Lossy}.

echoed(Box, I, T) ->
    Box ! {self(), I, T},
    receive
        {I, Back} -> Back =:= T
    after 5000 -> false
    end.

%% @doc Whether `T' holds a float with an integral value (a JavaScript number holding one is
%% sent as an integer, at any size).
-spec integral_float(term()) -> boolean().
integral_float(F) when is_float(F) -> F == trunc(F);
integral_float([H | T]) -> integral_float(H) orelse integral_float(T);
integral_float(T) when is_tuple(T) -> lists:any(fun integral_float/1, tuple_to_list(T));
integral_float(M) when is_map(M) -> lists:any(fun integral_float/1, maps:keys(M) ++ maps:values(M));
integral_float(_) -> false.

%% @doc Registers `Name' for a gate: {@link gate_wait/2} blocks until the gate gets the message
%% `open', and returns at once after. A test opens it from its own process, so that callers can
%% only get their answers once that process has run.
-spec gate_start(atom()) -> pid().
gate_start(Name) ->
    Pid = spawn(fun() -> gate_closed([]) end),
    register(Name, Pid),
    Pid.

gate_closed(Waiting) ->
    receive
        {wait, From} -> gate_closed([From | Waiting]);
        open ->
            [From ! {gate, open} || From <- Waiting],
            gate_open()
    end.

gate_open() ->
    receive
        {wait, From} ->
            From ! {gate, open},
            gate_open();
        open ->
            gate_open()
    end.

%% @doc Waits until the gate `Name' is open, then returns `Value'.
-spec gate_wait(atom(), term()) -> term().
gate_wait(Name, Value) ->
    Name ! {wait, self()},
    receive
        {gate, open} -> Value
    end.

%% @doc Registers `Name' for a process that checks the order of the messages `{Tag, I, _}' it
%% gets: for each `Tag' apart, `I' counts 1, 2, 3, ... Read with {@link sequence_wait/3}.
-spec sequence_start(atom()) -> pid().
sequence_start(Name) ->
    Pid = spawn(fun() -> sequence(#{}, 0, []) end),
    register(Name, Pid),
    Pid.

sequence(Next, Count, Wrong) ->
    receive
        {'$erldp_sequence', From} ->
            From ! {sequence, Count, lists:reverse(Wrong)},
            sequence(Next, Count, Wrong);
        {Tag, I, _} when is_integer(I) ->
            Expected = maps:get(Tag, Next, 1),
            Noted = case I =:= Expected orelse length(Wrong) >= 10 of
                        true -> Wrong;
                        false -> [{Tag, Expected, I} | Wrong]
                    end,
            sequence(Next#{Tag => I + 1}, Count + 1, Noted)
    end.

%% @doc Waits up to `Timeout' ms for the sequence process `Name' to have got `Count' messages.
%% Returns `{Got, Wrong}': how many it got, and (the first 10 of) those out of order as
%% `{Tag, Expected, Got}'.
-spec sequence_wait(atom(), non_neg_integer(), timeout()) ->
          {non_neg_integer(), [{term(), pos_integer(), integer()}]}.
sequence_wait(Name, Count, Timeout) ->
    Now = fun() ->
                  Name ! {'$erldp_sequence', self()},
                  receive {sequence, Got, Wrong} -> {Got, Wrong} end
          end,
    try
        erldp_test:wait_for(fun() -> case Now() of
                                         {Got, _} = Seen when Got >= Count -> Seen;
                                         _ -> false
                                     end
                            end, Timeout)
    catch
        error:{wait_for_timeout, _} -> Now()
    end.
