# ChainABS: everything a fresh clone needs is installed by these rules, pinned, from the package
# registries only (PyPI, npm). A second run reinstalls nothing: each step leaves a stamp file.
# Paths are quoted in recipes: the project may live in a folder whose path holds spaces or dots.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMPS := .make
SOLC_VERSION := $(shell sed -n 's/^ *version: *\([0-9][0-9.]*\).*/\1/p' brownie-config.yaml | head -n 1)
SOLC_BIN := .solcx/solc-v$(SOLC_VERSION)

export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
export MPLBACKEND := Agg

# Test settings: CI=true makes hypothesis derandomized and the runs deterministic anyway.
PYTEST_ARGS ?=

# Static analysis: slither in its own venv (see requirements-dev.txt); `make lint LINT_ARGS=--details`.
LINT_VENV := .venv-lint
LINT_ARGS ?=

.PHONY: help install demo demo-secured demo-green demo-reit test test-ganache bench compile abis clean lint fuzz explorer

help:
	@echo "make demo    install what is missing, start a local chain, run the consumer-loan deal end to end"
	@echo "make demo-secured  the secured auto-loan deal: collateral, repossessions and sales, recovery rates"
	@echo "make demo-green    the green EV-loan deal: use of proceeds and impact on chain, allocation and impact reports"
	@echo "make demo-reit     the REIT: leases on properties, quarterly rent to unit holders, NAV per unit"
	@echo "make explorer  a live consumer deal on a local node (EXPLORER_PERIODS periods) and its explorer on :8700"
	@echo "make test    install what is missing, run the whole test suite"
	@echo "make test-ganache  the token unit tests and a whole SPV life on Ganache 7.9.2 (docs/ganache.md)"
	@echo "make bench   gas and speed benchmarks -> reports/bench.json"
	@echo "make fuzz    long random campaign over the state machines (10,000+ steps, new seed; not in CI)"
	@echo "make compile compile the contracts (build/)"
	@echo "make abis    compile, then write the ABIs shipped in chainabs/chain/abi/ (commit them)"
	@echo "make lint    slither on the contracts; fails on an unsuppressed High or Medium finding (docs/lint.md)"
	@echo "make clean   remove build output and reports (keeps .venv and node_modules)"

$(STAMPS):
	mkdir -p $(STAMPS)

$(STAMPS)/venv: requirements.txt | $(STAMPS)
	test -x "$(BIN)/python" || "$(PYTHON)" -m venv $(VENV)
	"$(BIN)/python" -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(STAMPS)/node: package.json package-lock.json | $(STAMPS)
	npm ci --no-audit --no-fund
	touch $@

# The chainabs package itself (editable: the checkout is the package), which puts the `chainabs` command in
# .venv/bin. Built with the pinned setuptools already in the venv: nothing is fetched.
$(STAMPS)/package: pyproject.toml $(STAMPS)/venv | $(STAMPS)
	"$(BIN)/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

# The compiler: a native solc of the pinned version on PATH if there is one, else the npm solc
# through tools/solc-native.js. Either way registered under the name py-solc-x looks for. A stamp records it:
# the link's own time is its target's (make follows links), older than the npm stamp, so the link alone would be
# made again on every run. The new link replaces the old one in one rename: no moment without a compiler.
$(STAMPS)/solc: $(STAMPS)/node tools/solc-native.js tools/solc-launcher.sh brownie-config.yaml | $(STAMPS)
	mkdir -p .solcx
	if command -v solc >/dev/null 2>&1 && solc --version | grep -q "Version: $(SOLC_VERSION)+"; then \
	  ln -sfn "$$(command -v solc)" $(SOLC_BIN).new; \
	else \
	  ln -sfn ../tools/solc-launcher.sh $(SOLC_BIN).new; \
	fi
	mv -f $(SOLC_BIN).new $(SOLC_BIN)
	find .solcx -maxdepth 1 -name 'solc-v*' ! -name 'solc-v$(SOLC_VERSION)' -exec rm -f {} +
	$(SOLC_BIN) --version | grep -q "Version: $(SOLC_VERSION)+"
	touch $@

