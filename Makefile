# The everyday commands. Both create .venv (Python 3.11) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
MIRROR := /usr/share/datasets/fashion-mnist

.PHONY: repro test lint lock lock-check mirror demo ui compare docs docs-serve plots-template

UV_VERSION := 0.13.9
UV := UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv

# The environment is installed from uv.lock (exact versions with hashes), never re-resolved:
# `--locked` fails if pyproject.toml and the lock disagree (run `make lock`).
$(BIN)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --locked --inexact --extra dev --python $(BIN)/python
	touch $@

# After editing the dependencies in pyproject.toml: re-resolve what changed (the rest stays pinned).
# `make lock UPGRADE=1` moves every package to the newest version the ranges allow.
lock: $(BIN)/.installed
	$(UV) lock $(if $(UPGRADE),--upgrade)

# Fails when pyproject.toml and uv.lock disagree (CI runs it through `make lint`).
lock-check: $(BIN)/.installed
	$(UV) lock --check

# Debian's dataset-fashion-mnist is the local mirror; without it the download stage uses HTTP.
mirror:
	@if [ ! -d $(MIRROR) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

repro: $(BIN)/.installed mirror
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

# Two pytest workers (pytest-xdist), each test file on one of them: TensorFlow's and DVC's start-ups are
# single-threaded, so a second worker fills the other core. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(BIN)/.installed mirror
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(BIN)/.installed lock-check
	$(BIN)/deptry src
	$(BIN)/ruff check src tests benchmarks research docs
	$(BIN)/ruff format --check src tests benchmarks research docs

# The documentation site (mkdocs.yml): built into site/ with --strict, so a broken link or a page
# missing from the navigation fails. The parameter, metric and recipe tables are generated (docs/hooks.py).
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Rebuilds .dvc/plots.html (`dvc plots show` offline) from the npm packages of Vega, Vega-Lite and Vega-Embed.
plots-template: $(BIN)/.installed
	rm -rf build/vega && mkdir -p build/vega
	cd build/vega && npm pack --silent vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 && \
		for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}" --strip-components=1; done
	$(BIN)/python docs/plots_template.py build/vega .dvc/plots.html

# A Gradio page on 127.0.0.1:7860 drawing from the champion (MODEL=... for another generator).
demo: $(BIN)/.installed
	$(BIN)/fashion-dcgan demo $(if $(MODEL),--model $(MODEL))

# MLflow's UI on 127.0.0.1:5000 (PORT=... for another port).
PORT ?= 5000
ui: $(BIN)/.installed
	$(BIN)/mlflow ui --host 127.0.0.1 --port $(PORT) --backend-store-uri sqlite:///mlflow.db

# The experiments side by side in 120 columns: the params that differ and the generator's headline
# metrics (all of them, changed or not), without the dependency hashes, the executor or the queue's
# state (`dvc queue status`). The probe's accuracy (it judges the discriminator) and every other
# column: `dvc exp show`, or `--csv`.
HEADLINE := fid|kid|precision|recall|classes_covered|class_consistency
COMPARE := dvc exp show --only-changed --keep '^($(HEADLINE))$$' --drop 'Created|State|Executor|probe_accuracy|src/.*|data/.*|models/.*|reports/.*'
compare: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(COMPARE)
