# frozen_string_literal: true

require "fileutils"
require "open3"
require "securerandom"
require "socket"
require "timeout"
require "tmpdir"

require "minitest/autorun"
require "erldp"

# `rake test:installed` runs the suite against the gem installed into this GEM_HOME.
if (gem_home = ENV.fetch("ERLDP_TEST_GEM_HOME", nil))
  loaded = $LOADED_FEATURES.grep(%r{/erldp(/erldp\.so|\.rb)\z})
  home = File.realpath(gem_home)
  abort "erldp was not loaded from the gem in #{home}: #{loaded}" unless
    loaded.size == 2 && loaded.all? { |path| File.realpath(path).start_with?("#{home}/") }
end

module ErlDPTest
  REPO = File.expand_path("../..", __dir__)

  # A real Erlang node started by the tests (random name and cookie, the local EPMD) and driven
  # over its stdin and stdout by tests/erlang/erldp_test.erl, the same control module the Rust
  # tests use: each line `Expr.` is answered by one `\x02erldp-ok VALUE` or
  # `\x02erldp-error CLASS:REASON` line. Variable bindings persist between commands, but each
  # command runs in a fresh process; the module's collectors (`collect/1,2`, `collected/3`,
  # `echo_start/1`) hold state across commands.
  class BeamPeer
    START_TIMEOUT = 60
    # The control module gives up on a command after 30 s; this leaves it time to say so.
    ANSWER_TIMEOUT = 45
    KEEP_LINES = 200

    # Removes +dir+ when this process exits, not when a forked child of it does (the fork tests'
    # children exit normally, as a forking server's workers do).
    def self.remove_at_exit(dir)
      owner = Process.pid
      at_exit { FileUtils.rm_rf(dir) if Process.pid == owner }
    end

    # The helper modules, compiled once per test run.
    def self.ebin
      @ebin ||= begin
        dir = Dir.mktmpdir("erldp-ruby-ebin-")
        remove_at_exit(dir)
        sources = Dir[File.join(REPO, "tests/erlang/*.erl")]
        out, status = Open3.capture2e("erlc", "-o", dir, *sources)
        raise "erlc failed:\n#{out}" unless status.success?

        dir
      end
    end

    def self.random_cookie
      Array.new(20) { ("A".."Z").to_a.sample }.join
    end

    # @return [Symbol] the peer's node name
    attr_reader :node
    # @return [String]
    attr_reader :cookie

    # Elixir's modules, for an Elixir-shaped peer (+args: ["-pa", BeamPeer.elixir_ebin]+).
    def self.elixir_ebin
      @elixir_ebin ||= begin
        out, status = Open3.capture2("elixir", "-e", "IO.write(:code.lib_dir(:elixir))")
        raise "elixir failed: #{out}" unless status.success?

        File.join(out, "ebin")
      end
    end

    # The OTP compatibility chroots to test with besides the system OTP, as the Rust testkit
    # finds them (tests/testkit/src/otp.rs): +ERLDP_OTP_CHROOTS+ (directories separated by +:+)
    # or else .otp/otp27 and .otp/otp29; none with +ERLDP_SKIP_OTP_COMPAT=1+; a missing one fails
    # with +ERLDP_REQUIRE_OTP_COMPAT=1+ (set by make test). Running one needs root.
    def self.chroots
      return [] if ENV["ERLDP_SKIP_OTP_COMPAT"] == "1"

      dirs = ENV.fetch("ERLDP_OTP_CHROOTS", nil)&.split(":")&.reject(&:empty?) ||
             %w[.otp/otp27 .otp/otp29].map { |dir| File.join(REPO, dir) }
      dirs.filter_map do |dir|
        usable = File.exist?(File.join(dir, "usr/bin/erl")) && Process.euid.zero?
        raise "OTP compatibility chroot #{dir} is missing or unusable: run `make setup` as root" if
          !usable && ENV["ERLDP_REQUIRE_OTP_COMPAT"] == "1"

        File.realpath(dir) if usable
      end
    end

    # The helper modules compiled by the chroot's own erlc, inside it (older beams may not load
    # in a newer OTP): the path as the chroot's programs see it.
    def self.chroot_ebin(root)
      @chroot_ebins ||= {}
      @chroot_ebins[root] ||= begin
        inside = "/var/tmp/erldp-ruby-#{SecureRandom.alphanumeric(10).downcase}"
        dir = File.join(root, inside)
        FileUtils.mkdir_p(File.join(dir, "src"))
        remove_at_exit(dir)
        sources = Dir[File.join(REPO, "tests/erlang/*.erl")]
        FileUtils.cp(sources, File.join(dir, "src"))
        out, status = Open3.capture2e("chroot", root, "erlc", "-o", inside,
                                      *sources.map { |src| "#{inside}/src/#{File.basename(src)}" })
        raise "erlc in #{root} failed:\n#{out}" unless status.success?

        inside
      end
    end

    # @param otp [String, nil] a chroot from {.chroots} to run the node in; nil: the system OTP
    def initialize(cookie: self.class.random_cookie, args: [], otp: nil)
      @cookie = cookie
      name = "erldp_rb_#{SecureRandom.alphanumeric(10).downcase}"
      erl = otp ? ["chroot", otp, "erl"] : ["erl"]
      ebin = otp ? self.class.chroot_ebin(otp) : self.class.ebin
      @stdin, @stdout, @process = Open3.popen2e(
        *erl, "-sname", name, "-setcookie", cookie, "-noshell", "+Bd", "-pa", ebin,
        *args, "-s", "erldp_test", "main"
      )
      @stdout.set_encoding(Encoding::UTF_8)
      @events = Queue.new
      @output = []
      @lock = Mutex.new
      @reader = Thread.new { read_output }
      kind, value = next_event(START_TIMEOUT, "start")
      fail!("answered #{kind} #{value} while starting") unless kind == :ready
      @node = value.to_sym
    end

    # Runs an Erlang expression sequence.
    # @return [Array(Symbol, String)] +[:ok, value]+ or +[:error, "class:reason"]+, printed with ~0tp
    def eval(expression)
      command = expression.strip
      command += "." unless command.end_with?(".")
      note("> #{command}")
      @stdin.puts(command)
      @stdin.flush
      loop do
        kind, value = next_event(ANSWER_TIMEOUT, "an answer to #{command}")
        return [kind, value] unless kind == :ready
      end
    end

    # Like #eval, but a raised Erlang exception fails the test.
    # @return [String] the value, printed with ~0tp
    def eval!(expression)
      kind, value = eval(expression)
      fail!("`#{expression}` raised #{value}") unless kind == :ok
      value
    end

    # Ends the node abruptly, as a crash would.
    def kill
      Process.kill(:KILL, @process.pid)
      @process.value
    end

    # Stops the node's OS process (SIGSTOP): it reads nothing until #resume.
    def pause
      Process.kill(:STOP, @process.pid)
    end

    # Lets a paused node run again.
    def resume
      Process.kill(:CONT, @process.pid)
    end

    # Ends the node: EOF on stdin makes the control module halt it.
    def stop
      @stdin.close unless @stdin.closed?
      return if @process.join(10)

      kill
    end

    # The recent output of the node, for failure messages.
    def output
      @lock.synchronize { @output.join("\n") }
    end

    private

    def read_output
      @stdout.each_line do |line|
        line = line.chomp
        note(line)
        marker = line.index("\x02")
        event = marker && parse(line[(marker + 1)..])
        @events << event if event
      end
    rescue IOError
      nil
    ensure
      @events << [:eof, nil]
    end

    def parse(marker)
      case marker
      when /\Aerldp-ready (.*)/ then [:ready, Regexp.last_match(1)]
      when /\Aerldp-ok (.*)/ then [:ok, Regexp.last_match(1)]
      when /\Aerldp-error (.*)/ then [:error, Regexp.last_match(1)]
      end
    end

    def next_event(seconds, what)
      event = Timeout.timeout(seconds) { @events.pop }
      fail!("exited while waiting for #{what}") if event.first == :eof
      event
    rescue Timeout::Error
      fail!("gave no #{what} within #{seconds} s")
    end

    def note(line)
      @lock.synchronize do
        @output << line
        @output.shift if @output.size > KEEP_LINES
      end
    end

    def fail!(what)
      raise "BEAM peer #{@node || '(starting)'}: #{what}\n--- its recent output ---\n#{output}\n---"
    end
  end

  # The BEAM peer most tests share; started on first use, stopped at exit.
  def self.peer
    @peer ||= BeamPeer.new.tap { |peer| Minitest.after_run { peer.stop } }
  end

  # A peer with Elixir's modules in its code path, as an Elixir release has them; shared too.
  def self.elixir_peer
    @elixir_peer ||= BeamPeer.new(args: ["-pa", BeamPeer.elixir_ebin]).tap do |peer|
      Minitest.after_run { peer.stop }
      peer.eval!("{ok, _} = application:ensure_all_started(elixir)")
    end
  end

  # What every test class gets: the shared peer and fresh Ruby nodes that are closed after
  # each test.
  module Helpers
    def peer
      ErlDPTest.peer
    end

    def teardown
      @nodes&.each(&:close)
      super
    end

    # A new Ruby node with a random name and (by default) the peer's cookie.
    def new_node(prefix = "ruby", **options)
      node = ErlDP::Node.new("#{prefix}_#{SecureRandom.alphanumeric(8).downcase}",
                             **{ cookie: peer.cookie }.merge(options))
      (@nodes ||= []) << node
      node
    end

    # An Erlang atom literal for a node name (letters, digits, _, - and @ need only quotes).
    def atom(name)
      "'#{name}'"
    end

    # A round trip over the connection to the peer. Signals sent before it (link, monitor) have
    # been handed to their target processes when it returns, so that they take effect before
    # whatever the test then has the peer do through its control module.
    def sync(node)
      node.rpc(peer.node, :erlang, :node, [])
    end

    # The monotonic clock, in seconds.
    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
