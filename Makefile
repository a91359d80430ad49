# The two commands: `make run` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT
# Test processes (pytest-xdist): one a core, at most four, since they share the test servers.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))

.PHONY: run test install lint services services-stop bench clean

$(BIN)/opendata: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/opendata

## Create the embedded database, storage and search, load the demo catalog, serve on $PORT.
run: install
	$(BIN)/opendata init
	$(BIN)/opendata demo
	$(BIN)/opendata serve --port $(PORT)

## Lint, then the whole suite with branch coverage, on $(TEST_WORKERS) processes.
test: install lint
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term-missing:skip-covered

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Benchmarks (not tests): `make bench`, or `make bench BENCH_ARGS=--small` for a smoke run.
bench: install
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

## Start PostgreSQL (and, later, the other servers) for the tests; prints export lines.
services:
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .coverage
