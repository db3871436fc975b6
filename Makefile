# moorline developer tasks. Every target creates the environment when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
# test processes (pytest-xdist; whole files per process, so a module's fixtures are set up once)
TEST_WORKERS ?= 2
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test check lint typecheck unit bench lock clean demo

$(STAMP): pyproject.toml requirements/dev.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

## run: start the server on the embedded default (SQLite + ./.moorline) and print its URL
run: $(STAMP)
	$(VENV)/bin/moorline server --host $(HOST) --port $(PORT)

## test: lint, type checks, architecture contracts and every test suite
test: check
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## check: ruff, mypy --strict, import-linter
check: lint typecheck

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## unit: the fast suites only (no browser, no mlflow client)
unit: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not browser and not compat" $(PYTEST_ARGS)

## demo: the closed loop end to end on real data, in the store `make run` serves (DEMO_ARGS=--reset to run again)
demo: $(STAMP)
	$(VENV)/bin/moorline demo $(DEMO_ARGS)

## bench: side-by-side benchmarks against the anchors (minutes; not part of test)
bench: $(STAMP)
	$(PY) benchmarks/tracking.py
	$(PY) benchmarks/registry.py
	$(PY) benchmarks/drift.py
	$(PY) benchmarks/serving.py

## lock: re-pin requirements/dev.lock from requirements/dev.in
lock:
	python3 -m venv /tmp/moorline-lock && /tmp/moorline-lock/bin/pip install -q -r requirements/dev.in
	/tmp/moorline-lock/bin/pip freeze --exclude-editable | grep -v '^moorline' > requirements/dev.lock
	rm -rf /tmp/moorline-lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
