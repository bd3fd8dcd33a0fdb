%% @doc Phoenix.PubSub's default adapter, reproduced in Erlang for tests on nodes without Elixir.
%%
%% Follows phoenix_pubsub v2.1.3: lib/phoenix/pubsub/pg2.ex (Phoenix.PubSub.PG2 and
%% Phoenix.PubSub.PG2Worker), lib/phoenix/pubsub/supervisor.ex (the adapter name),
%% lib/phoenix/pubsub/application.ex (the pg scope) and lib/phoenix/pubsub.ex (dispatch). What
%% crosses the wire is the same as with the real library:
%%
%%   - the pg scope 'Elixir.Phoenix.PubSub', started on every node;
%%   - for a PubSub named Name, the adapter name Module.concat(Name, "Adapter") and PoolSize
%%     groups [AdapterName, 'AdapterName_2', ..., 'AdapterName_N'], each with one worker per
%%     node registered locally under the group name and joined to that group;
%%   - broadcast: {forward_to_local, Topic, Message, Dispatcher} sent to every member of the
%%     group erlang:phash2(self(), PoolSize) picks that is not on the local node, then local
%%     delivery; direct_broadcast: the same message to {Group, Node};
%%   - a worker delivers Message, unchanged, to the local subscribers of Topic.
%%
%% Subscriptions live in a table owned by this module's server process instead of Elixir's
%% Registry; the default dispatcher is 'Elixir.Phoenix.PubSub' as in the library.
-module(erldp_pubsub).

-export([start/2, adapter_name/1, groups/1, subscribe/3, unsubscribe/3, broadcast/3,
         broadcast/4, direct_broadcast/4, local_broadcast/3, subscribers/2]).

-define(SCOPE, 'Elixir.Phoenix.PubSub').
-define(DISPATCHER, 'Elixir.Phoenix.PubSub').

%% @doc Starts the PubSub `Name' on this node with `PoolSize' groups (the scope too, when it is
%% not running yet). Everything started outlives the caller. Returns the group names.
-spec start(atom(), pos_integer()) -> [atom()].
start(Name, PoolSize) when is_atom(Name), is_integer(PoolSize), PoolSize > 0 ->
    ok = erldp_cluster:start_scope(?SCOPE),
    Adapter = adapter_name(Name),
    Groups = [Adapter | [list_to_atom(atom_to_list(Adapter) ++ "_" ++ integer_to_list(N))
                         || N <- lists:seq(2, PoolSize)]],
    Table = start_table(Name),
    persistent_term:put({?MODULE, Name}, {list_to_tuple(Groups), Table}),
    [start_worker(Name, Group) || Group <- Groups],
    Groups.

%% @doc `Module.concat(Name, "Adapter")': 'Elixir.MyApp.PubSub' -> 'Elixir.MyApp.PubSub.Adapter',
%% my_pubsub -> 'Elixir.my_pubsub.Adapter'.
-spec adapter_name(atom()) -> atom().
adapter_name(Name) ->
    Base = case atom_to_list(Name) of
               "Elixir." ++ Rest -> Rest;
               Plain -> Plain
           end,
    list_to_atom("Elixir." ++ Base ++ ".Adapter").

%% @doc The pool's group names, first one the adapter name.
-spec groups(atom()) -> [atom()].
groups(Name) ->
    {Groups, _} = persistent_term:get({?MODULE, Name}),
    tuple_to_list(Groups).

%% @doc Subscribes the local process `Pid' to `Topic' (a binary), like Registry.register/3.
-spec subscribe(atom(), binary(), pid()) -> ok.
subscribe(Name, Topic, Pid) when is_binary(Topic), is_pid(Pid), node(Pid) =:= node() ->
    {_, Table} = persistent_term:get({?MODULE, Name}),
    call(Table, {subscribe, Topic, Pid}).

-spec unsubscribe(atom(), binary(), pid()) -> ok.
unsubscribe(Name, Topic, Pid) ->
    {_, Table} = persistent_term:get({?MODULE, Name}),
    call(Table, {unsubscribe, Topic, Pid}).

%% @doc The local subscribers of `Topic'.
-spec subscribers(atom(), binary()) -> [pid()].
subscribers(Name, Topic) ->
    {_, Table} = persistent_term:get({?MODULE, Name}),
    [Pid || {_, Pid} <- ets:lookup(Table, Topic)].

%% @doc Phoenix.PubSub.broadcast/3.
-spec broadcast(atom(), binary(), term()) -> ok.
broadcast(Name, Topic, Message) ->
    broadcast(Name, Topic, Message, ?DISPATCHER).

%% @doc Phoenix.PubSub.broadcast/4: PG2.broadcast/4, then the local dispatch.
-spec broadcast(atom(), binary(), term(), atom()) -> ok.
broadcast(Name, Topic, Message, Dispatcher) when is_binary(Topic), is_atom(Dispatcher) ->
    Forward = {forward_to_local, Topic, Message, Dispatcher},
    _ = [erlang:send(Pid, Forward) || Pid <- pg:get_members(?SCOPE, group(Name)),
                                      node(Pid) =/= node()],
    local_broadcast(Name, Topic, Message).

%% @doc Phoenix.PubSub.direct_broadcast/4 (its adapter call).
-spec direct_broadcast(node(), atom(), binary(), term()) -> ok.
direct_broadcast(Node, Name, Topic, Message) ->
    erlang:send({group(Name), Node}, {forward_to_local, Topic, Message, ?DISPATCHER}),
    ok.

%% @doc Phoenix.PubSub.local_broadcast/3 with the default dispatcher.
-spec local_broadcast(atom(), binary(), term()) -> ok.
local_broadcast(Name, Topic, Message) ->
    dispatch(Name, Topic, Message, ?DISPATCHER).

%% PG2's group/1: the pool member chosen by the caller's pid.
group(Name) ->
    {Groups, _} = persistent_term:get({?MODULE, Name}),
    element(erlang:phash2(self(), tuple_size(Groups)) + 1, Groups).

%% Phoenix.PubSub.dispatch/3 for the default dispatcher (`from' is none: every subscriber);
%% a custom dispatcher module is called as Registry.dispatch/3 would.
dispatch(Name, Topic, Message, ?DISPATCHER) ->
    _ = [erlang:send(Pid, Message) || Pid <- subscribers(Name, Topic)],
    ok;
dispatch(Name, Topic, Message, Dispatcher) ->
    Entries = [{Pid, nil} || Pid <- subscribers(Name, Topic)],
    _ = Dispatcher:dispatch(Entries, none, Message),
    ok.

%% PG2Worker: registered under its group name, joined to the group, forwards to local
%% subscribers and ignores anything else.
start_worker(Name, Group) ->
    Self = self(),
    Ready = make_ref(),
    Pid = spawn(fun() ->
                        true = register(Group, self()),
                        ok = pg:join(?SCOPE, Group, self()),
                        Self ! Ready,
                        worker(Name)
                end),
    Mon = erlang:monitor(process, Pid),
    receive
        Ready -> erlang:demonitor(Mon, [flush]), Pid;
        {'DOWN', Mon, process, Pid, Reason} -> erlang:error({worker_failed, Group, Reason})
    end.

worker(Name) ->
    receive
        {forward_to_local, Topic, Message, Dispatcher} ->
            ok = dispatch(Name, Topic, Message, Dispatcher);
        _ ->
            ok
    end,
    worker(Name).

%% The subscription table, owned by a process that outlives the caller; subscribers are
%% monitored and dropped when they exit, as Registry does.
start_table(Name) ->
    Self = self(),
    Ready = make_ref(),
    Pid = spawn(fun() ->
                        Table = ets:new(?MODULE, [bag, protected, {read_concurrency, true}]),
                        Self ! {Ready, Table},
                        table(Table, Name)
                end),
    receive {Ready, Table} -> _ = Pid, Table end.

table(Table, Name) ->
    receive
        {From, Tag, {subscribe, Topic, Pid}} ->
            _ = erlang:monitor(process, Pid),
            true = ets:insert(Table, {Topic, Pid}),
            From ! {Tag, ok};
        {From, Tag, {unsubscribe, Topic, Pid}} ->
            true = ets:delete_object(Table, {Topic, Pid}),
            From ! {Tag, ok};
        {'DOWN', _, process, Pid, _} ->
            true = ets:match_delete(Table, {'_', Pid})
    end,
    table(Table, Name).

call(Table, Request) ->
    Owner = ets:info(Table, owner),
    Tag = make_ref(),
    Mon = erlang:monitor(process, Owner),
    Owner ! {self(), Tag, Request},
    receive
        {Tag, Reply} -> erlang:demonitor(Mon, [flush]), Reply;
        {'DOWN', Mon, process, Owner, Reason} -> erlang:error({pubsub_table_down, Reason})
    end.
