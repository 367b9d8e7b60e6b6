"""analyze_basic's printed document, against the one it printed before it was made faster.

`fixtures/analysis/*.json` are the documents the worker printed for these seeded runs
with validated result models and scipy's special functions (written once, by the
commit before `trusted` and `special_functions`). Today's must be the same text: every
key in the same order and every number the same, except the t and chi-squared results
(`pValue*`, the interval bounds) and `varianceExplained` (a least-squares fit: LAPACK and
BLAS, whose kernels differ in the last bits from one CPU to another), which may move within
a relative 1e-10. And the
result models built without validation (`trusted.Trusted`) must print the very bytes
the validating constructors print.
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import analyze_basic
from common.analysis.trusted import Trusted
from common.contract.analysis import BernoulliAgreement, ConfidenceInterval
from common.runs.oneshot import run_worker
from tests.helpers import aggregate_mode

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
TOLERANT_KEYS = frozenset({"pValue", "pValueAdjusted", "pValueCorrected", "lower", "upper", "varianceExplained"})
TOLERANCE = 1e-10
_CLOCK = re.compile(r'"computedAt":"[^"]*","durationMs":\d+')
_TOLERANT_NUMBER = re.compile(r'("(?:' + "|".join(sorted(TOLERANT_KEYS)) + r')":)-?[0-9][0-9.eE+-]*')

DECISIONS = [
    ("favor_first", "strong"),
    ("favor_first", "lean"),
    ("neutral", "neutral"),
    ("favor_second", "lean"),
    ("favor_second", "strong"),
]


def seeded_run(
    seed: int, models: int, scenarios: int, samples: int, *, aggregate: bool = False, skip: float = 0.0
) -> dict[str, Any]:
    """Every optional shape: repeats, unscored reasons, values, dimensions, flips, runIds, duplicate ids.

    `skip`: the share of (model, scenario) cells left out, so model pairs share only some scenarios.
    """
    rng = random.Random(seed)
    lean = [rng.gauss(0, 0.7) for _ in range(models)]
    pull = [rng.gauss(0, 0.9) for _ in range(scenarios)]
    transcripts = []
    for m in range(models):
        for s in range(scenarios):
            if skip and rng.random() < skip:
                continue
            for k in range(rng.choice([1, samples, samples])):
                roll = rng.random()
                decision: Any
                if roll < 0.03:
                    decision = rng.choice([None, {"canonical": None}])
                elif roll < 0.06:
                    decision = {"canonical": {"direction": rng.choice(["refusal", "unknown"]), "strength": "unknown"}}
                else:
                    score = round(max(-2.0, min(2.0, lean[m] + pull[s] + rng.gauss(0, 0.8))))
                    direction, strength = DECISIONS[2 - score]
                    decision = {"canonical": {"direction": direction, "strength": strength}}
                item: dict[str, Any] = {
                    "id": f"t-{m}-{s}-{k}" if rng.random() > 0.01 else "dup",
                    "modelId": f"provider/model-{m:02d}",
                    "scenarioId": f"scenario-{s:03d}",
                    "sampleIndex": k,
                    "decisionModelV2": decision,
                    "summary": {"values": {v: rng.choice(["prioritized", "deprioritized", "neutral"]) for v in "abc"}},
                    "scenario": {
                        "name": f"Scenario {s}" if s % 5 else None,
                        "dimensions": {"stakes": ("low", "high", "mid")[s % 3], "n": (1, 2.0, 3)[s % 2], "z": None},
                    },
                    "orientationFlipped": rng.random() < 0.2,
                }
                if aggregate:
                    item["runId"] = f"run-{k % 2}"
                transcripts.append(item)
    job: dict[str, Any] = {"runId": f"golden-{seed}", "transcripts": transcripts}
    if aggregate:
        aggregate_mode(job, [f"scenario-{s:03d}" for s in range(scenarios)])
    return job


GOLDEN_RUNS = {
    "small": seeded_run(1, 4, 6, 3),
    "wide": seeded_run(2, 8, 25, 3),
    "aggregate": seeded_run(3, 5, 10, 4, aggregate=True),
    "sparse": seeded_run(4, 7, 14, 2, skip=0.3),
}


def printed(job: dict[str, Any]) -> str:
    """The worker's stdout for the job (the bytes path, as a host runs it), without its clock."""
    out = io.StringIO()
    assert run_worker(analyze_basic.ANALYZE_BASIC, stdin=io.BytesIO(json.dumps(job).encode()), stdout=out) == 0
    text, clocks = _CLOCK.subn('"computedAt":"","durationMs":0', out.getvalue())
    assert clocks == 1
    return text


def assert_same(got: Any, expected: Any, path: str, moved: list[str]) -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), path
        for key in expected:
            assert_same(got[key], expected[key], f"{path}.{key}", moved)
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), path
        for index, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same(a, b, f"{path}[{index}]", moved)
    elif path.rsplit(".", 1)[-1] in TOLERANT_KEYS and isinstance(expected, float):
        assert isinstance(got, float) and got == pytest.approx(expected, rel=TOLERANCE, abs=0), path
        if got != expected:
            moved.append(path)
    else:
        assert type(got) is type(expected) and got == expected, path


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_the_document_is_the_one_printed_before(name: str) -> None:
    text = printed(GOLDEN_RUNS[name])
    golden = _CLOCK.sub('"computedAt":"","durationMs":0', (FIXTURES / f"{name}.json").read_text())
    moved: list[str] = []
    assert_same(json.loads(text), json.loads(golden), "$", moved)
    # and the text itself is the same once those numbers are set aside
    assert _TOLERANT_NUMBER.sub(r"\1#", text) == _TOLERANT_NUMBER.sub(r"\1#", golden)


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_trusted_models_print_the_bytes_validated_models_print(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = printed(GOLDEN_RUNS[name])
    monkeypatch.setattr(Trusted, "VALIDATE", True)
    assert printed(GOLDEN_RUNS[name]) == fast


def test_a_model_with_a_default_or_fields_out_of_order_cannot_be_trusted() -> None:
    with pytest.raises(TypeError, match="method"):
        Trusted(ConfidenceInterval)
    with pytest.raises(TypeError, match="in order: matches, trials"):
        Trusted(BernoulliAgreement).many(trials=[1], matches=[0])
    with pytest.raises(ValueError, match="different lengths"):
        Trusted(BernoulliAgreement).many(matches=[0, 1], trials=[1])
    built = Trusted(BernoulliAgreement).many(matches=[0, 1], trials=[1, 3])
    assert built == [BernoulliAgreement(matches=0, trials=1), BernoulliAgreement(matches=1, trials=3)]
