# Two commands for a new user: `make run` (install, fetch jars, load, build, docs, summarise) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every entry point, dbt included, keeps its state here; absolute, so it holds from any directory.
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse

.PHONY: run test lint audit install jars ingest build docs summary train score lock clean browser docs-images bench bench-ml

run: jars ingest build docs summary

test: lint jars browser
	$(BIN)/pytest

# SQL (sqlfluff, settings in .sqlfluff), Python (ruff, settings in pyproject.toml) and secrets in the tracked
# files (detect-secrets: a false positive gets an inline `pragma: allowlist secret` comment); needs no Spark.
lint: install
	$(BIN)/sqlfluff lint models macros tests/dbt
	$(BIN)/ruff check lakehouse ml tests benchmarks
	$(BIN)/ruff format --check lakehouse ml tests benchmarks
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook

# Known vulnerabilities in requirements.lock, from PyPI's vulnerability data (pip-audit). --strict makes a
# package it could not look up an error, so an unreachable service fails the audit instead of passing it.
# Not in lint, so not in CI: from our machines PyPI serves packages but not the per-release pages that carry
# that data, and OSV (-s osv) is out of reach, so every lookup fails.
audit: install
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r requirements.lock

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: Python 3.11 or newer is needed: run with PYTHON=/path/to/python3.11"; exit 1; }
	@command -v java >/dev/null \
		|| { echo "error: Java not found: install a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	# dbt-core would otherwise try to build dbt-core-experimental-parser from a source it cannot reach.
	$(BIN)/pip install --quiet --only-binary=dbt-core-experimental-parser -r requirements.lock
	# compat mode puts the project root on sys.path, where dbt finds its plugin dbt_lakehouse.py
	$(BIN)/pip install --quiet --no-deps --config-settings editable_mode=compat --editable .
	touch $@

jars: install
	$(BIN)/lakehouse jars

ingest: jars
	$(BIN)/lakehouse ingest

build: jars
	$(BIN)/dbt build

# The catalog for `dbt docs serve`. --no-compile reuses the build's manifest and keeps its run_results.json,
# which `lakehouse summary` reports.
docs: jars
	$(BIN)/dbt docs generate --no-compile

summary: jars
	$(BIN)/lakehouse summary

train: jars
	$(BIN)/python ml/train.py

score: jars
	$(BIN)/python ml/score.py

# dbt-on-Spark against bare Spark SQL, pandas, DuckDB and Dask on K copies of the year (lakehouse/bench/benchmark.py); after `make run`.
# COPIES="1 10 30 300" adds the 101-million-flight run (about an hour more on 2 cores).
COPIES ?= 1 10 30
bench: jars
	$(BIN)/lakehouse bench --copies $(COPIES)

bench-ml: jars
	$(BIN)/lakehouse bench-ml --ablation

# Debian's headless Chromium for the docs browser test (tests/test_docs.py); Playwright drives it and never
# downloads a browser of its own. Installed only when missing and run as root. Elsewhere this says how and the
# test skips, except in CI (CI=true), where a browser that cannot be had is an error.
CHROMIUM := /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the docs browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "warning: apt-get could not install chromium"; [ "$$CI" != true ]; }; \
	elif [ "$$CI" = true ]; then \
		echo "error: $(CHROMIUM) not found and not root: install Debian's chromium"; exit 1; \
	else \
		echo "note: $(CHROMIUM) not found: the docs browser test will skip (as root, \`make browser\` installs it)"; \
	fi

# The pictures in docs/, from the full year (`make run` first): the lineage graph of the generated docs and the
# ROC curve of a fresh training run (about 7 minutes on 2 cores; TRAIN_ARGS=--quick fits one small grid point).
IMAGES := docs/images
TRAIN_ARGS ?=

docs-images: jars browser
	mkdir -p $(IMAGES)
	$(BIN)/dbt docs generate
	$(BIN)/python -m lakehouse.docs_site --output $(IMAGES)/lineage_flight_features.png
	$(BIN)/python ml/train.py $(TRAIN_ARGS)
	cp "$$(ls -d $(LAKEHOUSE_HOME)/models/flight_delay/v*/ | sort -V | tail -n 1)plots/roc.png" $(IMAGES)/roc.png

lock: install
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(LAKEHOUSE_HOME) target logs
