"""Benchmark 1: one-shot cold start per provider, against the floor and against the SDK alone.

    python3 bench/cold_start_bench.py [--runs 9] [--baseline DIR] [--providers mistral,openai]

For each provider: the median wall time, CPU time (user+sys) and peak RSS of `python3 -c
pass` (the floor), of importing that provider's SDK alone, of the SDK alone making the same
request, and of probe.py running a one-turn job against the local fake server (no
latency). Target: job <= 1.2 x (SDK import), the import's wall already including the floor,
i.e. nothing of ours is slow. Runs are interleaved so drift affects all cases alike; on a
shared machine the CPU ratio moves less than the wall ratio.

`--baseline DIR` also runs DIR/cloud/workers/probe.py (another checkout, e.g. `git archive
HEAD cloud/workers | tar -x -C DIR`) in the same rounds: a before/after comparison made in
one run, under one load. Every worker tree is byte-compiled first, as a deployed worker is
after its first job (with PYTHONDONTWRITEBYTECODE set, an edited module would otherwise be
compiled again in every run).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class Figures:
    """Medians of one case's runs."""

    wall_s: float
    cpu_s: float
    rss_mib: float


@dataclass(frozen=True)
class Row:
    name: str
    base: Figures  # the SDK import alone (the floor for mock)
    request: Figures | None  # the SDK alone making the request
    job: Figures
    baseline_job: Figures | None  # --baseline's probe.py, same rounds


def med(runs: list[WorkerRun]) -> Figures:
    return Figures(
        median([r.wall_s for r in runs]), median([r.cpu_s for r in runs]), median([r.peak_rss_mib for r in runs])
    )


