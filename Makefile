# The everyday commands. Both create .venv (Python 3.11) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
MIRROR := /usr/share/datasets/fashion-mnist

.PHONY: repro test lint mirror ui clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Debian's dataset-fashion-mnist is the local mirror; without it the download stage uses HTTP.
mirror:
	@if [ ! -d $(MIRROR) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

repro: $(BIN)/.installed mirror
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

test: $(BIN)/.installed mirror
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

ui: $(BIN)/.installed
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///mlflow.db
