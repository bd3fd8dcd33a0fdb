# frozen_string_literal: true

# Writes the Makefile that `gem install` runs to build the native extension: cargo compiles the
# Rust crate bindings/ruby, and the library is installed as erldp/erldp.<DLEXT>. mkmf knows no
# Rust, and the rb_sys gem that usually bridges the two may not be installable (no rubygems.org),
# so the few rules needed are written out here.

require "rbconfig"
require "shellwords"

ext_dir = __dir__
# In a checkout of the repository the Rust workspace is the repository itself; a built gem
# carries a copy under ext/erldp/rust (see erldp.gemspec), which a checkout may also hold, stale,
# after a `gem build`.
candidates = [File.expand_path("../../..", ext_dir), File.join(ext_dir, "rust")]
workspace = candidates.find { |dir| File.file?(File.join(dir, "bindings/ruby/Cargo.toml")) }
abort "erldp: the extension's Rust sources are missing (looked in #{candidates.join(' and ')})" unless workspace

# A gem's build writes its cargo output next to the Makefile and removes it once installed, unless
# $ERLDP_CARGO_TARGET_DIR names a directory to keep it in (the repository's `make test-ruby`
# does, so that the dependencies are compiled once); a checkout shares target/ with `make build`,
# so nothing is compiled twice.
vendored = workspace.start_with?(ext_dir)
kept_target = ENV.fetch("ERLDP_CARGO_TARGET_DIR", "")
target_dir = if !kept_target.empty? then File.expand_path(kept_target)
             elsif vendored then File.join(Dir.pwd, "cargo-target")
             else File.join(workspace, "target")
             end
dlext = RbConfig::CONFIG["DLEXT"]
# cargo names a cdylib liberldp_ruby.so on Linux and .dylib on macOS: the platform's SOEXT.
built = File.join(target_dir, "release", "liberldp_ruby.#{RbConfig::CONFIG['SOEXT']}")

File.write("Makefile", <<~MAKEFILE)
  # Written by extconf.rb.
  CARGO ?= cargo
  DLLIB = erldp.#{dlext}
  sitearchdir = #{RbConfig::CONFIG['sitearchdir']}
  RUBYARCHDIR = $(sitearchdir)/erldp

  all: $(DLLIB)

  # cargo decides what is out of date, so it always runs. RUBY tells rb-sys which Ruby's headers
  # to build against: the one running this installation.
  $(DLLIB): FORCE
  \tcd #{workspace.shellescape} && RUBY=#{RbConfig.ruby.shellescape} CARGO_TARGET_DIR=#{target_dir.shellescape} $(CARGO) build --release -p erldp-ruby
  \tcp #{built.shellescape} $@

  install: $(DLLIB)
  \tmkdir -p $(DESTDIR)$(RUBYARCHDIR)
  \tcp $(DLLIB) $(DESTDIR)$(RUBYARCHDIR)/$(DLLIB)
  #{vendored && kept_target.empty? ? "\trm -rf #{target_dir.shellescape}" : ''}

  clean:
  \trm -f $(DLLIB)

  .PHONY: all install clean FORCE
  FORCE:
MAKEFILE
