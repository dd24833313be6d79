# Two commands do all the set-up on a fresh machine with Python 3.11+ and npm:
#   make synth     run the main job on the profiles in profiles/
#   make test      lint, the test suite and the snapshot check of profiles/ (what CI runs)
# `make help` lists every target. Installs are stamped on their inputs, so a second run does no
# install work.

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# aws-cdk-lib (jsii) needs `node` on PATH even to import; the pinned Node.js 22 and CDK CLI
# come from package.json into node_modules/.bin.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)

PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# The test suite's parallel workers (pytest-xdist); 0 runs it in this process. Four on two cores:
# half the suite's time is servers, Redis and Prometheus waited on, which leaves a core idle at 2.
PYTEST_WORKERS ?= 4

.PHONY: help install synth plan snapshot test lint schema bench clean
.DEFAULT_GOAL := help

help:  ## list the targets (this text)
	@echo "usage: make TARGET   (the first synth or test installs everything: ~4 min once)"
	@awk -F':.*## ' '/^[a-z]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

install: $(PY_STAMP) $(NODE_STAMP)  ## the Python venv (.venv/) and the pinned Node.js and CDK CLI (node_modules/)

# pip is quiet unless it writes to a terminal (then its progress bars show); either way each step
# says what it is doing and how long it took, so a first install is never minutes of silence.
$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@echo "==> creating the Python environment in $(VENV)/ (with $$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> installing Python dependencies: aws-cdk-lib, Pulumi, the test tools (a first install takes ~3 min)"
	@start=$$(date +%s); quiet=$$([ -t 1 ] || echo --quiet); \
	  $(BIN)/python -m pip install $$quiet --upgrade pip \
	  && $(BIN)/python -m pip install $$quiet -e '.[dev]' \
	  && echo "    Python dependencies installed in $$(( $$(date +%s) - start )) s"
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "==> installing Node.js 22 and the AWS CDK CLI into node_modules/ (npm ci, about a minute)"
	@start=$$(date +%s); \
	  npm ci --no-audit --no-fund --loglevel=error \
	  && echo "    Node.js packages installed in $$(( $$(date +%s) - start )) s"
	@touch $@

# k8s.out/ is rendered from the stack `pulumi up` deploys: STACK=<name>, or the project's only stack file.
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
STACK  ?= $(if $(filter 1,$(words $(STACKS))),$(STACKS))

synth: install  ## decide, package, synthesize profiles/ into cdk.out/ k8s.out/ build/ (STACK's settings)
	switchyard synth profiles $(if $(STACK),--pulumi-stack $(STACK))

plan: install  ## print each workload's target, the numbers behind it and its monthly bill
	switchyard plan profiles

snapshot: install  ## accept a reviewed change: rewrite profiles/__snapshots__/ and the plan lock
	switchyard snapshot --update profiles

schema: install  ## regenerate profiles/schema.json (editor completion for profiles)
	switchyard schema --output profiles/schema.json

lint: install  ## ruff check and ruff format --check
	ruff check .
	ruff format --check .

# The suite keeps its bytecode (and pytest's rewritten test modules) in __pycache__/ even where the
# environment sets PYTHONDONTWRITEBYTECODE: without it every worker compiles the ~80 test modules
# and the project again on every run, ~3 s of CPU per worker. Empty is "unset" to Python.
# The snapshot check of profiles/ reads profiles/ and writes a temporary folder only: it runs beside
# the suite (its ~6 s of CPU fit in the suite's first minute, when the server tests mostly wait)
# and prints its verdict after the suite's; either failing fails the target.
test: export PYTHONDONTWRITEBYTECODE =
test: install  ## lint, the test suite (4 workers: PYTEST_WORKERS=N) and the snapshot check of profiles/
	ruff check .
	@check=$$(mktemp); trap 'rm -f $$check' EXIT; trap 'kill $$snap 2>/dev/null; exit 130' INT TERM; \
	  switchyard snapshot --check profiles >$$check 2>&1 & snap=$$!; \
	  echo "pytest -n $(PYTEST_WORKERS) --dist loadgroup  (and beside it: switchyard snapshot --check profiles)"; \
	  pytest -n $(PYTEST_WORKERS) --dist loadgroup; suite=$$?; \
	  wait $$snap; snapshots=$$?; echo "switchyard snapshot --check profiles"; cat $$check; \
	  [ $$suite -ne 0 ] && exit $$suite; exit $$snapshots

bench: install  ## the benchmarks in bench/: serving overhead and load, synth and plan scaling, suite time
	python bench/packaging_overhead.py
	python bench/server_load.py
	python bench/synth_scaling.py
	python bench/vs_handwritten.py
	python bench/plan_scaling.py
	python bench/simulate_speed.py
	python bench/suite_time.py

clean:  ## remove generated outputs (build/, cdk.out/, k8s.out/)
	rm -rf build cdk.out k8s.out .pytest_cache
