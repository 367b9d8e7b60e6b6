"""Benchmark: the one-shot start-up of a Responses API job against a Chat Completions job (same SDK).

    python3 bench/responses_start_bench.py [--runs 9]

probe.py runs a one-turn job on a Responses-only model (o1-pro: routed to `/v1/responses`
by its record, no background mode) and a one-turn job on a Chat Completions model
(gpt-4o-mini), interleaved, against the same local fake (testkit.fake_responses on
testkit.fake_provider, in this process, no latency). Both import the openai SDK; the
Responses job also imports our Responses transport and the SDK's `Response` type. Target:
the Responses job's wall and CPU time at most 1.05 x the Chat job's (no more start-up, within
run-to-run noise).
"""

from __future__ import annotations

import argparse
import compileall
import json

from bench_support import FAKE_KEYS, PROBE_PY, WorkerRun, emit, load_average, measure, median, one_turn_job, save

from testkit.fake_provider import FakeProvider
from testkit.fake_responses import BackgroundResponses

TARGET = 1.05
CASES = {"responses": "o1-pro", "chat": "gpt-4o-mini"}


def run_job(url: str, model: str, n: int) -> WorkerRun:
    env = {"OPENAI_API_KEY": FAKE_KEYS["OPENAI_API_KEY"], "OPENAI_BASE_URL": f"{url}/v1"}
    run = measure(PROBE_PY, env=env, stdin=json.dumps(one_turn_job(model, n)).encode())
    document = json.loads(run.out)
    if not document.get("success"):
        raise SystemExit(f"the {model} job failed: {json.dumps(document)[:2000]}")
    api = document["transcript"]["turns"][0]["providerMetadata"].get("api")
    if (api == "responses") != (model == CASES["responses"]):
        raise SystemExit(f"the {model} job went to the wrong API: {api!r}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    compileall.compile_dir(PROBE_PY.parent, quiet=1, workers=1)
    runs: dict[str, list[WorkerRun]] = {name: [] for name in CASES}
    with FakeProvider(respond=BackgroundResponses().fake_provider_respond).running() as fake:
        run_job(fake.url, CASES["chat"], 0)  # warm the page cache once, unmeasured
        for n in range(args.runs):
            for name, model in CASES.items():
                runs[name].append(run_job(fake.url, model, n))
    figures = {
        name: {
            "wall_s": median([r.wall_s for r in case_runs]),
            "cpu_s": median([r.cpu_s for r in case_runs]),
            "rss_mib": median([r.peak_rss_mib for r in case_runs]),
        }
        for name, case_runs in runs.items()
    }
    emit(f"one-shot one-turn job, median of {args.runs} interleaved runs, load average {load_average()}")
    for name, model in CASES.items():
        f = figures[name]
        emit(
            f"{name:9} ({model:11}): wall {f['wall_s'] * 1000:5.0f} ms, cpu {f['cpu_s'] * 1000:5.0f} ms,"
            f" peak RSS {f['rss_mib']:.1f} MiB"
        )
    wall_ratio = figures["responses"]["wall_s"] / figures["chat"]["wall_s"]
    cpu_ratio = figures["responses"]["cpu_s"] / figures["chat"]["cpu_s"]
    emit(f"responses / chat: wall {wall_ratio:.2f}, cpu {cpu_ratio:.2f} (target <= {TARGET})")
    path = save(
        "responses_start",
        {"runs": args.runs, "figures": figures, "wallRatio": wall_ratio, "cpuRatio": cpu_ratio, "target": TARGET},
    )
    emit(f"saved {path}")


if __name__ == "__main__":
    main()
