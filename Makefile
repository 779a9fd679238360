# Two commands for a new user: `make run` (install, fetch jars, load, build, summarise) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every entry point, dbt included, keeps its state here; absolute, so it holds from any directory.
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse

.PHONY: run test lint install jars ingest build summary train score lock clean

run: jars ingest build summary

test: jars
	$(BIN)/pytest

# SQL (sqlfluff, settings in .sqlfluff) and Python (ruff, settings in pyproject.toml); needs no Spark.
lint: install
	$(BIN)/sqlfluff lint models macros tests/dbt
	$(BIN)/ruff check lakehouse ml tests benchmarks
	$(BIN)/ruff format --check lakehouse ml tests benchmarks

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

summary: jars
	$(BIN)/lakehouse summary

train: jars
	$(BIN)/python ml/train.py

score: jars
	$(BIN)/python ml/score.py

lock: install
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(LAKEHOUSE_HOME) target logs
