"""Benchmark: distributed runs (`batch.py --broker` + Celery workers), 1 vs 2 worker processes.

    python3 bench/distributed_bench.py [--jobs 2000] [--turns 1] [--latency-ms 200] [--concurrency 64]
                                       [--workers 1,2] [--no-serve]

The cases README "Distributed runs" records: `--jobs 2000`, `--jobs 20000` (one turn),
`--jobs 1000 --turns 4` (each job four requests, a checkpoint after each of the first three)
and `--latency-ms 1000 --concurrency 32 --jobs 1920` (one worker is not CPU-bound there: the
scaling target).

One-turn (or `--turns N`) OpenAI-SDK jobs against the local fake server (its own process) through a private
Redis (broker and run state). Each worker process runs `--concurrency` jobs at once on one
event loop; the driver keeps `workers x concurrency` jobs out. Printed per worker count:
wall time, jobs/s and its share of the ideal (workers x concurrency / latency), worker CPU
per job (read from /proc for the worker processes, measured after a warm-up batch so the
SDK import is not in it), the driver's CPU per job, and peak RSS per worker. Beside the wall
figure (the driver's whole process, its ~1 s start-up included), the steady rate: the
results after the first window's (`workers x concurrency` jobs, which all end about when
the first result does), over the time from the first result line to the last, as the
bench sees the results file grow. For comparison, serve mode's marginal CPU per job on the
same jobs (`probe.py --serve`, the difference between a run of N + warm-up jobs and one of
the warm-up alone). The load average is printed with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
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


class ResultsWatch:
    """Notes when each line of a results file appears (a thread reading what was added every 10 ms)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: list[float] = []  # monotonic time at which line k (0-based) was first seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ResultsWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):  # a polling period, not an event: the file has no notifier here
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return
        now = time.monotonic()
        self.times.extend([now] * (lines - len(self.times)))

    def steady_rate(self, window: int) -> float | None:
        """Results after the first window's, per second from the first result to the last."""
        if len(self.times) <= window or self.times[-1] <= self.times[0]:
            return None
        return (len(self.times) - window) / (self.times[-1] - self.times[0])


def load_average() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def bench_job(n: int, turns: int) -> dict[str, Any]:
    job = one_turn_job("openai:gpt-4o-mini", n)
    followups = [{"label": f"f{t}", "prompt": f"Follow-up {t} to question {n}: why?"} for t in range(1, turns)]
    return {**job, "scenario": {**job["scenario"], "followups": followups}} if followups else job


def jobs_file(path: Path, count: int, tag: str, turns: int = 1) -> Path:
    path.write_text("".join(json.dumps({"id": f"{tag}-{n}", **bench_job(n, turns)}) + "\n" for n in range(count)))
    return path


