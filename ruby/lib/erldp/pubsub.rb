# frozen_string_literal: true

module ErlDP
  # This node as one node of a Phoenix.PubSub running its default adapter: a mailbox subscribed
  # here receives what +Phoenix.PubSub.broadcast/3+ sends on any node of the cluster, and what
  # {#broadcast} sends reaches Elixir's subscribers.
  #
  # It does on the wire what phoenix_pubsub v2.1.3 does (lib/phoenix/pubsub/pg2.ex,
  # supervisor.ex, pubsub.ex): in the pg scope +Elixir.Phoenix.PubSub+, a PubSub named +Name+ has
  # +pool_size+ groups, the adapter name +Module.concat(Name, "Adapter")+, then +<adapter>_2+ ...
  # +<adapter>_N+, and each node runs one worker per group, registered under the group's name
  # and joined to it. A broadcast sends +{forward_to_local, Topic, Message, Dispatcher}+ to the
  # workers of one group on the other nodes, and each worker delivers +Message+ unchanged to its
  # node's subscribers of +Topic+. Here the workers are mailboxes, each read by a thread of its
  # own, and the subscriptions live in this object, as Elixir's Registry holds them.
  #
  # @example Elixir: Phoenix.PubSub.broadcast(MyApp.PubSub, "room:lobby", {:hello, "ruby"})
  #   pubsub = ErlDP::PubSub.new(node, "MyApp.PubSub")       # pool_size: as the Elixir side's
  #   pubsub.subscribe(box, "room:lobby")
  #   box.receive(timeout: 5).term                           # => ErlDP::Tuple[:hello, "ruby"]
  #   pubsub.broadcast("room:lobby", ErlDP::Tuple[:hello, "elixir"])
  class PubSub
    # The pg scope Phoenix.PubSub's application starts.
    SCOPE = :"Elixir.Phoenix.PubSub"
    # The dispatcher the adapter forwards with each message: Phoenix.PubSub's default.
    DISPATCHER = :"Elixir.Phoenix.PubSub"

    # @return [Array<Symbol>] the pool's groups, the adapter's name first
    attr_reader :groups

    # Joins the Phoenix.PubSub named +name+ on this node.
    #
    # @param node [Node]
    # @param name [String, Symbol] as Elixir names it: +"MyApp.PubSub"+ or +:"Elixir.MyApp.PubSub"+
    # @param pool_size [Integer] the Elixir side's +pool_size+ (it must be the same on every node)
    # @raise [ArgumentError] for a pool size outside 1..1024
    # @raise [ErlDP::NameTaken] when this node runs the PubSub already
    def initialize(node, name, pool_size: 1)
      raise ArgumentError, "pool_size must be an Integer from 1 to 1024" unless (1..1024).cover?(pool_size)

      @node = node
      adapter = "#{Elixir.module(name.to_s)}.Adapter"
      @groups = [adapter, *(2..pool_size).map { |n| "#{adapter}_#{n}" }].map(&:to_sym).freeze
      @topics = {}
      @lock = Mutex.new
      @workers = []
      @groups.each do |group|
        worker = node.mailbox(group)
        @workers << worker
        worker.join(group, scope: SCOPE)
      end
      @threads = @workers.map { |worker| Thread.new { work(worker) } }
    rescue StandardError
      close
      raise
    end

    # Subscribes +box+ to +topic+: it receives each message broadcast on it, unchanged.
    # @param box [Mailbox, ErlDP::Pid] a mailbox or a pid of this node
    # @param topic [String]
    # @return [nil]
    def subscribe(box, topic)
      pid = box.is_a?(Pid) ? box : box.pid
      @lock.synchronize { (@topics[text(topic)] ||= {})[pid] = true }
      nil
    end

    # Undoes {#subscribe}.
    # @param box [Mailbox, ErlDP::Pid]
    # @param topic [String]
    # @return [Boolean] false when +box+ was not subscribed to +topic+
    def unsubscribe(box, topic)
      pid = box.is_a?(Pid) ? box : box.pid
      @lock.synchronize do
        subscribers = @topics[text(topic)]
        removed = !subscribers&.delete(pid).nil?
        @topics.delete(topic) if subscribers&.empty?
        removed
      end
    end

    # +Phoenix.PubSub.broadcast/3+: +message+ to every subscriber of +topic+ on every node, ours
    # included.
    # @param topic [String]
    # @param message [Object]
    # @return [nil]
    def broadcast(topic, message)
      raise ClosedError, "the PubSub is closed" if @workers.empty?

      forward = Tuple[:forward_to_local, text(topic), message, DISPATCHER]
      @node.members(@groups.first, scope: SCOPE).each do |pid|
        @workers.first.send_message(pid, forward) unless pid.node == @node.name
      end
      deliver(@workers.first, topic, message)
    end

    # +Phoenix.PubSub.direct_broadcast/4+: +message+ to the subscribers of +topic+ on +node+ only.
    # @param node [Symbol, String] a node name
    # @param topic [String]
    # @param message [Object]
    # @return [nil]
    def direct_broadcast(node, topic, message)
      raise ClosedError, "the PubSub is closed" if @workers.empty?
      return deliver(@workers.first, topic, message) if node.to_sym == @node.name

      @workers.first.send_message([@groups.first, node], Tuple[:forward_to_local, text(topic), message, DISPATCHER])
    end

    # Leaves the PubSub: the workers close, and with them their memberships.
    # @return [nil]
    def close
      workers = @workers.dup
      @workers.clear
      workers.each(&:close)
      @threads&.each { |thread| thread.join unless thread == Thread.current }
      @lock.synchronize { @topics.clear }
      nil
    end

    private

    def text(topic)
      raise TypeError, "a Phoenix.PubSub topic is a String, not #{topic.inspect}" unless topic.is_a?(String)

      topic
    end

    # A worker's loop: each forwarded message goes to this node's subscribers of its topic.
    def work(worker)
      worker.each_message do |message|
        term = message.term
        next unless message.message? && term.is_a?(Tuple) && term.size == 4
        next unless term[0] == :forward_to_local && term[1].is_a?(String)

        deliver(worker, term[1], term[2])
      end
    rescue ClosedError
      # Closed while delivering: the PubSub is closing.
      nil
    end

    def deliver(worker, topic, message)
      subscribers = @lock.synchronize { @topics[topic]&.keys || [] }
      subscribers.each { |pid| worker.send_message(pid, message) }
      nil
    end
  end
end
