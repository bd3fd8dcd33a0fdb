%% @doc Checks on clusters of BEAM nodes for the global and pg tests.
%%
%% Every wait here has a deadline and fails with an error naming what was still missing, so
%% that a test whose cluster never converges fails with a reason instead of hanging:
%% `global:sync/0' itself waits forever for a visible node that does not answer global.
%% Processes started here are not linked to the caller, so that they outlive the command of
%% the test harness (tests/erlang/erldp_test.erl) that started them.
-module(erldp_cluster).

-export([wait_started/1, connect/1, await_mesh/2, await_mesh/3, overlaps/2, sync/1, sync_on/2,
         known/0,
         spawn_idle/0, register_name/1, register_name/2, whereis_on/2, await_whereis/4,
         trans/3, start_scope/1, join/3, members/2, members_on/3, await_members/5]).

-define(POLL_MS, 10).

%% @doc Waits until init has started every application (pg included): a node answers
%% distribution before its `pg' scope is registered.
-spec wait_started(timeout()) -> ok.
wait_started(Timeout) ->
    erldp_test:wait_for(fun() ->
                                case init:get_status() of
                                    {started, _} -> ok;
                                    _ -> false
                                end
                        end, Timeout).

%% @doc `net_kernel:connect_node/1', raising `{connect_failed, Node}' when it fails.
-spec connect(node()) -> ok.
connect(Node) ->
    case net_kernel:connect_node(Node) of
        true -> ok;
        _ -> erlang:error({connect_failed, Node})
    end.

%% @doc Waits until every node of `Nodes' has every other one in `nodes()' and
%% `global:sync()' returns on each of them. Raises `{mesh_timeout, Ms, Missing}' where
%% Missing lists `{Node, NodesItLacks}' or `{Node, {not_synced, Nodes}}'.
-spec await_mesh([node()], non_neg_integer()) -> ok.
await_mesh(Nodes, Timeout) ->
    await_mesh(Nodes, [], Timeout).

