"""What the worker benchmarks share: the local fake provider server, process measurements, results files.

Everything runs on 127.0.0.1: the fake server (cloud/workers/tests/fake_provider.py) answers
OpenAI, Anthropic, Gemini and Mistral requests in their documented shapes after a chosen
latency, so the real SDKs make real HTTP requests and nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKERS = REPO / "cloud" / "workers"
PROBE = WORKERS / "probe.py"
BATCH = WORKERS / "batch.py"
FAKE_SERVER = WORKERS / "tests" / "fake_provider.py"
RESULTS = REPO / "bench" / "results"
PY = sys.executable

FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-bench-not-a-real-key-000000",
    "ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key-0000",
    "GEMINI_API_KEY": "bench-gemini-not-a-real-key-0000",
    "MISTRAL_API_KEY": "bench-mistral-not-a-real-key-000",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment with no provider keys or base URLs but those given."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("PROBE_LOG_LEVEL", None)
    env.update(extra)
    return env


def provider_env(url: str) -> dict[str, str]:
    """Keys and base URLs that point every provider at the fake server."""
    return {
        **FAKE_KEYS,
        "OPENAI_BASE_URL": f"{url}/v1",
        "ANTHROPIC_BASE_URL": url,
        "GEMINI_BASE_URL": url,
        "MISTRAL_BASE_URL": url,
    }


@contextmanager
def fake_server(latency_ms: float) -> Iterator[str]:
    """A fake provider server in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [PY, str(FAKE_SERVER), "--latency-ms", str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class ProcessRun:
    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    stdout: bytes


def run_process(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> ProcessRun:
    """Wall time, peak RSS and CPU time of one fresh process, fed `stdin`."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return ProcessRun(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out)


def median(values: list[float]) -> float:
    return statistics.median(values)


def one_turn_job(model: str, n: int = 0) -> dict[str, Any]:
    return {
        "runId": "bench",
        "scenarioId": f"s{n}",
        "modelId": model,
        "scenario": {"prompt": f"Benchmark question {n}: should the committee approve the trial?"},
        "config": {"maxTokens": 256, "temperature": 0.0},
        "modelCost": {"costInputPerMillion": 2.5, "costOutputPerMillion": 10.0},
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
