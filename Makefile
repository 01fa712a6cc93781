# `make run` starts the web server and a Celery worker; `make test` runs the test suite.
# Both create or reuse the virtual environment in $(VENV) first.

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject

.PHONY: run test install lint check-python

# `make run` serves what a learner should see: Django's debug pages off (an unknown address gets
# the site's 404 page, an error its 500 page, the traceback in this terminal), over plain http.
run: export DJANGO_DEBUG ?= false
run: export DJANGO_HTTPS ?= false
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py content sync
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo
	@echo "  Celery Results Lab: http://$(HOST):$(PORT)/   (health: http://$(HOST):$(PORT)/healthz)"
	@echo "  Ctrl-C stops the web server and the worker."
	@echo
	PATH="$(abspath $(BIN)):$$PATH" HOST=$(HOST) exec $(BIN)/honcho start --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

install: $(STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || \
	  { echo "Python 3.11, 3.12 or 3.13 is required: set PYTHON=/path/to/python3.13, for example (found $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
