# Set-up is part of every target: a fresh machine needs only python3 (3.11+), pip and npm.
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck check bench clean

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## run one probe job on the offline mock provider
	$(VPY) cloud/workers/probe.py < examples/probe_job.json

test: $(STAMP)  ## the whole test suite
	$(VPY) -m pytest

lint: $(STAMP)
	$(VPY) -m ruff check cloud/workers bench

typecheck: $(STAMP)
	$(VPY) -m mypy cloud/workers

check: lint typecheck test

bench: $(STAMP)  ## worker benchmarks against a local fake provider: health check, cold start, serve mode, batch (a few minutes)
	$(VPY) bench/health_check_bench.py
	$(VPY) bench/cold_start_bench.py
	$(VPY) bench/serve_bench.py
	$(VPY) bench/batch_bench.py

.PHONY: test-node schema
test-node: $(STAMP)  ## the Node host client (cloud/host) against the real workers; installs it from its lock file
	cd cloud/host && npm ci --no-audit --no-fund && npm run typecheck && npm test

schema: $(STAMP)  ## regenerate cloud/workers/schema/ from the pydantic models, then cloud/host/src/generated/ from it
	$(VPY) cloud/workers/schema.py
	cd cloud/host && npm ci --no-audit --no-fund && npm run generate

.PHONY: bench-analyze
bench-analyze: $(STAMP)  ## analyze_basic.py on seeded 10k and 100k-transcript runs: wall time, peak RSS, sizes
	$(VPY) bench/analyze_basic_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
