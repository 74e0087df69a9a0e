# Forewarn: the two commands are `make demo` and `make test`; both install what is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup services stop status demo test lint typecheck bench schema clean

setup:
	@scripts/setup.sh

services: setup
	@scripts/services.sh start

stop:
	@scripts/services.sh stop

status:
	@scripts/services.sh status

demo: services
	@$(PY) -m forewarn demo

test: services
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy forewarn gateway ingest detectors ticketing device_sim
	@$(PY) -m pytest $(PYTEST_ARGS)

lint:
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck:
	@$(PY) -m mypy forewarn gateway ingest detectors ticketing device_sim

bench: services
	@$(PY) -m bench

schema:
	@$(PY) -m forewarn contract schema --out docs/schema

clean: stop
	rm -rf .run
