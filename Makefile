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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
