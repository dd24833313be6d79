# Two commands do all the set-up on a fresh machine with Python 3.11+ and npm:
#   make synth     run the main job on the profiles in profiles/
#   make test      lint, the test suite, and the snapshot check of profiles/ (what CI runs)
#   make snapshot  accept a reviewed change: rewrite profiles/__snapshots__/ and the plan lock
# Installs are stamped on their inputs, so a second run does no install work.

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# aws-cdk-lib (jsii) needs `node` on PATH even to import; the pinned Node.js 22 and CDK CLI
# come from package.json into node_modules/.bin.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)

PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install synth plan snapshot test lint schema bench clean

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# k8s.out/ is rendered from the stack `pulumi up` deploys: STACK=<name>, or the project's only stack file.
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
STACK  ?= $(if $(filter 1,$(words $(STACKS))),$(STACKS))

synth: install
	switchyard synth profiles $(if $(STACK),--pulumi-stack $(STACK))

plan: install
	switchyard plan profiles

snapshot: install
	switchyard snapshot --update profiles

schema: install
	switchyard schema --output profiles/schema.json

lint: install
	ruff check .
	ruff format --check .

test: install
	ruff check .
	pytest
	switchyard snapshot --check profiles

bench: install
	python bench/packaging_overhead.py
	python bench/server_load.py
	python bench/synth_scaling.py
	python bench/vs_handwritten.py
	python bench/plan_scaling.py
	python bench/simulate_speed.py

clean:
	rm -rf build cdk.out k8s.out .pytest_cache
