# hybridcloud — `make help` lists the targets. `make run` and `make test` set everything up
# themselves (virtualenv, Python dependencies, Go builds of the control-plane binaries).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
RUN_DIR     ?= .run
PYTEST_ARGS ?=
BIN_DIR      = $(shell tests/controlplane/build.sh --print-dir)
export HYBRIDCLOUD_BIN_DIR = $(BIN_DIR)

.PHONY: help venv controlplane tools sdk crds manifests lint test test-unit test-integration up down run bench clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[providers,dev]'
	@# sdk (issue 18): the Python SDK + `hybridcloud` CLI, editable, with its model generator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e 'sdk/python[generate]'
	touch $@

venv: $(STAMP) ## Create .venv with the package and all Python dependencies

controlplane: ## Build etcd, kube-apiserver, kcm, scheduler, kubectl, kwok, helm (cached by go.sum)
	@tests/controlplane/build.sh >/dev/null

tools: ## Build the add-on components under tests/tools (each cached by its own go.sum)
	@tests/tools/build.sh --all

sdk: venv ## Regenerate sdk/openapi.json from the API, then each SDK (sdk/*/generate.sh)
	$(PY) hack/openapi_dump.py --out sdk/openapi.json
	@for g in sdk/*/generate.sh; do if [[ -x "$$g" ]]; then echo ">> $$g"; "$$g"; fi; done

crds: venv ## Regenerate crds/*.yaml from the pydantic models
	$(PY) -m hybridcloud.crdgen --out crds

manifests: crds ## Regenerate the chart's CRD copy, its settings schema and deploy/ from the chart
	$(PY) hack/generate_manifests.py

lint: venv ## ruff, mypy --strict, import-linter contracts, generated-CRD and manifest drift
	$(VENV)/bin/ruff check operator tests bench hack
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bench tests/bench
	$(VENV)/bin/lint-imports --no-cache
	@# sdk (issue 18): the Python SDK's own ruff, mypy --strict and import-linter settings
	cd sdk/python && $(abspath $(VENV))/bin/ruff check . && $(abspath $(VENV))/bin/mypy \
	  && $(abspath $(VENV))/bin/lint-imports --no-cache
	@# the Go SDK is gofmt-clean (go vet runs with its tests)
	@test -z "$$(gofmt -l sdk/go)" || { echo "gofmt: these files need formatting:"; gofmt -l sdk/go; exit 1; }
	$(PY) -m hybridcloud.crdgen --check --out crds
	$(PY) hack/generate_manifests.py --check

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
define pytest
	rc=0; $(PY) -m pytest $(1) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: failing" >&2; exit 1; fi; exit $$rc
endef

test-unit: venv ## Unit tests only (no control plane)
	@$(call pytest,tests/unit tests/providers -q)

test-integration: venv controlplane tools ## Integration and attacker tests against a real kube-apiserver + etcd
	@$(call pytest,tests -q --ignore=tests/unit --ignore=tests/providers)

test: venv controlplane ## Everything CI runs: lint and unit tests (while add-ons build), then integration
	@PY=$(PY) hack/test.sh

up: venv controlplane tools ## Start control plane + CRDs + operator + API in the background (.run/env)
	@$(PY) -m hybridcloud.devenv up --dir $(RUN_DIR)

down: ## Stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) -m hybridcloud.devenv down --dir $(RUN_DIR); fi

run: venv controlplane tools ## `make up`, follow the logs, `make down` on Ctrl-C
	@$(PY) -m hybridcloud.devenv run --dir $(RUN_DIR)

bench: venv controlplane tools ## Benchmarks: ratios against baselines measured in the same run
	$(PY) -m bench

clean: down ## Remove the virtualenv and run state (the binary cache is kept)
	rm -rf $(VENV) $(RUN_DIR) .mypy_cache .ruff_cache .pytest_cache
