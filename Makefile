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
## fails below 95% branch coverage. Three processes run the tests (pytest-xdist, by module, the long ones first),
## then the `timing` tests (latency bounds, percentiles) run alone, on an otherwise idle machine.
test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder -m "not timing" \
		--cov=keyturn --cov-branch --cov-report= --durations=30 tests
	$(BIN)/python -m pytest -q -p no:cacheprovider -m timing --cov=keyturn --cov-branch --cov-append \
		--cov-report=term:skip-covered --cov-fail-under=95 --durations=10 tests

## Style (ruff), types (mypy, src and tests) and the layer contracts of docs/architecture.md (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
