# Two commands do all the set-up: `make run` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DEBUG ?= true

.PHONY: install run test lint format worker beat bench bench-quick clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## The whole product on one machine: SQLite, demo data, the web server and a Celery worker (with
## the daily jobs) on kombu's filesystem broker; prints the admin login. Ctrl-C stops both.
RUN_BROKER ?= filesystem://
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py ensure_demo_users
	@trap 'kill 0' EXIT INT TERM; \
	CELERY_BROKER_URL=$(RUN_BROKER) $(BIN)/celery -A config worker --beat --pool=threads \
		--concurrency=2 --loglevel=WARNING \
		--schedule=$(CURDIR)/.broker/beat-schedule & \
	CELERY_BROKER_URL=$(RUN_BROKER) $(BIN)/python manage.py runserver 127.0.0.1:8000

## The whole test suite (SQLite by default; DATABASE_URL=postgres://... for PostgreSQL).
test: install
	$(BIN)/pytest

## Celery worker and beat (need CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0).
worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO --schedule=/tmp/consent-crm-beat-schedule

## Benchmarks (PostgreSQL; DESIGN.md §7): one table, JSON in $$BENCH_OUT (bench-results.json).
BENCH_DB ?= postgres://postgres@127.0.0.1:5432/consent_crm_bench
BENCH_QUICK_DB ?= postgres://postgres@127.0.0.1:5432/consent_crm_bench_quick

bench: install
	DATABASE_URL=$(BENCH_DB) $(BIN)/python tests/bench/run.py --contacts 1000000

bench-quick: install
	DATABASE_URL=$(BENCH_QUICK_DB) $(BIN)/python tests/bench/run.py --contacts 100000 --runs 3

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache
