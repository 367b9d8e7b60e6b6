"""Benchmark: a Gemini provider-batch run with its batches inline vs as uploaded files, same jobs, same run.

    python3 bench/gemini_batch_forms_bench.py [--jobs 2000] [--rounds 3]

`batch.py --via provider-batch` on N Gemini jobs x 3 turns against the fake batch APIs (in
their own process, ending each batch on its second poll; `--poll-interval 0`). A batch under
19 MB goes inline and a larger one as a file, so to run the same jobs both ways the child
process lowers the inline limit to 0 bytes for the "file" form (`--child`): every batch is
then uploaded (the Files API's resumable upload: start + bytes), created from the file, and
its results file downloaded and streamed through a temporary file. Rounds interleave the two
forms; printed: the median CPU ms per job (process user+sys) and wall time of each, the ratio
file / inline, and the provider calls per form. The load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench_support import BATCH_PY, FAKE_KEYS, batch_run, emit, load_average, median, save

from testkit.fake_batches import fake_batches_process, fake_stats

TURNS = 3
POLLS_TO_END = 2
FORMS = ("inline", "file")


def _job(n: int) -> dict[str, Any]:
    return {
        "id": f"g{n}",
        "runId": "bench",
        "scenarioId": f"s{n}",
        "modelId": "google:gemini-2.5-flash",
        "scenario": {
            "prompt": f"Benchmark question {n}: should the committee approve the trial?",
            "followups": [{"prompt": "Why?"}, {"prompt": "Would you change your mind?"}],
        },
        "config": {"maxTokens": 256, "temperature": 0.0},
        "modelCost": {"costInputPerMillion": 0.3, "costOutputPerMillion": 2.5},
    }


def _child(form: str, argv: list[str]) -> int:
    """The batch command itself, with the inline limit at 0 bytes for the file form."""
    sys.path.insert(0, str(BATCH_PY.parent))
    from common.runs.batch.cli import main
    from common.runs.provider_batch import gemini_batches

    if form == "file":
        gemini_batches.GeminiBatches.inline_max_bytes = 0
    return main(argv)


def _round(form: str, jobs: int, url: str) -> dict[str, Any]:
    before = fake_stats(url)["calls"]
    run, summary = batch_run(
        (_job(n) for n in range(jobs)),
        "--via",
        "provider-batch",
        "--poll-interval",
        "0",
        env={**FAKE_KEYS, "GEMINI_BASE_URL": f"{url}/gemini"},
        command=(Path(__file__), "--child", form),
    )
    succeeded = summary["succeeded"]
    after = fake_stats(url)["calls"]
    calls = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after if kind != "other"}
    return {
        "wallS": run.wall_s,
        "cpuMsPerJob": run.cpu_s * 1000 / jobs,
        "succeeded": succeeded,
        "calls": {k: v for k, v in calls.items() if v},
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2], sys.argv[3:]))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    emit(f"\nGemini provider-batch, {args.jobs} jobs x {TURNS} turns: inline vs file form, load {load_average()}")
    rounds: dict[str, list[dict[str, Any]]] = {form: [] for form in FORMS}
    with fake_batches_process(POLLS_TO_END) as url:
        for number in range(args.rounds):
            for form in FORMS if number % 2 == 0 else tuple(reversed(FORMS)):
                row = _round(form, args.jobs, url)
                if row["succeeded"] != args.jobs:
                    raise SystemExit(f"{form}: {row['succeeded']} of {args.jobs} jobs succeeded")
                rounds[form].append(row)
    report: dict[str, Any] = {"jobs": args.jobs, "turns": TURNS, "rounds": args.rounds, "load": load_average()}
    emit(f"{'form':>6} {'CPU ms/job':>10} {'wall s':>7}  calls (per run)")
    for form in FORMS:
        cpu = round(median([r["cpuMsPerJob"] for r in rounds[form]]), 3)
        wall = round(median([r["wallS"] for r in rounds[form]]), 2)
        report[form] = {"cpuMsPerJob": cpu, "wallS": wall, "calls": rounds[form][0]["calls"]}
        emit(f"{form:>6} {cpu:>10} {wall:>7}  {json.dumps(rounds[form][0]['calls'], sort_keys=True)}")
    ratio = round(report["file"]["cpuMsPerJob"] / report["inline"]["cpuMsPerJob"], 3)
    report["cpuRatioFileToInline"] = ratio
    emit(f"CPU file / inline: {ratio}  (load {report['load']})")
    emit(f"saved {save('gemini_batch_forms_bench', report)}")


if __name__ == "__main__":
    main()