def job_run(probe_py: Path, env: dict[str, str], job: bytes, provider: str) -> WorkerRun:
    run = measure(probe_py, env=env, stdin=job)
    if not json.loads(run.stdout).get("success"):
        raise SystemExit(f"{provider} job ({probe_py}) failed: {run.stdout[:500]!r}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", type=Path, help="another checkout whose probe.py runs in the same rounds")
    parser.add_argument("--providers", help="comma-separated providers to measure (default: all), besides mock")
    args = parser.parse_args()
    probes = [PROBE_PY]
    if args.baseline is not None:
        baseline_py = args.baseline.resolve() / "cloud" / "workers" / "probe.py"
        if not baseline_py.is_file():
            raise SystemExit(f"--baseline: no {baseline_py}")
        probes.append(baseline_py)
    for probe_py in probes:
        compileall.compile_dir(probe_py.parent, quiet=1, workers=1)
    rows: list[Row] = []
    with fake_provider_process(latency_ms=0) as url:
        env = provider_env(url)
        mock_job = json.dumps(one_turn_job("mock:echo")).encode()
        floor_runs: list[WorkerRun] = []
        mock_runs: list[list[WorkerRun]] = [[] for _ in probes]
        for _ in range(args.runs):
            floor_runs.append(measure("-c", "pass", env=env))
            for runs, probe_py in zip(mock_runs, probes, strict=True):
                runs.append(job_run(probe_py, env, mock_job, "mock"))
        floor = med(floor_runs)
        rows.append(Row("mock (no SDK)", floor, None, med(mock_runs[0]), med(mock_runs[1]) if args.baseline else None))
        chosen = set(args.providers.split(",")) if args.providers else {case.provider for case in CASES}
        for case in (case for case in CASES if case.provider in chosen):
            if not (WORKERS / "common" / "providers" / "adapters" / f"{case.provider}.py").exists():
                emit(f"{case.provider}: no provider module yet, skipped")
                continue
            job = json.dumps(one_turn_job(case.model)).encode()
            request_env = {**env, "URL": url, "KEY": FAKE_KEYS[KEY_VARS[case.provider]]}
            sdk_runs, request_runs = [], []
            job_runs: list[list[WorkerRun]] = [[] for _ in probes]
            for _ in range(args.runs):
                sdk_runs.append(measure("-c", case.sdk_import, env=env))
                request_runs.append(measure("-c", case.sdk_request, env=request_env))
                for runs, probe_py in zip(job_runs, probes, strict=True):
                    runs.append(job_run(probe_py, env, job, case.provider))
            baseline = med(job_runs[1]) if args.baseline else None
            rows.append(Row(case.provider, med(sdk_runs), med(request_runs), med(job_runs[0]), baseline))
    load = os.getloadavg()

    emit(
        f"\nBenchmark 1: one-shot cold start, a one-turn job against the local fake server, median of {args.runs}"
        f"\nfloor (python3 -c pass): {floor.wall_s * 1000:.0f} ms, {floor.rss_mib:.1f} MiB;"
        f" load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    header = f"{'provider':14} {'import ms':>9} {'+request':>9} {'job ms':>7} {'job/import':>10} {'target':>7}"
    header += f" {'ours ms':>8} {'CPU ms import/job':>17} {'CPU ratio':>9} {'import MiB':>10} {'job MiB':>8}"
    if args.baseline:
        header += f" {'baseline job ms':>15} {'baseline ratio':>14} {'CPU':>5}"
    emit(header)
    report: dict[str, Any] = {
        "floorMs": round(floor.wall_s * 1000, 1),
        "floorMiB": round(floor.rss_mib, 1),
        "loadAverage": [round(value, 2) for value in load],
        "providers": {},
    }
    for row in rows:
        ratio = row.job.wall_s / row.base.wall_s
        cpu_ratio = row.job.cpu_s / row.base.cpu_s
        verdict = "-" if row.request is None else ("met" if ratio <= TARGET else "MISSED")
        ours = row.job.wall_s - (row.request or row.base).wall_s
        request_ms = f"{row.request.wall_s * 1000:9.0f}" if row.request else f"{'-':>9}"
        cpu = f"{row.base.cpu_s * 1000:.0f} / {row.job.cpu_s * 1000:.0f}"
        line = f"{row.name:14} {row.base.wall_s * 1000:9.0f} {request_ms} {row.job.wall_s * 1000:7.0f} {ratio:10.2f}"
        line += f" {verdict:>7} {ours * 1000:8.0f} {cpu:>17} {cpu_ratio:9.2f}"
        line += f" {row.base.rss_mib:10.1f} {row.job.rss_mib:8.1f}"
        entry: dict[str, Any] = {
            "importMs": round(row.base.wall_s * 1000, 1),
            "sdkRequestMs": round(row.request.wall_s * 1000, 1) if row.request else None,
            "jobMs": round(row.job.wall_s * 1000, 1),
            "jobOverImport": round(ratio, 3),
            "oursMs": round(ours * 1000, 1),
            "importCpuMs": round(row.base.cpu_s * 1000, 1),
            "jobCpuMs": round(row.job.cpu_s * 1000, 1),
            "jobOverImportCpu": round(cpu_ratio, 3),
            "importMiB": round(row.base.rss_mib, 1),
            "jobMiB": round(row.job.rss_mib, 1),
        }
        if row.baseline_job is not None:
            base_ratio = row.baseline_job.wall_s / row.base.wall_s
            base_cpu_ratio = row.baseline_job.cpu_s / row.base.cpu_s
            line += f" {row.baseline_job.wall_s * 1000:15.0f} {base_ratio:14.2f} {base_cpu_ratio:5.2f}"
            entry["baselineJobMs"] = round(row.baseline_job.wall_s * 1000, 1)
            entry["baselineJobCpuMs"] = round(row.baseline_job.cpu_s * 1000, 1)
            entry["baselineJobOverImport"] = round(base_ratio, 3)
            entry["baselineJobOverImportCpu"] = round(base_cpu_ratio, 3)
        emit(line)
        report["providers"][row.name] = entry
    emit(
        "import = the SDK import alone (the floor for mock), interpreter start included; +request = the SDK alone"
        f" making the same one request;\nours = job - (+request): what our code adds; target job/import <= {TARGET}"
        " (wall); CPU = user+sys of the process"
        + ("; baseline = --baseline's probe.py in the same rounds" if args.baseline else "")
    )
    emit(f"results: {save('cold_start', report)}")


if __name__ == "__main__":
    main()
