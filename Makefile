# The two commands README.md promises on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest services test-oldest test-newest bench bench-smoke precommit clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	cd example && ../$(BIN)/python manage.py migrate --verbosity 0 && ../$(BIN)/python manage.py demo

test: lint typecheck pytest bench-smoke test-oldest test-newest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict over src/ and tests/, which includes the typing tests in tests/typing/.
typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite on SQLite (tests/settings.py), then the model-event, after-commit and worker
# tests again on PostgreSQL (tests/settings_postgres.py), with the tests marked `postgres`
# that the first run leaves out (pyproject's addopts: -m "not postgres"); one coverage report.
PG_TESTS := tests/test_models.py tests/test_changes.py tests/test_after_commit.py tests/test_worker.py

pytest: $(STAMP) services
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage run -m pytest --ds tests.settings_postgres -m "" $(PG_TESTS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=100

# PostgreSQL and redis-server from Debian's packages, installed if missing; PostgreSQL started.
services:
	bash .ci/services

# The pytest suite again on the oldest supported pair, Python 3.10 with Django 4.2 (and the
# database task backend inside django-tasks < 0.12), and on the newest, Python 3.13 with
# Django 6 (django.tasks built in, no backport), both on SQLite. The Celery tests run on the
# main venv's Django 5.2 and on the newest pair; the oldest pair leaves tests/test_celery.py
# out, since django-tasks-fennel, the Celery backend, needs Django 5.2+.
test-oldest:
	bash .ci/test-pair oldest 3.10 "Django>=4.2,<5.0" "django-tasks>=0.11,<0.12" -- --ignore=tests/test_celery.py

test-newest: services
	bash .ci/test-pair newest 3.13 "Django>=6,<7" "django-tasks-db>=0.13" --group celery

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
	rm -rf $(VENV) .venv-oldest .venv-newest .coverage .coverage.* .mypy_cache .ruff_cache
