# sealmeter: two commands on a fresh machine.
#   make demo   run the main job on embedded defaults (SQLite, no servers)
#   make test   run the whole suite: ruff, mypy --strict on src/, pytest
# Both install everything they need into a local virtual environment (.venv).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: install test lint typecheck pytest demo bench clean sysdeps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# System packages some tests need (SoftHSM2 for PKCS#11, Chromium for the dashboard).
sysdeps:
	@bash scripts/sysdeps.sh

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz

typecheck: install
	$(BIN)/mypy --strict src

pytest: install sysdeps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: install
	$(BIN)/sealmeter demo

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
