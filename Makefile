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
	$(BIN)/lint-imports

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py

# Mutation testing over pqlcli/scoring and pqlcli/providers, by hand (not in CI; it takes long).
# Bound a run with a mutant-name glob and a time limit, e.g.
#   make mutants MUTANTS='pqlcli.scoring.summary*' MUTANTS_TIME=600
# then `$(BIN)/mutmut results` lists the survivors and `$(BIN)/mutmut show NAME` shows one.
MUTANTS ?=
MUTANTS_TIME ?= 3600
mutants: $(STAMP)
	$(BIN)/pip install -q "mutmut>=3.2,<4"
	-timeout --signal=INT $(MUTANTS_TIME) $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

clean:
	rm -rf $(VENV) mutants .pql demo-out .pytest_cache .mypy_cache .ruff_cache
