%% @doc Control module for a BEAM node that tests drive through stdin/stdout.
%%
%% The node under test is independent of the distribution code being tested: the harness
%% (tests/testkit) talks to it over pipes only. Start it with
%%
%%   erl -sname NAME -setcookie COOKIE -noshell -pa EBIN -s erldp_test main
%%
%% When it is up it prints `\x02erldp-ready NODE'. It then reads commands from stdin: each is an
%% Erlang expression sequence terminated by `.' (one command per line; a command may span lines).
%% Each command runs in a fresh process under a timeout and produces exactly one line:
%%
%%   \x02erldp-ok VALUE              VALUE printed with ~0tp, never containing a line break
%%   \x02erldp-error CLASS:REASON    REASON printed with ~0tp
%%
%% The \x02 byte lets the harness ignore other output (io:format from code under test, logger
%% reports); the result marker may follow such output on the same line. Variable bindings persist
%% across commands; the commands `f().' and `f(Var).' forget them, like in the shell. Because
%% every command runs in its own process, `self()' differs between commands: use the collector
%% processes below to receive messages across commands. EOF on stdin halts the node.
%%
%% The timeout defaults to 30 s; `-erldp_eval_timeout MS' changes it.
-module(erldp_test).

-export([main/0]).
-export([echo_start/1, collect/1, collect/2, watch_nodes/1,
         collected/1, collected/2, collected/3, wait_for/2]).

-define(DEFAULT_EVAL_TIMEOUT, 30000).
-define(POLL_MS, 10).

