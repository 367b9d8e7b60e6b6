"""Benchmark: distributed runs (`batch.py --broker` + Celery workers), 1 vs 2 worker processes.

    python3 bench/distributed_bench.py [--jobs 2000] [--turns 1] [--latency-ms 200] [--concurrency 64]
                                       [--workers 1,2] [--no-serve]

The cases README "Distributed runs" records: `--jobs 20000` (one turn) and
`--jobs 1000 --turns 4` (each job four requests, a checkpoint after each of the first three).

One-turn (or `--turns N`) OpenAI-SDK jobs against the local fake server (its own process) through a private
Redis (broker and run state). Each worker process runs `--concurrency` jobs at once on one
event loop; the driver keeps `workers x concurrency` jobs out. Printed per worker count:
wall time, jobs/s and its share of the ideal (workers x concurrency / latency), worker CPU
per job (read from /proc for the worker processes, measured after a warm-up batch so the
SDK import is not in it), the driver's CPU per job, and peak RSS per worker. For
comparison, serve mode's marginal CPU per job on the same jobs (`probe.py --serve`, the
difference between a run of N + warm-up jobs and one of the warm-up alone).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import BATCH_PY, PROBE_PY, emit, fake_provider_process, measure, one_turn_job, provider_env, save

from testkit.celery_workers import distributed_env, new_queue, workers
from testkit.redis_server import private_redis

WARM_UP = 64
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime of every thread


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_job(n: int, turns: int) -> dict[str, Any]:
    job = one_turn_job("openai:gpt-4o-mini", n)
    followups = [{"label": f"f{t}", "prompt": f"Follow-up {t} to question {n}: why?"} for t in range(1, turns)]
    return {**job, "scenario": {**job["scenario"], "followups": followups}} if followups else job


def jobs_file(path: Path, count: int, tag: str, turns: int = 1) -> Path:
    path.write_text("".join(json.dumps({"id": f"{tag}-{n}", **bench_job(n, turns)}) + "\n" for n in range(count)))
    return path


def distributed_case(
    scratch: Path, env: dict[str, str], redis_url: str, count: int, worker_count: int, concurrency: int, turns: int = 1
) -> dict[str, Any]:
    queue = new_queue()
    run_env = {**env, **distributed_env(redis_url, redis_url, queue), "PROBE_LOG_LEVEL": "warning"}
    out = scratch / f"w{worker_count}"
    out.mkdir()
    window = str(worker_count * concurrency)

    def drive(name: str, size: int) -> Any:
        jobs = jobs_file(out / f"{name}.jsonl", size, name, turns)
        argv = [BATCH_PY, str(jobs), "-o", str(out / f"{name}.out.jsonl"), "--broker", redis_url]
        return measure(
            *argv, "--concurrency", window, "--no-progress", "--summary-json", str(out / f"{name}.json"), env=run_env
        )

    with workers(run_env, worker_count, concurrency=concurrency) as started:
        drive("warm", WARM_UP * worker_count)
        pids = [worker.proc.pid for worker in started]
        before = [cpu_s(pid) for pid in pids]
        started_at = time.monotonic()
        run = drive("run", count)
        wall = time.monotonic() - started_at
        worker_cpu = sum(cpu_s(pid) for pid in pids) - sum(before)
        rss = max(peak_rss_mib(pid) for pid in pids)
    facts = json.loads((out / "run.json").read_text())
    ideal = worker_count * concurrency / (float(env["LATENCY_MS"]) / 1000) / turns
    rate = count / run.wall_s
    return {
        "workers": worker_count,
        "wallS": round(run.wall_s, 2),
        "driverWallS": round(wall, 2),
        "jobsPerS": round(rate, 1),
        "idealJobsPerS": round(ideal, 1),
        "ofIdeal": round(rate / ideal, 3),
        "workerCpuMsPerJob": round(worker_cpu * 1000 / count, 2),
        "driverCpuMsPerJob": round(run.cpu_s * 1000 / count, 2),
        "peakRssMiBPerWorker": round(rss, 1),
        "succeeded": facts["succeeded"],
    }


def serve_cpu_ms_per_job(scratch: Path, env: dict[str, str], count: int, concurrency: int) -> float:
    def served(size: int) -> float:
        lines = jobs_file(scratch / f"serve{size}.jsonl", size, "serve").read_bytes()
        run = measure(PROBE_PY, "--serve", "--concurrency", str(concurrency), env=env, stdin=lines)
        return run.cpu_s

    return (served(WARM_UP + count) - served(WARM_UP)) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--turns", type=int, default=1, help="requests per job (1 + followups), at most 8")
    parser.add_argument("--no-serve", action="store_true", help="skip the serve-mode CPU comparison")
    args = parser.parse_args()
    if not 1 <= args.turns <= 8 or not 1 <= args.jobs <= 50_000:
        parser.error("--turns must be 1..8 and --jobs 1..50000 (the fake and Redis run on this machine)")
    emit(
        f"\nDistributed runs: {args.jobs} {args.turns}-turn jobs, OpenAI SDK, latency {args.latency_ms:.0f} ms,"
        f" {args.concurrency} jobs per worker process, Redis broker"
    )
    report: dict[str, Any] = {}
    with fake_provider_process(args.latency_ms) as url, private_redis() as redis, tempfile.TemporaryDirectory() as tmp:
        env = {**provider_env(url), "LATENCY_MS": str(args.latency_ms)}
        scratch = Path(tmp)
        emit(
            f"{'workers':>7} {'wall s':>7} {'jobs/s':>7} {'ideal':>6} {'of ideal':>8} {'worker CPU ms/job':>17}"
            f" {'driver CPU ms/job':>17} {'peak MiB/worker':>15}"
        )
        for count in (int(n) for n in args.workers.split(",")):
            case = distributed_case(scratch, env, redis.url, args.jobs, count, args.concurrency, args.turns)
            report[f"workers={count}"] = case
            emit(
                f"{count:7d} {case['wallS']:7.1f} {case['jobsPerS']:7.1f} {case['idealJobsPerS']:6.0f}"
                f" {case['ofIdeal']:8.0%} {case['workerCpuMsPerJob']:17.2f} {case['driverCpuMsPerJob']:17.2f}"
                f" {case['peakRssMiBPerWorker']:15.1f}"
            )
        if not args.no_serve and args.turns == 1:
            serve = serve_cpu_ms_per_job(scratch, env, args.jobs, args.concurrency)
            report["serveCpuMsPerJob"] = round(serve, 2)
            emit(f"serve mode, same jobs: {serve:.2f} ms CPU per job (marginal)")
    one, two = report.get("workers=1"), report.get("workers=2")
    if one and two:
        emit(f"2 workers / 1 worker: {two['jobsPerS'] / one['jobsPerS']:.2f}x jobs/s")
    default = args.turns == 1 and args.jobs == 2000
    emit(f"results: {save('distributed' if default else f'distributed-{args.jobs}x{args.turns}', report)}")


if __name__ == "__main__":
    main()
