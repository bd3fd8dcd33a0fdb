# frozen_string_literal: true

module ErlDP
  # Severities of Ruby's Logger (Logger::DEBUG ... Logger::ERROR) for ErlDP's levels; trace
  # records are debug records there.
  LOG_SEVERITIES = { error: 3, warn: 2, info: 1, debug: 0, trace: 0 }.freeze

  class << self
    # @return [#add, nil] the Logger that receives ErlDP's log records (see {logger=}); nil
    #   when they go to standard error
    attr_reader :logger

    # @return [Symbol, nil] the level set with {log_level=}
    attr_reader :log_level

    # Sends ErlDP's log records to +logger+ (a Ruby Logger, or anything with Logger's
    # +add(severity, message, progname)+) instead of standard error; nil sends them to standard
    # error again. Each record becomes +logger.add(severity, "[thread] message", target)+, with
    # +target+ the module that logged it (+"erldp::node"+) and trace records at DEBUG.
    #
    # The level becomes the logger's own (+Logger::INFO+ logs connections up and down;
    # +Logger::DEBUG+ adds EPMD look-ups and handshakes), unless +ERLDP_LOG+ is set; {log_level=}
    # changes it afterwards (trace, one record per frame, only by +ERLDP_LOG=trace+ or
    # +ErlDP.log_level = :trace+).
    #
    # Records are handed over by a Ruby thread of ErlDP's (+erldp-log+): the node's own threads
    # never wait for the logger. A logger that falls behind by 10,000 records loses the newest
    # and is told how many with a warning.
    #
    # @example
    #   require "logger"
    #   ErlDP.logger = Logger.new($stdout, progname: "app")
    # @param logger [#add, nil]
    # @return [#add, nil]
    # @raise [TypeError] when +logger+ has no +add+
    def logger=(logger)
      raise TypeError, "a logger needs Logger's add(severity, message, progname)" unless logger.nil? || logger.respond_to?(:add)

      LOG_LOCK.synchronize do
        @logger = logger
        if logger
          self.log_level = logger_level(logger) if ENV.fetch("ERLDP_LOG", "").strip.empty?
          @log_thread ||= Thread.new { forward_log }
        end
        native_log_forward(!logger.nil?)
      end
    end

    # Sets how much ErlDP logs, overriding +ERLDP_LOG+: +:off+, +:error+, +:warn+, +:info+,
    # +:debug+ or +:trace+ (the README's logging table). Without {logger=}, records go to
    # standard error, one line each.
    # @param level [Symbol, String]
    # @raise [ArgumentError] for a name that is not a level
    def log_level=(level)
      native_log_level(level.to_s)
      @log_level = level.to_sym
    end

    private

    def logger_level(logger)
      case logger.respond_to?(:level) ? logger.level : 1
      when 0 then :debug
      when 1 then :info
      when 2 then :warn
      when 3, 4 then :error
      else :off
      end
    end

    # In a forked child, where the parent's erldp-log thread does not run: records of the
    # child's nodes go to the logger again.
    def restart_log_forwarding
      @log_thread = (Thread.new { forward_log } if @logger)
    end

    def forward_log
      Thread.current.name = "erldp-log"
      loop do
        level, target, thread, message = native_log_next
        next unless level

        logger&.add(LOG_SEVERITIES.fetch(level), "[#{thread}] #{message}", target)
      end
    end
  end

  LOG_LOCK = Mutex.new
  private_constant :LOG_LOCK

  # Puma, Unicorn and Resque fork their workers; a child keeps only the thread that forked, so
  # its logger would receive nothing. (Ruby 3.1 sends every fork through Process._fork.)
  module ForkedLogging
    # Process._fork, then, in the child, the erldp-log thread again.
    # @return [Integer] the child's pid in the parent, 0 in the child
    def _fork
      pid = super
      ErlDP.send(:restart_log_forwarding) if pid.zero?
      pid
    end
  end
  private_constant :ForkedLogging
  Process.singleton_class.prepend(ForkedLogging) if Process.respond_to?(:_fork)
  private_class_method :native_log_init_from_env, :native_log_level, :native_log_forward, :native_log_next

  # ERLDP_LOG=error|warn|info|debug|trace logs to standard error from the start, as the erldp
  # command does.
  if (problem = native_log_init_from_env)
    warn "erldp: #{problem}; logging stays off"
  end
end
