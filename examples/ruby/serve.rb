# frozen_string_literal: true

# ErlDP from Ruby, called by BEAM: a calculator served as a process and a module exposed to
# `rpc`.
#
# Run by `make demo`, or by hand (after `make build`):
#
#   ruby -Iruby/lib examples/ruby/serve.rb ruby_calc COOKIE
#
# and then, from an Elixir node with the same cookie (`iex --sname x --cookie COOKIE`):
#
#   GenServer.call({:calculator, :"ruby_calc@host"}, {:add, 2, 3})   # 5
#   GenServer.call({:calculator, :"ruby_calc@host"}, {:div, 1, 0})   # exits: {:ZeroDivisionError, "divided by 0"}
#   :rpc.call(:"ruby_calc@host", :ruby_math, :sqrt, [16])            # 4.0
#   :erpc.call(:"ruby_calc@host", :ruby_math, :log, [-1])            # raises, with the Ruby backtrace
#   GenServer.cast({:calculator, :"ruby_calc@host"}, :stop)          # ends the program

require "erldp"

name, cookie = ARGV
abort "usage: serve.rb NODE_NAME COOKIE" unless name && cookie

OPERATIONS = { add: :+, sub: :-, mul: :*, div: :/ }.freeze

# The functions of `ruby_math`; anything else is `undef`, as BEAM answers for a function its module
# lacks (Elixir: UndefinedFunctionError).
MATH = {
  sqrt: ->(x) { Math.sqrt(x) },
  log: ->(x) { Math.log(x) },
  # Bounded: any caller may ask, and a factorial of millions would hold a thread for minutes.
  factorial: ->(n) { n <= 10_000 ? (1..n).reduce(1, :*) : raise(ArgumentError, "#{n} is too large") }
}.freeze

stop = Queue.new
ErlDP::Node.new(name, cookie: cookie) do |node|
  node.serve(:calculator) do |request, _from|
    case request
    in :stop then (stop << true; :ok)
    in [op, Integer => a, Integer => b] if OPERATIONS.key?(op) then a.public_send(OPERATIONS[op], b)
    else raise ArgumentError, "not a calculation: #{request.inspect}"
    end
  end

  node.expose(:ruby_math) do |fun, args|
    function = MATH.fetch(fun) { raise ErlDP::Undef }
    # Math.log(-1) raises Math::DomainError, whose backtrace Elixir prints.
    function.call(*args)
  end

  puts "serve: ready as #{node.name}"
  $stdout.flush
  stop.pop
  puts "serve: stopped"
end
