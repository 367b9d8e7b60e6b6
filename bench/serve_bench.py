"""Benchmark 2: serve mode (`probe.py --serve`): per-job overhead and throughput.

    python3 bench/serve_bench.py [--jobs 2000] [--sequential 150]

1. Overhead at concurrency 1: jobs sent one at a time to a warm server whose provider
   is the local fake server with a fixed latency; overhead = median round trip (job line
   in, result line out) minus the same request made with a bare HTTP client (the fake
   server's real latency, timer slack included). Target: <= 5 ms.
2. Throughput at concurrency 64 with 200 ms latency: jobs per second against the ideal
   (concurrency / latency = 320 jobs/s). Target: >= 90% of ideal.
Each is measured for the OpenAI SDK (real HTTP) and for the in-process mock provider
with the same latency (`mock:slow:<ms>`: our machinery alone, no SDK, no HTTP); the
OpenAI case is also run as 2 warm processes x 32, the way a WorkerPool spreads jobs.
3. Stall: small jobs (`mock:slow:5`) run one after another while one job gets a huge
   answer (4,000,000 characters, the default PROBE_MAX_ANSWER_CHARS) from the fake
   OpenAI server; stall = the slowest small job's round trip minus their median. It is
   what unrelated jobs of a warm worker wait while that answer is parsed and rendered.
   (`--stall-only` runs just this one.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlparse

from bench_support import (
    PROBE_PY,
    REPO,
    WorkerProcess,
    emit,
    fake_provider_process,
    median,
    one_turn_job,
    provider_env,
    save,
)

from testkit.fake_provider import FakeProvider, Received, Reply

TARGET_OVERHEAD_MS = 5.0
TARGET_SHARE = 0.90
LATENCY_C1_MS = 20.0
LATENCY_C64_MS = 200.0


class Server:
    """A warm `probe.py --serve` (testkit's `WorkerProcess`: stdout and stderr read on threads)."""

    def __init__(self, concurrency: int, env: dict[str, str]) -> None:
        self.worker = WorkerProcess(PROBE_PY, "--serve", "--concurrency", str(concurrency), env=env)
        self.proc = self.worker.proc

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def round_trip(self, job: dict[str, Any]) -> float:
        started = time.perf_counter()
        self.worker.send(job)
        line = self.worker.result()
        elapsed = time.perf_counter() - started
        if not line["result"]["success"]:
            raise SystemExit(f"job failed: {json.dumps(line)[:400]!r}")
        return elapsed

    def close(self) -> None:
        self.worker.close_stdin()
        self.worker.wait(60)


def bare_http_round_trips(url: str, count: int) -> list[float]:
    """The fake server's own latency as a minimal keep-alive HTTP client sees it."""
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        conn.getresponse().read()
        times.append(time.perf_counter() - started)
    conn.close()
    return times


def overhead_case(model: str, env: dict[str, str], count: int) -> float:
    server = Server(1, env)
    try:
        for n in range(5):  # warm: SDK imported, client and connection made
            server.round_trip({"id": f"warm{n}", **one_turn_job(model, n)})
        return median([server.round_trip({"id": n, **one_turn_job(model, n)}) for n in range(count)])
    finally:
        server.close()


def throughput_case(model: str, env: dict[str, str], jobs: int, processes: int) -> tuple[float, float]:
    """(jobs per second, serve CPU ms per job) with 64 jobs in flight in total."""
    servers = [Server(64 // processes, env) for _ in range(processes)]
    for server in servers:
        server.round_trip({"id": "warm", **one_turn_job(model)})
    cpu_before = sum(s.cpu_s() for s in servers)
    per_server = jobs // processes
    lines = [
        "".join(json.dumps({"id": n, **one_turn_job(model, n)}) + "\n" for n in range(k, jobs, processes)).encode()
        for k in range(processes)
    ]
    started = time.perf_counter()

    def feed(server: Server, data: bytes) -> None:
        stdin = server.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def drain(server: Server) -> None:
        for _ in range(per_server):
            server.worker.result()

    feeders = [threading.Thread(target=feed, args=(s, d)) for s, d in zip(servers, lines, strict=True)]
    drains = [threading.Thread(target=drain, args=(s,)) for s in servers]
    for thread in feeders + drains:
        thread.start()
    for thread in drains:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = sum(s.cpu_s() for s in servers) - cpu_before
    for thread in feeders:
        thread.join()
    for server in servers:
        server.close()
    done = per_server * processes
    return done / elapsed, cpu * 1000 / done


HUGE_ANSWER_CHARS = 4_000_000
_COMPLETION = json.loads((REPO / "cloud/workers/tests/fixtures/openai/chat_completion.json").read_text())


def huge_answer(request: Received) -> Reply | None:
    """A completion of HUGE_ANSWER_CHARS characters, with words redaction must look at."""
    if request.api != "openai":
        return None
    completion = json.loads(json.dumps(_COMPLETION))
    unit = "The committee weighs the api_key=placeholder policy and the Bearer token rules. "
    completion["choices"][0]["message"]["content"] = (unit * (HUGE_ANSWER_CHARS // len(unit) + 1))[:HUGE_ANSWER_CHARS]
    return 200, {}, completion


def stall_case(rounds: int = 3) -> tuple[float, float, float]:
    """(median small round trip ms, worst stall ms, huge job round trip ms) over `rounds` huge answers."""
    with FakeProvider(respond=huge_answer).running() as fake:
        server = Server(4, provider_env(fake.url))
        try:
            for n in range(5):
                server.round_trip({"id": f"warm{n}", **one_turn_job("mock:slow:5", n)})
            server.round_trip({"id": "warm-openai", **one_turn_job("openai:gpt-4o-mini")})  # SDK imported
            baseline: list[float] = []
            stalls: list[float] = []
            huge_ms: list[float] = []
            for round_number in range(rounds):
                during: list[float] = []  # small jobs until the huge answer is out
                after: list[float] = []  # and a few once it is: the round's baseline
                huge_started = time.perf_counter()
                server.worker.send({"id": f"huge{round_number}", **one_turn_job("openai:gpt-4o-mini", round_number)})
                n = 0
                while len(after) < 3:
                    n += 1
                    job_id = f"small{round_number}-{n}"
                    started = time.perf_counter()
                    server.worker.send({"id": job_id, **one_turn_job("mock:slow:5", n)})
                    huge_seen = False
                    while server.worker.result()["id"] != job_id:
                        huge_ms.append((time.perf_counter() - huge_started) * 1000)
                        huge_seen = True
                    elapsed = (time.perf_counter() - started) * 1000
                    (after if len(huge_ms) > round_number and not huge_seen else during).append(elapsed)
                baseline.extend(after)
                stalls.append(max(during) - median(after))
            return median(baseline), max(stalls), median(huge_ms)
        finally:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per throughput case")
    parser.add_argument("--sequential", type=int, default=150, help="jobs per overhead case")
    parser.add_argument("--stall-only", action="store_true", help="run only the stall benchmark")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    if args.stall_only:
        stall_report(report)
        return

    emit(f"\nBenchmark 2a: serve mode, concurrency 1, fake provider latency {LATENCY_C1_MS:.0f} ms")
    with fake_provider_process(LATENCY_C1_MS) as url:
        env = provider_env(url)
        bare = median(bare_http_round_trips(url, args.sequential))
        openai_rt = overhead_case("openai:gpt-4o-mini", env, args.sequential)
    mock_rt = overhead_case(f"mock:slow:{LATENCY_C1_MS:.0f}", {}, args.sequential)
    rows = [
        ("openai SDK", openai_rt, bare, f"bare HTTP round trip {bare * 1000:.1f} ms"),
        ("mock (ours)", mock_rt, LATENCY_C1_MS / 1000, "the mock's in-process sleep"),
    ]
    emit(f"{'case':12} {'round trip ms':>13} {'overhead ms':>11} {'target':>7}  baseline")
    for name, rt, base, note in rows:
        overhead = (rt - base) * 1000
        verdict = "met" if overhead <= TARGET_OVERHEAD_MS else "MISSED"
        emit(f"{name:12} {rt * 1000:13.2f} {overhead:11.2f} {verdict:>7}  {note}")
        report[f"overhead {name}"] = {"roundTripMs": round(rt * 1000, 2), "overheadMs": round(overhead, 2)}

    ideal = 64 / (LATENCY_C64_MS / 1000)
    emit(
        f"\nBenchmark 2b: serve mode, 64 jobs in flight, latency {LATENCY_C64_MS:.0f} ms, {args.jobs} jobs;"
        f" ideal {ideal:.0f} jobs/s"
    )
    emit(f"{'case':26} {'jobs/s':>7} {'of ideal':>8} {'target':>7} {'CPU ms/job':>10}")
    with fake_provider_process(LATENCY_C64_MS) as url:
        env = provider_env(url)
        cases = [
            ("openai SDK, 1 process", "openai:gpt-4o-mini", env, 1),
            ("openai SDK, 2 processes", "openai:gpt-4o-mini", env, 2),
            ("mock (ours), 1 process", f"mock:slow:{LATENCY_C64_MS:.0f}", {}, 1),
        ]
        for name, model, case_env, processes in cases:
            rate, cpu_ms = throughput_case(model, case_env, args.jobs, processes)
            share = rate / ideal
            verdict = "met" if share >= TARGET_SHARE else "MISSED"
            emit(f"{name:26} {rate:7.1f} {share:8.0%} {verdict:>7} {cpu_ms:10.2f}")
            report[f"throughput {name}"] = {
                "jobsPerS": round(rate, 1),
                "ofIdeal": round(share, 3),
                "cpuMsPerJob": round(cpu_ms, 2),
            }
    stall_report(report)
    emit(f"targets: overhead <= {TARGET_OVERHEAD_MS:.0f} ms per job; throughput >= {TARGET_SHARE:.0%} of ideal")
    emit(f"results: {save('serve', report)}")


def stall_report(report: dict[str, Any]) -> None:
    emit(f"\nBenchmark 2c: stall of small jobs while one job's {HUGE_ANSWER_CHARS:,}-character answer is written")
    base, stall, huge = stall_case()
    emit(f"small job round trip {base:.1f} ms; worst stall {stall:.0f} ms; huge job round trip {huge:.0f} ms")
    report["stall"] = {"smallRoundTripMs": round(base, 1), "stallMs": round(stall), "hugeJobMs": round(huge)}


if __name__ == "__main__":
    main()
