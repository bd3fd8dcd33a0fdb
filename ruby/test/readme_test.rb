# frozen_string_literal: true

require "rbconfig"
require "test_helper"

# README's Ruby quick start, saved and run as a program in a Ruby process of its own, as the
# newcomer it is written for would run it; the shared peer plays the erl shell's part.
class ReadmeTest < Minitest::Test
  include ErlDPTest::Helpers

  def quickstart
    readme = File.read(File.expand_path("../../README.md", __dir__))
    start = readme.index("```ruby\nrequire \"erldp\"\n\nnode = ErlDP::Node.new(\"ruby\"")
    assert start, "README has the Ruby quick start"
    body = readme.index("\n", start) + 1
    readme[body...readme.index("```", body)]
  end

  # +text+ with every +from+ replaced by +to+; +from+ must be there, or the README moved on.
  def replaced(text, from, to)
    assert_includes text, from, "the quick start has #{from}"
    text.gsub(from) { to }
  end

  def test_the_ruby_quick_start_runs_as_written
    name = "ruby_readme_#{SecureRandom.alphanumeric(6).downcase}"
    peer_name, host = peer.node.to_s.split("@")
    program = replaced(quickstart, 'ErlDP::Node.new("ruby", cookie: "secret")',
                       "ErlDP::Node.new(#{name.inspect}, cookie: #{peer.cookie.inspect})")
    program = replaced(program, ':"peer@#{', %(:"#{peer_name}@\#{))

    # The shell's `{inbox, 'ruby@yourhost'} ! {hello, self()}`, sent until the program's mailbox
    # is there to answer it.
    peer.eval!(<<~ERLANG)
      Shell = spawn(fun() ->
          Hello = fun Hello(0) -> nothing;
                      Hello(N) -> {inbox, #{atom("#{name}@#{host}")}} ! {hello, self()},
                                  receive {hi, Text} -> Text after 200 -> Hello(N - 1) end
                  end,
          Got = Hello(150),
          receive {From, get} -> From ! {got, Got} end
      end),
      true = register(readme_shell, Shell)
    ERLANG
    lib = File.dirname($LOADED_FEATURES.grep(%r{/erldp\.rb\z}).first)
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", program)
    assert status.success?, "#{out}\n#{err}"
    refute_includes out, "nothing came"
    assert_equal '<<"from Ruby">>',
                 peer.eval!("readme_shell ! {self(), get}, receive {got, Got} -> Got after 5000 -> timeout end")
  end
end
