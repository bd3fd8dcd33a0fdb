# frozen_string_literal: true

require "fileutils"
require_relative "lib/erldp/version"

# The native extension is Rust, built from the repository's cargo workspace, which lies outside
# this directory. A gem has to carry what it builds, so building from a checkout first copies
# the crates it needs into ext/erldp/rust (ignored by git), where ext/erldp/extconf.rb finds them.
#
# cargo reads every section of a manifest, and the core's also names benches, examples and
# dev-dependencies that live elsewhere in the repository: the copies keep only the sections that
# building the library reads. The workspace keeps its two members and builds releases without
# debug information (symbol names stay), so the installed extension is small.
manifest_sections = lambda do |text, keep|
  text.split(/^(?=\[)/).select do |section|
    header = section[/\A\[([^\]]*)\]/, 1]
    header.nil? || keep.include?(header)
  end.join
end

repository = File.expand_path("..", __dir__)
if File.file?(File.join(repository, "bindings/ruby/Cargo.toml"))
  vendor = File.join(__dir__, "ext/erldp/rust")
  FileUtils.rm_rf(vendor)
  %w[Cargo.lock crates/erldp/src bindings/ruby/src].each do |path|
    FileUtils.mkdir_p(File.dirname(File.join(vendor, path)))
    FileUtils.cp_r(File.join(repository, path), File.join(vendor, path))
  end
  %w[crates/erldp/Cargo.toml bindings/ruby/Cargo.toml].each do |path|
    manifest = File.read(File.join(repository, path))
    File.write(File.join(vendor, path), manifest_sections.call(manifest, %w[package lib dependencies features]))
  end
  workspace = manifest_sections.call(File.read(File.join(repository, "Cargo.toml")), %w[workspace workspace.package])
  workspace = workspace.sub(/^members = \[[^\]]*\]/, 'members = ["crates/erldp", "bindings/ruby"]')
  File.write(File.join(vendor, "Cargo.toml"), "#{workspace.rstrip}\n\n[profile.release]\nstrip = \"debuginfo\"\n")
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
    Dir["README.md", "lib/**/*.rb", "ext/erldp/extconf.rb", "ext/erldp/rust/**/*"].select { |path| File.file?(path) }
  end
  spec.extensions = ["ext/erldp/extconf.rb"]
  spec.require_paths = ["lib"]
end
