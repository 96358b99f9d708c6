# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Local development defaults; production sets these itself (see README).
export DEBUG ?= 1
export DJANGO_SETTINGS_MODULE := bpo_backoffice.settings

.PHONY: run test lint format bench venv migrate seed schedules clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --no-input

seed: migrate
	$(PY) manage.py seed_demo

schedules: migrate
	$(PY) manage.py setup_schedules

# Web server and task cluster together; Ctrl-C stops both. Safe to run again.
run: seed schedules
	$(PY) manage.py collectstatic --no-input -v0
	@echo "BPO Back-Office on http://$(HOST):$(PORT)/admin/  (Ctrl-C stops the server and the task cluster)"
	@trap 'kill 0' INT TERM EXIT; \
	  $(PY) manage.py qcluster & \
	  $(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	  wait

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks print their figures; see docs/benchmarks.md for scale options.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
