# frozen_string_literal: true

# ErlDP joins a Ruby program to an Erlang/Elixir cluster as a named node: it speaks the Erlang
# distribution protocol itself, so BEAM nodes need nothing but their cookie.
#
#   require "erldp"
#
#   node = ErlDP::Node.new("ruby", cookie: "secret")
#   node.rpc(:"peer@host", :erlang, :node, [])                  # => :"peer@host"
#   box = node.mailbox(:inbox)
#   box.send_message([:echo, :"peer@host"], ErlDP::Tuple[box.pid, "hi"])
#   box.receive(timeout: 5)                                     # => #<ErlDP::Message ...>
#   node.close
#
# Erlang terms map to Ruby objects as follows (and back):
#
#   atom                  Symbol; true, false and nil are true, false and nil
#   integer               Integer (any size)
#   float                 Float
#   binary                String: UTF-8 when the bytes are valid UTF-8, else ASCII-8BIT
#   bitstring             ErlDP::Bitstring
#   list                  Array (a charlist is an Array of Integers)
#   improper list         ErlDP::ImproperList
#   tuple                 ErlDP::Tuple (an Array)
#   map                   Hash
#   pid, reference, port  ErlDP::Pid, ErlDP::Ref, ErlDP::Port
#   fun                   ErlDP::Opaque
#
# Any other Ruby object raises ErlDP::EncodeError naming where it sits, as in +[2][:opts]+.
module ErlDP
  # @!method self.term_to_binary(value)
  #   The External Term Format bytes of a value, as Erlang's +term_to_binary/1+ writes them.
  #   @param value [Object] any value with an Erlang form
  #   @return [String] binary bytes, starting with 131
  #   @raise [ErlDP::EncodeError] when the value holds something with no Erlang form

  # @!method self.binary_to_term(bytes)
  #   The value of External Term Format bytes, like Erlang's +binary_to_term/1+.
  #   @param bytes [String]
  #   @return [Object]
  #   @raise [ErlDP::DecodeError] when the bytes are not a term
end

# IO#wait_readable, through which blocking calls wait under a Fiber scheduler.
require "io/wait"

require_relative "erldp/version"
require_relative "erldp/errors"
require_relative "erldp/arguments"
require_relative "erldp/terms"
require_relative "erldp/message"
# The native extension looks up the classes above when it loads. It sits next to this file in
# a checkout (`make build`) and in the gem's extension directory once installed; both are on
# the load path.
require "erldp/erldp"
require_relative "erldp/values"
require_relative "erldp/node"
require_relative "erldp/mailbox"
require_relative "erldp/serving"
require_relative "erldp/cluster"
require_relative "erldp/pubsub"
require_relative "erldp/elixir"
require_relative "erldp/logging"
