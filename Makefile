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

.PHONY: run serve test lint format bench venv migrate seed schedules clean

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

# Web server and task cluster together; Ctrl-C stops both within a few seconds. Safe to run
# again. `make serve` does the same without seeding (the database must be migrated).
run: seed schedules
	@$(MAKE) --no-print-directory serve

# Each server runs in its own session (setsid), so the terminal's Ctrl-C reaches only this
# shell: it sends TERM to the two main processes (qcluster then stops its workers itself,
# about 4 s), waits up to 10 s, then kills whatever is left of their process groups.
serve: $(STAMP)
	$(PY) manage.py collectstatic --no-input -v0
	@echo "BPO Back-Office on http://$(HOST):$(PORT)/admin/  (Ctrl-C stops the server and the task cluster)"
	@pids=""; \
	  alive() { for p in $$pids; do kill -0 $$p 2>/dev/null && return 0; done; return 1; }; \
	  stop() { \
	    trap '' INT TERM; trap - EXIT; \
	    echo; echo "Stopping the web server and the task cluster…"; \
	    kill -TERM $$pids 2>/dev/null; \
	    for i in $$(seq 100); do alive || break; sleep 0.1; done; \
	    for p in $$pids; do kill -KILL -- -$$p 2>/dev/null; done; \
	    wait 2>/dev/null; echo "Stopped."; \
	  }; \
	  trap 'stop; exit 0' INT TERM; trap stop EXIT; \
	  setsid $(PY) manage.py qcluster & pids="$$pids $$!"; \
	  setsid $(PY) manage.py runserver $(HOST):$(PORT) --noreload & pids="$$pids $$!"; \
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
