# frozen_string_literal: true

module ErlDP
  # The base class of every error ErlDP raises. Rescue it to handle any failure of the
  # distribution layer; rescue a subclass to handle one kind. Invalid arguments (a malformed
  # node name, a negative timeout) raise Ruby's own ArgumentError or TypeError instead.
  class Error < StandardError; end

  # A TCP connection to a node could not be made, its handshake failed for a reason other than
  # the cookie, or an established connection was lost (also while an rpc or call was waiting).
  class ConnectionError < Error; end

  # The handshake failed because the cookies did not match. The message never contains a cookie.
  class AuthError < Error; end

  # EPMD on the node's host does not know the node (it is not running, or the name is wrong).
  class NodeNotFound < Error; end

  # A blocking call did not complete within its timeout. (Mailbox#receive returns nil instead.)
  class Timeout < Error; end

  # The remote function raised, exited or threw, or the call could not be carried out (a
  # +gen_server+ that does not exist, a spawn the remote node refused).
  class RpcError < Error
    # The remote error term: +ErlDP::Tuple[class, reason, stacktrace]+ with +class+ one of
    # +:error+, +:exit+, +:throw+ or +:badrpc+, +reason+ the exception reason and +stacktrace+
    # the remote stack trace as Erlang reports it (+[]+ when there is none).
    #
    # @example
    #   begin
    #     node.rpc(peer, :erlang, :binary_to_atom, [42])
    #   rescue ErlDP::RpcError => e
    #     e.reason => [:error, :badarg, _stacktrace]
    #   end
    # @return [ErlDP::Tuple]
    attr_reader :reason

    # @param message [String]
    # @param reason [ErlDP::Tuple] the remote error term
    def initialize(message = nil, reason = nil)
      super(message)
      @reason = reason
    end
  end

  # Bytes that should hold an Erlang term do not (see ErlDP.binary_to_term).
  class DecodeError < Error; end

  # A Ruby value has no Erlang form. The message names the path to it inside the term, as in
  # +cannot encode value at [2][:opts]: Object has no Erlang form (#<Object:0x...>)+.
  class EncodeError < Error
    # Where the bad value sits, as Ruby indexing: +"[2][:opts]"+; empty when it is the whole term.
    # @return [String]
    attr_reader :path

    # @param message [String]
    # @param path [String]
    def initialize(message = nil, path = "")
      super(message)
      @path = path
    end
  end

  # The node or mailbox is closed. Mailbox#each_message ends quietly on it.
  class ClosedError < Error; end

  # A name that must be unique is in use: the node name (EPMD has a node of that name), or the
  # registered name asked for a mailbox (another mailbox of the node has it).
  class NameTaken < Error; end
end
