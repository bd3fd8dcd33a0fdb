# ErlDP: `make demo` and `make test` install what is missing (Debian 12, as root), build and run.
#
#   make setup      install missing Debian packages; build the OTP 27/29 chroots under .otp/
#   make build      cargo build --release --workspace (libErlDP.so and libErlDP.a included);
#                   puts the Ruby extension in ruby/lib; builds the Node addon (napi build)
#   make test       setup, build, then every test suite (test-rust, test-c, test-ruby, test-node)
#   make test-c     the C ABI: header check, C tests with both libraries plainly and under
#                   valgrind, the C examples, and a build against `make install`'s pkg-config
#   make test-ruby  the Ruby gem's minitest suite against a real BEAM node
#   make test-node  the Node package's node --test suite against a real BEAM node
#   make docs       build the API docs of every language, failing on any warning: rustdoc,
#                   Doxygen (erldp.h), TypeDoc (index.d.ts), rdoc coverage (the Ruby layer)
#   make header     regenerate include/erldp.h from crates/erldp-capi (commit the result)
#   make install    PREFIX=/usr/local (DESTDIR is prepended for staging): libErlDP.so,
#                   libErlDP.a, erldp.h and erldp.pc (install-lib), the erldp command (install-cli)
#   make demo       setup, then run the demo
#   make bench      setup, then run the benchmarks
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
# Where cargo leaves its builds; `install` copies from here.
TARGET_DIR ?= target
# Rust tests run in the dev profile: overflow checks and debug assertions catch codec bugs on
# hostile input that release builds would let through. `make test TEST_PROFILE=release` to change.
TEST_PROFILE ?= dev

DEB_PACKAGES := erlang-base erlang-dev erlang-src erlang-ssl ruby ruby-dev rake libclang-dev elixir \
                debootstrap valgrind pkg-config doxygen
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
ERLDP_VERSION = $(shell sed -n 's/^\#define ERLDP_VERSION "\(.*\)"/\1/p' include/erldp.h)

.PHONY: help setup setup-tools setup-packages setup-otp-compat setup-node build \
        test test-rust test-c test-ruby test-node docs header install install-lib install-cli demo \
        bench clean clean-otp

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

setup: setup-tools setup-packages $(SETUP_OTP_COMPAT) setup-node

# Rust, Node and gcc come with the machine; everything else is installed here.
setup-tools:
	@echo "==> checking cargo, node, npm, gcc"
	@for tool in $(CARGO) node npm gcc; do \
	  command -v $$tool >/dev/null || { echo "error: $$tool is not installed" >&2; exit 1; }; \
	done

setup-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then \
	  echo "==> Debian packages: all present"; \
	else \
	  echo "==> installing Debian packages:" $$missing; \
	  [ "$$(id -u)" = 0 ] || { echo "error: run as root to install:" $$missing >&2; exit 1; }; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q; \
	  apt-get install -y -q $$missing; \
	fi

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
# only when package.json or the lock file change. `npm install`, not `npm ci`: the registry
# lacks the napi CLI's optional packages for other platforms, which `npm ci` insists on.
setup-node: node/node_modules/.package-lock.json

node/node_modules/.package-lock.json: node/package.json node/package-lock.json
	@echo "==> npm install (node/)"
	npm --prefix node install --no-audit --no-fund
	@touch $@

# The Ruby extension goes where `ruby -Iruby/lib -rerldp` finds it, as erldp/erldp.so.
RUBY_EXT := ruby/lib/erldp/erldp.so

# The Node addon is built by the napi CLI alone: it runs cargo with its own settings, and a
# second build of the crate by the workspace build would only be thrown away.
build: setup
	@echo "==> cargo build --release --workspace"
	$(CARGO) build --release --workspace --exclude erldp-node
	cp target/release/liberldp_ruby.so $(RUBY_EXT)
	@echo "==> Node addon (npm run build: napi build --platform --release)"
	npm --prefix node run build

test: test-rust test-c test-ruby test-node docs

# The C ABI crate has its own target, test-c; the Node addon has no Rust tests of its own:
# test-node tests it.
test-rust: setup build
	@echo "==> cargo test --workspace (profile $(TEST_PROFILE), OTP compat chroots required: $(REQUIRE_OTP_COMPAT))"
	ERLDP_REQUIRE_OTP_COMPAT=$(REQUIRE_OTP_COMPAT) $(CARGO) test --workspace --exclude erldp-capi \
	  --exclude erldp-node --profile $(TEST_PROFILE) --no-fail-fast

# The Node package's node --test suite, against BEAM peers it starts (node/test).
test-node: setup build
	@echo "==> npm test (node/: node --test)"
	npm --prefix node test

# crates/erldp-capi's tests fail when include/erldp.h is stale, and compile tests/c/test_capi.c
# and examples/c with gcc against the libraries of this profile, run against a real BEAM node.
# `cargo test` builds only the rlib, so libErlDP.so and libErlDP.a are built first.
# Then the installed library must serve a C program built the way the README says.
C_INSTALL_CHECK := target/c-install-check
test-c: setup build
	@echo "==> cargo test -p erldp-capi (profile $(TEST_PROFILE)): header, C tests, valgrind, examples"
	$(CARGO) build -p erldp-capi --profile $(TEST_PROFILE)
	$(CARGO) test -p erldp-capi --profile $(TEST_PROFILE) --no-fail-fast
	@echo "==> make install into $(C_INSTALL_CHECK), build examples/c with pkg-config"
	rm -rf $(C_INSTALL_CHECK)
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(C_INSTALL_CHECK)
	export PKG_CONFIG_PATH=$(CURDIR)/$(C_INSTALL_CHECK)/lib/pkgconfig; \
	for example in rpc_client echo_server; do \
	  gcc -std=c11 -Wall -Wextra -Werror examples/c/$$example.c \
	    $$(pkg-config --cflags --libs erldp) -o $(C_INSTALL_CHECK)/$$example; \
	done; \
	gcc -std=c11 -Wall -Wextra -Werror examples/c/rpc_client.c $$(pkg-config --cflags erldp) \
	  $$(pkg-config --variable=libdir erldp)/libErlDP.a \
	  $$(pkg-config --static --libs-only-l erldp | sed 's/-lErlDP//') -o $(C_INSTALL_CHECK)/rpc_client_static; \
	! ldd $(C_INSTALL_CHECK)/rpc_client_static | grep -q libErlDP
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

install-lib:
	$(CARGO) build --release -p erldp-capi
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 target/release/libErlDP.so $(DESTDIR)$(LIBDIR)/libErlDP.so
	install -m 644 target/release/libErlDP.a $(DESTDIR)$(LIBDIR)/libErlDP.a
	install -m 644 include/erldp.h $(DESTDIR)$(INCLUDEDIR)/erldp.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(ERLDP_VERSION)|' crates/erldp-capi/erldp.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/erldp.pc
	@echo "==> installed libErlDP $(ERLDP_VERSION) under $(DESTDIR)$(PREFIX)"

# minitest against real BEAM nodes that the tests start (ruby/test/test_helper.rb).
test-ruby: setup build
	@echo "==> ruby: rake test (ruby/test)"
	cd ruby && rake test

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

clean:
	$(CARGO) clean
	rm -f $(RUBY_EXT) node/erldp.*.node node/native.d.ts

clean-otp:
	@for d in $(OTP_CHROOTS); do tests/otp-chroot.sh remove $$d; rm -f $$d.log; done
