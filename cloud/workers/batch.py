#!/usr/bin/env python3
"""Batch runs: a JSON-lines file of probe jobs -> a JSON-lines file of results.

    python3 cloud/workers/batch.py jobs.jsonl -o results.jsonl [--concurrency 16]
        [--rpm openai=500] [--tpm openai=200000] [--limits limits.toml]

Each job line is a probe job with an "id"; each result line is {"id", "result"} where
`result` is what probe.py prints for that job. Running the same command again skips
finished jobs and retries retryable failures (see common/batch.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from common.runs.batch.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
