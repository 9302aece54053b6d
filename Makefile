# pql — every target sets itself up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.spark-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The spark extra (pyspark, large) is only needed by the engine-equality tests.
$(SPARK): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,spark]" || echo "pyspark could not be installed; Spark tests will be skipped"
	touch $(SPARK)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(SPARK) lint
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check pqlcli tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pql demo-out .pytest_cache .mypy_cache .ruff_cache
