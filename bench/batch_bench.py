"""Benchmark 3: batch runs of 100, 1,000 and 10,000 jobs: cost per job stays flat as the batch grows.

    python3 bench/batch_bench.py [--sizes 100,1000,10000]

Each size runs `batch.py` (OpenAI SDK, one-turn jobs) against the local fake server with
200 ms latency and 64 jobs in flight, into a fresh results file. Printed per size: wall
time, jobs per second and its share of the ideal (64 / 0.2 s = 320 jobs/s), CPU time
per job and peak RSS of the batch process. Flat means CPU ms per job (and RSS) at
10,000 jobs close to what they are at 100.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

from bench_support import BATCH_PY, emit, fake_provider_process, measure, one_turn_job, provider_env, save

LATENCY_MS = 200.0
CONCURRENCY = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ideal = CONCURRENCY / (LATENCY_MS / 1000)
    report: dict[str, Any] = {}
    emit(
        f"\nBenchmark 3: batch.py, OpenAI SDK, one-turn jobs, latency {LATENCY_MS:.0f} ms, concurrency {CONCURRENCY};"
        f" ideal {ideal:.0f} jobs/s"
    )
    emit(f"{'jobs':>6} {'wall s':>7} {'jobs/s':>7} {'of ideal':>8} {'CPU ms/job':>10} {'peak MiB':>8} {'succeeded':>9}")
    with fake_provider_process(LATENCY_MS) as url, tempfile.TemporaryDirectory() as scratch:
        env = provider_env(url)
        for size in sizes:
            folder = Path(scratch) / str(size)
            folder.mkdir()
            jobs = folder / "jobs.jsonl"
            jobs.write_text(
                "".join(json.dumps({"id": n, **one_turn_job("openai:gpt-4o-mini", n)}) + "\n" for n in range(size))
            )
            summary = folder / "summary.json"
            argv = [BATCH_PY, str(jobs), "-o", str(folder / "results.jsonl"), "--concurrency", str(CONCURRENCY)]
            run = measure(*argv, "--summary-json", str(summary), env=env)
            facts = json.loads(summary.read_text())
            rate = size / run.wall_s
            cpu_ms = run.cpu_s * 1000 / size
            emit(
                f"{size:6d} {run.wall_s:7.1f} {rate:7.1f} {rate / ideal:8.0%} {cpu_ms:10.2f} {run.peak_rss_mib:8.1f}"
                f" {facts['succeeded']:9d}"
            )
            report[str(size)] = {
                "wallS": round(run.wall_s, 2),
                "jobsPerS": round(rate, 1),
                "ofIdeal": round(rate / ideal, 3),
                "cpuMsPerJob": round(cpu_ms, 2),
                "peakMiB": round(run.peak_rss_mib, 1),
                "succeeded": facts["succeeded"],
            }
    ordered = sorted(report.items(), key=lambda item: int(item[0]))
    for (small, a), (large, b) in itertools.pairwise(ordered):
        jobs = int(large) - int(small)
        marginal_cpu = (b["cpuMsPerJob"] * int(large) - a["cpuMsPerJob"] * int(small)) / jobs
        marginal_wall = (b["wallS"] - a["wallS"]) * 1000 / jobs
        emit(f"marginal cost per job from {small} to {large}: {marginal_cpu:.2f} ms CPU, {marginal_wall:.2f} ms wall")
        report[f"marginal {small}-{large}"] = {
            "cpuMsPerJob": round(marginal_cpu, 2),
            "wallMsPerJob": round(marginal_wall, 2),
        }
    emit(
        "wall and CPU include the process start and the SDK import (about 1 s), which weigh most on the smallest batch"
    )
    emit(f"results: {save('batch', report)}")


if __name__ == "__main__":
    main()
