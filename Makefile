# shopfloor-sync — `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration chaos bench install bundle clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sfsync demo $(DEMO_ARGS)

# Console screenshots into docs/img/ (starts its own demo; SHOTS_ARGS="--url URL --token T" uses a running one).
# Needs Chromium (apt-get install -y chromium). Not part of `make test`, which writes only to temporary folders.
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py $(SHOTS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

chaos: $(STAMP)
	$(BIN)/python -m pytest tests/chaos $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Offline install archive for an edge box (docs/deploy-edge.md), e.g.
#   make bundle BUNDLE_ARGS="--python-version 3.11 --platform manylinux2014_aarch64"
bundle: $(STAMP)
	$(BIN)/sfsync edge bundle $(BUNDLE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
