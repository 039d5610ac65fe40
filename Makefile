# XTRACKER: `make run` starts everything; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test bench-ingest bench-delivery bench-landing bench-dashboard bench-reports bench-live bench-telegram clean-venv

$(VENV)/.run-deps: requirements.txt
	@scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)"
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-test.txt
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements-test.txt
	@touch $@

## run: private PostgreSQL + Redis under ./var (unless DATABASE_URL/REDIS_URL are set), migrations, all Procfile processes
run: $(VENV)/.run-deps
	$(PY) scripts/run.py

## test: the full suite on throwaway PostgreSQL + Redis started by the run itself
test: $(VENV)/.test-deps
	$(PY) scripts/test.py $(PYTEST_ARGS)

## bench-*: the benchmarks under bench/ (each prints its figures beside a ceiling from the same run)
bench-ingest: $(VENV)/.test-deps
	$(PY) bench/ingest.py

bench-delivery: $(VENV)/.test-deps
	$(PY) bench/delivery.py

bench-landing: $(VENV)/.test-deps
	$(PY) bench/landing.py

bench-dashboard: $(VENV)/.test-deps
	$(PY) bench/dashboard.py

bench-reports: $(VENV)/.test-deps
	$(PY) bench/reports.py

bench-live: $(VENV)/.test-deps
	$(PY) bench/live.py

bench-telegram: $(VENV)/.test-deps
	$(PY) bench/telegram.py

clean-venv:
	rm -rf $(VENV)
