# Day-to-day commands. Every target runs inside .venv (created by `make venv`, as the README's first
# command does). CI runs .ci/run, which installs the same pinned versions and runs `make lint` and the
# README's test command.
PYTHON ?= .venv/bin/python
PYTEST  = $(PYTHON) -m pytest

.PHONY: venv test test-fast lint format bench docs lock

venv:  ## a virtualenv with the versions CI tested (constraints.txt)
	python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt -c constraints.txt

test:  ## every test, as CI runs them
	$(PYTEST) -n 2 -q

test-fast:  ## no sandbox end-to-end tests, nothing marked slow
	$(PYTEST) -n 2 -q -m "not e2e and not slow"

lint:  ## what CI checks before the tests
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy components functions sandbox ops benchmarks examples publisher tools
	$(PYTHON) -m mypy --strict components functions

format:  ## rewrite the sources in the project's style
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

bench:  ## re-measure and rewrite the figures in docs/benchmarks/
	$(PYTHON) -m benchmarks.cold_start
	$(PYTHON) -m benchmarks.requests_per_webhook
	$(PYTHON) -m benchmarks.program_eval

docs:  ## check that the docs are true: links, README tables, generated documents
	$(PYTEST) -q tests/test_docs_links.py tests/test_readme.py

lock:  ## re-pin constraints.txt after changing requirements*.txt (from a fresh virtualenv)
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -r requirements-dev.txt
	.lock-venv/bin/pip freeze --exclude-editable | sort -f > constraints.txt
	rm -rf .lock-venv
