# The Elixir side of `make demo`'s Ruby serving part: calls the calculator and the module that
# examples/ruby/serve.rb serves and exposes, as any Elixir code would, including the calls that
# raise, to show what Elixir makes of a Ruby exception.
[ruby] = Enum.map(System.argv(), &String.to_atom/1)

show = fn label, fun ->
  result =
    try do
      inspect(fun.())
    rescue
      error -> "raises " <> Exception.format_banner(:error, error)
    catch
      :exit, reason -> "exits " <> Exception.format_exit(reason)
    end

  IO.puts("elixir: #{label} -> #{result}")
end

show.("GenServer.call({:calculator, ruby}, {:add, 2, 3})", fn ->
  GenServer.call({:calculator, ruby}, {:add, 2, 3})
end)

show.("GenServer.call({:calculator, ruby}, {:div, 1, 0})", fn ->
  GenServer.call({:calculator, ruby}, {:div, 1, 0})
end)

show.(":rpc.call(ruby, :ruby_math, :factorial, [20])", fn ->
  :rpc.call(ruby, :ruby_math, :factorial, [20])
end)

show.(":erpc.call(ruby, :ruby_math, :sqrt, [16])", fn -> :erpc.call(ruby, :ruby_math, :sqrt, [16]) end)
show.(":erpc.call(ruby, :ruby_math, :log, [-1])", fn -> :erpc.call(ruby, :ruby_math, :log, [-1]) end)
show.(":rpc.call(ruby, :ruby_math, :cube, [2])", fn -> :rpc.call(ruby, :ruby_math, :cube, [2]) end)
show.(":rpc.call(ruby, :os, :cmd, [~c\"ls\"])", fn -> :rpc.call(ruby, :os, :cmd, [~c"ls"]) end)

GenServer.cast({:calculator, ruby}, :stop)
