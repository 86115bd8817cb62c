# Two commands do everything: `make run` and `make test`. Only Python 3.11+, git and make needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV_HOME := .cache/uv-tool
UV := $(UV_HOME)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
DEMO_DB ?= data/demo.duckdb
PORT ?= 8501
DEMO_COMMITS ?= 40
DEMO_SYNTHETIC ?= 0
SRC := flext_quality storage collectors alerts dashboard

.PHONY: venv run demo-db test lint unit bench clean

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: the analyzers start as fresh processes many times per run, and an
# environment with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile them every time.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

venv: $(STAMP)

demo-db: $(STAMP)
	$(BIN)/python -m flext_quality.demo_db --db $(DEMO_DB) --commits $(DEMO_COMMITS) --synthetic $(DEMO_SYNTHETIC)

run: demo-db
	$(BIN)/flext-quality --config data/demo.toml dashboard --db $(DEMO_DB) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r $(SRC)

unit: $(STAMP)
	$(BIN)/pytest

test: lint unit

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
