# ErlDP: `make demo` and `make test` install what is missing (Debian 12, as root), build and run.
#
#   make setup      install missing Debian packages; build the OTP 27/29 chroots under .otp/
#   make build      cargo build --release --workspace; the Node addon (napi build)
#   make test       setup, build, then every test suite (test-rust, test-node)
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
        test test-rust test-node demo bench clean clean-otp

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

# The Node package's dependencies (the napi CLI, TypeScript for the type test), installed again
# only when package.json or the lock file change. `npm install`, not `npm ci`: the registry
# lacks the napi CLI's optional packages for other platforms, which `npm ci` insists on.
setup-node: node/node_modules/.package-lock.json

node/node_modules/.package-lock.json: node/package.json node/package-lock.json
	@echo "==> npm install (node/)"
	npm --prefix node install --no-audit --no-fund
	@touch $@

# The Node addon is built by the napi CLI alone: it runs cargo with its own settings, and a
# second build of the crate by the workspace build would only be thrown away.
build: setup
	@echo "==> cargo build --release --workspace"
	$(CARGO) build --release --workspace --exclude erldp-node
	@echo "==> Node addon (npm run build: napi build --platform --release)"
	npm --prefix node run build

test: test-rust test-node

# The Node addon has no Rust tests of its own: test-node tests it.
test-rust: setup build
	@echo "==> cargo test --workspace (profile $(TEST_PROFILE), OTP compat chroots required: $(REQUIRE_OTP_COMPAT))"
	ERLDP_REQUIRE_OTP_COMPAT=$(REQUIRE_OTP_COMPAT) $(CARGO) test --workspace --exclude erldp-node --profile $(TEST_PROFILE) --no-fail-fast

# The Node package's node --test suite, against BEAM peers it starts (node/test).
test-node: setup build
	@echo "==> npm test (node/: node --test)"
	npm --prefix node test

demo: setup
	@examples/run-demo.sh

bench: setup
	@echo "==> benchmarks"
	$(CARGO) run --release -p erldp --example bench

clean:
	$(CARGO) clean
	rm -f node/erldp.*.node node/native.d.ts

clean-otp:
	@for d in $(OTP_CHROOTS); do tests/otp-chroot.sh remove $$d; rm -f $$d.log; done
