# pql — every target sets itself up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.spark-installed

.PHONY: demo test lint bench clean mutants

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The spark extra (pyspark, large) is only needed by the engine-equality tests. On a developer machine a
# failed install only skips the Spark tests (with the reason, `-rs`); in CI (CI=true) it fails the run.
$(SPARK): $(STAMP)
	@if $(BIN)/pip install -q -e ".[dev,spark]"; then touch $(SPARK); \
	elif [ "$${CI:-}" = "true" ]; then echo "pyspark could not be installed (CI needs it)" >&2; exit 1; \
	else echo "pyspark could not be installed; Spark tests will be skipped"; touch $(SPARK); fi

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(SPARK) lint
	$(BIN)/python -m pytest -n 2 -rs

lint: $(STAMP)
	$(BIN)/ruff check pqlcli tests bench
	$(BIN)/mypy

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pql demo-out .pytest_cache .mypy_cache .ruff_cache
