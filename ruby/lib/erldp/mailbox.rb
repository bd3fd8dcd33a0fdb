# frozen_string_literal: true

module ErlDP
  # A process of our node: it has a pid, optionally a registered name, a queue of incoming
  # messages, links and monitors. Made by Node#mailbox.
  #
  # Exit signals never kill a mailbox: they arrive as messages of kind +:exit+, as for an
  # Erlang process that traps exits. Closing it sends exit signals to linked processes and
  # +DOWN+ to monitoring ones.
  class Mailbox
    # @!method pid
    #   @return [ErlDP::Pid] the mailbox's pid

    # @!method name
    #   @return [Symbol, nil] the registered name, if any

    # @!method send_message(dest, message)
    #   Sends +message+ from this mailbox, like Erlang's +Dest ! Message+: it succeeds when the
    #   message is on its way, whether or not the receiver exists.
    #   @example
    #     box.send_message([:echo, :"peer@host"], ErlDP::Tuple[box.pid, "hi"])
    #   @param dest [ErlDP::Pid, ErlDP::Ref, Array(Symbol|String, Symbol|String)] a pid, an alias, or
    #     +[name, node]+
    #   @param message [Object] any term
    #   @return [nil]
    #   @raise [ErlDP::EncodeError] when +message+ holds a value with no Erlang form
    #   @raise [ErlDP::ClosedError] when the mailbox is closed

    # @!method link(pid)
    #   Links to +pid+: when either side ends, the other gets an exit signal (here: a Message
    #   of kind +:exit+).
    #   @param pid [ErlDP::Pid]
    #   @return [nil]

    # @!method unlink(pid)
    #   Removes the link to +pid+.
    #   @param pid [ErlDP::Pid]
    #   @return [nil]

    # @!method monitor(target)
    #   Monitors a process or a node. For a process, a Message of kind +:down+ with the
    #   returned Ref arrives when it ends (at once, with reason +:noproc+, if it does not
    #   exist). For a node, a Message of kind +:node_down+ arrives when the connection to it
    #   goes down (at once if it cannot be reached, as with +monitor_node/2+). A process on a
    #   node that cannot be reached raises ErlDP::NodeNotFound or ErlDP::ConnectionError, where
    #   BEAM would signal +noconnection+.
    #   @param target [ErlDP::Pid, Array(Symbol|String, Symbol|String), Symbol, String] a pid,
    #     +[name, node]+, or a node name
    #   @return [ErlDP::Ref, Symbol] the monitor's Ref; for a node, the node name as a Symbol
    #   @example
    #     ref = box.monitor(pid)
    #     box.receive(timeout: 5) => {kind: :down, ref: ^ref, reason:}

    # @!method demonitor(monitor)
    #   Removes a monitor; its +:down+ (or +:node_down+) will not arrive afterwards.
    #   @param monitor [ErlDP::Ref, Symbol, String] what {#monitor} returned, or the node name
    #   @return [nil]

    # @!method closed?
    #   @return [Boolean] whether the mailbox (or its node) is closed

    # @!method queue_length
    #   How many messages (and signals) wait to be received, like Erlang's
    #   +process_info(Pid, message_queue_len)+.
    #   @return [Integer]

    # @!method queue_limit
    #   @return [Integer, nil] the queue limit (see {#queue_limit=}); nil when there is none

    # @!method queue_limit=(limit)
    #   Bounds the queue: while it holds +limit+ entries, a further message is dropped, as one sent
    #   to a process that no longer exists is, and counted in {#dropped}. Exit, down and node_down
    #   signals are always queued: they come from links and monitors the mailbox made (an exit
    #   sent with +exit/2+, which no link asked for, counts as a message). +nil+
    #   queues everything, as BEAM does (the default, unless Node.new's +mailbox_queue_limit:+
    #   gave one). Lowering it drops nothing already queued.
    #   @param limit [Integer, nil]

    # @!method dropped
    #   @return [Integer] how many messages arrived while the queue was at its limit, and were
    #     dropped

    # Takes the next message, waiting for one as long as +timeout+ allows.
    #
    # @param timeout [Numeric, nil] seconds to wait; +nil+ waits for ever, 0 only takes a
    #   message that is already there
    # @return [ErlDP::Message, nil] the message, or +nil+ when none came in time
    # @raise [ErlDP::ClosedError] when the mailbox is closed and empty
    def receive(timeout: nil)
      native_receive(Arguments.seconds(timeout, "timeout"))
    end

    # Yields each message as it arrives, until the mailbox (or its node) is closed; the loop
    # then ends and returns the mailbox. Without a block, an Enumerator.
    #
    # @example
    #   box.each_message do |message|
    #     break if message.term == :stop
    #     handle(message)
    #   end
    # @yieldparam message [ErlDP::Message]
    # @return [Mailbox, Enumerator]
    def each_message
      return enum_for(__method__) unless block_given?

      loop do
        message = begin
          receive
        rescue ClosedError
          return self
        end
        yield message
      end
    end

    # Closes the mailbox: its name is unregistered, linked processes get an exit signal and
    # monitoring ones a +DOWN+, both with +reason+; a thread waiting in {#receive} gets
    # ErlDP::ClosedError. Closing twice is fine. A send that an interrupt or a timeout left
    # running (to a peer that reads nothing) is waited for first, as a process's exit signal comes
    # after its messages: up to the node's +send_timeout+, or until this thread is interrupted
    # (the mailbox then closes at once, and the interrupt is raised).
    #
    # @param reason [Object] the exit reason, any term
    # @return [nil]
    def close(reason = :normal)
      native_close(reason)
      nil
    ensure
      @node&.send(:release, self) if native_released?
    end
  end
end
