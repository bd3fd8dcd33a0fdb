# ErlDP: `make demo` and `make test` install what is missing (Debian 12, as root), build and run.
#
#   make setup      install missing Debian packages; build the OTP 27/29 chroots under .otp/
#   make build      cargo build --release --workspace (libErlDP.so and libErlDP.a included);
#                   puts the Ruby extension in ruby/lib; builds the Node addon (napi build)
#   make test       setup, lint, build, then every test suite (test-rust, test-c, test-ruby, test-node)
#   make test-rust  cargo test of the workspace's Rust crates (the C ABI's and the Node addon's apart)
#                   against real BEAM nodes, OTP 27 and 29 in their chroots included
#   make lint       cargo fmt --check (rustfmt.toml) and cargo clippy over every target of the
#                   workspace, warnings as errors
#   make test-c     the C ABI: header check, C tests with both libraries plainly and under
#                   valgrind, the C examples, and a build against `make install`'s pkg-config
#   make test-ruby  the Ruby gem's minitest suite against a real BEAM node, from the checkout
#                   and from the gem built and installed offline into a GEM_HOME of its own
#   make test-node  the Node package's node --test suite against a real BEAM node (with the
#                   packed package installed offline into a clean directory)
#   make ruby       setup, build and test the Ruby gem alone (make c, make node: the same for C
#                   and Node.js): only the packages that language needs, no OTP chroots
#   make docs       build the API docs of every language, failing on any warning: rustdoc,
#                   Doxygen (erldp.h), TypeDoc (index.d.ts), rdoc coverage (the Ruby layer)
#   make header     regenerate include/erldp.h from crates/erldp-capi (commit the result)
#   make install    PREFIX=/usr/local (DESTDIR is prepended for staging): libErlDP.so (with
#                   its SONAME link), libErlDP.a, erldp.h, erldp.pc and the valgrind suppressions
#                   (install-lib), the erldp command (install-cli)
#   make demo       setup, then run the demo
#   make bench      setup, then run the benchmarks
#   make fuzz       run every fuzz target (fuzz/, cargo-fuzz on nightly) for FUZZ_SECONDS
#                   each (default 60); what they find goes to target/fuzz-corpus/, crashes
#                   to fuzz/artifacts/
#   make test-fuzz  replay each fuzz target's committed seed corpus once (make test runs it)
#
# ERLDP_SKIP_OTP_COMPAT=1 skips the OTP 27/29 chroots (quicker local runs; tests then use the
# system OTP only). Without it `make test` requires them.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:

CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=
# Where cargo leaves its builds (CARGO_TARGET_DIR when set); the Ruby build and `install`
# copy from here.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
# Rust tests run in the dev profile: overflow checks and debug assertions catch codec bugs on
# hostile input that release builds would let through. `make test TEST_PROFILE=release` to change.
TEST_PROFILE ?= dev

# Debian packages by what needs them. Every language's tests run against BEAM nodes they start.
DEB_PACKAGES_BEAM := erlang-base elixir
DEB_PACKAGES_RUBY := ruby ruby-dev rake libclang-dev
DEB_PACKAGES_C := valgrind pkg-config
# `make setup`: all of the above, what the Rust tests and the benchmarks use (ei from erlang-dev,
# OTP's sources, ssl for the TLS peers), the chroots' debootstrap and make docs' doxygen.
DEB_PACKAGES := $(DEB_PACKAGES_BEAM) $(DEB_PACKAGES_RUBY) $(DEB_PACKAGES_C) erlang-dev erlang-src \
                erlang-ssl debootstrap doxygen
DEBIAN_MIRROR ?= http://deb.debian.org/debian

# Compatibility chroots: directory:suite:otp_release. Tests find them under .otp/ (see
# tests/testkit); the chroot build fails when a suite moves to another release.
OTP_DIR := .otp
OTP_COMPAT := otp27:trixie:27 otp29:sid:29
OTP_CHROOTS := $(foreach c,$(OTP_COMPAT),$(OTP_DIR)/$(word 1,$(subst :, ,$(c))))

ifeq ($(ERLDP_SKIP_OTP_COMPAT),1)
SETUP_OTP_COMPAT :=
REQUIRE_OTP_COMPAT := 0
else
SETUP_OTP_COMPAT := setup-otp-compat
REQUIRE_OTP_COMPAT := 1
endif

