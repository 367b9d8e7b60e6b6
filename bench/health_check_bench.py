"""How long a health check takes with all six provider keys set, idle and with the cores busy.

    python3 bench/health_check_bench.py [--runs 7] [--deep-runs 3] [--busy 2,4]

The host spawns health_check.py with a 10 s timeout (15 s for its health page) and caches
a failed check for the life of its process, so the figure that matters is the wall time
on a loaded machine. For each load (idle, then N busy-loop processes for each N in
`--busy`; the default is one per core, then two per core) it prints the median and the
worst wall time of `python3 -c pass` (the floor), of the default check (package metadata:
no SDK, numpy or scipy imported) and of the deep check (`--deep`: every package imported
in its own subprocess). Every busy-loop process ends by itself after a bounded time and is
ended at the end of its load in any case. A JSON copy goes to bench/results/health_check.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_support import FAKE_KEYS, HEALTH_CHECK_PY, emit, measure, save

ALL_SIX_KEYS = {
    **FAKE_KEYS,
    "XAI_API_KEY": "xai-bench-not-a-real-key-000000",
    "DEEPSEEK_API_KEY": "sk-bench-deepseek-not-a-real-key-00",
}
HOST_TIMEOUT_S = 10.0
# The longest a busy-loop process may live, whatever happens to this script.
BUSY_LIMIT_S = 600
_BUSY_LOOP = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU, each ending by itself within BUSY_LIMIT_S."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", _BUSY_LOOP.format(limit=BUSY_LIMIT_S)], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for spinner in spinners:  # only the processes started here, by their own handles
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def walls(argv: list[str | Path], runs: int) -> list[float]:
    """Wall seconds of `runs` fresh processes, all six fake keys set."""
    done = [measure(*argv, env=ALL_SIX_KEYS) for _ in range(runs)]
    if HEALTH_CHECK_PY in argv:  # a check that did not answer would make its time meaningless
        for run in done:
            document = run.document
            assert document["success"] is True, document
            expected = "import" if "--deep" in argv else "metadata"
            assert document["health"]["checkedBy"] == expected, document["health"]["checkedBy"]
    return [run.wall_s for run in done]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--deep-runs", type=int, default=3)
    cores = os.cpu_count() or 1
    parser.add_argument("--busy", default=f"{cores},{2 * cores}", help="busy-loop process counts, comma-separated")
    args = parser.parse_args()
    loads = [0, *(int(n) for n in args.busy.split(",") if n.strip())]
    cases: list[tuple[str, list[str | Path], int]] = [
        ("floor: python3 -c pass", ["-c", "pass"], args.runs),
        ("health_check (metadata)", [HEALTH_CHECK_PY], args.runs),
        ("health_check --deep", [HEALTH_CHECK_PY, "--deep"], args.deep_runs),
    ]
    emit(f"{cores} cores; all six provider keys set (fake); host timeout {HOST_TIMEOUT_S:.0f} s")
    emit(f"{'load':14} {'case':26} {'median ms':>10} {'worst ms':>9} {'runs':>5}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for busy in loads:
        label = "idle" if busy == 0 else f"{busy} busy procs"
        with busy_cores(busy):
            for name, argv, runs in cases:
                times = walls(argv, runs)
                median, worst = statistics.median(times), max(times)
                results.setdefault(label, {})[name] = {"median_ms": median * 1000, "worst_ms": worst * 1000}
                emit(f"{label:14} {name:26} {median * 1000:10.0f} {worst * 1000:9.0f} {runs:5d}")
    emit(f"results: {save('health_check', {'cores': cores, 'results': results})}")


if __name__ == "__main__":
    main()