%% @doc Entry point for `-s erldp_test main'. Returns at once so that init finishes booting;
%% the command loop runs in its own process.
-spec main() -> ok.
main() ->
    _ = spawn(fun repl_start/0),
    ok.

repl_start() ->
    User = whereis(user),
    group_leader(User, self()),
    ok = io:setopts(User, [{encoding, unicode}]),
    reply(["erldp-ready ", atom_to_list(node())]),
    try
        repl(erl_eval:new_bindings(), eval_timeout())
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "erldp_test: command loop failed: ~0tp:~0tp~n  ~0tp~n",
                      [Class, Reason, Stack]),
            erlang:halt(1)
    end.

eval_timeout() ->
    case init:get_argument(erldp_eval_timeout) of
        {ok, [[Ms] | _]} -> list_to_integer(Ms);
        _ -> ?DEFAULT_EVAL_TIMEOUT
    end.

repl(Bindings, Timeout) ->
    case io:parse_erl_exprs(user, '') of
        {ok, Exprs, _EndLine} ->
            repl(command(Exprs, Bindings, Timeout), Timeout);
        {error, {_Loc, Mod, Desc}, _EndLine} ->
            report_error(error, {syntax, lists:flatten(Mod:format_error(Desc))}),
            repl(Bindings, Timeout);
        {eof, _} ->
            erlang:halt(0);
        eof ->
            erlang:halt(0);
        {error, Reason} ->
            io:format(standard_error, "erldp_test: stdin failed: ~0tp~n", [Reason]),
            erlang:halt(1)
    end.

%% Returns the bindings for the next command.
command([{call, _, {atom, _, f}, []}], _Bindings, _Timeout) ->
    report_ok(ok),
    erl_eval:new_bindings();
command([{call, _, {atom, _, f}, [{var, _, Var}]}], Bindings, _Timeout) ->
    report_ok(ok),
    erl_eval:del_binding(Var, Bindings);
command(Exprs, Bindings, Timeout) ->
    case run(Exprs, Bindings, Timeout) of
        {ok, Value, NewBindings} ->
            report_ok(Value),
            NewBindings;
        {error, Class, Reason, Stack} ->
            %% The stack goes to the ordinary output, which the harness shows when a test fails.
            io:format("erldp_test: ~0tp:~0tp~n  ~0tp~n", [Class, Reason, Stack]),
            report_error(Class, Reason),
            Bindings
    end.

%% The worker sends its result as a message and exits normally, so that processes it linked to
%% during the command survive it.
run(Exprs, Bindings, Timeout) ->
    Self = self(),
    Tag = make_ref(),
    {Pid, Mon} = spawn_monitor(fun() -> Self ! {Tag, eval(Exprs, Bindings)} end),
    receive
        {Tag, Result} ->
            erlang:demonitor(Mon, [flush]),
            Result;
        {'DOWN', Mon, process, Pid, Reason} ->
            {error, exit, Reason, []}
    after Timeout ->
        erlang:demonitor(Mon, [flush]),
        exit(Pid, kill),
        {error, error, {erldp_eval_timeout, Timeout}, []}
    end.

eval(Exprs, Bindings) ->
    try erl_eval:exprs(Exprs, Bindings) of
        {value, Value, NewBindings} -> {ok, Value, NewBindings}
    catch
        Class:Reason:Stack -> {error, Class, Reason, Stack}
    end.

report_ok(Value) ->
    reply(["erldp-ok ", one_line("~0tp", [Value])]).

report_error(Class, Reason) ->
    reply(["erldp-error ", atom_to_list(Class), ":", one_line("~0tp", [Reason])]).

%% ~0tp does not break lines and escapes control characters in strings; mapping any line break
%% that still appears keeps the one-line protocol intact whatever the value.
one_line(Format, Args) ->
    [case C of $\n -> $\s; $\r -> $\s; _ -> C end
     || C <- unicode:characters_to_list(io_lib:format(Format, Args))].

reply(Line) ->
    io:put_chars(user, [2, Line, $\n]).

%% @doc Registers `Name' for a process that answers `{From, Msg}' (From a pid) with
%% `From ! {echo, Msg}' and keeps every other message, like {@link collect/1}.
-spec echo_start(atom()) -> pid().
echo_start(Name) ->
    start_registered(Name, echo, []).

%% @doc Registers `Name' for a process that keeps every message it receives; read them with
%% {@link collected/3}. Replaces a process already registered under `Name'.
-spec collect(atom()) -> pid().
collect(Name) ->
    collect(Name, []).

%% @doc Like {@link collect/1}; `Opts' may hold `trap_exit' (exit signals arrive as
%% `{'EXIT', Pid, Reason}' messages) and `monitor_nodes' (`{nodeup, Node, Info}' and
%% `{nodedown, Node, Info}' for visible and hidden nodes).
-spec collect(atom(), [trap_exit | monitor_nodes]) -> pid().
collect(Name, Opts) ->
    start_registered(Name, collect, Opts).

%% @doc A collector of node up/down messages: `collect(Name, [monitor_nodes])'.
-spec watch_nodes(atom()) -> pid().
watch_nodes(Name) ->
    collect(Name, [monitor_nodes]).

%% @doc The messages kept by the collector or echo process `Name' so far, oldest first.
-spec collected(atom()) -> [term()].
collected(Name) ->
    Pid = case whereis(Name) of
              undefined -> erlang:error({no_collector, Name});
              P -> P
          end,
    Mon = erlang:monitor(process, Pid),
    Pid ! {'$erldp_collected', self(), Mon},
    receive
        {Mon, Msgs} ->
            erlang:demonitor(Mon, [flush]),
            Msgs;
        {'DOWN', Mon, process, Pid, Reason} ->
            erlang:error({collector_down, Name, Reason})
    end.

%% @doc Waits up to `Timeout' ms for at least one kept message; returns all of them.
-spec collected(atom(), timeout()) -> [term()].
collected(Name, Timeout) ->
    collected(Name, 1, Timeout).

%% @doc Waits up to `Timeout' ms for at least `Count' kept messages; returns all kept messages,
%% fewer than `Count' when the time ran out, so that the test's assertion shows what came.
-spec collected(atom(), non_neg_integer(), timeout()) -> [term()].
collected(Name, Count, Timeout) ->
    Enough = fun() ->
                     Msgs = collected(Name),
                     length(Msgs) >= Count andalso Msgs
             end,
    try
        wait_for(Enough, Timeout)
    catch
        error:{wait_for_timeout, _} -> collected(Name)
    end.

%% @doc Calls `Fun' every 10 ms until it returns something other than `false', and returns
%% that. Raises `{wait_for_timeout, Timeout}' when `Timeout' ms pass first.
-spec wait_for(fun(() -> term()), non_neg_integer()) -> term().
wait_for(Fun, Timeout) ->
    wait_for(Fun, Timeout, erlang:monotonic_time(millisecond) + Timeout).

wait_for(Fun, Timeout, Deadline) ->
    case Fun() of
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true ->
                    erlang:error({wait_for_timeout, Timeout});
                false ->
                    timer:sleep(?POLL_MS),
                    wait_for(Fun, Timeout, Deadline)
            end;
        Value ->
            Value
    end.

%% The new process is registered and has applied its options before this returns, so that
%% nothing sent or happening right after the call is lost. It is not linked to the caller: it
%% outlives the command that started it.
start_registered(Name, Mode, Opts) ->
    ok = stop_registered(Name),
    Self = self(),
    Ready = make_ref(),
    Pid = spawn(fun() ->
                        lists:foreach(fun apply_opt/1, Opts),
                        register(Name, self()),
                        Self ! Ready,
                        keep(Mode, [])
                end),
    Mon = erlang:monitor(process, Pid),
    receive
        Ready ->
            erlang:demonitor(Mon, [flush]),
            Pid;
        {'DOWN', Mon, process, Pid, Reason} ->
            erlang:error({start_failed, Name, Reason})
    end.

stop_registered(Name) ->
    case whereis(Name) of
        undefined ->
            ok;
        Old ->
            Mon = erlang:monitor(process, Old),
            exit(Old, kill),
            receive {'DOWN', Mon, process, Old, _} -> ok end
    end.

apply_opt(trap_exit) ->
    process_flag(trap_exit, true);
apply_opt(monitor_nodes) ->
    ok = net_kernel:monitor_nodes(true, [{node_type, all}, nodedown_reason]).

keep(Mode, Kept) ->
    receive
        {'$erldp_collected', From, Ref} ->
            From ! {Ref, lists:reverse(Kept)},
            keep(Mode, Kept);
        {From, Msg} when Mode =:= echo, is_pid(From) ->
            From ! {echo, Msg},
            keep(Mode, Kept);
        Other ->
            keep(Mode, [Other | Kept])
    end.
