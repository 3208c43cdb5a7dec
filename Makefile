# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Python 3.12 or newer (pymc-marketing 1.x); pyenv takes it from .python-version
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# Python keeps each module it compiles (__pycache__/), so a new process does not compile the
# definitions' libraries again: where the environment says not to, importing them takes twice as long
unexport PYTHONDONTWRITEBYTECODE

.PHONY: home run test ui demo demo-ui lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
	  { echo "error: $(PYTHON) is $$($(PYTHON) -V 2>&1); the project needs Python 3.12+ (make PYTHON=python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# uv resolves and installs the same versions as pip, in a third of the time
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@

# the instance's dagster.yaml, for this environment ($$DAGSTER_POSTGRES_URL or not)
home: $(VENV)/.installed
	@$(BIN)/python -c 'from rfm_pipeline.settings import dagster_home; dagster_home()'

run: home
	$(BIN)/rfm-pipeline run

# two workers, each taking a group of tests at a time (conftest.py; `-n 0` for one process)
test: home
	$(BIN)/pytest -q -n 2

ui: home
	$(BIN)/dg dev -h 127.0.0.1 -p 3000

# the weekly refresh on a replayed feed of daily exports, in data/demo/ (its own instance)
DEMO := $(CURDIR)/data/demo

demo: $(VENV)/.installed
	$(BIN)/rfm-pipeline demo --folder $(DEMO)

demo-ui: $(VENV)/.installed
	DAGSTER_HOME=$(DEMO)/.dagster_home RFM_PIPELINE_WAREHOUSE=$(DEMO)/warehouse \
	RFM_PIPELINE_EXPORTS=$(DEMO)/exports $(BIN)/dg dev -h 127.0.0.1 -p 3000

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf data/warehouse data/demo
