# The Elixir side of `make demo`: a counter GenServer on an Elixir node, which the `erldp`
# command and the Ruby and Node.js bindings then call like any Elixir process would.
defmodule Demo.Counter do
  use GenServer

  def start_link(start), do: GenServer.start_link(__MODULE__, start, name: __MODULE__)

  @impl true
  def init(start), do: {:ok, start}

  @impl true
  def handle_call(:bump, _from, n), do: {:reply, n + 1, n + 1}
  def handle_call(:count, _from, n), do: {:reply, n, n}
end

{:ok, _} = Demo.Counter.start_link(0)
IO.puts("ready")
Process.sleep(:infinity)