def distributed_case(
    scratch: Path,
    env: dict[str, str],
    redis_url: str,
    count: int,
    worker_count: int,
    concurrency: int,
    *,
    turns: int = 1,
    window_factor: float = 1.0,
    worker_args: list[str] | None = None,
) -> dict[str, Any]:
    queue = new_queue()
    run_env = {**env, **distributed_env(redis_url, redis_url, queue), "PROBE_LOG_LEVEL": "warning"}
    out = scratch / f"w{worker_count}"
    out.mkdir()
    capacity = worker_count * concurrency  # jobs the workers run at once
    window = math.ceil(capacity * window_factor)  # jobs the driver keeps out (`--concurrency`)

    def drive(name: str, size: int) -> tuple[Any, ResultsWatch]:
        jobs = jobs_file(out / f"{name}.jsonl", size, name, turns)
        results = out / f"{name}.out.jsonl"
        argv = [BATCH_PY, str(jobs), "-o", str(results), "--broker", redis_url]
        with ResultsWatch(results) as watch:
            run = measure(
                *argv,
                "--concurrency",
                str(window),
                "--no-progress",
                "--summary-json",
                str(out / f"{name}.json"),
                env=run_env,
            )
        return run, watch

    with workers(run_env, worker_count, concurrency=concurrency, extra_args=worker_args or []) as started:
        drive("warm", WARM_UP * worker_count)
        pids = [worker.proc.pid for worker in started]
        before = [cpu_s(pid) for pid in pids]
        started_at = time.monotonic()
        run, watch = drive("run", count)
        wall = time.monotonic() - started_at
        worker_cpu = sum(cpu_s(pid) for pid in pids) - sum(before)
        rss = max(peak_rss_mib(pid) for pid in pids)
    facts = json.loads((out / "run.json").read_text())
    ideal = worker_count * concurrency / (float(env["LATENCY_MS"]) / 1000) / turns
    rate = count / run.wall_s
    steady = watch.steady_rate(capacity)
    return {
        "workers": worker_count,
        "wallS": round(run.wall_s, 2),
        "driverWallS": round(wall, 2),
        "jobsPerS": round(rate, 1),
        "steadyJobsPerS": round(steady, 1) if steady is not None else None,
        "firstResultS": round(watch.times[0] - started_at, 2) if watch.times else None,
        "idealJobsPerS": round(ideal, 1),
        "ofIdeal": round(rate / ideal, 3),
        "steadyOfIdeal": round(steady / ideal, 3) if steady is not None else None,
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
    parser.add_argument(
        "--window",
        type=float,
        default=1.25,
        help="the driver's --concurrency as a multiple of the workers' total -c (1: no job waits in the queue)",
    )
    parser.add_argument(
        "--worker-args", default="", help="more `celery worker` arguments, e.g. '-P threads -E' (the pool of before)"
    )
    args = parser.parse_args()
    if not 1 <= args.turns <= 8 or not 1 <= args.jobs <= 50_000:
        parser.error("--turns must be 1..8 and --jobs 1..50000 (the fake and Redis run on this machine)")
    emit(
        f"\nDistributed runs: {args.jobs} {args.turns}-turn jobs, OpenAI SDK, latency {args.latency_ms:.0f} ms,"
        f" {args.concurrency} jobs per worker process, the driver keeping {args.window:g}x that out, Redis broker"
        + (f", worker args {args.worker_args!r}" if args.worker_args else "")
    )
    report: dict[str, Any] = {}
    with fake_provider_process(args.latency_ms) as url, private_redis() as redis, tempfile.TemporaryDirectory() as tmp:
        env = {**provider_env(url), "LATENCY_MS": str(args.latency_ms)}
        scratch = Path(tmp)
        emit(
            f"{'workers':>7} {'wall s':>7} {'jobs/s':>7} {'steady':>7} {'ideal':>6} {'of ideal':>8}"
            f" {'steady of ideal':>15} {'worker CPU ms/job':>17} {'driver CPU ms/job':>17} {'peak MiB/worker':>15}"
        )
        for count in (int(n) for n in args.workers.split(",")):
            case = distributed_case(
                scratch,
                env,
                redis.url,
                args.jobs,
                count,
                args.concurrency,
                turns=args.turns,
                window_factor=args.window,
                worker_args=args.worker_args.split(),
            )
            report[f"workers={count}"] = case
            steady, steady_share = case["steadyJobsPerS"], case["steadyOfIdeal"]
            emit(
                f"{count:7d} {case['wallS']:7.1f} {case['jobsPerS']:7.1f}"
                f" {steady if steady is not None else float('nan'):7.1f} {case['idealJobsPerS']:6.0f}"
                f" {case['ofIdeal']:8.0%} {steady_share if steady_share is not None else float('nan'):15.0%}"
                f" {case['workerCpuMsPerJob']:17.2f} {case['driverCpuMsPerJob']:17.2f}"
                f" {case['peakRssMiBPerWorker']:15.1f}   {load_average()}"
            )
        if not args.no_serve and args.turns == 1:
            serve = serve_cpu_ms_per_job(scratch, env, args.jobs, args.concurrency)
            report["serveCpuMsPerJob"] = round(serve, 2)
            emit(f"serve mode, same jobs: {serve:.2f} ms CPU per job (marginal)   {load_average()}")
            one = report.get("workers=1")
            if one:
                emit(f"worker CPU per job over serve mode's (1 worker): {one['workerCpuMsPerJob'] - serve:+.2f} ms")
    one, two = report.get("workers=1"), report.get("workers=2")
    if one and two:
        line = f"2 workers / 1 worker: {two['jobsPerS'] / one['jobsPerS']:.2f}x jobs/s (wall)"
        if one["steadyJobsPerS"] and two["steadyJobsPerS"]:
            line += f", {two['steadyJobsPerS'] / one['steadyJobsPerS']:.2f}x steady"
        emit(line)
    default = args.turns == 1 and args.jobs == 2000
    emit(f"results: {save('distributed' if default else f'distributed-{args.jobs}x{args.turns}', report)}")


if __name__ == "__main__":
    main()
