# The two commands of the README: `make run` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV ?= .venv
BIN ?= $(VENV)/bin
PORT ?= 8000
ENGINE_PORT ?= 8001
# Given to `make run`'s processes only: the tests choose their own engines (config/settings/test.py).
ENGINE_URL ?= http://127.0.0.1:$(ENGINE_PORT)

.PHONY: run test test-fast setup-run setup-test setup-test-fast lint checks format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: $(BIN)/python requirements.txt $(wildcard requirements/*.txt)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet -e ./sdk
	touch $@

# The stack's database: DATABASE_URL if set, else the machine's PostgreSQL when one answers, else a
# SQLite file (config/database_local.py says which).
RUN_DATABASE = DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m config.database_local)}"

setup-run: $(VENV)/.run-deps
	$(RUN_DATABASE) $(BIN)/python manage.py stack_check --start-redis
	$(RUN_DATABASE) $(BIN)/python manage.py migrate --noinput
	$(RUN_DATABASE) $(BIN)/python manage.py seed_voices

## Set up everything and start web, worker and engine on 127.0.0.1:$(PORT).
run: setup-run
	@echo "Starting OuteAI Studio on http://127.0.0.1:$(PORT) (Ctrl+C stops it)"
	$(RUN_DATABASE) PATH="$(CURDIR)/$(BIN):$$PATH" WEB_PORT=$(PORT) ENGINE_PORT=$(ENGINE_PORT) ENGINE_URL=$(ENGINE_URL) $(BIN)/honcho start

# What the unit tests need: the test dependencies, Festival's voices (reference clips), PostgreSQL and Redis.
setup-test-fast: $(VENV)/.test-deps
	@command -v text2wave >/dev/null && [ -d /usr/share/festival/voices/english/kal_diphone ] || { \
	  echo "Festival voices are missing for the clone tests: sudo apt-get install festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k"; exit 1; }
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py stack_check --start-redis

# The whole suite also drives Chromium.
setup-test: setup-test-fast
	@command -v chromium >/dev/null || { echo "Chromium is missing for the browser tests: sudo apt-get install chromium"; exit 1; }

## Set up, then run the checks (lint, the layers' contracts, types, migrations) and the whole suite
## against PostgreSQL and Redis.
test: setup-test checks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The checks and the unit tests only: no engine, worker, web or browser is started.
test-fast: setup-test-fast checks
	$(BIN)/python -m pytest -m "not stack and not browser and not engine" -n auto $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/mypy --strict sdk/src/outeai  # the SDK its users type-check against

checks: lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.test-deps
	$(BIN)/python -m bench.engine

clean:
	rm -rf $(VENV) staticfiles .test-media .pytest_cache
