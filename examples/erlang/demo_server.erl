%% @doc The BEAM side of `make demo': a greeter gen_server and an echo process, started on a
%% plain `erl' node that ErlDP programs in every language then talk to.
-module(demo_server).
-behaviour(gen_server).

-export([start/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% @doc Starts `demo_server' (a gen_server) and `echo' (replies `{echo, Msg}' to `{From, Msg}').
start() ->
    {ok, _} = gen_server:start({local, ?MODULE}, ?MODULE, [], []),
    Echo = spawn(fun echo/0),
    true = register(echo, Echo),
    ok.

echo() ->
    receive
        {From, Msg} when is_pid(From) -> From ! {echo, Msg};
        _ -> ok
    end,
    echo().

init([]) ->
    {ok, #{greeted => []}}.

handle_call({greet, Name}, _From, #{greeted := Greeted} = State) ->
    {reply, <<"Hello, ", Name/binary, "!">>, State#{greeted := [Name | Greeted]}};
handle_call(greeted, _From, #{greeted := Greeted} = State) ->
    {reply, lists:reverse(Greeted), State};
handle_call(Other, _From, State) ->
    {reply, {unknown, Other}, State}.

handle_cast(_Cast, State) ->
    {noreply, State}.

handle_info(_Info, State) ->
    {noreply, State}.
