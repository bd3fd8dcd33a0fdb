# frozen_string_literal: true

module ErlDP
  # What Mailbox#receive returns: a message, or a signal that arrived as one.
  #
  # {#term} is always what an Erlang process trapping exits would find in its mailbox: the
  # message itself, +{'EXIT', From, Reason}+, +{'DOWN', Ref, process, Pid, Reason}+ or
  # +{nodedown, Node}+; the other readers pick the parts out. Messages pattern-match by key:
  #
  #   case box.receive(timeout: 5)
  #   in {kind: :message, term: [:echo, text]} then puts text
  #   in {kind: :down, ref:, reason:} then warn "#{ref} went down: #{reason}"
  #   in nil then warn "nothing within 5 s"
  #   end
  class Message
    # @return [Symbol] +:message+, +:exit+ (a linked process ended, or +exit/2+ was called on
    #   us), +:down+ (a monitored process ended), +:node_down+ (a monitored node went away) or
    #   +:node_up+ (a node connected, for Mailbox#monitor_nodes)
    attr_reader :kind

    # @return [Object] the term as an Erlang process would receive it
    attr_reader :term

    # @return [ErlDP::Pid, nil] the sender, when known (always for signals from a process)
    attr_reader :from

    # @return [Object, nil] the exit reason of an +:exit+ or +:down+ signal (+:noconnection+ when
    #   the connection was lost); +:noconnection+ for +:node_down+
    attr_reader :reason

    # @return [ErlDP::Ref, nil] the monitor reference of a +:down+ signal
    attr_reader :ref

    # @return [Symbol, nil] the node of a +:node_down+ or +:node_up+ signal
    attr_reader :node

    # Messages are made by the mailbox; there is no need to build one.
    # @api private
    def initialize(kind, term, from = nil, reason = nil, ref = nil, node = nil)
      @kind = kind
      @term = term
      @from = from
      @reason = reason
      @ref = ref
      @node = node
      freeze
    end

    # @return [Boolean] whether this is an ordinary message
    def message?
      kind == :message
    end

    # @return [Boolean] whether this is an exit signal
    def exit?
      kind == :exit
    end

    # @return [Boolean] whether this is a monitor's DOWN
    def down?
      kind == :down
    end

    # @return [Boolean] whether this is a monitored node going down
    def node_down?
      kind == :node_down
    end

    # @return [Boolean] whether this is a node connecting (Mailbox#monitor_nodes)
    def node_up?
      kind == :node_up
    end

    # @return [Hash{Symbol => Object}] the readers by name
    def to_h
      { kind: kind, term: term, from: from, reason: reason, ref: ref, node: node }
    end

    # For +case message in {kind: :message, term: [...]}+.
    # @param keys [Array<Symbol>, nil]
    # @return [Hash{Symbol => Object}]
    def deconstruct_keys(keys)
      hash = to_h
      keys ? hash.slice(*keys) : hash
    end

    # @param other [Object]
    # @return [Boolean]
    def ==(other)
      other.is_a?(Message) && to_h == other.to_h
    end
    alias eql? ==

    # @return [Integer]
    def hash
      [Message, to_h].hash
    end

    # @return [String]
    def inspect
      parts = to_h.reject { |key, value| value.nil? && key != :term }.map { |key, value| "#{key}=#{value.inspect}" }
      "#<ErlDP::Message #{parts.join(' ')}>"
    end
    alias to_s inspect
  end
end
