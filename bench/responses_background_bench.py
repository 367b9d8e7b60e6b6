"""Benchmark: CPU time of a Responses API background job that waits 60 s for its answer.

    python3 bench/responses_background_bench.py [--seconds 60] [--runs 1]

probe.py runs a one-turn o3-pro job (background mode, from its record) against a local
fake of the Responses API (testkit.fake_responses on testkit.fake_provider, in this
process: the worker's CPU is measured alone) whose response completes `--seconds` after it
was created. Polling waits on the event loop's timer, so the job's CPU time should be its
start-up plus a few milliseconds per poll: it is compared with a one-turn Chat Completions
job against the same fake (the same start-up, no waiting). Target: the background job's
CPU time at most 1.2 x the Chat job's, whatever the wait.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench_support import FAKE_KEYS, PROBE_PY, WorkerRun, emit, measure, median, one_turn_job, save

from testkit.fake_provider import FakeProvider
from testkit.fake_responses import BackgroundResponses

TARGET = 1.2


def run_job(url: str, job: dict[str, Any]) -> tuple[WorkerRun, dict[str, Any]]:
    env = {"OPENAI_API_KEY": FAKE_KEYS["OPENAI_API_KEY"], "OPENAI_BASE_URL": f"{url}/v1"}
    run = measure(PROBE_PY, env=env, stdin=json.dumps(job).encode())
    document: dict[str, Any] = json.loads(run.out)
    if not document.get("success"):
        raise SystemExit(f"the job failed: {json.dumps(document)[:2000]}")
    return run, document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the fake takes to answer")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    fake_api = BackgroundResponses(polls_to_finish=None, seconds_to_finish=args.seconds)
    background: list[WorkerRun] = []
    chat: list[WorkerRun] = []
    polls: list[int] = []
    with FakeProvider(respond=fake_api.fake_provider_respond).running() as fake:
        for n in range(args.runs):
            job = one_turn_job("o3-pro", n)
            job["config"]["deadlineMs"] = int((args.seconds + 120) * 1000)
            before = len(fake_api.polled)
            started = time.monotonic()
            run, document = run_job(fake.url, job)
            background.append(run)
            polls.append(len(fake_api.polled) - before)
            meta = document["transcript"]["turns"][0]["providerMetadata"]
            assert meta["paramsSent"].get("background") is True, meta
            wall = time.monotonic() - started
            emit(f"background run {n + 1}: wall {wall:.1f} s, cpu {run.cpu_s:.3f} s, polls {polls[-1]}")
            run, _ = run_job(fake.url, one_turn_job("gpt-4o-mini", n))
            chat.append(run)
            emit(f"chat run {n + 1}: wall {run.wall_s:.2f} s, cpu {run.cpu_s:.3f} s")

    bg_cpu = median([r.cpu_s for r in background])
    chat_cpu = median([r.cpu_s for r in chat])
    ratio = bg_cpu / chat_cpu
    emit()
    emit(
        f"background job ({args.seconds:g} s wait): wall {median([r.wall_s for r in background]):.1f} s,"
        f" cpu {bg_cpu:.3f} s, {median([float(p) for p in polls]):.0f} polls"
    )
    emit(f"chat job (no wait):          wall {median([r.wall_s for r in chat]):.2f} s, cpu {chat_cpu:.3f} s")
    emit(f"cpu ratio background / chat: {ratio:.2f} (target <= {TARGET}); waiting cost {bg_cpu - chat_cpu:+.3f} s cpu")
    path = save(
        "responses_background",
        {
            "seconds": args.seconds,
            "runs": args.runs,
            "background": {"cpu_s": bg_cpu, "wall_s": median([r.wall_s for r in background]), "polls": polls},
            "chat": {"cpu_s": chat_cpu, "wall_s": median([r.wall_s for r in chat])},
            "ratio": ratio,
            "target": TARGET,
        },
    )
    emit(f"saved {path}")


if __name__ == "__main__":
    main()
