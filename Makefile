# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,gateway]'
	touch $@

install: $(VENV)/.installed

# The demo hospital, live: web app on http://127.0.0.1:8000/, embedded MQTT broker, ingest, simulator.
demo: $(VENV)/.installed
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	DEBUG=1 $(PY) manage.py check

# Lint, Django's checks and the whole test suite, on whatever DATABASE_URL / MQTT_URL / REDIS_URL say.
test: lint
	$(PY) -m pytest
