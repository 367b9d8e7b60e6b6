"""Benchmark: `batch.py --via provider-batch`, 1,000 and 10,000 jobs x 3 turns through the fake batch APIs.

    python3 bench/provider_batch_bench.py [--sizes 1000,10000] [--online-sizes 1000,10000]

The fake (`testkit.fake_batches`, in its own process) ends each batch on its second poll;
`--poll-interval 0` so the run's wall time is our own work. Half the jobs are OpenAI, half
Anthropic, so each wave is one batch per provider. Printed per size: the batch process's
CPU ms and peak RSS per job, its peak RSS above the floor (the same command on 10 jobs,
measured in the same run: the interpreter and both SDKs), and the provider calls made
against the minimum the documented APIs need for the same conversations: per batch one
create (and for OpenAI one upload), the fake's two polls (one sees it running, one sees it
ended) and one download; the Anthropic SDK's results() also retrieves the batch once more
to read its `results_url`.

The baseline, measured in the same run on the same jobs: the online batch mode (`batch.py`
without `--via`, against the fake provider server with no latency), whose CPU per job and
peak RSS the issue's target compares with; printed as ratios (provider-batch / online).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench_support import FAKE_KEYS, batch_run, emit, fake_provider_process, load_average, provider_env, save

from testkit.fake_batches import fake_batches_process, fake_stats

TURNS = 3
POLLS_TO_END = 2
FLOOR_JOBS = 10
PROVIDERS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-sonnet-4-5"}


def _job(n: int) -> dict[str, Any]:
    provider = "openai" if n % 2 == 0 else "anthropic"
    return {
        "id": f"j{n}",
        "runId": "bench",
        "scenarioId": f"s{n}",
        "modelId": PROVIDERS[provider],
        "scenario": {
            "prompt": f"Benchmark question {n}: should the committee approve the trial?",
            "followups": [{"prompt": "Why?"}, {"prompt": "Would you change your mind?"}],
        },
        "config": {"maxTokens": 256, "temperature": 0.0},
        "modelCost": {"costInputPerMillion": 2.5, "costOutputPerMillion": 10.0},
    }


def _minimum(batches_per_provider: int) -> dict[str, int]:
    per_batch = {"openai": 1 + 1 + POLLS_TO_END + 1, "anthropic": 1 + POLLS_TO_END + 1 + 1}
    return {name: batches_per_provider * calls for name, calls in per_batch.items()}


def _provider_batch(size: int) -> dict[str, Any]:
    with fake_batches_process(POLLS_TO_END) as url:
        env = {**FAKE_KEYS, "OPENAI_BASE_URL": f"{url}/v1", "ANTHROPIC_BASE_URL": url}
        jobs = (_job(n) for n in range(size))
        run, summary = batch_run(jobs, "--via", "provider-batch", "--poll-interval", "0", env=env)
        stats = fake_stats(url)
    succeeded = summary["succeeded"]
    calls = sum(n for kind, n in stats["calls"].items() if kind != "other")  # "other": the stats call
    return {
        "wallS": round(run.wall_s, 2),
        "cpuMsPerJob": round(run.cpu_s * 1000 / size, 3),
        "peakRssMiB": round(run.peak_rss_mib, 1),
        "batches": stats["created"],
        "calls": stats["calls"],
        "callsTotal": calls,
        "callsMinimum": sum(_minimum(TURNS).values()),
        "succeeded": succeeded,
        "load": load_average(),
    }


def _online(size: int) -> dict[str, Any]:
    with fake_provider_process(0.0) as url:
        run, summary = batch_run((_job(n) for n in range(size)), env=provider_env(url))
    succeeded = summary["succeeded"]
    return {
        "wallS": round(run.wall_s, 2),
        "cpuMsPerJob": round(run.cpu_s * 1000 / size, 3),
        "peakRssMiB": round(run.peak_rss_mib, 1),
        "succeeded": succeeded,
        "load": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--online-sizes", default="1000,10000", help="sizes of the online baseline ('' for none)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    online_sizes = {int(s) for s in args.online_sizes.split(",") if s}
    report: dict[str, Any] = {}
    emit(f"\nprovider-batch: batch.py --via provider-batch, {TURNS} turns, OpenAI + Anthropic SDKs, fake batch APIs")
    floor = _provider_batch(FLOOR_JOBS)
    report["floor"] = floor
    emit(f"floor ({FLOOR_JOBS} jobs): peak {floor['peakRssMiB']} MiB, load {floor['load']}")
    emit(
        f"{'jobs':>6} {'wall s':>7} {'CPU ms/job':>10} {'peak MiB':>8} {'+floor':>7} {'batches':>7} {'calls':>6}"
        f" {'minimum':>7} {'succeeded':>9} | {'online CPU':>10} {'online MiB':>10} {'CPU x':>6} {'RSS x':>6}  load"
    )
    for size in sizes:
        row = _provider_batch(size)
        row["peakAboveFloorMiB"] = round(row["peakRssMiB"] - floor["peakRssMiB"], 1)
        line = (
            f"{size:>6} {row['wallS']:>7} {row['cpuMsPerJob']:>10} {row['peakRssMiB']:>8} {row['peakAboveFloorMiB']:>7}"
            f" {row['batches']:>7} {row['callsTotal']:>6} {row['callsMinimum']:>7} {row['succeeded']:>9} |"
        )
        if size in online_sizes:
            online = _online(size)
            row["online"] = online
            row["cpuRatio"] = round(row["cpuMsPerJob"] / online["cpuMsPerJob"], 3)
            row["rssRatio"] = round(row["peakRssMiB"] / online["peakRssMiB"], 3)
            line += f" {online['cpuMsPerJob']:>10} {online['peakRssMiB']:>10} {row['cpuRatio']:>6} {row['rssRatio']:>6}"
        else:
            line += f" {'-':>10} {'-':>10} {'-':>6} {'-':>6}"
        report[str(size)] = row
        emit(f"{line}  {row['load']}")
    emit(f"saved {save('provider_batch_bench', report)}")


if __name__ == "__main__":
    main()
