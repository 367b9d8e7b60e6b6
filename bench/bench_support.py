"""What the worker benchmarks share: the local fake provider server, process measurements, results files.

Everything runs on 127.0.0.1: the fake server (`testkit.fake_provider`, in its own process)
answers OpenAI, Anthropic, Gemini and Mistral requests in their documented shapes after a
chosen latency, so the real SDKs make real HTTP requests and nothing leaves the machine.
Processes are run by `testkit.workers`, the runner the tests use: a clean environment (no
real key), and the wall time, CPU time and peak RSS of each process.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKERS = REPO / "cloud" / "workers"
if str(WORKERS) not in sys.path:  # testkit lives beside the workers (never under tests/)
    sys.path.insert(0, str(WORKERS))

from testkit.fake_provider import fake_provider_process  # noqa: E402
from testkit.workers import (  # noqa: E402
    ANALYZE_BASIC_PY,
    BATCH_PY,
    HEALTH_CHECK_PY,
    PROBE_PY,
    WorkerProcess,
    WorkerRun,
    run_python,
)

__all__ = [
    "ANALYZE_BASIC_PY",
    "BATCH_PY",
    "FAKE_KEYS",
    "HEALTH_CHECK_PY",
    "PROBE_PY",
    "REPO",
    "WORKERS",
    "WorkerProcess",
    "WorkerRun",
    "batch_run",
    "emit",
    "fake_provider_process",
    "measure",
    "median",
    "one_turn_job",
    "provider_env",
    "save",
]

RESULTS = REPO / "bench" / "results"

FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-bench-not-a-real-key-000000",
    "ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key-0000",
    "GEMINI_API_KEY": "bench-gemini-not-a-real-key-0000",
    "MISTRAL_API_KEY": "bench-mistral-not-a-real-key-000",
}


def provider_env(url: str) -> dict[str, str]:
    """Keys and base URLs that point every provider at the fake server."""
    return {
        **FAKE_KEYS,
        "OPENAI_BASE_URL": f"{url}/v1",
        "ANTHROPIC_BASE_URL": url,
        "GEMINI_BASE_URL": url,
        "MISTRAL_BASE_URL": url,
    }


def measure(*argv: str | Path, env: dict[str, str] | None = None, stdin: bytes = b"") -> WorkerRun:
    """One fresh `python <argv>` process fed `stdin`, in a clean environment plus `env`.

    Exit 0 and 3 (a batch with retryable failures left) are results; anything else stops the bench.
    """
    run = run_python(*argv, stdin=stdin, env=env, timeout_s=3600)
    if run.code not in (0, 3):
        raise SystemExit(f"{[str(a) for a in argv]} exited {run.code}: {run.err[-2000:]}")
    return run


def batch_run(
    jobs: Iterable[dict[str, Any]],
    *options: str | Path,
    env: dict[str, str],
    command: tuple[str | Path, ...] = (BATCH_PY,),
) -> tuple[WorkerRun, dict[str, Any]]:
    """One `batch.py` run (or `command`, a script that runs batch.py's CLI) over `jobs` in a
    scratch folder, quiet (`--no-progress`); returns the process's figures and its `--summary-json`."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))
        summary = folder / "summary.json"
        results = folder / "results.jsonl"
        run = measure(
            *command,
            folder / "jobs.jsonl",
            "-o",
            results,
            *options,
            "--no-progress",
            "--summary-json",
            summary,
            env=env,
        )
        return run, json.loads(summary.read_text())


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside figures the machine's load moves."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def emit(line: str = "") -> None:
    """Writes one line of a benchmark's report to stdout: the figures are what a bench is run for.

    (The print ban is for the workers, whose stdout is one JSON document; a bench's stdout is
    its table, so every bench writes it through this one function.)
    """
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


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
