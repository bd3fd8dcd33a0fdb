%% @doc A tiny gen_server for `gen_server:call'/`cast' tests against a BEAM peer.
%%
%% `start(Name)' registers it locally (not linked, so it outlives the command that started it).
%% Calls:
%%   state        -> the current value (initially `undefined', or the one given to start/2)
%%   {set, V}     -> ok; the value becomes V
%%   {echo, X}    -> X
%%   {sleep, Ms}  -> ok after Ms milliseconds (for call timeouts)
%%   casts        -> every cast received so far, oldest first
%%   infos        -> every plain message received so far, oldest first
%%   stop         -> ok, then the server stops with reason normal
%%   Other        -> {unknown_call, Other}
%% Casts: `{set, V}' sets the value; every cast is also kept for `casts'.
-module(erldp_test_server).
-behaviour(gen_server).

-export([start/1, start/2, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-spec start(atom()) -> {ok, pid()} | {error, term()}.
start(Name) ->
    start(Name, undefined).

-spec start(atom(), term()) -> {ok, pid()} | {error, term()}.
start(Name, Value) ->
    gen_server:start({local, Name}, ?MODULE, Value, []).

-spec stop(atom() | pid()) -> ok.
stop(Server) ->
    gen_server:stop(Server).

init(Value) ->
    {ok, #{value => Value, casts => [], infos => []}}.

handle_call(state, _From, #{value := Value} = S) ->
    {reply, Value, S};
handle_call({set, Value}, _From, S) ->
    {reply, ok, S#{value := Value}};
handle_call({echo, X}, _From, S) ->
    {reply, X, S};
handle_call({sleep, Ms}, _From, S) ->
    timer:sleep(Ms),
    {reply, ok, S};
handle_call(casts, _From, #{casts := Casts} = S) ->
    {reply, lists:reverse(Casts), S};
handle_call(infos, _From, #{infos := Infos} = S) ->
    {reply, lists:reverse(Infos), S};
handle_call(stop, _From, S) ->
    {stop, normal, ok, S};
handle_call(Other, _From, S) ->
    {reply, {unknown_call, Other}, S}.

handle_cast({set, Value} = Cast, #{casts := Casts} = S) ->
    {noreply, S#{value := Value, casts := [Cast | Casts]}};
handle_cast(Cast, #{casts := Casts} = S) ->
    {noreply, S#{casts := [Cast | Casts]}}.

handle_info(Info, #{infos := Infos} = S) ->
    {noreply, S#{infos := [Info | Infos]}}.
