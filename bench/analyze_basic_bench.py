"""How long analyze_basic.py takes, and how much memory, on a full-size run.

    python3 bench/analyze_basic_bench.py [--runs 3] [--seed 7]

Generates seeded runs (10,000 transcripts: 25 models x 100 scenarios x 4 samples, and
100,000: 50 x 500 x 4, with refusals, unknowns, missing decisions, values and scenario
dimensions), runs the worker as a subprocess (job on stdin, document on stdout) and
prints the input size, the median wall time, the worker's own durationMs (analysis
without interpreter start and JSON parsing), the peak RSS and the output size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench_support import ANALYZE_BASIC_PY, emit, measure

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


def run_worker(job_path: Path) -> tuple[float, float, int, dict[str, Any]]:
    """Wall seconds, peak RSS (MiB), stdout bytes and the parsed document of one worker run."""
    run = measure(ANALYZE_BASIC_PY, stdin=job_path.read_bytes())
    if run.code != 0:
        raise SystemExit(f"analyze_basic.py exited {run.code}")
    document = run.document
    if not document.get("success"):
        raise SystemExit(f"analyze_basic.py failed: {document.get('error')}")
    return run.wall_s, run.peak_rss_mib, len(run.stdout), document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [(25, 100, 4), (50, 500, 4)]
    header = ("transcripts", "shape", "input MB", "wall s", "analysis s", "RSS MiB", "output MB")
    emit(" ".join(f"{h:>{w}}" for h, w in zip(header, (11, 12, 9, 7, 10, 8, 9), strict=True)))
    with tempfile.TemporaryDirectory() as folder:
        for models, scenarios, samples in sizes:
            job = generate_run(models, scenarios, samples, args.seed)
            path = Path(folder) / "job.json"
            path.write_text(json.dumps(job))
            del job
            results = [run_worker(path) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in results)
            rss = statistics.median(r[1] for r in results)
            analysis_s = statistics.median(r[3]["analysis"]["durationMs"] for r in results) / 1000
            count = models * scenarios * samples
            emit(
                f"{count:>11,} {f'{models}x{scenarios}x{samples}':>12} {path.stat().st_size / 1e6:9.1f} "
                f"{wall:7.2f} {analysis_s:10.2f} {rss:8.0f} {results[0][2] / 1e6:9.1f}"
            )


if __name__ == "__main__":
    main()
