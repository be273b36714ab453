# shipyard — set-up, demo and tests. Everything installs itself on a fresh Debian machine (root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := systemd-container debootstrap iproute2 openssh-client runc packer zstd curl docker-registry skopeo
PYTEST_ARGS ?=
LAB_HOSTS ?= 2

.PHONY: help apt venv setup examples schema lint unit integration test demo demo-app demo-down collection wheel clean bench bench-quick

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

apt: ## Install the Debian packages the lab and Packer need (root)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root for apt-get install:$$missing (run: sudo make $(MAKECMDGOALS))" >&2; exit 4; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(BIN)/.installed ## Create .venv with shipyard and its test tools
	@$(BIN)/python -c 'from shipyard.core.collection import collections_path; collections_path()'

examples: ## Build the example service's release tarballs (reproducible)
	@$(PYTHON) examples/build.py

schema: venv ## Write the spec's JSON Schema to build/ (the examples' yaml-language-server modeline points at it)
	$(BIN)/shipyard schema --out build/service-spec.schema.json

setup: apt venv examples schema ## Everything the demo and the tests need

lint: setup ## ruff, mypy, ansible-lint, ansible-doc, the execution environment (ansible-builder create)
	$(BIN)/ruff check src tests plugins examples bench
	$(BIN)/ruff format --check src
	packer fmt -check packer
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports --no-cache
	HOME=$(CURDIR)/build/lint-home ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/collections \
	  $(BIN)/ansible-lint --offline --profile production
	ANSIBLE_COLLECTIONS_PATH=build/collections $(BIN)/python tests/check_docs.py
	$(BIN)/ansible-builder create -f execution-environment.yml -c build/ee --output-filename Containerfile >/dev/null
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_version_source.py tests/unit/test_license.py \
	  tests/unit/plugins/test_runtime_meta.py tests/unit/plugins/test_plugin_docs.py
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(BIN)/python tests/update_changelog.py --check
	$(BIN)/python tests/sanity/run_sanity.py

unit: setup ## Unit tests (no lab)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: setup ## Integration tests on the local lab (root)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test: setup lint ## The whole suite: lint, unit and integration tests, the quick benchmark (CI runs this)
	$(BIN)/pytest tests $(PYTEST_ARGS)
	$(MAKE) --no-print-directory bench-quick ARGS="--out build/bench-quick --work build/bench-quick/work"

demo: setup ## Bring up the local lab and deploy the example service to it
	@if $(BIN)/shipyard lab status >/dev/null 2>&1; then echo "lab 'default' is already up"; \
	 else $(BIN)/shipyard lab up --hosts $(LAB_HOSTS); fi
	$(BIN)/shipyard deploy services/hello.yml
	@$(BIN)/python examples/where.py services/hello.yml inventories/lab/hosts.yml

demo-app: setup ## Bring up the local lab and deploy the shop (apps/shop.yml) in one run
	@if $(BIN)/shipyard lab status >/dev/null 2>&1; then echo "lab 'default' is already up"; \
	 else $(BIN)/shipyard lab up --hosts $(LAB_HOSTS); fi
	$(BIN)/python examples/lab_buckets.py services/imageupload.yml
	$(BIN)/shipyard deploy apps/shop.yml
	@for spec in services/shop/gateway.yml services/shop/orders.yml services/shop/payments.yml \
	  services/shop/catalog.yml; do $(BIN)/python examples/where.py $$spec inventories/lab/hosts.yml || exit 1; done

$(BIN)/.bench-installed: pyproject.toml $(BIN)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	touch $@

bench: setup $(BIN)/.bench-installed ## Benchmarks -> bench/RESULTS.md + plots (root; ARGS=--quick for a small run)
	$(BIN)/python -m bench $(ARGS)

bench-quick: setup $(BIN)/.bench-installed ## The quick benchmark CI runs (small matrix, about 4 minutes)
	$(BIN)/python -m bench --quick $(ARGS)

demo-down: ## Remove the demo's lab
	$(BIN)/shipyard lab down

.PHONY: changelog
changelog: venv ## Write CHANGELOG.rst and changelogs/changelog.yaml from changelogs/fragments
	$(BIN)/python tests/update_changelog.py

collection: setup ## Build the Ansible collection tarball into dist/
	$(BIN)/ansible-galaxy collection build --force --output-path dist .

wheel: setup ## Build the wheel (it carries the collection) into dist/
	$(BIN)/pip wheel -q --no-deps -w dist .

clean: ## Remove build output (not the lab: use demo-down)
	rm -rf build dist examples/dist .pytest_cache .ruff_cache
