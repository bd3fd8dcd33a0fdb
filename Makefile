# ErlDP: `make demo` and `make test` install what is missing (Debian 12, as root), build and run.
#
#   make setup      install missing Debian packages; build the OTP 27/29 chroots under .otp/
#   make build      cargo build --release --workspace
#   make test       setup, build, then every test suite (test-rust, ...)
#   make demo       setup, then run the demo
#   make bench      setup, then run the benchmarks
#   make install    build the release binaries and install them under PREFIX (default /usr/local):
#                   the erldp command into PREFIX/bin; DESTDIR is prepended for staging
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

DEB_PACKAGES := erlang-base erlang-dev erlang-src ruby ruby-dev libclang-dev elixir \
                debootstrap valgrind pkg-config
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

.PHONY: help setup setup-tools setup-packages setup-otp-compat setup-node build \
        test test-rust demo bench install clean clean-otp

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

$(OTP_CHROOTS):
	@c='$(filter $(notdir $@):%,$(OTP_COMPAT))'; set -- $${c//:/ }; \
	tests/otp-chroot.sh build $@ $$2 $$3 $(DEBIAN_MIRROR)

# HOOK(node): once node/package.json exists this installs the Node package's dependencies.
setup-node:
	@if [ -f node/package.json ]; then \
	  echo "==> npm install (node/)"; \
	  npm --prefix node install --no-audit --no-fund; \
	else \
	  echo "==> node/package.json not there yet: nothing to install"; \
	fi

build: setup
	@echo "==> cargo build --release --workspace"
	$(CARGO) build --release --workspace

test: test-rust

test-rust: setup build
	@echo "==> cargo test --workspace (profile $(TEST_PROFILE), OTP compat chroots required: $(REQUIRE_OTP_COMPAT))"
	ERLDP_REQUIRE_OTP_COMPAT=$(REQUIRE_OTP_COMPAT) $(CARGO) test --workspace --profile $(TEST_PROFILE) --no-fail-fast

demo: setup
	@examples/run-demo.sh

bench: setup
	@echo "==> benchmarks"
	$(CARGO) run --release -p erldp --example bench

# Needs only cargo: no Debian packages, no chroots. The erldp command's tests run with
# `cargo test --workspace` (test-rust), like every Rust crate's.
install:
	@echo "==> cargo build --release -p erldp-cli"
	$(CARGO) build --release -p erldp-cli
	install -D -s -m 0755 $(TARGET_DIR)/release/erldp $(DESTDIR)$(PREFIX)/bin/erldp
	@echo "==> installed $(DESTDIR)$(PREFIX)/bin/erldp"

clean:
	$(CARGO) clean

clean-otp:
	@for d in $(OTP_CHROOTS); do tests/otp-chroot.sh remove $$d; rm -f $$d.log; done
