# XTRACKER: `make run` starts everything; `make test` runs the whole suite.
#
# Two virtualenvs, each holding exactly one lock (installed with --no-deps, then `pip check`):
#   .venv       requirements.txt       the runtime: `make run` and nothing else
#   .venv-test  requirements-test.txt  the runtime lock plus the test tools: `make test`, benchmarks
# Test-only packages therefore never reach what `make run` relies on. A venv whose lock changed
# is rebuilt from scratch, so it never keeps a package the lock dropped.
PYTHON    ?= python3
VENV      := .venv
TEST_VENV := .venv-test
LOCK_VENV := .venv-lock
PY        := $(VENV)/bin/python
TEST_PY   := $(TEST_VENV)/bin/python
PIP_TOOLS := pip-tools==7.6.2
PIP       := --disable-pip-version-check -q
COMPILE   := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --allow-unsafe --strip-extras \
             --generate-hashes --no-emit-find-links --no-emit-index-url

.PHONY: run test test-faults boot-check lock bench bench-ingest bench-delivery bench-landing bench-dashboard bench-reports bench-live bench-telegram bench-badauth bench-partitions clean-venv

$(VENV)/.run-deps: requirements.txt
	@scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)" requirements.txt
	$(VENV)/bin/pip install $(PIP) --no-deps -r requirements.txt
	$(VENV)/bin/pip check
	@touch $@

$(TEST_VENV)/.test-deps: requirements.txt requirements-test.txt
	@scripts/ensure-venv.sh "$(PYTHON)" "$(TEST_VENV)" requirements-test.txt
	$(TEST_VENV)/bin/pip install $(PIP) --no-deps -r requirements-test.txt
	$(TEST_VENV)/bin/pip check
	@touch $@

## run: private PostgreSQL + Redis under ./var (unless DATABASE_URL/REDIS_URL are set), migrations, all Procfile processes
run: $(VENV)/.run-deps
	$(PY) scripts/run.py

## test: the full suite on throwaway PostgreSQL + Redis started by the run itself
test: $(TEST_VENV)/.test-deps
	$(TEST_PY) scripts/test.py $(PYTEST_ARGS)

## test-faults: only the fault suite (tests/faults/), ending with its table of scenarios and figures
test-faults: $(TEST_VENV)/.test-deps
	$(TEST_PY) scripts/test.py tests/faults $(PYTEST_ARGS)

## boot-check: a clean clone, a fresh runtime-only venv, `make run` as a new user runs it (CI runs it first)
boot-check:
	$(PYTHON) scripts/boot_check.py

## lock: recompile requirements.txt and requirements-test.txt from the hand-written *.in files
lock:
	@scripts/ensure-venv.sh "$(PYTHON)" "$(LOCK_VENV)"
	$(LOCK_VENV)/bin/pip install $(PIP) $(PIP_TOOLS)
	$(COMPILE) -o requirements.txt requirements.in
	$(COMPILE) -o requirements-test.txt requirements-test.in

## bench: every benchmark under bench/, short (~15-25 min), then one table of ratios (FULL=1: full size, ~1 h; BENCH_ONLY=a,b; BENCH_COMPARE=REV)
bench: $(TEST_VENV)/.test-deps
	BENCH_FULL=$(FULL) BENCH_ONLY=$(BENCH_ONLY) BENCH_COMPARE=$(BENCH_COMPARE) $(TEST_PY) bench/all.py

## bench-*: the benchmarks under bench/ (each prints its figures beside a ceiling from the same run)
bench-ingest: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/ingest.py

bench-delivery: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/delivery.py

bench-landing: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/landing.py

bench-dashboard: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/dashboard.py

bench-reports: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/reports.py

bench-live: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/live.py

bench-telegram: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/telegram.py

bench-badauth: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/badauth.py

bench-partitions: $(TEST_VENV)/.test-deps
	$(TEST_PY) bench/partition_backfill.py

clean-venv:
	rm -rf $(VENV) $(TEST_VENV) $(LOCK_VENV)
