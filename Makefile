PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: serving needs the runtime, the embedded AWS and the `agentctx` command (the README's walk-through uses
# it); testing and linting add the dev tools.
SERVE_STAMP := $(VENV)/.serve-installed
STAMP := $(VENV)/.installed
# Modules are compiled when first imported, not all at install (botocore alone is thousands of files).
PIP_INSTALL := -m pip install -q --no-compile
PYTEST_ARGS ?= --durations=10
# An optional-dependency extra of pyproject.toml, as pip arguments: the tools whose pins clash with the project's get a
# venv each, installed from the extra that names them.
extra = $$($(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['$(1)'])")
SAM := $(VENV)/sam/bin/sam

.PHONY: serve test lint bench package deploy smoke routes clean

$(SERVE_STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -e '.[local]' -e ./clients/python
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(PY) $(PIP_INSTALL) -e '.[local,dev]'
	# checkov and the SAM CLI pin boto3 below the project's: a venv each (the `scan` and `deploy` extras name them).
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python $(PIP_INSTALL) $(call extra,scan)
	$(PYTHON) -m venv $(VENV)/sam
	$(VENV)/sam/bin/python $(PIP_INSTALL) $(call extra,deploy)
	touch $(STAMP)

serve: $(SERVE_STAMP)
	$(PY) -m infra.local_server

# Timing-sensitive tests (marked serial) run first, alone; then the rest on two processes, a group of tests that share
# one expensive fixture (the deployed artifacts, cfn-lint's run) in one of them. A pass that PYTEST_ARGS (say -k)
# leaves empty is not a failure (pytest's exit status 5).
test: $(STAMP)
	$(PY) -m pytest -m serial -p no:xdist $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -m "not serial" -n 2 --dist loadgroup $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=shared $(VENV)/bin/mypy --explicit-package-bases shared/agentctx functions infra
	$(VENV)/bin/mypy --strict clients/python/agentctx_client

# The artifacts as deployed (functions and the layer for the template's runtime and architecture, precompiled), and
# build/<target>/template.json, the template that names them.
package: $(STAMP)
	$(PY) -m infra.package

# `sam deploy` of exactly what `make package` built; ARGS go to `sam deploy` (ARGS=--guided the first time).
deploy: package
	SAM=$(SAM) $(PY) -m infra.deploy $(ARGS)

# After a deploy: a tenant, its key, an agent on the default model, a session, a block and a streamed invocation,
# one line each (docs/deploy.md). URL is the stack's ApiUrl output, ADMIN_KEY the operator key.
smoke: $(SERVE_STAMP)
	@$(PY) -m infra.smoke --url "$(URL)" --admin-key "$(ADMIN_KEY)"

# template.yaml's API events and HTTP function descriptions, from shared/agentctx/api/registry.py and the routers.
routes: $(STAMP)
	$(PY) -m infra.routes

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV)
