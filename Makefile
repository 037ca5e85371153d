# Deep Learning from the Foundations: the two commands are `make book` and `make test`.
# Every target sets up what it needs first (a virtual environment in .venv with the pinned
# dependencies of requirements.txt and `foundations` installed editable).
# Written for GNU make 3.81 and later (macOS ships 3.81): no --output-sync, no .ONESHELL, and every
# recipe line stands on its own (3.81 ignores .SHELLFLAGS, so nothing relies on pipefail).

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

.PHONY: help setup data book test unit grade grade-solutions outputs site references stubs browser clean bench lab

help:
	@echo "The two commands:"
	@echo "  make book        set up, fetch data, execute every page and build _build/html"
	@echo "  make test        set up and run every test: library, graders on the solutions, a build"
	@echo "                   with every page executed once, its outputs, the browser check"
	@echo "Learners:"
	@echo "  make setup       create .venv with the pinned dependencies and foundations installed"
	@echo "  make grade       grade your exercises: one line per exercise, then a table per lesson"
	@echo "                   (one exercise: make grade ARGS='-k lin_grad')"
	@echo "  make lab         open the pages in JupyterLab: a lesson (.md) opens as a notebook and runs"
	@echo "                   against the installed foundations (options: make lab ARGS=--no-browser)"
	@echo "  make data        fetch the datasets the pages need (MNIST, Imagenette, IMDB, WikiText-2) and"
	@echo "                   decode Imagenette once (64 px; 128 px with FOUNDATIONS_SETTING=full)"
	@echo "Parts of make test:"
	@echo "  make unit        the library tests only"
	@echo "  make grade-solutions  the graders on the reference solutions"
	@echo "  make outputs     compare the last build's executed pages with tests/references (nbval)"
	@echo "  make site        the browser check of the last build (needs Chromium)"
	@echo "  make browser     find Chromium, or install it where apt-get and root are there"
	@echo "Course authors:"
	@echo "  make references  rebuild and refresh the nbval reference outputs (on purpose only)"
	@echo "  make stubs       regenerate exercise stubs from solutions/ (never overwrites your work)"
	@echo "  make bench       the benchmarks (not tests): one table of measured ratios, and a JSON file"
	@echo "  make clean       remove _build"
	@echo "  make help        this list (what plain \`make\` prints)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

data: setup
	$(PY) -m foundations.data fetch mnist imagenette2-160 imdb wikitext-2-valid-test
	$(PY) -m foundations.vision.imagenette

# Benchmarks are not tests: they print what this machine measures, side by side in one run.
bench: data
	$(PY) -m benchmarks

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

# JupyterLab on the repository, its file browser at lessons/. Jupytext makes a page (.md) open as a
# notebook and saves it back as the same MyST Markdown (no .ipynb beside it); its kernel is this
# venv's python3, started in the page's folder. The settings are in tools/lab/ (see its README).
# Options go to JupyterLab: make lab ARGS='--no-browser --port=8899'
lab: setup
	JUPYTER_CONFIG_PATH="$(CURDIR)/tools/lab$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	    $(PY) -m jupyterlab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/lessons $(ARGS)

# Only the grades, no pytest report; exit status 1 when an attempted exercise fails.
# `.venv/bin/pytest exercises -k NAME` shows one exercise's details.
grade: setup
	@$(PY) -m pytest exercises --grades-only $(ARGS)

grade-solutions: setup
	$(PY) -m pytest -q exercises --impl=solutions

BUILT_SITE := _build/html/index.html
NO_BUILD := echo "no built site in _build/html: run \`make book\` first" >&2; exit 1

outputs: setup
	@test -f $(BUILT_SITE) || { $(NO_BUILD); }
	$(PY) -m pytest -q tests -m built

site: setup
	@test -f $(BUILT_SITE) || { $(NO_BUILD); }
	@$(MAKE) --no-print-directory browser
	$(PY) -m pytest -q tests -m site

# Each page executes once: the build runs it (a failing cell fails the build), then `outputs`
# compares what it printed with tests/references using nbval's comparison and sanitizers.
test: unit grade-solutions
	@echo "Your exercises (for your information: make test grades the solutions, never fails on these):"
	@$(PY) -m pytest exercises --grades-only -p no:cacheprovider || true
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
