# frozen_string_literal: true

require "fileutils"
require_relative "lib/erldp/version"

# The native extension is Rust, built from the repository's cargo workspace, which lies outside
# this directory. A gem has to carry what it builds, so building from a checkout first copies
# the crates it needs into ext/erldp/rust (ignored by git), where ext/erldp/extconf.rb finds them.
repository = File.expand_path("..", __dir__)
if File.file?(File.join(repository, "bindings/ruby/Cargo.toml"))
  vendor = File.join(__dir__, "ext/erldp/rust")
  FileUtils.rm_rf(vendor)
  # tests/testkit only because the core declares it as a dev-dependency, and cargo reads the
  # manifests of every dependency of a workspace member.
  %w[Cargo.lock crates/erldp/Cargo.toml crates/erldp/src bindings/ruby/Cargo.toml bindings/ruby/src
     tests/testkit/Cargo.toml tests/testkit/src].each do |path|
    FileUtils.mkdir_p(File.dirname(File.join(vendor, path)))
    FileUtils.cp_r(File.join(repository, path), File.join(vendor, path))
  end
  workspace = File.read(File.join(repository, "Cargo.toml"))
  File.write(File.join(vendor, "Cargo.toml"),
             workspace.sub(/^members = \[[^\]]*\]/, 'members = ["crates/erldp", "bindings/ruby"]'))
end

Gem::Specification.new do |spec|
  spec.name = "erldp"
  spec.version = ErlDP::VERSION
  spec.authors = ["The ErlDP authors"]
  spec.summary = "Join an Erlang/Elixir cluster as a named node, from Ruby"
  spec.description = <<~TEXT
    ErlDP speaks the Erlang distribution protocol in Rust, so a Ruby program becomes a real node
    of an Erlang or Elixir cluster: look nodes up in EPMD, connect with the cookie, send and
    receive any term, call rpc and gen_server, link and monitor, with nothing extra on the BEAM
    side. Building it needs Rust (cargo) and libclang.
  TEXT
  spec.license = "Apache-2.0"
  spec.homepage = "https://github.com/erldp/erldp"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir.chdir(__dir__) do
    Dir["lib/**/*.rb", "ext/erldp/extconf.rb", "ext/erldp/rust/**/*"].select { |path| File.file?(path) }
  end
  spec.extensions = ["ext/erldp/extconf.rb"]
  spec.require_paths = ["lib"]
end
