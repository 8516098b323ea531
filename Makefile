# echonote: `make demo` runs the main job, `make test` passes the tests; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# What `make setup` installs: every role on one machine. The dev extras (pytest, Playwright, linters)
# come only with `make test`.
EXTRAS ?= beat,worker,lab,storage
# Optional: a PyTorch wheel index with CPU-only builds (about 0.2 GB instead of 2.7 GB of CUDA
# libraries). Empty = torch from the default index, which works everywhere.
TORCH_INDEX_URL ?=
# Optional: install offline from a folder made by `make wheelhouse`.
WHEELHOUSE ?=
PIP_SOURCE := $(if $(WHEELHOUSE),--no-index --find-links $(abspath $(WHEELHOUSE)))
TORCH_PINS := $(shell grep -oE '"torch(audio)?==[0-9.]+"' pyproject.toml | tr -d '"')

.PHONY: setup wheelhouse demo test test-fast lab up down status requirements settings-table bench images clean help

help:
	@echo "make demo   set up, start the stack, run the main job"
	@echo "make test   set up and run the test suite"
	@echo "make lab    set up, start the stack, open JupyterLab on your working copy of the notebooks"
	@echo "make up | down | status   manage the stack (redis, worker, beat, flower)"
	@echo "make requirements   regenerate requirements/*.txt from pyproject.toml"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make wheelhouse   download every wheel once, for offline installs (make setup WHEELHOUSE=wheelhouse)"
	@echo "make images build the three container images (ENGINE=podman or docker)"

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install-system-deps.sh
	tools/install-system-deps.sh
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(WHEELHOUSE),,$(BIN)/python -m pip install --quiet --upgrade pip)
	$(if $(TORCH_INDEX_URL),$(BIN)/python -m pip install --quiet --index-url $(TORCH_INDEX_URL) $(TORCH_PINS))
	$(BIN)/python -m pip install --quiet $(PIP_SOURCE) -e '.[$(EXTRAS)]'
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet $(PIP_SOURCE) -e '.[dev]'
	touch $(DEV_STAMP)

# Every wheel `make setup` and `make test` need, for a room without a fast connection:
#   make wheelhouse                      # once, where the index is reachable (about 3.5 GB)
#   make setup WHEELHOUSE=wheelhouse     # on each machine, offline
wheelhouse:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(if $(TORCH_INDEX_URL),$(PYTHON) -m pip download --quiet --dest $(or $(WHEELHOUSE),wheelhouse) --only-binary=:all: --index-url $(TORCH_INDEX_URL) $(TORCH_PINS))
	$(PYTHON) -m pip wheel --quiet --wheel-dir $(or $(WHEELHOUSE),wheelhouse) --find-links $(or $(WHEELHOUSE),wheelhouse) '.[$(EXTRAS),dev]' 'setuptools>=69' wheel
	@echo "wheelhouse ready: $(or $(WHEELHOUSE),wheelhouse) ($$(du -sh $(or $(WHEELHOUSE),wheelhouse) | cut -f1)); install with: make setup WHEELHOUSE=$(or $(WHEELHOUSE),wheelhouse)"

demo: setup
	$(BIN)/python -m echonote.ops.demo

test: $(DEV_STAMP)
	$(BIN)/python tools/gen_requirements.py --check
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not slow"

lab: setup up
	$(BIN)/echonote lab serve

up: setup
	$(BIN)/echonote up

down:
	@test -x $(BIN)/echonote && $(BIN)/echonote down || true

status: setup
	$(BIN)/echonote status

requirements:
	$(PYTHON) tools/gen_requirements.py

settings-table: setup
	$(BIN)/python tools/gen_settings_table.py

bench: setup
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/footprint.py

ENGINE ?= podman
images:
	$(ENGINE) build -f containers/Containerfile.beat -t echonote-light:0.1.0 .
	$(ENGINE) build -f containers/Containerfile.worker -t echonote-worker:0.1.0 .
	$(ENGINE) build -f containers/Containerfile.lab -t echonote-lab:0.1.0 .

clean: down
	rm -rf $(VENV) .state results bench/.venvs
