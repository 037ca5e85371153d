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

# Kernels: use this venv's python3 kernel; keep runs reproducible.
export JUPYTER_DATA_DIR := $(CURDIR)/$(VENV)/share/jupyter
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# Jupyter Book 1 with Sphinx's parallel reading: pages execute two at a time on two cores.
BUILD := $(PY) tools/build.py --all -W -n --keep-going .

.PHONY: help setup data book test unit grade grade-solutions outputs site references stubs browser clean

help:
	@echo "make setup       create .venv with the pinned dependencies and foundations installed"
	@echo "make book        set up, fetch data, execute every page and build _build/html"
	@echo "make test        set up and run every test (library, graders, a build with every page"
	@echo "                 executed once, its outputs against the references, the browser check)"
	@echo "make grade       grade your exercises: a table per lesson (passed / attempted / total)"
	@echo "make unit        the library tests only"
	@echo "make outputs     compare the last build's executed pages with tests/references (nbval)"
	@echo "make site        the browser check of the last build (needs Chromium)"
	@echo "make references  rebuild and refresh the nbval reference outputs (on purpose only)"
	@echo "make stubs       regenerate exercise stubs from solutions/ (for course authors)"
	@echo "make clean       remove _build"

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

# Chromium for the browser check: found on PATH or through $$CHROMIUM; installed only where
# Debian's apt-get is there and we are root (CI). Elsewhere the check is skipped and says why.
browser:
	@if [ -n "$${CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "no Chromium found: the browser check will be skipped (see README, 'The browser check')"; fi

unit: data
	$(PY) -m pytest -q tests -m "not site and not built"

grade: setup
	-$(PY) -m pytest -q --tb=line exercises

grade-solutions: setup
	$(PY) -m pytest -q exercises --impl=solutions

outputs: setup
	$(PY) -m pytest -q tests -m built

site: browser
	$(PY) -m pytest -q tests -m site

# Each page executes once: the build runs it (a failing cell fails the build), then `outputs`
# compares what it printed with tests/references using nbval's comparison and sanitizers.
test: unit grade-solutions
	$(MAKE) --no-print-directory book
	$(MAKE) --no-print-directory outputs
	$(MAKE) --no-print-directory site

references: data
	$(BUILD)
	$(PY) tools/make_references.py

stubs: setup
	$(PY) tools/make_stubs.py

clean:
	rm -rf _build
