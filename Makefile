# Two commands do everything on a fresh clone (see README "Quick start"):
#   make demo   set up, build the model, serve it, detect sample JPEGs, stop
#   make test   set up, run the unit and integration tests (the real tritonserver, CPU profile)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench bench-test

# Two distributions of one checkout: client/ (what backend teams install alone) and the server side.
$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ./client --editable ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/triton-detect demo

# The server image's DALI (2.1.1) beside ours, for the GPU pipeline's CPU check: installed once into
# .cache/ (git-ignored), a no-op afterwards (tests/server_dali.py).
test: $(STAMP)
	$(BIN)/python -m tests.server_dali
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# The benchmarks' own logic without a server (benchmarks/tests; tests/ never imports benchmarks).
bench-test: $(STAMP)
	$(BIN)/python -m pytest benchmarks/tests

lint: $(STAMP)
	$(BIN)/ruff check src client tests model_repository scripts benchmarks
	$(BIN)/ruff format --check src client tests model_repository
	$(BIN)/mypy
