# The few tasks a newcomer needs. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

## Install, then run the server on SQLite with demo data (prints the demo user, credential, key, URLs).
demo: $(STAMP)
	KEYTURN_ENVIRONMENT=development $(BIN)/keyturn serve --demo

## Install, then run the server (settings from KEYTURN_* variables).
run: $(STAMP)
	$(BIN)/keyturn serve

## Install everything (Python, Node and Debian test dependencies), then run the whole test suite;
## fails below 95% branch coverage.
test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider --cov=keyturn --cov-branch --cov-report=term:skip-covered \
		--cov-fail-under=95 --durations=30 tests

## Style (ruff), types (mypy, src and tests) and the layer contracts of docs/architecture.md (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
