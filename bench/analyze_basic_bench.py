"""How long analyze_basic.py takes, and how much memory, on a full-size run; and ValueRank's.

    python3 bench/analyze_basic_bench.py [--runs 3] [--seed 7] [--valuerank PATH]

Generates seeded runs (10,000 transcripts: 25 models x 100 scenarios x 4 samples, and
100,000: 50 x 500 x 4, with refusals, unknowns, missing decisions, values and scenario
dimensions), runs the worker as a subprocess (job on stdin, document on stdout) and
prints the input size, the median wall time and CPU time (user + sys: what the machine's
other load disturbs least), the worker's own durationMs (decoding and analysis, without
interpreter start and output), the peak RSS, the output size and the load average.

With `--valuerank PATH` (a checkout of ValueRank; nothing is fetched at run time) its own
`cloud/workers/analyze_basic.py` runs on the same input in the same rounds, interleaved
with ours (ours, theirs, ours, theirs, ...), and the table adds its median wall time, CPU
time and peak RSS and how many times faster ours is, by wall and by CPU time (medians of
each). Without it those columns are skipped. Both checkouts are byte-compiled first, so
no run pays for compiling modules (PYTHONDONTWRITEBYTECODE would make every run do it).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_support import ANALYZE_BASIC_PY, WORKERS, emit, measure, save

VALUES = ("autonomy", "safety", "honesty", "fairness", "care")
OUTCOMES = ("prioritized", "deprioritized", "neutral")
DECISIONS = (
    ("favor_first", "strong"),
    ("favor_first", "lean"),
    ("neutral", "neutral"),
    ("favor_second", "lean"),
    ("favor_second", "strong"),
)


def generate_run(models: int, scenarios: int, samples: int, seed: int) -> dict[str, Any]:
    """A synthetic run: each model has a lean, each scenario a pull, repeats add noise."""
    rng = random.Random(seed)
    lean = [rng.gauss(0, 0.7) for _ in range(models)]
    pull = [rng.gauss(0, 0.9) for _ in range(scenarios)]
    dims = [
        {"stakes": rng.choice(("low", "medium", "high")), "framing": rng.choice((1, 2)), "audience": rng.choice("ab")}
        for _ in range(scenarios)
    ]
    transcripts: list[dict[str, Any]] = []
    for m in range(models):
        for s in range(scenarios):
            for k in range(samples):
                roll = rng.random()
                decision: dict[str, Any] | None
                if roll < 0.01:
                    decision = None
                elif roll < 0.04:
                    decision = {"canonical": {"direction": "refusal", "strength": "unknown"}}
                elif roll < 0.06:
                    decision = {"canonical": {"direction": "unknown", "strength": "unknown"}}
                else:
                    score = round(max(-2.0, min(2.0, lean[m] + pull[s] + rng.gauss(0, 0.8))))
                    direction, strength = DECISIONS[2 - score]
                    decision = {"canonical": {"direction": direction, "strength": strength}}
                transcripts.append(
                    {
                        "id": f"t-{m:03d}-{s:04d}-{k}",
                        "modelId": f"provider/model-{m:03d}",
                        "scenarioId": f"scenario-{s:04d}",
                        "sampleIndex": k,
                        "decisionModelV2": decision,
                        "summary": {"values": {v: rng.choice(OUTCOMES) for v in rng.sample(VALUES, 3)}},
                        "scenario": {"name": f"Scenario {s}", "dimensions": dims[s]},
                    }
                )
    return {"runId": f"bench-{models}x{scenarios}x{samples}", "transcripts": transcripts}


_DURATION = re.compile(rb'"durationMs":\s*(\d+)')
_SUCCESS = re.compile(rb'^\{"success":\s*true')


Run = tuple[float, float, int, float, float]


def run_worker(script: Path, job: bytes) -> Run:
    """Wall seconds, peak RSS (MiB), stdout bytes, durationMs (s) and CPU seconds of one worker run.

    The document is checked, not parsed: a child's peak RSS counts its parent's from
    before the exec (the kernel keeps the larger), so this process stays small. It never
    builds a 17 MB document's objects, and writes each job from a child of its own.
    """
    run = measure(script, stdin=job)
    if run.code != 0 or _SUCCESS.match(run.stdout) is None:
        raise SystemExit(f"{script} failed (exit {run.code}): {run.stdout[:500]!r} {run.err[-1000:]}")
    duration = _DURATION.search(run.stdout)
    analysis_s = int(duration.group(1)) / 1000 if duration else 0.0
    return run.wall_s, run.peak_rss_mib, len(run.stdout), analysis_s, run.cpu_s


def write_job(path: Path, models: int, scenarios: int, samples: int, seed: int) -> None:
    """Generates the run in a child process, so its objects never raise this process's peak RSS."""
    shape = ",".join(str(n) for n in (models, scenarios, samples, seed))
    subprocess.run([sys.executable, __file__, "--write-job", str(path), shape], check=True)


