PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: serving needs the runtime and the embedded AWS only; testing and linting add the dev tools.
SERVE_STAMP := $(VENV)/.serve-installed
STAMP := $(VENV)/.installed
# Timing-sensitive tests (marked serial) run first, alone; then the rest on two processes (the deployed-artifact tests
# share one build and one moto server, so they stay on one of them).
PYTEST_ARGS ?= --durations=10

.PHONY: serve test lint bench package clean

$(SERVE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[local]'
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP) pyproject.toml clients/python/pyproject.toml
	$(PY) -m pip install -q -e '.[local,dev]' -e ./clients/python
	# checkov pins boto3 below the project's, so it gets a venv of its own (the `scan` extra names it).
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q $$($(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['scan'])")
	touch $(STAMP)

serve: $(SERVE_STAMP)
	$(PY) -m infra.local_server

test: $(STAMP)
	$(PY) -m pytest -m serial -p no:xdist $(PYTEST_ARGS)
	$(PY) -m pytest -m "not serial" -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=shared $(VENV)/bin/mypy --explicit-package-bases shared/agentctx functions infra
	$(VENV)/bin/mypy --strict clients/python/agentctx_client

# The artifacts as deployed (functions and the layer for the template's runtime and architecture, precompiled).
package: $(STAMP)
	$(PY) -m infra.package

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV)
