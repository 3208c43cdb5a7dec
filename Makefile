# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: run test ui lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: | $(VENV)/.installed
	$(BIN)/python -c 'from rfm_pipeline.settings import dagster_home; dagster_home()'

run: $(VENV)/.installed | $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/rfm-pipeline run

test: $(VENV)/.installed | $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q

ui: $(VENV)/.installed | $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev -h 127.0.0.1 -p 3000

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf data/warehouse
