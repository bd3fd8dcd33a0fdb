# frozen_string_literal: true

require "logger"
require "rbconfig"
require "stringio"
require "test_helper"

# ERLDP_LOG and ErlDP.logger against a real BEAM node. The log is the process's: each test puts
# it back off.
class LoggingTest < Minitest::Test
  include ErlDPTest::Helpers

  def teardown
    ErlDP.logger = nil
    ErlDP.log_level = :off
    super
  end

  def wait_for(io, text)
    deadline = now + 10
    sleep 0.02 until io.string.include?(text) || now > deadline
    assert_includes io.string, text
  end

  def test_a_logger_receives_the_records_of_the_nodes_threads
    io = StringIO.new
    logger = Logger.new(io, level: Logger::INFO)
    logger.formatter = ->(severity, _time, progname, message) { "#{severity} #{progname} #{message}\n" }
    ErlDP.logger = logger
    assert_same logger, ErlDP.logger
    node = new_node
    node.connect(peer.node)
    wait_for(io, "connected to #{peer.node} (outgoing")
    line = io.string.lines.find { |l| l.include?("connected to #{peer.node}") }
    assert_match(/\AINFO erldp::node \[[^\]]+\] connected to /, line)
    refute_match(/^DEBUG/, io.string, "the Logger's level is the log's")

    ErlDP.logger = nil
    ErlDP.log_level = :off # or the records of the close go to standard error
    seen = io.string.dup
    node.close
    sleep 0.1
    assert_equal seen, io.string, "no record after the logger is removed"
  end

  def test_log_level_sets_what_erldp_logs_and_the_logger_filters_too
    io = StringIO.new
    ErlDP.logger = Logger.new(io)
    assert_equal :debug, ErlDP.log_level, "the logger's level"
    ErlDP.log_level = :info
    new_node.connect(peer.node)
    wait_for(io, "connected to #{peer.node} (outgoing")
    refute_match(/DEBUG -- erldp::/, io.string)
    ErlDP.log_level = :debug
    new_node.connect(peer.node)
    wait_for(io, "handshake with #{peer.node} (outgoing) succeeded")
    assert_match(/DEBUG -- erldp::epmd::client: \[/, io.string)
    error = assert_raises(ArgumentError) { ErlDP.log_level = :loud }
    # It names the value given, not ERLDP_LOG, which nobody set.
    assert_match(/"loud" is not a log level/, error.message)
    refute_match(/ERLDP_LOG/, error.message)
    assert_raises(TypeError) { ErlDP.logger = Object.new }
  end

  # A separate Ruby process, which loads erldp the way this one did (checkout or installed gem).
  def run_ruby(env, script)
    lib = File.dirname($LOADED_FEATURES.grep(%r{/erldp\.rb\z}).first)
    out, err, status = Open3.capture3(env, RbConfig.ruby, "-I", lib, "-e", script)
    assert status.success?, "#{out}\n#{err}"
    err
  end

  def test_erldp_log_logs_to_standard_error_and_a_bad_value_says_so
    script = <<~RUBY
      require "erldp"
      node = ErlDP::Node.new("ruby_log_#{SecureRandom.alphanumeric(6).downcase}", cookie: #{peer.cookie.inspect})
      node.connect(:#{peer.node.to_s.inspect})
      node.close
    RUBY
    logged = run_ruby({ "ERLDP_LOG" => "info" }, script)
    assert_match(/ INFO  erldp::node \[[^\]]+\] connected to #{Regexp.escape(peer.node.to_s)} /, logged)
    assert_empty run_ruby({ "ERLDP_LOG" => nil }, script)
    assert_includes run_ruby({ "ERLDP_LOG" => "loud" }, script), %(ERLDP_LOG="loud" is not a log level)
  end
end
