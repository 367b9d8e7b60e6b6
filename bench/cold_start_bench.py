"""Benchmark 1: one-shot cold start per provider, against the floor and against the SDK alone.

    python3 bench/cold_start_bench.py [--runs 5]

For each provider: the median wall time and peak RSS of `python3 -c pass` (the floor), of
importing that provider's SDK alone, and of probe.py running a one-turn job against the
local fake server (no latency). Target: job <= 1.2 x (SDK import), the import's wall
already including the floor, i.e. nothing of ours is slow. Runs are interleaved so drift
affects all cases alike.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from bench_support import (
    FAKE_KEYS,
    PROBE_PY,
    WORKERS,
    WorkerRun,
    emit,
    fake_provider_process,
    measure,
    median,
    one_turn_job,
    provider_env,
    save,
)

TARGET = 1.2


@dataclass(frozen=True)
class Case:
    provider: str
    model: str
    sdk_import: str  # what the provider module imports: the SDK alone
    sdk_request: str  # the SDK alone making the same one request (env: URL, KEY)


CASES = (
    Case(
        "openai",
        "openai:gpt-4o-mini",
        "import openai",
        "import asyncio, os, openai\n"
        "c = openai.AsyncOpenAI(api_key=os.environ['KEY'], base_url=os.environ['URL'] + '/v1', max_retries=0)\n"
        "asyncio.run(c.chat.completions.create(model='gpt-4o-mini', max_tokens=256,"
        " messages=[{'role': 'user', 'content': 'hi'}]))",
    ),
    Case(
        "anthropic",
        "anthropic:claude-sonnet-4-5",
        "import anthropic",
        "import asyncio, os, anthropic\n"
        "c = anthropic.AsyncAnthropic(api_key=os.environ['KEY'], base_url=os.environ['URL'], max_retries=0)\n"
        "asyncio.run(c.messages.create(model='claude-sonnet-4-5', max_tokens=256,"
        " messages=[{'role': 'user', 'content': 'hi'}]))",
    ),
    Case(
        "google",
        "google:gemini-2.0-flash",
        "from google import genai; from google.genai import types",
        "import asyncio, os\nfrom google import genai\nfrom google.genai import types\n"
        "c = genai.Client(api_key=os.environ['KEY'], http_options=types.HttpOptions(base_url=os.environ['URL']))\n"
        "asyncio.run(c.aio.models.generate_content(model='gemini-2.0-flash', contents='hi'))",
    ),
    Case(
        "mistral",
        "mistral:mistral-small-latest",
        "from mistralai.client import Mistral",
        "import asyncio, os\nfrom mistralai.client import Mistral\n"
        "c = Mistral(api_key=os.environ['KEY'], server_url=os.environ['URL'])\n"
        "asyncio.run(c.chat.complete_async(model='mistral-small-latest', max_tokens=256,"
        " messages=[{'role': 'user', 'content': 'hi'}]))",
    ),
)
KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
}


def med(runs: list[WorkerRun]) -> tuple[float, float]:
    return median([r.wall_s for r in runs]), median([r.peak_rss_mib for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float], tuple[float, float] | None, tuple[float, float]]] = []
    with fake_provider_process(latency_ms=0) as url:
        env = provider_env(url)
        floor = med([measure("-c", "pass", env=env) for _ in range(args.runs)])
        mock_job = json.dumps(one_turn_job("mock:echo")).encode()
        rows.append(
            (
                "mock (no SDK)",
                floor,
                None,
                med([measure(PROBE_PY, env=env, stdin=mock_job) for _ in range(args.runs)]),
            )
        )
        for case in CASES:
            if not (WORKERS / "common" / "providers" / "adapters" / f"{case.provider}.py").exists():
                emit(f"{case.provider}: no provider module yet, skipped")
                continue
            job = json.dumps(one_turn_job(case.model)).encode()
            request_env = {**env, "URL": url, "KEY": FAKE_KEYS[KEY_VARS[case.provider]]}
            sdk_runs, request_runs, job_runs = [], [], []
            for _ in range(args.runs):
                sdk_runs.append(measure("-c", case.sdk_import, env=env))
                request_runs.append(measure("-c", case.sdk_request, env=request_env))
                run = measure(PROBE_PY, env=env, stdin=job)
                if not json.loads(run.stdout).get("success"):
                    raise SystemExit(f"{case.provider} job failed: {run.stdout[:500]!r}")
                job_runs.append(run)
            rows.append((case.provider, med(sdk_runs), med(request_runs), med(job_runs)))

    emit(
        f"\nBenchmark 1: one-shot cold start, a one-turn job against the local fake server, median of {args.runs}"
        f"\nfloor (python3 -c pass): {floor[0] * 1000:.0f} ms, {floor[1]:.1f} MiB"
    )
    header = f"{'provider':14} {'import ms':>9} {'+request':>9} {'job ms':>7} {'job/import':>10} {'target':>7}"
    emit(header + f" {'ours ms':>8} {'import MiB':>10} {'job MiB':>8}")
    report: dict[str, Any] = {"floorMs": round(floor[0] * 1000, 1), "floorMiB": round(floor[1], 1), "providers": {}}
    for name, base, request, job_m in rows:
        ratio = job_m[0] / base[0]
        verdict = "-" if request is None else ("met" if ratio <= TARGET else "MISSED")
        ours = job_m[0] - (request or base)[0]
        request_ms = f"{request[0] * 1000:9.0f}" if request else f"{'-':>9}"
        emit(
            f"{name:14} {base[0] * 1000:9.0f} {request_ms} {job_m[0] * 1000:7.0f} {ratio:10.2f} {verdict:>7}"
            f" {ours * 1000:8.0f} {base[1]:10.1f} {job_m[1]:8.1f}"
        )
        report["providers"][name] = {
            "importMs": round(base[0] * 1000, 1),
            "sdkRequestMs": round(request[0] * 1000, 1) if request else None,
            "jobMs": round(job_m[0] * 1000, 1),
            "jobOverImport": round(ratio, 3),
            "oursMs": round(ours * 1000, 1),
            "importMiB": round(base[1], 1),
            "jobMiB": round(job_m[1], 1),
        }
    emit(
        "import = the SDK import alone (the floor for mock), interpreter start included; +request = the SDK alone"
        f" making the same one request;\nours = job - (+request): what our code adds; target job/import <= {TARGET}"
    )
    emit(f"results: {save('cold_start', report)}")


if __name__ == "__main__":
    main()