%% @doc As {@link await_mesh/2}, and every node of `Nodes' must also be connected to each of
%% `Others' (nodes that run no helpers, such as an ErlDP node).
-spec await_mesh([node()], [node()], non_neg_integer()) -> ok.
await_mesh(Nodes, Others, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    Meshed = fun() -> mesh_missing(Nodes, Others) =:= [] end,
    try
        erldp_test:wait_for(Meshed, Timeout)
    catch
        error:{wait_for_timeout, _} ->
            erlang:error({mesh_timeout, Timeout, mesh_missing(Nodes, Others)})
    end,
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    case [{N, R} || {N, R} <- sync_on(Nodes, Left), R =/= ok] of
        [] -> ok;
        Unsynced -> erlang:error({mesh_timeout, Timeout, Unsynced})
    end.

mesh_missing(Nodes, Others) ->
    [{N, Lacks} || N <- Nodes,
                   Lacks <- [((Nodes ++ Others) -- [N]) -- nodes_of(N)],
                   Lacks =/= []].

%% @doc The overlapping partitions among `Nodes' and the nodes of `Known': `{N, X, Y}' where
%% N is connected to X and Y, which are not connected to each other (what global's
%% prevent_overlapping_partitions removes). Each node of `Nodes' is asked for its `nodes()';
%% `Known' gives the neighbours of nodes that run no helpers (an ErlDP node), `[{Node, Nodes}]'.
-spec overlaps([node()], [{node(), [node()]}]) -> [{node(), node(), node()}].
overlaps(Nodes, Known) ->
    All = [{N, nodes_of(N)} || N <- Nodes] ++ Known,
    Of = fun(N) -> proplists:get_value(N, All, []) end,
    Members = [N || {N, _} <- All],
    [{N, X, Y} || {N, Ns} <- All, X <- Ns, Y <- Ns, X < Y,
                  lists:member(X, Members), lists:member(Y, Members),
                  not lists:member(Y, Of(X))].

nodes_of(Node) ->
    try erpc:call(Node, erlang, nodes, [], 5000)
    catch _:_ -> []
    end.

%% @doc `global:sync()' with a deadline: raises `{global_sync_timeout, Ms, NotSynced}',
%% NotSynced being the visible nodes global has not synced with, when it does not return.
-spec sync(non_neg_integer()) -> ok.
sync(Timeout) ->
    case run(fun global:sync/0, Timeout) of
        {ok, Result} -> Result;
        timeout -> erlang:error({global_sync_timeout, Timeout, not_synced()})
    end.

not_synced() ->
    nodes() -- gen_server:call(global_name_server, get_synced, 1000).

%% @doc {@link sync/1} on each of `Nodes' at once: `[{Node, ok | {not_synced, Nodes} |
%% {error, Reason}}]'.
-spec sync_on([node()], non_neg_integer()) -> [{node(), term()}].
sync_on(Nodes, Timeout) ->
    Reqs = [{N, erpc:send_request(N, ?MODULE, sync, [Timeout])} || N <- Nodes],
    [{N, try erpc:receive_response(Req, Timeout + 5000) of
             ok -> ok;
             Other -> {error, Other}
         catch
             error:{exception, {global_sync_timeout, _, Left}, _} -> {not_synced, Left};
             Class:Reason -> {error, {Class, Reason}}
         end} || {N, Req} <- Reqs].

%% @doc The nodes global on this node knows (has completed its name exchange with).
-spec known() -> [node()].
known() ->
    lists:sort(gen_server:call(global_name_server, get_known, 5000)).

%% @doc A process that does nothing until killed or sent `stop'.
-spec spawn_idle() -> pid().
spawn_idle() ->
    spawn(fun() -> receive stop -> ok end end).

%% @doc Registers a new idle process globally under `Name': `{yes | no, Pid}'.
-spec register_name(term()) -> {yes | no, pid()}.
register_name(Name) ->
    register_name(Name, fun global:random_exit_name/3).

%% @doc As {@link register_name/1} with a resolve method.
-spec register_name(term(), fun((term(), pid(), pid()) -> pid() | none)) -> {yes | no, pid()}.
register_name(Name, Method) ->
    Pid = spawn_idle(),
    {global:register_name(Name, Pid, Method), Pid}.

%% @doc `global:whereis_name(Name)' on each of `Nodes': `[{Node, Pid | undefined}]'.
-spec whereis_on(term(), [node()]) -> [{node(), pid() | undefined}].
whereis_on(Name, Nodes) ->
    [{N, erpc:call(N, global, whereis_name, [Name], 5000)} || N <- Nodes].

%% @doc Waits until `global:whereis_name(Name)' is `Expected' on every node of `Nodes';
%% raises `{whereis_timeout, Name, Seen}' with what each node says.
-spec await_whereis(term(), [node()], pid() | undefined, non_neg_integer()) -> ok.
await_whereis(Name, Nodes, Expected, Timeout) ->
    Same = fun() -> lists:all(fun({_, P}) -> P =:= Expected end, whereis_on(Name, Nodes)) end,
    try erldp_test:wait_for(fun() -> Same() andalso ok end, Timeout)
    catch error:{wait_for_timeout, _} ->
            erlang:error({whereis_timeout, Name, whereis_on(Name, Nodes)})
    end.

%% @doc `global:trans(Id, F, Nodes)' with a deadline, F returning `{ran, node()}'. Raises
%% `{trans_timeout, Id, Ms}' when it does not finish (a node holding the lock forever).
-spec trans(term(), [node()], non_neg_integer()) -> term().
trans(Id, Nodes, Timeout) ->
    case run(fun() -> global:trans(Id, fun() -> {ran, node()} end, Nodes) end, Timeout) of
        {ok, Result} -> Result;
        timeout -> erlang:error({trans_timeout, Id, Timeout})
    end.

%% @doc Starts a pg scope that outlives the caller (`pg:start/1'); `ok' if it runs already.
-spec start_scope(atom()) -> ok.
start_scope(Scope) ->
    case pg:start(Scope) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok
    end.

%% @doc Joins `Count' new idle processes to `Group' of `Scope'; returns them.
-spec join(atom(), term(), pos_integer()) -> [pid()].
join(Scope, Group, Count) ->
    Pids = [spawn_idle() || _ <- lists:seq(1, Count)],
    ok = pg:join(Scope, Group, Pids),
    Pids.

%% @doc `pg:get_members(Scope, Group)', sorted.
-spec members(atom(), term()) -> [pid()].
members(Scope, Group) ->
    lists:sort(pg:get_members(Scope, Group)).

%% @doc {@link members/2} on each of `Nodes'.
-spec members_on(atom(), term(), [node()]) -> [{node(), [pid()]}].
members_on(Scope, Group, Nodes) ->
    [{N, erpc:call(N, ?MODULE, members, [Scope, Group], 5000)} || N <- Nodes].

%% @doc Waits until the sorted members of `Group' are `Expected' on every node of `Nodes';
%% raises `{members_timeout, Scope, Group, Seen}'.
-spec await_members(atom(), term(), [pid()], [node()], non_neg_integer()) -> ok.
await_members(Scope, Group, Expected, Nodes, Timeout) ->
    Want = lists:sort(Expected),
    Same = fun() ->
                   lists:all(fun({_, Ms}) -> Ms =:= Want end, members_on(Scope, Group, Nodes))
           end,
    try erldp_test:wait_for(fun() -> Same() andalso ok end, Timeout)
    catch error:{wait_for_timeout, _} ->
            erlang:error({members_timeout, Scope, Group, members_on(Scope, Group, Nodes)})
    end.

%% Runs Fun in a process of its own: {ok, Value}, or timeout (the process is killed).
run(Fun, Timeout) ->
    Self = self(),
    Tag = make_ref(),
    {Pid, Mon} = spawn_monitor(fun() -> Self ! {Tag, Fun()} end),
    receive
        {Tag, Value} ->
            erlang:demonitor(Mon, [flush]),
            {ok, Value};
        {'DOWN', Mon, process, Pid, Reason} ->
            erlang:error({crashed, Reason})
    after Timeout ->
            erlang:demonitor(Mon, [flush]),
            exit(Pid, kill),
            timeout
    end.
