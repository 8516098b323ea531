# echonote: `make demo` runs the main job, `make test` passes the tests; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lab up down status requirements settings-table bench images clean help

help:
	@echo "make demo   set up, start the stack, run the main job"
	@echo "make test   set up and run the test suite"
	@echo "make lab    set up, start the stack, open JupyterLab on notebooks/"
	@echo "make up | down | status   manage the stack (redis, worker, beat, flower)"
	@echo "make requirements   regenerate requirements/*.txt from pyproject.toml"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make images build the three container images (ENGINE=podman or docker)"

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install-system-deps.sh
	tools/install-system-deps.sh
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[beat,worker,lab,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/python -m echonote.demo

test: setup
	$(BIN)/python tools/gen_requirements.py --check
	$(BIN)/python -m pytest

test-fast: setup
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
