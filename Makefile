# PyTake: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv messages check lint format clean-data

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m pytake.stack

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

messages: $(STAMP)
	$(PY) manage.py makemessages -l pt_BR --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

check: $(STAMP)
	$(PY) manage.py check

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-data:
	rm -rf .data
