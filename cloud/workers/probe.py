#!/usr/bin/env python3
"""Probe worker: one multi-turn conversation with one model -> one JSON transcript.

    python3 cloud/workers/probe.py < job.json
    python3 cloud/workers/probe.py --serve [--concurrency N] < jobs.jsonl

Reads one job on stdin, prints one document on stdout ({success: true, transcript} or
{success: false, error, partialTranscript?}), logs JSON lines on stderr, exits 0.
With --serve it stays warm and runs JSON-lines jobs (see common/runs/serve.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from common.runs.oneshot import exit_process, freeze_heap, run_worker
from common.runs.probe_worker import PROBE


def main() -> int:
    if len(sys.argv) > 1:  # argparse and the server are imported only when asked for
        from common.runs.serve import main as serve

        return serve(sys.argv[1:])
    freeze_heap()  # one job, then exit: what is imported by now is never garbage
    return run_worker(PROBE)


if __name__ == "__main__":
    exit_process(main())
