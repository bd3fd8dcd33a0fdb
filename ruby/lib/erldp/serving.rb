# frozen_string_literal: true

module ErlDP
  # Raised by a {Node#expose} block for a function it does not have (or an arity it does not
  # take): the caller gets what BEAM gives for a call to a function that does not exist,
  # +undef+ with the call as its stack (+{badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}}+ from
  # +rpc:call+, +error:{exception, undef, [...]}+ from +erpc+, Elixir's UndefinedFunctionError).
  # @example
  #   node.expose(:ruby_math) do |fun, args|
  #     case [fun, args]
  #     in [:add, [a, b]] then a + b
  #     else raise ErlDP::Undef
  #     end
  #   end
  class Undef < StandardError
    # The message stays on the Ruby side: BEAM gets +undef+ and the call.
    # @param message [String]
    def initialize(message = "undef")
      super
    end
  end

  # What a {Node#serve} block returns to answer a +gen_server:call+ later: someone then calls
  # {Node#reply} (or Mailbox#reply) with the request's +from+, from any thread. Like a
  # gen_server returning +{noreply, State}+, the name's next request may start meanwhile.
  NOREPLY = Object.new.tap do |sentinel|
    def sentinel.inspect
      "ErlDP::NOREPLY"
    end

    def sentinel.to_s
      inspect
    end
  end.freeze

  # The Ruby threads that run one {Served} or {Exposed} handle's block.
  #
  # The core hands each request over without waiting (+serve_handoff+); a thread of the handle
  # takes it with the GVL released and holds the GVL only while the block runs. The core starts
  # no more requests at once than the handle's +concurrency+, so the handle starts threads as
  # requests find all of its threads busy, up to that many.
  # @api private
  module Handling
    # How long {Node#close} and +close+ of a handle wait for blocks still running, in seconds.
    GRACE = 5
    # The most backtrace frames an exception takes to BEAM.
    MAX_FRAMES = 32

    class << self
      # A Ruby backtrace in the shape ErlDP::Responder#native_raise takes: +[class, method, arity,
      # file, line]+ per frame, innermost first, without the frames of this file (the thread's
      # loop). Ruby 3.4 labels name the class (+"Calc#div"+); before, the file's base name stands
      # for it, as Erlang names a module after its file. Backtraces carry no arity: 0.
      def frames(exception)
        locations = exception.backtrace_locations || []
        locations.reject { |location| location.absolute_path == __FILE__ }.first(MAX_FRAMES).map do |location|
          path = location.path.to_s
          owner, method = split_label(location.label.to_s)
          [Responder.text(owner || File.basename(path, ".rb")), Responder.text(method), 0,
           path.empty? ? nil : Responder.text(path), location.lineno]
        end
      end

      private

      def split_label(label)
        prefix, _, name = label.rpartition(" ")
        if (match = /\A(?<owner>[^#.\s][^#\s]*)[#.](?<method>[^#.]+)\z/.match(name))
          [match[:owner], prefix.empty? ? match[:method] : "#{prefix} #{match[:method]}"]
        else
          [nil, label]
        end
      end
    end

    # Starts the first thread. Called once, by {Node#serve} and {Node#expose}.
    # @api private
    def start_handling(handler, concurrency, label)
      @handler = handler
      @concurrency = [concurrency, 1].max
      @label = label
      @threads = []
      @threads_lock = Mutex.new
      add_thread
      self
    end

    # Stops taking requests, waits until +deadline+ (a monotonic time) for the blocks still
    # running on other threads, so that their callers get their answers, then stops serving.
    # Called by +close+ and {Node#close}.
    # @api private
    def stop_handling(deadline)
      native_stop
      threads = @threads_lock.synchronize { @threads.dup }
      threads.each do |thread|
        next if thread == Thread.current

        thread.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max)
      end
      native_close
      nil
    end

    # Stops serving (or exposing) once the blocks still running on other threads have answered,
    # waiting up to {GRACE} seconds for them. Closing twice is fine; so is closing from inside
    # the block.
    # @return [nil]
    def close
      stop_handling(Process.clock_gettime(Process::CLOCK_MONOTONIC) + GRACE)
    end

    private

    def add_thread
      @threads_lock.synchronize do
        return if @threads.size >= @concurrency

        thread = Thread.new { work }
        thread.name = @label
        @threads << thread
      end
    end

    def work
      while (job = native_take)
        add_thread if @threads.size < @concurrency && native_idle.zero?
        run(*job)
        job = nil
      end
    ensure
      # A thread that a handler ended (an Interrupt it raised, Thread#kill) makes way for another
      # while requests may come: none would start past a dead one. An idle thread ended (the
      # program exiting) leaves no job behind, and none is started.
      @threads_lock.synchronize { @threads.delete(Thread.current) }
      add_thread if job
    end

    def run(responder, first, second)
      answer(responder, @handler.call(first, second), second)
    rescue Exception => e # rubocop:disable Lint/RescueException -- every failure answers the caller
      responder.fail(e) unless responder.answered?
      raise if e.is_a?(SignalException) || e.is_a?(SystemExit)
    ensure
      # Thread#kill skips the rescue.
      responder.fail(ThreadError.new("the handler's thread was killed")) unless responder.answered?
    end
  end

  # The answer to one request that a {Served} or {Exposed} block runs for, given once.
  # @api private
  class Responder
    # @!method reply(value)
    #   Answers with +value+.
    #   @raise [ErlDP::EncodeError] when +value+ has no Erlang form (the request stays unanswered)

    # @!method noreply
    #   Answers nothing now (a served name's call is answered later with Node#reply).

    # @!method answered?
    #   @return [Boolean]

    # @!method cancelled?
    #   @return [Boolean] whether the caller gave up (its timeout passed, it died): an answer is
    #     dropped

    # Answers with +exception+: BEAM sees +{Class, Message}+ and the backtrace as its stack. The
    # message is the exception's own, without the source snippet that error_highlight and
    # did_you_mean add for a terminal.
    # @param exception [Exception]
    def fail(exception)
      return native_raise("undef", "", []) if exception.is_a?(Undef)

      message = exception.respond_to?(:original_message) ? exception.original_message : exception.message
      native_raise(Responder.text(exception.class.name || exception.class.inspect), Responder.text(message),
                   Handling.frames(exception))
    end

    # +value+ as UTF-8 text, bytes that are not replaced: what BEAM is sent must be text.
    # @param value [Object]
    # @return [String]
    def self.text(value)
      value.to_s.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
    end
  end

  # A name served by {Node#serve}: a process of our node that BEAM calls (+GenServer.call+,
  # +gen_server:call+), casts to and sends to, and may link to and monitor.
  #
  # Closing it (or {Node#unserve}) stops taking requests and lets running blocks answer (up to
  # 5 s), then unregisters the name: calls still waiting exit +normal+, and
  # once no block runs, monitors get +DOWN+ and links an exit signal with reason +normal+
  # (closing the node: +noconnection+). Killed from BEAM (+exit(Pid, kill)+), the name ends at
  # once with +killed+, and its threads once no block runs. The handle keeps the node's serving
  # threads running until then, but not the program: Ruby ends them when the main thread ends, so a
  # script that only serves must wait itself (+sleep+, or on a Queue).
  class Served
    include Handling

    # @!method pid
    #   @return [ErlDP::Pid] the served process's pid, for BEAM to link to and monitor

    # @!method name
    #   @return [Symbol] the served name

    # @!method closed?
    #   @return [Boolean] whether the name is no longer served

    private

    # A call's value is its reply; casts and plain messages (no +from+) have nobody to answer.
    def answer(responder, value, from)
      if from.nil? || NOREPLY.equal?(value)
        responder.noreply
      else
        responder.reply(value)
      end
    end
  end

  # A module exposed by {Node#expose}: +rpc:call+, +erpc:call+ (and their casts and multicalls)
  # and remote +spawn+ of it run the block. Closing it (or {Node#unexpose}) makes the module
  # +undef+ again.
  class Exposed
    include Handling

    # @!method name
    #   @return [Symbol] the exposed module

    # @!method closed?
    #   @return [Boolean] whether the module is no longer exposed

    # The exposed module, as JS's +exposed.module+ and Rust's +Exposed::module()+ name it.
    # @return [Symbol]
    def module
      name
    end

    private

    def answer(responder, value, _args)
      NOREPLY.equal?(value) ? responder.noreply : responder.reply(value)
    end
  end

  class Mailbox
    # @!method reply(from, value)
    #   Answers a +gen_server:call+ that reached this mailbox as +{'$gen_call', From, Request}+,
    #   as +gen:reply/2+ does.
    #   @example
    #     box.receive => {term: [:"$gen_call", from, request]}
    #     box.reply(from, handle(request))
    #   @param from [ErlDP::Tuple] the +From+ of the message
    #   @param value [Object]
    #   @return [nil]
  end

  class Node
    # Closing a node first stops its served names and exposed modules and lets blocks still
    # running finish, for up to {Handling::GRACE} seconds in all.
    # @api private
    module ClosesHandlers
      # Stops the node's served names and exposed modules, then closes the node.
      # @return [nil]
      def close
        handles = serving_handles.values
        serving_handles.clear
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + Handling::GRACE
        handles.each { |handle| handle.stop_handling(deadline) }
        super
      end
    end
    prepend ClosesHandlers

    # Registers +name+ as a process that answers BEAM's +gen_server:call+ with the block's value,
    # and runs the block for +gen_server:cast+ and plain messages too (+from+ is then nil and
    # the value is ignored). Requests are handled one at a time, in arrival order, like a
    # gen_server's, on Ruby threads of the handle; +concurrency:+ lets that many run at once.
    #
    # A block that raises makes that caller's call exit at once with +{Class, Message}+
    # (+{'ArgumentError', <<"bad x">>}+); serving goes on. Returning {ErlDP::NOREPLY} answers
    # later, with {#reply}. The block may serve, unserve, expose, unexpose and reply.
    #
    # @example Elixir: GenServer.call({:calculator, :"ruby@host"}, {:add, 2, 3}) # => 5
    #   node.serve(:calculator) do |request, _from|
    #     case request
    #     in [:add, Integer => a, Integer => b] then a + b
    #     in [:div, _, 0] then raise ArgumentError, "division by zero"
    #     end
    #   end
    # @param name [Symbol, String] the registered name
    # @param concurrency [Integer] how many requests run at once
    # @param max_queue [Integer, nil] how many requests may wait (default 65536); more are
    #   refused with +{overload, Text}+
    # @yieldparam request [Object] the request of a call or cast, or the whole message
    # @yieldparam from [ErlDP::Tuple, nil] the caller of a call (for {#reply}); nil otherwise
    # @yieldreturn [Object] the reply, or {ErlDP::NOREPLY}
    # @return [Served]
    # @raise [ErlDP::NameTaken] when the name is registered already
    def serve(name, concurrency: 1, max_queue: nil, &handler)
      raise ArgumentError, "serve needs a block: node.serve(name) { |request, from| ... }" unless handler

      served = native_serve(name, Integer(concurrency), max_queue)
      served.start_handling(handler, Integer(concurrency), "erldp serve #{served.name}")
      serving_handles[[:serve, served.name]] = served
    end

    # Makes +rpc:call(Node, mod, Fun, Args)+, +erpc:call+ (and their casts and multicalls, and
    # remote +spawn+) run the block with +fun+ and +args+; its value is the result. Calls may
    # overlap, up to +concurrency:+. A raise comes back as +erpc+'s +error:{exception, {Class,
    # Message}, Stack}+ (+rpc:call+: +{badrpc, {'EXIT', {{Class, Message}, Stack}}}+), the stack
    # being the Ruby backtrace in BEAM's shape. Modules not exposed are +undef+ as on BEAM.
    #
    # Any caller with the cookie may name any function: check +fun+ against the ones meant to be
    # called, never +public_send+ it as it comes (+instance_eval+, +send+ and +system+ would run).
    #
    # @example Elixir: :rpc.call(:"ruby@host", :ruby_math, :sqrt, [16.0]) # => 4.0
    #   node.expose(:ruby_math) do |fun, args|
    #     raise ErlDP::Undef unless %i[sqrt cbrt].include?(fun)
    #     Math.public_send(fun, *args)
    #   end
    # @param mod [Symbol, String] the module name
    # @param concurrency [Integer] how many calls run at once
    # @param max_queue [Integer, nil] how many calls may wait (default 65536)
    # @yieldparam fun [Symbol] the function asked for
    # @yieldparam args [Array] its arguments
    # @yieldreturn [Object] the result
    # @return [Exposed]
    # @raise [ArgumentError] when the module is exposed already
    def expose(mod, concurrency: 64, max_queue: nil, &handler)
      raise ArgumentError, "expose needs a block: node.expose(mod) { |fun, args| ... }" unless handler

      exposed = native_expose(mod, Integer(concurrency), max_queue)
      exposed.start_handling(handler, Integer(concurrency), "erldp expose #{exposed.name}")
      serving_handles[[:expose, exposed.name]] = exposed
    end

    # Stops serving +name+, as {Served#close} does.
    # @param name [Symbol, String]
    # @return [Boolean] whether it was served
    def unserve(name)
      stop_handle(:serve, name) || native_unserve(name)
    end

    # Stops exposing +mod+, as {Exposed#close} does.
    # @param mod [Symbol, String]
    # @return [Boolean] whether it was exposed
    def unexpose(mod)
      stop_handle(:expose, mod) || native_unexpose(mod)
    end

    # @!method reply(from, value)
    #   Answers a +gen_server:call+ whose {#serve} block returned {ErlDP::NOREPLY}, as
    #   +gen:reply/2+ does (on the caller's alias, so that a reply after the caller gave up is
    #   dropped). From any thread, the block's included.
    #   @param from [ErlDP::Tuple] the +from+ the block was given
    #   @param value [Object] the reply
    #   @return [nil]

    private

    SERVING_LOCK = Mutex.new
    private_constant :SERVING_LOCK

    # This node's open handles by +[:serve | :expose, name]+.
    def serving_handles
      @serving_handles || SERVING_LOCK.synchronize { @serving_handles ||= {} }
    end

    def stop_handle(kind, name)
      native_check_owned
      handle = serving_handles.delete([kind, name.to_s.to_sym])
      return false if handle.nil? || handle.closed?

      handle.close
      true
    end
  end
end
