PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -e ./clients/python
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

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV)
