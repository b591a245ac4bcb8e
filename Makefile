# Two commands for a fresh machine with Python 3.11, pip, gcc and git:
#   make lab    set everything up and open JupyterLab on notebooks/
#   make test   set everything up and run lint, type checks and the whole test suite
# plus `make bench` for the speed figures.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: lab test bench setup lint typecheck clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing ipyagent and its dependencies into $(VENV) (first time: a few minutes)"
	$(BIN)/python -m pip install --quiet --progress-bar on -e '.[lab,dev]'
	@touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
