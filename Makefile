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
	@$(PY) -m mypy forewarn gateway ingest detectors ticketing device_sim bench
	@$(PY) -m pytest $(PYTEST_ARGS)

lint:
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck:
	@$(PY) -m mypy forewarn gateway ingest detectors ticketing device_sim bench

bench: services
	@$(PY) -m bench

schema:
	@$(PY) -m forewarn contract schema --out docs/schema

clean: stop
	rm -rf .run

# Console/customer-page messages (zh_CN, en): re-extract, merge, compile (the .mo files are committed).
i18n:
	$(PY) -m babel.messages.frontend extract -F babel.cfg -k _ -k N_ --no-location --omit-header -o ticketing/i18n/locale/messages.pot .
	$(PY) -m babel.messages.frontend update -i ticketing/i18n/locale/messages.pot -d ticketing/i18n/locale -D messages
	$(PY) -m babel.messages.frontend compile -d ticketing/i18n/locale -D messages
