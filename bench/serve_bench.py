"""Benchmark 2: serve mode (`probe.py --serve`): per-job overhead and throughput.

    python3 bench/serve_bench.py [--jobs 2000] [--sequential 150]

1. Overhead at concurrency 1: jobs sent one at a time to a warm server whose provider
   is the local fake server with a fixed latency; overhead = median round trip (job line
   in, result line out) minus the same request made with a bare HTTP client (the fake
   server's real latency, timer slack included). Target: <= 5 ms.
2. Throughput at concurrency 64 with 20 ms and 200 ms latency: jobs per second against the
   ideal (concurrency / latency: 3,200 and 320 jobs/s; target >= 90% at 200 ms), CPU ms per
   job and context switches per job (all threads, from /proc), for the OpenAI SDK (real
   HTTP; 1 process on our aiohttp transport, the same on httpx2's own transport
   (`PROBE_HTTP_TRANSPORT=httpx2`, the stack before it), and 2 warm processes x 32 the way a
   WorkerPool spreads jobs) and for the in-process mock provider (`mock:slow:<ms>`: our
   machinery alone, no SDK, no HTTP), against floors making the same requests in one uvloop
   process without our code (`bench/serve_floor.py`): the SDK called as our adapter calls it
   on its default httpx2 stack (the SDK floor; target for ours: CPU per job <= 1.15x it, and
   under 1.0 ms), the same SDK call on our aiohttp transport, the SDK on its own aiohttp
   client, bare httpx2 and bare aiohttp. Rounds are interleaved (each starts with another
   contender); medians.
3. Stall: small jobs (`mock:slow:5`) run one after another while one job gets a huge
   answer (4,000,000 characters, the default PROBE_MAX_ANSWER_CHARS) from the fake
   OpenAI server; stall = the slowest small job's round trip minus their median. It is
   what unrelated jobs of a warm worker wait while that answer is parsed and rendered.
   (`--stall-only` runs just this one.)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from bench_support import (
    PROBE_PY,
    REPO,
    WorkerProcess,
    emit,
    fake_provider_process,
    measure,
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
LATENCY_FLOOR_MS = 20.0  # the throughput cases run at this latency too, against the same floors
TARGET_CPU_VS_SDK = 1.15
TARGET_CPU_MS = 1.0  # CPU per job of one serve process (issue 15)


class Server:
    """A warm `probe.py --serve` (testkit's `WorkerProcess`: stdout and stderr read on threads)."""

    def __init__(self, concurrency: int, env: dict[str, str]) -> None:
        self.worker = WorkerProcess(PROBE_PY, "--serve", "--concurrency", str(concurrency), env=env)
        self.proc = self.worker.proc

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def context_switches(self) -> tuple[int, int]:
        """(voluntary, involuntary) switches of all the process's threads so far."""
        voluntary = involuntary = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith("voluntary_ctxt_switches"):
                        voluntary += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        involuntary += int(line.split()[1])
        return voluntary, involuntary

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


@dataclass(frozen=True)
class Run:
    """One contender's run: jobs per second, CPU ms per job, context switches per job.

    Voluntary switches are a thread waiting (a hand-off, or the loop idle); involuntary ones
    are the scheduler preempting a busy process, which the machine's load decides.
    """

    rate: float
    cpu_ms: float
    switches: float  # voluntary
    preempted: float  # involuntary


def throughput_case(model: str, env: dict[str, str], jobs: int, processes: int) -> Run:
    """Our serve mode with 64 jobs in flight in total, over `processes` warm processes."""
    servers = [Server(64 // processes, env) for _ in range(processes)]
    for server in servers:
        server.round_trip({"id": "warm", **one_turn_job(model)})
    cpu_before = sum(s.cpu_s() for s in servers)
    switches_before = [s.context_switches() for s in servers]
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
    switches_after = [s.context_switches() for s in servers]
    voluntary = sum(after[0] - before[0] for before, after in zip(switches_before, switches_after, strict=True))
    involuntary = sum(after[1] - before[1] for before, after in zip(switches_before, switches_after, strict=True))
    for thread in feeders:
        thread.join()
    for server in servers:
        server.close()
    done = per_server * processes
    return Run(done / elapsed, cpu * 1000 / done, voluntary / done, involuntary / done)


FLOOR_PY = REPO / "bench" / "serve_floor.py"
# The same requests without our code (bench/serve_floor.py): the SDK as our adapter calls it
# (the SDK floor), the same on our aiohttp transport, the SDK on its own aiohttp client, bare
# httpx2, bare aiohttp.
FLOORS = ("sdk", "sdk-ours", "sdk-aiohttp", "httpx2", "aiohttp")


def floor_case(client: str, url: str, jobs: int) -> Run:
    run = measure(FLOOR_PY, client, f"{url}/v1", str(jobs), "64")
    figures = json.loads(run.out)
    return Run(
        jobs / figures["wallS"],
        figures["cpuS"] * 1000 / jobs,
        figures["voluntarySwitches"] / jobs,
        figures["involuntarySwitches"] / jobs,
    )


def floors_available() -> tuple[str, ...]:
    """The floors this machine can run (without aiohttp, only those on httpx2)."""
    if importlib.util.find_spec("aiohttp") is None:
        return ("sdk", "httpx2")
    return FLOORS


def versus_floor(latency_ms: float, jobs: int, rounds: int, report: dict[str, Any]) -> None:
    """Ours against the floors at 64 in flight: interleaved rounds, medians, ratios to the SDK floor."""
    ideal = 64 / (latency_ms / 1000)
    emit(
        f"\nBenchmark 2b: 64 jobs in flight, latency {latency_ms:.0f} ms, {jobs} jobs, {rounds} interleaved rounds;"
        f" ideal {ideal:.0f} jobs/s; load {os.getloadavg()[0]:.2f}"
    )
    with fake_provider_process(latency_ms) as url:
        env = provider_env(url)
        on_httpx2 = {**env, "PROBE_HTTP_TRANSPORT": "httpx2"}
        contenders: dict[str, Callable[[], Run]] = {
            "ours: openai SDK, 1 process": lambda: throughput_case("openai:gpt-4o-mini", env, jobs, 1),
            "ours: openai SDK on httpx2": lambda: throughput_case("openai:gpt-4o-mini", on_httpx2, jobs, 1),
            "ours: openai SDK, 2 processes": lambda: throughput_case("openai:gpt-4o-mini", env, jobs, 2),
            f"ours: mock:slow:{latency_ms:.0f}, 1 process": lambda: throughput_case(
                f"mock:slow:{latency_ms:.0f}", {}, jobs, 1
            ),
        }
        for client in floors_available():
            contenders[f"floor: {client}"] = lambda client=client: floor_case(client, url, jobs)  # type: ignore[misc]
        runs: dict[str, list[Run]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_number in range(rounds):
            shift = round_number % len(names)  # each round starts with another contender
            for name in names[shift:] + names[:shift]:
                runs[name].append(contenders[name]())
    sdk_cpu = median([run.cpu_ms for run in runs["floor: sdk"]])
    emit(
        f"{'case':32} {'jobs/s':>7} {'of ideal':>8} {'CPU ms/job':>10} {'x SDK':>6}"
        f" {'voluntary sw/job':>16} {'preempted/job':>13}"
    )
    for name, done in runs.items():
        rate = median([run.rate for run in done])
        cpu_ms = median([run.cpu_ms for run in done])
        switches = median([run.switches for run in done])
        preempted = median([run.preempted for run in done])
        emit(
            f"{name:32} {rate:7.1f} {rate / ideal:8.0%} {cpu_ms:10.2f} {cpu_ms / sdk_cpu:6.2f}"
            f" {switches:16.2f} {preempted:13.2f}"
        )
        report[f"throughput {latency_ms:.0f} ms {name}"] = {
            "jobsPerS": round(rate, 1),
            "ofIdeal": round(rate / ideal, 3),
            "cpuMsPerJob": round(cpu_ms, 3),
            "cpuVsSdkFloor": round(cpu_ms / sdk_cpu, 3),
            "voluntarySwitchesPerJob": round(switches, 2),
            "preemptedPerJob": round(preempted, 2),
        }
    ours = median([run.cpu_ms for run in runs["ours: openai SDK, 1 process"]])
    share = median([run.rate for run in runs["ours: openai SDK, 1 process"]]) / ideal
    verdict = "met" if ours <= TARGET_CPU_VS_SDK * sdk_cpu else "MISSED"
    emit(f"CPU per job, ours / SDK floor: {ours / sdk_cpu:.2f} (target <= {TARGET_CPU_VS_SDK}: {verdict})")
    verdict = "met" if ours < TARGET_CPU_MS else "MISSED"
    emit(f"CPU per job, ours: {ours:.2f} ms (target < {TARGET_CPU_MS:.1f} ms: {verdict})")
    if latency_ms == LATENCY_C64_MS:
        verdict = "met" if share >= TARGET_SHARE else "MISSED"
        emit(f"throughput, ours: {share:.0%} of ideal (target >= {TARGET_SHARE:.0%}: {verdict})")
    emit(f"load average after the cases: {os.getloadavg()[0]:.2f}")


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
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the throughput cases")
    parser.add_argument("--throughput-only", action="store_true", help="run only the throughput cases")
    parser.add_argument("--stall-only", action="store_true", help="run only the stall benchmark")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    if args.stall_only:
        stall_report(report)
        return
    if args.throughput_only:
        for latency_ms in (LATENCY_FLOOR_MS, LATENCY_C64_MS):
            versus_floor(latency_ms, args.jobs, args.rounds, report)
        emit(f"results: {save('serve-throughput', report)}")
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

    for latency_ms in (LATENCY_FLOOR_MS, LATENCY_C64_MS):
        versus_floor(latency_ms, args.jobs, args.rounds, report)
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
