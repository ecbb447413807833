# The two commands README.md promises on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest test-oldest bench bench-smoke precommit clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	cd example && ../$(BIN)/python manage.py migrate --verbosity 0 && ../$(BIN)/python manage.py demo

test: lint typecheck pytest bench-smoke test-oldest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict over src/ and tests/, which includes the typing tests in tests/typing/.
typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=100

# The pytest suite again on the oldest supported pair: Python 3.10 with Django 4.2.
test-oldest:
	bash .ci/test-oldest

# Benchmarks print one table, and ratios against peers measured in the same run, with
# PASS/FAIL against the targets (exit 1 on a miss). About a minute on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The same with tiny counts, inside `make test`, so the benchmarks never rot (not judged).
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks --quick

precommit: $(STAMP)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

clean:
	rm -rf $(VENV) .venv-oldest .coverage .coverage.* .mypy_cache .ruff_cache
