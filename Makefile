# Deep Learning from the Foundations: the two commands are `make book` and `make test`.
# Every target sets up what it needs first (a virtual environment in .venv with the pinned
# dependencies of requirements.txt and `foundations` installed editable).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Kernels: use this venv's python3 kernel; keep runs reproducible.
export JUPYTER_DATA_DIR := $(CURDIR)/$(VENV)/share/jupyter
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

BUILD := $(VENV)/bin/jupyter-book build --all -W -n --keep-going .
NBVAL := $(PY) -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/references/sanitize.cfg

.PHONY: help setup data book test unit grade grade-solutions nbval site references stubs browser clean

help:
	@echo "make book        set up, fetch data, execute every page and build _build/html"
	@echo "make test        set up and run every test (library, graders, nbval, build, browser check)"
	@echo "make grade       grade your exercises: a table per lesson (passed / attempted / total)"
	@echo "make references  regenerate nbval reference outputs from a fresh build (on purpose only)"
	@echo "make stubs       regenerate exercise stubs from solutions/"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

data: setup
	$(PY) -m foundations.datasets fetch mnist

book: data
	$(BUILD)
	@echo "built: $(CURDIR)/_build/html/index.html"

browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

unit: data
	$(PY) -m pytest -q tests -m "not site"

grade: setup
	-$(PY) -m pytest -q --tb=line exercises

grade-solutions: setup
	$(PY) -m pytest -q exercises --impl=solutions

nbval: data
	$(NBVAL) tests/references

site: browser
	$(PY) -m pytest -q tests -m site

# nbval and the build each execute every page; on 2 cores they run side by side (-j2), each
# process's output printed whole when it finishes.
test: unit grade-solutions
	$(MAKE) --no-print-directory -j2 --output-sync=target nbval book
	$(MAKE) --no-print-directory site

references: data
	$(BUILD)
	$(PY) tools/make_references.py

stubs: setup
	$(PY) tools/make_stubs.py

clean:
	rm -rf _build