# Where `make install` puts the C library (DESTDIR is prepended, for packaging).
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR ?= $(PREFIX)/share/erldp
ERLDP_VERSION = $(shell sed -n 's/^\#define ERLDP_VERSION "\(.*\)"/\1/p' include/erldp.h)

.PHONY: help setup setup-tools setup-packages setup-otp-compat setup-node setup-ruby setup-c \
        setup-node-alone setup-fuzz build build-ruby build-node lint test test-rust test-c \
        test-ruby test-node test-fuzz ruby node c docs header install install-lib install-cli \
        demo bench fuzz clean clean-otp

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

setup: setup-tools setup-packages $(SETUP_OTP_COMPAT) setup-node

# $(call need_tools,TOOLS): Rust, Node and gcc come with the machine; fail when one is missing.
define need_tools
@echo "==> checking $(1)"
@for tool in $(1); do \
  command -v $$tool >/dev/null || { echo "error: $$tool is not installed" >&2; exit 1; }; \
done
endef

# $(call apt_install,PACKAGES): installs those of the Debian PACKAGES that are missing.
define apt_install
@missing=$$(for p in $(1); do \
  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || echo $$p; \
done); \
if [ -z "$$missing" ]; then \
  echo "==> Debian packages: all present ($(1))"; \
else \
  echo "==> installing Debian packages:" $$missing; \
  [ "$$(id -u)" = 0 ] || { echo "error: run as root to install:" $$missing >&2; exit 1; }; \
  export DEBIAN_FRONTEND=noninteractive; \
  apt-get update -q; \
  apt-get install -y -q $$missing; \
fi
endef

setup-tools:
	$(call need_tools,$(CARGO) node npm gcc)

setup-packages:
	$(call apt_install,$(DEB_PACKAGES))

# What one language needs, for make ruby, make c and make node.
setup-ruby:
	$(call need_tools,$(CARGO))
	$(call apt_install,$(DEB_PACKAGES_BEAM) $(DEB_PACKAGES_RUBY))

setup-c:
	$(call need_tools,$(CARGO) gcc)
	$(call apt_install,$(DEB_PACKAGES_BEAM) $(DEB_PACKAGES_C))

setup-node-alone: setup-node
	$(call need_tools,$(CARGO) node npm)
	$(call apt_install,$(DEB_PACKAGES_BEAM))

# The two chroots are independent downloads; building them side by side saves about a minute.
setup-otp-compat: setup-packages
	@$(MAKE) --no-print-directory -j2 $(OTP_CHROOTS)
	@for d in $(OTP_CHROOTS); do cmp -s /etc/hosts $$d/etc/hosts || cp /etc/hosts $$d/etc/hosts; done

