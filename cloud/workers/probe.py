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
# recorded and answered CANCELLED, never the default kill or a KeyboardInterrupt mid-import;
# and no garbage collection runs during those imports (they leave no garbage to find).
from common.runs import process_start

process_start.begin()

from common.runs.oneshot import exit_process, freeze_heap, run_worker  # noqa: E402
from common.runs.probe_worker import PROBE  # noqa: E402


def main() -> int:
    if len(sys.argv) > 1:  # argparse and the server are imported only when asked for
        process_start.collect_again()  # a long-lived server collects as usual
        from common.runs.serve import main as serve

        return serve(sys.argv[1:])
    freeze_heap()  # one job, then exit: what is imported by now is never garbage
    process_start.collect_again()  # the job's own garbage is collected (the frozen heap is not walked)
    return run_worker(PROBE)


if __name__ == "__main__":
    exit_process(main())
