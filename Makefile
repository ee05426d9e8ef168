# betreco: `make run` runs the whole pipeline, `make test` the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8098
PRODUCER_PORT ?= 8099

.PHONY: install lock run test lint format bench soak clean

# requirements-dev.txt is the whole locked set (runtime and dev, every package hashed).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Compiles requirements.in and requirements-dev.in into the hashed locks, keeping the
# current pins where the .in files allow. LOCK_ARGS=--upgrade moves every pin to the
# newest release in range; LOCK_ARGS="--upgrade-package django" moves one.
PIP_COMPILE = $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: install
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in

# Migrates, starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), topics,
# three consumers, the API on PORT and the producer on PRODUCER_PORT; Ctrl-C stops it all.
run: install
	exec env PORT=$(PORT) PRODUCER_PORT=$(PRODUCER_PORT) $(PY) -m betreco.stack

# The suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL names a server.
# Two pytest-xdist workers: the integration tests mostly wait on processes and the
# broker, so two halve the time on two cores (TEST_WORKERS=0 runs it in one process).
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -n $(TEST_WORKERS)
test: install
	env -u DATABASE_URL $(PYTEST)
	@if [ -n "$(TEST_DATABASE_URL)" ]; then \
		echo "== the suite again on PostgreSQL (DATABASE_URL=\$$TEST_DATABASE_URL) =="; \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(PYTEST); \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks print figures and ratios, never assert (BENCH_ARGS="--scale 0.1" for a quick run).
bench: install
	$(PY) bench/recommendations.py $(BENCH_ARGS)
	$(PY) -m bench.pipeline
	$(PY) -m bench.reads $(BENCH_READS_ARGS)
	$(PY) -m bench.consumer_cpu

# The chaos soak (15 minutes of load under faults, then 30 s at full speed: arrays from 16
# connections to 8 producer workers, two consumers a topic, consumers killed; then every check,
# every 202 reconciled by topic/partition/offset; exit 1 when one fails).
# SQLite by default; on PostgreSQL with TEST_DATABASE_URL set, or SOAK_ARGS="--database-url URL".
# SOAK_ARGS="--minutes 3" for a shorter one; --fast-seconds N (0: none) and --fast-limit N
# (records/s) for the full-speed phase; --keep keeps the run dir on success too;
# --per-topic / --all-topics: the consumers' shape (default as make run: per topic on PostgreSQL).
SOAK_ARGS ?=
soak: install
	$(PY) -m soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache
