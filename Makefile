# Set-up is part of every target: a fresh machine needs only python3 (3.11+), pip and npm.
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
# Both lock files carry hashes; --require-hashes also refuses anything they do not pin.
PIP_INSTALL := $(VPY) -m pip install --quiet --disable-pip-version-check --require-hashes
# Two stamps: a runtime-only venv (make demo, make install) is topped up with the dev
# set the first time a test/lint target runs; either stamp is redone when its lock file changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
LINTED := cloud/workers bench
# Extra pip-compile arguments for `make lock`, e.g. LOCK_ARGS=--upgrade or
# LOCK_ARGS="--upgrade-package openai"; by default every existing pin is kept.
# --no-strip-extras: pins such as google-auth[requests] keep their extra, else the pip that
# Python 3.11's venv ships (23.2) refuses them in --require-hashes mode.
LOCK_ARGS ?=
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(VPY) -m piptools compile --quiet --generate-hashes \
	--no-strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

.PHONY: install install-dev demo test lint format typecheck check bench bench-analyze bench-report test-node schema lock clean

$(VPY):
	$(PY) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(VPY)
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

install: $(RUNTIME_STAMP)  ## runtime packages only (requirements.txt): what a deployment needs

install-dev: $(DEV_STAMP)  ## runtime + test, lint, type and lock tools (requirements-dev.txt)

demo: $(RUNTIME_STAMP)  ## run one probe job on the offline mock provider
	$(VPY) cloud/workers/probe.py < examples/probe_job.json

test: $(DEV_STAMP)  ## the whole test suite
	$(VPY) -m pytest

lint: $(DEV_STAMP)  ## ruff check and ruff format --check (both run; fails if either fails)
	$(VPY) -m ruff check $(LINTED); status=$$?; $(VPY) -m ruff format --check $(LINTED) && exit $$status

format: $(DEV_STAMP)  ## ruff format, and ruff's import sorting
	$(VPY) -m ruff check --select I --fix --quiet $(LINTED)
	$(VPY) -m ruff format $(LINTED)

typecheck: $(DEV_STAMP)
	$(VPY) -m mypy cloud/workers

check: lint typecheck test

lock: $(DEV_STAMP)  ## regenerate requirements.txt (+ its copy in cloud/workers/) and requirements-dev.txt from pyproject.toml
	$(PIP_COMPILE) --output-file requirements.txt pyproject.toml
	cp requirements.txt cloud/workers/requirements.txt
	$(PIP_COMPILE) --allow-unsafe --extra dev --constraint requirements.txt --output-file requirements-dev.txt pyproject.toml

bench: $(DEV_STAMP)  ## worker benchmarks against a local fake provider: health check, cold start, serve mode, batch (a few minutes)
	$(VPY) bench/health_check_bench.py
	$(VPY) bench/cold_start_bench.py
	$(VPY) bench/serve_bench.py
	$(VPY) bench/batch_bench.py

bench-analyze: $(DEV_STAMP)  ## analyze_basic.py on seeded 10k and 100k-transcript runs: wall time, peak RSS, sizes
	$(VPY) bench/analyze_basic_bench.py

bench-report: $(DEV_STAMP)  ## report.py on synthetic 10k and 100k-job runs: HTML size, build time, load time in chromium
	$(VPY) bench/report_bench.py

test-node: $(DEV_STAMP)  ## the Node host client (cloud/host) against the real workers; installs it from its lock file
	cd cloud/host && npm ci --no-audit --no-fund && npm run typecheck && npm test

schema: $(DEV_STAMP)  ## regenerate cloud/workers/schema/ from the pydantic models, then cloud/host/src/generated/ from it
	$(VPY) cloud/workers/schema.py
	cd cloud/host && npm ci --no-audit --no-fund && npm run generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
