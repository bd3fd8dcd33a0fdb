# The Elixir side of `make demo`'s serving part: calls the calculator that examples/rust/serve.rs
# and examples/c/calculator.c serve (and examples/node/serve.js, when a third node is given), and
# the modules they expose, as any Elixir code would — including the calls that raise, to show
# what Elixir makes of a Rust, C or JavaScript exception.
[rust, c | js] = Enum.map(System.argv(), &String.to_atom/1)

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

show.("GenServer.call({:calculator, rust}, {:add, 2, 3})", fn ->
  GenServer.call({:calculator, rust}, {:add, 2, 3})
end)

show.("GenServer.call({:calculator, c}, {:mul, 6, 7})", fn ->
  GenServer.call({:calculator, c}, {:mul, 6, 7})
end)

# The Rust node is visible: connected, it joins this node's global cluster and shares its names.
:global.sync()

show.("rust in Node.list()", fn -> rust in Node.list() end)

show.("GenServer.call({:global, :rust_calculator}, {:sub, 10, 4})", fn ->
  GenServer.call({:global, :rust_calculator}, {:sub, 10, 4})
end)

show.(":rpc.call(rust, :rust_math, :factorial, [20])", fn ->
  :rpc.call(rust, :rust_math, :factorial, [20])
end)

show.(":erpc.call(c, :c_math, :square, [12])", fn -> :erpc.call(c, :c_math, :square, [12]) end)

show.("GenServer.call({:calculator, rust}, {:div, 1, 0})", fn ->
  GenServer.call({:calculator, rust}, {:div, 1, 0})
end)

show.(":erpc.call(rust, :rust_math, :sqrt, [-1.0])", fn ->
  :erpc.call(rust, :rust_math, :sqrt, [-1.0])
end)

show.(":rpc.call(c, :c_math, :cube, [2])", fn -> :rpc.call(c, :c_math, :cube, [2]) end)
show.(":rpc.call(rust, :os, :cmd, [~c\"ls\"])", fn -> :rpc.call(rust, :os, :cmd, [~c"ls"]) end)

for js <- js do
  show.("GenServer.call({:calculator, js}, {:mul, 6, 7})", fn ->
    GenServer.call({:calculator, js}, {:mul, 6, 7})
  end)

  show.("GenServer.call({:calculator, js}, {:div, 1, 0})", fn ->
    GenServer.call({:calculator, js}, {:div, 1, 0})
  end)

  show.(":rpc.call(js, :js_math, :hypot, [3, 4])", fn -> :rpc.call(js, :js_math, :hypot, [3, 4]) end)
  show.(":erpc.call(js, :js_math, :fetch, [7])", fn -> :erpc.call(js, :js_math, :fetch, [7]) end)

  show.(":erpc.call(js, :js_math, :cube, [2])", fn -> :erpc.call(js, :js_math, :cube, [2]) end)
end

Enum.each([rust, c | js], &GenServer.cast({:calculator, &1}, :stop))
