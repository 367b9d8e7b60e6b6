"""How much a health check costs, against the interpreter floor, measured in one run.

    python3 bench/health_check_bench.py [--runs 5]

Prints the median wall time and peak RSS of `python3 -c pass` (the floor), of
health_check.py with no keys (no provider SDK imported), with one key (that SDK
imported), and the ratio of each to the floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "cloud" / "workers" / "health_check.py"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(extra)
    return env


def measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MiB) of `runs` fresh processes."""
    walls: list[float] = []
    rss: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - started)
        rss.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} exited {status}")
    return statistics.median(walls), statistics.median(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("floor: python3 -c pass", [sys.executable, "-c", "pass"], clean_env()),
        ("health_check, no keys", [sys.executable, str(WORKER)], clean_env()),
        (
            "health_check, OPENAI_API_KEY set",
            [sys.executable, str(WORKER)],
            clean_env(OPENAI_API_KEY="sk-bench-not-a-real-key-000000"),
        ),
        ("import openai alone", [sys.executable, "-c", "import openai"], clean_env()),
    ]
    floor_wall = None
    print(f"{'case':40} {'wall ms':>9} {'x floor':>8} {'RSS MiB':>8}")
    for label, argv, env in cases:
        wall, rss = measure(argv, env, args.runs)
        floor_wall = floor_wall or wall
        print(f"{label:40} {wall * 1000:9.0f} {wall / floor_wall:8.1f} {rss:8.1f}")


if __name__ == "__main__":
    main()