# Phony so that the script runs for an existing chroot too: it adds what a chroot built by an
# older version of it lacks (erlang-ssl), and does nothing when the chroot is complete.
.PHONY: $(OTP_CHROOTS)
$(OTP_CHROOTS):
	@c='$(filter $(notdir $@):%,$(OTP_COMPAT))'; set -- $${c//:/ }; \
	tests/otp-chroot.sh build $@ $$2 $$3 $(DEBIAN_MIRROR)

# The Node package's dependencies (the napi CLI, TypeScript for the type test), installed again
# only when package.json or the lock file change. `npm ci` installs exactly what the committed
# lock names and never rewrites it (the lock lists the napi CLI's packages for every platform,
# as `npm install` writes it; npm installs only this platform's).
setup-node: node/node_modules/.package-lock.json

node/node_modules/.package-lock.json: node/package.json node/package-lock.json
	$(call need_tools,node npm)
	@echo "==> npm ci (node/)"
	@sum=$$(sha256sum <node/package-lock.json); \
	npm --prefix node ci --no-audit --no-fund; \
	[ "$$(sha256sum <node/package-lock.json)" = "$$sum" ] || \
	  { echo "error: npm rewrote node/package-lock.json: commit the lock npm writes" >&2; exit 1; }
	@touch $@

# The Ruby extension goes where `ruby -Iruby/lib -rerldp` finds it, as erldp/erldp.so.
RUBY_EXT := ruby/lib/erldp/erldp.so

# The Node addon is built by the napi CLI alone: it runs cargo with its own settings, and a
# second build of the crate by the workspace build would only be thrown away.
build: setup build-ruby build-node
	@echo "==> cargo build --release --workspace"
	$(CARGO) build --release --workspace --exclude erldp-node

build-ruby: setup-ruby
	@echo "==> cargo build --release -p erldp-ruby"
	$(CARGO) build --release -p erldp-ruby
	cp $(TARGET_DIR)/release/liberldp_ruby.so $(RUBY_EXT)

build-node: setup-node-alone
	@echo "==> Node addon (npm run build: napi build --platform --release)"
	npm --prefix node run build

test: lint test-rust test-c test-ruby test-node test-fuzz docs

# Clippy builds the Ruby and Node crates too, hence the Debian packages (ruby-dev, libclang).
lint: setup-tools setup-packages
	@echo "==> cargo fmt --all --check"
	$(CARGO) fmt --all --check
	@echo "==> cargo clippy --workspace --all-targets -- -D warnings"
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The C ABI crate has its own target, test-c; the Node addon has no Rust tests of its own:
# test-node tests it.
test-rust: setup build
	@echo "==> cargo test --workspace (profile $(TEST_PROFILE), OTP compat chroots required: $(REQUIRE_OTP_COMPAT))"
	ERLDP_REQUIRE_OTP_COMPAT=$(REQUIRE_OTP_COMPAT) $(CARGO) test --workspace --exclude erldp-capi \
	  --exclude erldp-node --profile $(TEST_PROFILE) --no-fail-fast

# The Node package's node --test suite, against BEAM peers it starts (node/test); test/pack
# packs the package and installs it offline into a clean directory.
test-node: setup-node-alone build-node
	@echo "==> npm test (node/: node --test; OTP compat chroots required: $(REQUIRE_OTP_COMPAT))"
	ERLDP_REQUIRE_OTP_COMPAT=$(REQUIRE_OTP_COMPAT) npm --prefix node test

# crates/erldp-capi's tests fail when include/erldp.h is stale, and compile tests/c/test_capi.c
# and examples/c with gcc against the libraries of this profile, run against a real BEAM node.
# `cargo test` builds only the rlib, so libErlDP.so and libErlDP.a are built first.
# Then the installed library must serve a C program built the way the README says.
C_INSTALL_CHECK := target/c-install-check
test-c: setup-c
	@echo "==> cargo test -p erldp-capi (profile $(TEST_PROFILE)): header, C tests, valgrind, examples"
	$(CARGO) build -p erldp-capi --profile $(TEST_PROFILE)
	$(CARGO) test -p erldp-capi --profile $(TEST_PROFILE) --no-fail-fast
	@echo "==> make install into $(C_INSTALL_CHECK), build examples/c with pkg-config"
	rm -rf $(C_INSTALL_CHECK)
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(C_INSTALL_CHECK)
	export PKG_CONFIG_PATH=$(CURDIR)/$(C_INSTALL_CHECK)/lib/pkgconfig; \
	for example in rpc_client echo_server calculator; do \
	  gcc -std=c11 -Wall -Wextra -Werror examples/c/$$example.c \
	    $$(pkg-config --cflags --libs erldp) -o $(C_INSTALL_CHECK)/$$example; \
	done; \
	gcc -std=c11 -Wall -Wextra -Werror examples/c/rpc_client.c $$(pkg-config --cflags erldp) \
	  $$(pkg-config --variable=libdir erldp)/libErlDP.a \
	  $$(pkg-config --static --libs-only-l erldp | sed 's/-lErlDP//') -o $(C_INSTALL_CHECK)/rpc_client_static; \
	! ldd $(C_INSTALL_CHECK)/rpc_client_static | grep -q libErlDP
	@echo "==> the installed libErlDP.so: a SONAME the examples need, symbols, no debug information"
	lib=$$(readlink -f $(C_INSTALL_CHECK)/lib/libErlDP.so); \
	soname=$$(readelf -d $$lib | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	[ -n "$$soname" ] && [ "$$(readlink -f $(C_INSTALL_CHECK)/lib/$$soname)" = "$$lib" ]; \
	readelf -d $(C_INSTALL_CHECK)/rpc_client | grep -qF "Shared library: [$$soname]"; \
	readelf -S -W $$lib | grep -q '\.symtab'; \
	! readelf -S -W $$lib | grep -q '\.debug_'; \
	[ -f "$$(PKG_CONFIG_PATH=$(CURDIR)/$(C_INSTALL_CHECK)/lib/pkgconfig pkg-config --variable=suppressions erldp)" ]
	@echo "==> test-c: the installed library builds the C examples (shared and static)"

docs: setup build
	@echo "==> Rust API docs (cargo doc; warnings are errors)"
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace
	@echo "==> C API reference (doxygen crates/erldp-capi/Doxyfile; warnings are errors)"
	doxygen crates/erldp-capi/Doxyfile
	@echo "==> Node.js API reference (typedoc; warnings are errors)"
	npm --prefix node run --silent docs
	@echo "==> Ruby API (rdoc coverage: every class, module, constant, attribute and method)"
	# rdoc exits non-zero for undocumented parameters: it does not read the YARD @param tags.
	cd ruby && { rdoc -C1 lib >../target/rdoc-coverage.txt || true; }
	@if grep -E '^ +(Classes|Modules|Constants|Attributes|Methods): ' target/rdoc-coverage.txt \
	    | grep -vE '\( *0 undocumented\)'; then cat target/rdoc-coverage.txt; exit 1; fi
	@echo "==> docs: target/doc (Rust), target/doc-c (C), target/doc-node (Node.js)"

header:
	ERLDP_WRITE_HEADER=1 $(CARGO) test -q -p erldp-capi --test header
	@echo "==> wrote include/erldp.h"

install: install-lib install-cli

# The libraries are built with debug information (for profiling; BENCHMARKS.md) and installed
# without it: strip --strip-debug keeps the symbol table, so that backtraces and valgrind's
# suppressions (erldp.supp) still name the library's functions. libErlDP.so.VERSION carries the
# SONAME that crates/erldp-capi/build.rs gives it; the SONAME and libErlDP.so link to it.
install-lib:
	$(CARGO) build --release -p erldp-capi
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(DATADIR)
	soname=$$(readelf -d $(TARGET_DIR)/release/libErlDP.so | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	[ -n "$$soname" ] || { echo "error: $(TARGET_DIR)/release/libErlDP.so has no SONAME" >&2; exit 1; }; \
	install -m 755 $(TARGET_DIR)/release/libErlDP.so $(DESTDIR)$(LIBDIR)/libErlDP.so.$(ERLDP_VERSION); \
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libErlDP.so.$(ERLDP_VERSION); \
	ln -sfn libErlDP.so.$(ERLDP_VERSION) $(DESTDIR)$(LIBDIR)/$$soname; \
	ln -sfn $$soname $(DESTDIR)$(LIBDIR)/libErlDP.so
	install -m 644 $(TARGET_DIR)/release/libErlDP.a $(DESTDIR)$(LIBDIR)/libErlDP.a
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libErlDP.a
	install -m 644 include/erldp.h $(DESTDIR)$(INCLUDEDIR)/erldp.h
	install -m 644 crates/erldp-capi/erldp.supp $(DESTDIR)$(DATADIR)/erldp.supp
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@DATADIR@|$(DATADIR)|' -e 's|@VERSION@|$(ERLDP_VERSION)|' \
	    crates/erldp-capi/erldp.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/erldp.pc
	@echo "==> installed libErlDP $(ERLDP_VERSION) under $(DESTDIR)$(PREFIX)"

# minitest against real BEAM nodes that the tests start (ruby/test/test_helper.rb): first from
# the checkout, then from the gem as a user installs it: `gem build`, then `gem install --local`
# (offline, cargo too) into a GEM_HOME of its own, with nothing of ruby/lib on the load path. The
# gem's cargo output is kept in target/gem-build, so its dependencies compile once.
RUBY_GEM_DIR := target/ruby-gem
test-ruby: setup-ruby build-ruby
	@echo "==> ruby: rake test (ruby/test, from the checkout)"
	cd ruby && rake test
	@echo "==> ruby: gem build, gem install --local into $(RUBY_GEM_DIR), rake test:installed"
	rm -rf $(RUBY_GEM_DIR)
	mkdir -p $(RUBY_GEM_DIR)
	cd ruby && gem build erldp.gemspec --output $(CURDIR)/$(RUBY_GEM_DIR)/erldp.gem
	GEM_HOME=$(CURDIR)/$(RUBY_GEM_DIR)/home CARGO_NET_OFFLINE=true \
	  ERLDP_CARGO_TARGET_DIR=$(CURDIR)/target/gem-build \
	  gem install --local --no-document $(RUBY_GEM_DIR)/erldp.gem
	cd ruby && GEM_HOME=$(CURDIR)/$(RUBY_GEM_DIR)/home ERLDP_TEST_GEM_HOME=$(CURDIR)/$(RUBY_GEM_DIR)/home \
	  rake test:installed

ruby: test-ruby
c: test-c
node: test-node

demo: setup build
	@examples/run-demo.sh

# `build` makes libErlDP.so (the C client links it; the harness compiles the C clients with
# gcc, the ei one against erlang-dev's libei.a), the Ruby extension and the Node addon.
bench: setup build
	@echo "==> benchmarks (about 6 minutes; BENCHMARKS.md says how to read them)"
	$(CARGO) run --release -p erldp --example bench

# Needs only cargo: no Debian packages, no chroots. The erldp command's tests run with
# `cargo test --workspace` (test-rust), like every Rust crate's.
install-cli:
	@echo "==> cargo build --release -p erldp-cli"
	$(CARGO) build --release -p erldp-cli
	install -D -s -m 0755 $(TARGET_DIR)/release/erldp $(DESTDIR)$(PREFIX)/bin/erldp
	@echo "==> installed $(DESTDIR)$(PREFIX)/bin/erldp"

# Fuzzing: fuzz/ is a cargo workspace of its own (cargo-fuzz needs nightly and sanitizers;
# the root workspace builds on stable). Each target reads its committed seeds in
# fuzz/corpus/TARGET; `make fuzz` keeps what it finds in target/fuzz-corpus/TARGET, the first
# corpus directory, where libFuzzer writes, so that the committed seeds stay as they are.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := etf_decode term_text handshake_accept handshake_initiate epmd_reply \
                epmd_request dist_frames
FUZZ := $(CARGO) +nightly fuzz
# A slower input than this is a hang (the socket targets wait at most 15 s for a peer).
FUZZ_FLAGS := -timeout=30
# The embedded EPMD serves each client on a thread of its own; LeakSanitizer flags the
# thread-local bookkeeping of threads still exiting (now and then, and never on replay):
# libFuzzer's flag stops its check after each input, ASan's option the one at exit.
FUZZ_FLAGS_epmd_request := -detect_leaks=0
FUZZ_ENV_epmd_request := ASAN_OPTIONS=detect_leaks=0

setup-fuzz:
	@$(CARGO) +nightly --version >/dev/null 2>&1 || { \
	  echo "error: the fuzz targets need a nightly toolchain (rustup toolchain install nightly)" >&2; \
	  exit 1; }
	@$(FUZZ) --version >/dev/null 2>&1 || { \
	  echo "==> cargo install cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; }

fuzz: setup-fuzz
	$(FUZZ) build
	@$(foreach t,$(FUZZ_TARGETS), \
	  echo "==> fuzz $(t) for $(FUZZ_SECONDS) s"; \
	  mkdir -p target/fuzz-corpus/$(t); \
	  $(FUZZ_ENV_$(t)) $(FUZZ) run $(t) target/fuzz-corpus/$(t) fuzz/corpus/$(t) -- \
	    $(FUZZ_FLAGS) $(FUZZ_FLAGS_$(t)) -max_total_time=$(FUZZ_SECONDS);)

test-fuzz: setup-fuzz
	@echo "==> fuzz targets: each replays its seed corpus"
	$(FUZZ) build
	@$(foreach t,$(FUZZ_TARGETS), \
	  $(FUZZ_ENV_$(t)) $(FUZZ) run $(t) fuzz/corpus/$(t) -- $(FUZZ_FLAGS) $(FUZZ_FLAGS_$(t)) -runs=0 2>&1 | tail -1;)

clean:
	$(CARGO) clean
	rm -f $(RUBY_EXT) node/erldp.*.node node/native.d.ts

clean-otp:
	@for d in $(OTP_CHROOTS); do tests/otp-chroot.sh remove $$d; rm -f $$d.log; done