# slither and crytic-compile, with requirements.txt as constraints (requirements-dev.txt says why apart).
$(STAMPS)/lint-venv: requirements-dev.txt requirements.txt | $(STAMPS)
	test -x "$(LINT_VENV)/bin/python" || "$(PYTHON)" -m venv "$(LINT_VENV)"
	"$(LINT_VENV)/bin/python" -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	"$(LINT_VENV)/bin/python" -m pip check --disable-pip-version-check
	touch $@

# A Chromium for the explorer's browser tests (Playwright drives it through executable_path): one on PATH,
# else the distribution's package when root on a Debian-like system, else Playwright's own download.
$(STAMPS)/browser: $(STAMPS)/venv | $(STAMPS)
	if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
	else \
	  "$(BIN)/python" -m playwright install chromium; \
	fi
	touch $@

.env:
	cp .env.example .env

install: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/package $(STAMPS)/solc $(STAMPS)/browser .env

compile: install
	"$(BIN)/brownie" compile

abis: compile
	"$(BIN)/python" -m chainabs.chain.abis

demo: install
	"$(BIN)/chainabs" demo

# The explorer over a live demo deal: anvil on CHAINABS_PORT (8545 unless set; one already listening there is
# used), `chainabs demo --rpc ... --periods EXPLORER_PERIODS`, then `chainabs explorer` on EXPLORER_PORT.
EXPLORER_PERIODS ?= 12
EXPLORER_PORT ?= 8700
explorer: install
	"$(BIN)/python" -m chainabs.dev.live --periods $(EXPLORER_PERIODS) --port $(EXPLORER_PORT)


# The secured sample (auto loans): collateral, repossessions and sales, recovery rates.
demo-secured: install
	"$(BIN)/chainabs" demo --deal auto_loan

demo-green: install
	"$(BIN)/chainabs" demo --deal green_auto_loans

demo-reit: install
	"$(BIN)/chainabs" demo --deal reit_rent

# Three pytest-xdist workers, each with its own chain; a module's tests stay on one worker. On this 2-core machine a
# third worker fills the time the others wait on their chains (7 min 8 s against 7 min 54 s with two).
TEST_WORKERS ?= 3
# Ganache (node) is itself CPU-bound: two workers.
GANACHE_WORKERS ?= 2
# Compiled first: the workers then load a built project instead of both compiling into build/ at once.
test: compile
	"$(BIN)/python" -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# A real subset on Ganache 7.9.2 (npm, pinned): every token unit test and one whole SPV life (closing, servicing
# periods, clean-up call, end, fees withdrawn, SPV at 0), on brownie's ganache-cli network (Ganache on
# CHAINABS_PORT, 8545 unless set; each xdist worker its own). Differences from anvil: docs/ganache.md.
GANACHE_TESTS ?= tests/unit/test_token_distribution.py tests/unit/test_token_history.py \
  tests/unit/test_token_integrity.py tests/unit/test_token_partitions.py tests/unit/test_token_registry.py \
  tests/unit/test_token_roles.py tests/unit/test_token_transfers.py \
  tests/integration/test_spv_lifecycle.py::test_clean_up_call_then_end_leaves_nothing_in_the_spv
test-ganache: compile
	"$(BIN)/python" -m pytest $(GANACHE_TESTS) --network ganache-cli -n $(GANACHE_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Every contract through the registered compiler in standard-json mode; the logic is in tools/lint.py.
lint: $(STAMPS)/lint-venv $(STAMPS)/solc
	"$(LINT_VENV)/bin/python" tools/lint.py $(LINT_ARGS)

# Long random campaign over the state machines (not in CI): FUZZ_EXAMPLES runs of FUZZ_STEPS steps per machine.
FUZZ_EXAMPLES ?= 150
FUZZ_STEPS ?= 30
fuzz: install
	"$(BIN)/python" tools/fuzz.py --examples $(FUZZ_EXAMPLES) --steps $(FUZZ_STEPS)

bench: install
	"$(BIN)/python" -m chainabs.dev.bench

clean:
	rm -rf build reports .hypothesis
