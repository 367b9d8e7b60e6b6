"""How much a health check costs, against the interpreter floor, measured in one run.

    python3 bench/health_check_bench.py [--runs 5]

Prints the median wall time and peak RSS of `python3 -c pass` (the floor), of
health_check.py with no keys (no provider SDK imported), with one key (that SDK
imported), and the ratio of each to the floor.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench_support import HEALTH_CHECK_PY, emit, measure


def measured(argv: list[str | Path], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MiB) of `runs` fresh processes."""
    done = [measure(*argv, env=env) for _ in range(runs)]
    return statistics.median(r.wall_s for r in done), statistics.median(r.peak_rss_mib for r in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases: list[tuple[str, list[str | Path], dict[str, str]]] = [
        ("floor: python3 -c pass", ["-c", "pass"], {}),
        ("health_check, no keys", [HEALTH_CHECK_PY], {}),
        ("health_check, OPENAI_API_KEY set", [HEALTH_CHECK_PY], {"OPENAI_API_KEY": "sk-bench-not-a-real-key-000000"}),
        ("import openai alone", ["-c", "import openai"], {}),
    ]
    floor_wall = None
    emit(f"{'case':40} {'wall ms':>9} {'x floor':>8} {'RSS MiB':>8}")
    for label, argv, env in cases:
        wall, rss = measured(argv, env, args.runs)
        floor_wall = floor_wall or wall
        emit(f"{label:40} {wall * 1000:9.0f} {wall / floor_wall:8.1f} {rss:8.1f}")


if __name__ == "__main__":
    main()
