#!/usr/bin/env python3
"""Probe worker: one multi-turn conversation with one model -> one JSON transcript.

    python3 cloud/workers/probe.py < job.json
    python3 cloud/workers/probe.py --serve [--concurrency N] < jobs.jsonl

Reads one job on stdin, prints one document on stdout ({success: true, transcript} or
{success: false, error, partialTranscript?}), logs JSON lines on stderr, exits 0.
With --serve it stays warm and runs JSON-lines jobs (see common/runs/serve.py).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))  # `common` from any working directory

# First, before the imports that take 0.1-0.3 s: from here on SIGTERM and SIGINT are
# recorded and answered CANCELLED, never the default kill or a KeyboardInterrupt mid-import.
from common.runs import process_start

process_start.begin()

from common.runs.oneshot import exit_process, freeze_heap, run_worker  # noqa: E402
from common.runs.probe_worker import PROBE  # noqa: E402


def main() -> int:
    if len(sys.argv) > 1:  # argparse and the server are imported only when asked for
        from common.runs.serve import main as serve

        return serve(sys.argv[1:])
    freeze_heap()  # one job, then exit: what is imported by now is never garbage
    return run_worker(PROBE)


if __name__ == "__main__":
    exit_process(main())
