PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench package routes clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -e ./clients/python
	# checkov pins boto3 below the project's, so it gets a venv of its own (the `scan` extra names it).
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q $$($(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['scan'])")
	touch $(STAMP)

serve: $(STAMP)
	$(PY) -m infra.local_server

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=shared $(VENV)/bin/mypy --explicit-package-bases shared/agentctx functions infra
	$(VENV)/bin/mypy --strict clients/python/agentctx_client

# The artifacts as deployed (functions and the layer for the template's runtime and architecture, precompiled).
package: $(STAMP)
	$(PY) -m infra.package

# template.yaml's API events and HTTP function descriptions, from shared/agentctx/api/registry.py and the routers.
routes: $(STAMP)
	$(PY) -m infra.routes

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV)
