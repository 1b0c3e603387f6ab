# InvestMap — the two commands: `make demo` (run the demo district) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= district
SEED ?= 42

.PHONY: install demo serve test lint check system-deps test-pg messages clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## Set up and run the demo district on SQLite + DuckDB at http://$(HOST):$(PORT)
demo: install
	$(BIN)/investmap migrate --noinput
	$(BIN)/investmap demo --scale $(SCALE) --seed $(SEED) --if-empty
	$(BIN)/investmap efficiency evaluate --all-years
	for f in src/investmap/policies/examples/*.yaml; do $(BIN)/investmap import policies $$f || exit 1; done
	$(BIN)/investmap ensure-admin
	$(BIN)/investmap runserver $(HOST):$(PORT)

serve: install
	$(BIN)/investmap runserver $(HOST):$(PORT)

## Chromium and a Chinese font for the browser tests (Debian packages; needs root on a new machine)
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wenquanyi || [ ! -x /usr/bin/pdftotext ]; then \
	  echo "Installing chromium, fonts-wqy-microhei and poppler-utils for the browser and PDF tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei poppler-utils; \
	fi

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

check: install
	$(BIN)/investmap check
	$(BIN)/investmap makemigrations --check --dry-run
	$(BIN)/python scripts/compile_messages.py --check

## Set up and run the whole suite (lint, checks, unit, API, import and browser tests)
test: install system-deps lint check
	$(BIN)/pytest -q

## The suite against PostgreSQL: DATABASE_URL=postgres://user@host:port/db make test-pg
test-pg: install system-deps
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://..." && exit 2)
	$(BIN)/pytest -q

messages: install
	$(BIN)/python scripts/compile_messages.py

clean:
	rm -rf $(VENV) var test-artifacts