def valuerank_script(checkout: str | None) -> Path | None:
    if checkout is None:
        return None
    script = Path(checkout) / "cloud" / "workers" / "analyze_basic.py"
    if not script.is_file():
        raise SystemExit(f"--valuerank {checkout}: no cloud/workers/analyze_basic.py there")
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--valuerank", metavar="PATH", help="a ValueRank checkout to measure beside ours")
    parser.add_argument("--write-job", nargs=2, metavar=("PATH", "M,S,K,SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_job:
        models, scenarios, samples, seed = (int(n) for n in args.write_job[1].split(","))
        Path(args.write_job[0]).write_text(json.dumps(generate_run(models, scenarios, samples, seed)))
        return
    theirs = valuerank_script(args.valuerank)
    # Both sides' modules compiled first: the environment may say PYTHONDONTWRITEBYTECODE, and
    # then every run would compile again whatever has no up-to-date .pyc (a fresh checkout: all).
    for folder in [WORKERS] + ([theirs.parent] if theirs is not None else []):
        compileall.compile_dir(folder, quiet=1)
    sizes = [(25, 100, 4), (50, 500, 4)]
    header = ["transcripts", "shape", "input MB", "wall s", "CPU s", "decode+analysis s", "RSS MiB", "output MB"]
    widths = [11, 12, 9, 7, 6, 17, 8, 9]
    if theirs is not None:
        header += ["ValueRank s", "CPU s", "ValueRank MiB", "x wall", "x CPU"]
        widths += [11, 6, 13, 6, 6]
    header.append("load")
    widths.append(5)
    emit(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for models, scenarios, samples in sizes:
            path = Path(folder) / "job.json"
            write_job(path, models, scenarios, samples, args.seed)
            job = path.read_bytes()
            ours: list[Run] = []
            other: list[Run] = []
            for _ in range(args.runs):  # interleaved, so both see the same machine load
                ours.append(run_worker(ANALYZE_BASIC_PY, job))
                if theirs is not None:
                    other.append(run_worker(theirs, job))
            wall = statistics.median(r[0] for r in ours)
            cpu = statistics.median(r[4] for r in ours)
            rss = statistics.median(r[1] for r in ours)
            analysis_s = statistics.median(r[3] for r in ours)
            count = models * scenarios * samples
            load = os.getloadavg()[0]
            row = {
                "transcripts": count,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mib": rss,
                "analysis_s": analysis_s,
                "load_average": load,
            }
            line = (
                f"{count:>11,} {f'{models}x{scenarios}x{samples}':>12} {len(job) / 1e6:9.1f} "
                f"{wall:7.2f} {cpu:6.2f} {analysis_s:17.2f} {rss:8.0f} {ours[0][2] / 1e6:9.1f}"
            )
            if other:
                their_wall = statistics.median(r[0] for r in other)
                their_cpu = statistics.median(r[4] for r in other)
                their_rss = statistics.median(r[1] for r in other)
                row |= {
                    "valuerank_wall_s": their_wall,
                    "valuerank_cpu_s": their_cpu,
                    "valuerank_peak_rss_mib": their_rss,
                }
                line += f" {their_wall:11.2f} {their_cpu:6.2f} {their_rss:13.0f}"
                line += f" {their_wall / wall:6.1f} {their_cpu / cpu:6.1f}"
            line += f" {load:5.1f}"
            rows.append(row)
            emit(line)
            del job
    save("analyze_basic", {"runs": args.runs, "seed": args.seed, "rows": rows})


if __name__ == "__main__":
    main()
