"""Compatibility with the real host: our analyze_basic output against what ValueRank reads.

`host_contract/analysis.schema.json` is written by hand from the host's own files (zod
contract, GraphQL types, queue handlers, web charts; see its $comment for the commit),
so a field we rename or drop, or a null where the host needs a number, fails here even
though our generated schema would agree with itself.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from scipy import stats

from common.analysis.report import analyze
from common.contract.analysis import AnalysisWarningCode
from common.errors.codes import ErrorCode, WorkerError
from tests.test_analysis_golden import GOLDEN_RUNS, printed
from tests.test_analyze_basic import DIMS, REFUSED, TABLE, run_from_table, transcript, wire

HOST_SCHEMA = json.loads((Path(__file__).parent / "host_contract" / "analysis.schema.json").read_text())
HOST = jsonschema.Draft202012Validator(HOST_SCHEMA)


def assert_host_reads(analysis: dict[str, Any]) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in HOST.iter_errors(analysis)]
    assert problems == [], problems[:10]
    codes = {str(code) for code in AnalysisWarningCode}
    assert all(w["code"] in codes for w in analysis["warnings"])


def aggregate_job() -> dict[str, Any]:
    """Two source runs of one signature; m1 repeats s1 across the runs, m2 only answers run r1."""
    rows: list[tuple[str, str, str, int | str]] = [
        ("r1", "m1", "s1", 2), ("r1", "m1", "s2", 1), ("r1", "m1", "s3", -1),
        ("r2", "m1", "s1", 1), ("r2", "m1", "s2", 1), ("r2", "m1", "s3", -2), ("r2", "m1", "s3", -2),
        ("r1", "m2", "s1", 0), ("r1", "m2", "s2", -1), ("r1", "m2", "s3", 2), ("r1", "m2", "s3", REFUSED),
    ]  # fmt: skip
    levels: dict[str, dict[str, Any]] = {
        "s1": {"care": "full", "fairness": "minimal"},
        "s2": {"care": "moderate", "fairness": "moderate"},
        "s3": {"care": 1, "fairness": "substantial"},
    }
    transcripts = []
    for k, (run, model, scenario, score) in enumerate(rows):
        item = transcript(f"t{k}", model, scenario, score, dims=levels[scenario], sample=0)
        item["runId"] = run
        item["orientationFlipped"] = scenario == "s2"
        transcripts.append(item)
    return {
        "runId": "aggregate:def-1:none:3:default",
        "emitVignetteSemantics": True,
        "aggregateSemantics": {
            "mode": "same_signature_v1",
            "plannedScenarioIds": ["s1", "s2", "s3", "s4"],
            "minRepeatCoverageCount": 1,
            "minRepeatCoverageShare": 0.2,
            "lowCoverageCautionThreshold": 5,
            "driftWarningThreshold": 0.25,
        },
        "valuePair": {"valueA": "care", "valueB": "fairness"},
        "targetCompanionRunId": None,
        "transcripts": transcripts,
    }


def host_built_transcript(k: int, model: str, scenario: int, decision: tuple[str, str] | None) -> dict[str, Any]:
    """One transcript exactly as the host's buildTranscriptDataForAnalysis (analyze-basic-data.ts) sends it."""
    flipped = scenario % 3 == 2
    canonical = None
    values: dict[str, str] = {}
    if decision is not None:
        direction, strength = decision
        favored = {"favor_first": "Freedom", "favor_second": "Harmony"}.get(direction)
        canonical = {
            "favoredValueKey": favored,
            "opposedValueKey": {"Freedom": "Harmony", "Harmony": "Freedom"}.get(favored or ""),
            "direction": direction,
            "strength": strength,
            "normalizationApplied": flipped,
            "normalizationReason": "orientation_flipped" if flipped else None,
            "source": "deterministic",
        }
        if favored is not None:
            values = {favored: "prioritized", "Harmony" if favored == "Freedom" else "Freedom": "deprioritized"}
        elif direction == "neutral":
            values = {"Freedom": "neutral", "Harmony": "neutral"}
    raw = {
        "matchedText": "4",
        "matchedLabel": None,
        "parseClass": "exact",
        "parsePath": "digit",
        "parserVersion": "3",
        "responseExcerpt": "I choose 4",
        "refusal": decision is not None and decision[0] == "refusal",
        "manualOverride": None,
    }
    return {
        "id": f"cm{k:08d}",
        "modelId": model,
        "scenarioId": f"scn-{scenario}",
        "sampleIndex": k % 2,
        "orientationFlipped": flipped,
        "decisionModelV2": None if canonical is None else {"raw": raw, "canonical": canonical},
        "summary": {"values": values} if values else {},
        "scenario": {
            "name": f"Freedom vs Harmony {scenario}",
            "dimensions": {"Freedom": 1 + scenario % 3, "Harmony": "low"},
        },
    }


def test_a_job_built_as_the_host_builds_it_is_read_from_the_canonical_decision() -> None:
    decisions = [("favor_first", "strong"), ("favor_first", "lean"), ("neutral", "neutral"),
                 ("favor_second", "lean"), ("favor_second", "strong"), ("refusal", "unknown"), None]  # fmt: skip
    items: list[dict[str, Any]] = []
    for m, model in enumerate(["claude-sonnet-4-5", "gpt-4o", "gemini-2.5-pro"]):
        for scenario in range(6):
            for sample in range(2):
                k = len(items)
                items.append(host_built_transcript(k, model, scenario, decisions[(m + scenario * 2 + sample) % 7]))
    analysis = wire({"runId": "cmrun1", "emitVignetteSemantics": True, "transcripts": items})
    assert_host_reads(analysis)
    refusals = sum(
        1 for t in items if t["decisionModelV2"] and t["decisionModelV2"]["canonical"]["direction"] == "refusal"
    )
    missing = sum(1 for t in items if t["decisionModelV2"] is None)
    assert refusals and missing
    assert analysis["totals"]["unscored"] == {"refusal": refusals, "unknown": 0, "missing": missing}
    assert analysis["totals"]["scored"] == len(items) - refusals - missing
    # claude-sonnet-4-5 on scn-0: decisions 0 and 1, favor_first strong (+2) and lean (+1)
    assert analysis["visualizationData"]["modelScenarioMatrix"]["claude-sonnet-4-5"]["scn-0"] == 1.5
    assert set(analysis["perModel"]["gpt-4o"]["values"]) == {"Freedom", "Harmony"}
    assert set(analysis["dimensionAnalysis"]["dimensions"]) == {"Freedom", "Harmony"}


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_the_seeded_runs_of_every_shape_are_what_the_host_reads(name: str) -> None:
    """Duplicate ids, unnamed scenarios, numeric and null levels, flips, pairs sharing few scenarios, aggregate."""
    assert_host_reads(json.loads(printed(GOLDEN_RUNS[name]))["analysis"])


@pytest.fixture(scope="module")
def hand() -> dict[str, Any]:
    return wire(run_from_table(TABLE, DIMS))


def test_a_multi_sample_run_with_unscored_transcripts_and_dimensions_is_what_the_host_reads(
    hand: dict[str, Any],
) -> None:
    assert_host_reads(hand)
    assert hand["varianceAnalysis"]["isMultiSample"] is True
    assert hand["varianceAnalysis"]["samplesPerScenario"] == 3  # model-a s3
    assert set(hand["dimensionAnalysis"]["dimensions"]) == {"stakes", "framing"}
    assert hand["dimensionAnalysis"]["method"] == "kruskal_wallis"
    assert {w["code"] for w in hand["warnings"]} >= {"UNSCORED_TRANSCRIPTS", "PARTIAL_DIMENSIONS"}


def test_pairwise_is_keyed_model_a_colon_model_b_and_pairs_by_scenario(hand: dict[str, Any]) -> None:
    pairwise = hand["modelAgreement"]["pairwise"]
    assert sorted(pairwise) == [f"{a}:{b}" for a, b in sorted(pairwise_pairs(hand))]
    # model-c's s6 is unscored: the other pairs must still line up scenario by scenario
    means = {m: {s: v for s, v in row.items()} for m, row in hand["visualizationData"]["modelScenarioMatrix"].items()}
    shared = sorted(set(means["model-a"]) & set(means["model-c"]))
    rho, p = stats.spearmanr([means["model-a"][s] for s in shared], [means["model-c"][s] for s in shared])
    entry = pairwise["model-a:model-c"]
    assert entry["spearmanRho"] == pytest.approx(rho) and entry["pValue"] == pytest.approx(p)
    assert entry["effectInterpretation"] in {"negligible", "small", "medium", "large"}
    defined = [p["spearmanRho"] for p in hand["modelAgreement"]["pairs"] if p["spearmanRho"] is not None]
    assert hand["modelAgreement"]["overallAgreement"] == pytest.approx(sum(defined) / len(defined))


def pairwise_pairs(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["modelA"], p["modelB"]) for p in analysis["modelAgreement"]["pairs"] if p["spearmanRho"] is not None]


def test_a_model_without_a_scored_transcript_has_no_overall_rather_than_null_or_zeros() -> None:
    items = [transcript(f"a{k}", "m-a", f"s{k}", k % 3 - 1) for k in range(4)]
    items += [transcript(f"b{k}", "m-b", f"s{k}", REFUSED) for k in range(4)]
    analysis = wire({"runId": "r", "transcripts": items})
    assert_host_reads(analysis)
    assert "overall" not in analysis["perModel"]["m-b"] and "overall" in analysis["perModel"]["m-a"]
    assert analysis["preferenceSummary"]["perModel"]["m-b"]["preferenceDirection"]["overallLean"] is None


@pytest.mark.parametrize("models", [1, 2])
def test_fewer_than_three_models_gives_objects_as_warnings_and_a_readable_agreement(models: int) -> None:
    table: dict[str, dict[str, list[int | str | None]]] = {
        f"m{k}": {f"s{j}": [(j * (k + 1)) % 5 - 2] for j in range(5)} for k in range(models)
    }
    analysis = wire(run_from_table(table))
    assert_host_reads(analysis)
    codes = {w["code"] for w in analysis["warnings"]}
    assert ("TOO_FEW_MODELS" if models == 1 else "OUTLIER_DETECTION_LIMITED") in codes
    assert analysis["modelAgreement"]["outlierModels"] == []
    assert analysis["varianceAnalysis"]["isMultiSample"] is False
    assert all(m["consistencyScore"] == 1.0 and m["groupsWithRepeats"] == 0
               for m in analysis["varianceAnalysis"]["perModel"].values())  # fmt: skip


def test_an_empty_run_and_a_run_without_semantics_are_what_the_host_reads() -> None:
    empty = wire({"runId": "r", "transcripts": []})
    assert_host_reads(empty)
    assert [w["code"] for w in empty["warnings"]] == ["NO_TRANSCRIPTS"]
    plain = wire({**run_from_table(TABLE, DIMS), "emitVignetteSemantics": False})
    assert_host_reads(plain)
    assert plain["preferenceSummary"] is None and plain["reliabilitySummary"] is None


def test_value_counts_are_condition_weighted_as_the_host_adds_them_up() -> None:
    items = [
        transcript("1", "m", "s1", 1, values={"care": "prioritized"}),
        transcript("2", "m", "s1", 1, values={"care": "prioritized"}),
        transcript("3", "m", "s1", 1, values={"care": "deprioritized"}),
        transcript("4", "m", "s2", 1, values={"care": "neutral"}),
    ]
    care = wire({"runId": "r", "transcripts": items})["perModel"]["m"]["values"]["care"]
    assert care["count"] == pytest.approx({"prioritized": 2 / 3, "deprioritized": 1 / 3, "neutral": 1.0})
    assert care["rawCount"] == {"prioritized": 2, "deprioritized": 1, "neutral": 1}
    assert care["winRate"] == pytest.approx((2 / 3 + 0) / 2)


def _web_bucket(key: str) -> str | None:
    """The web's normalizeBucketCode (utils/decisionDistributionDisplay.ts)."""
    normalized = re.sub(r"[^a-z0-9]", "", key.strip().lower())
    names = {"opponentstrongly": "opponentStrongly", "opponentsomewhat": "opponentSomewhat", "neutral": "neutral",
             "somewhat": "somewhat", "strongly": "strongly"}  # fmt: skip
    return names.get(normalized)


def test_the_web_decision_chart_counts_every_scored_transcript_once(hand: dict[str, Any]) -> None:
    for model, buckets in hand["visualizationData"]["decisionDistribution"].items():
        web: dict[str, int] = {}
        for key, count in buckets.items():
            code = _web_bucket(key)
            if code:
                web[code] = web.get(code, 0) + count
        assert sum(web.values()) == hand["perModel"][model]["scoredCount"]
        assert web["strongly"] == buckets["favor_first.strong"] and web["opponentStrongly"] == buckets["strongSecond"]
        original = (
            "favor_first.strong",
            "favor_first.lean",
            "neutral.neutral",
            "favor_second.lean",
            "favor_second.strong",
        )
        assert sum(buckets[k] for k in original) == hand["perModel"][model]["scoredCount"]


def test_per_scenario_variance_is_the_sample_variance_with_median_direction(hand: dict[str, Any]) -> None:
    s3 = hand["varianceAnalysis"]["perModel"]["model-a"]["perScenario"]["s3"]  # scores 0, 0, 1
    assert s3["sampleCount"] == 3 and s3["variance"] == pytest.approx(1 / 3)
    assert s3["direction"] == "NEUTRAL" and s3["directionalAgreement"] == pytest.approx(2 / 3)
    assert s3["iqr"] == pytest.approx(0.5) and s3["medianSignedDistance"] == 0
    assert s3["directionCounts"] == {"favor_first.strong": 0, "favor_first.lean": 1, "neutral.neutral": 2,
                                     "favor_second.lean": 0, "favor_second.strong": 0}  # fmt: skip
    most = hand["varianceAnalysis"]["mostVariableScenarios"][0]
    # seven groups tie at 0.5 (e.g. [2, 1]); ties go by model, then scenario
    assert (most["modelId"], most["scenarioId"], most["variance"]) == ("model-a", "s1", pytest.approx(0.5))
    assert most["scenarioName"] == "name of s1"
    reliability = hand["reliabilitySummary"]["perModel"]["model-a"]
    # s1 [2, 1], s3 [0, 0, 1], s5 [-2, -1]: 1 + 3 + 1 pairs of repeats, 0 + 1 + 0 in the same bucket
    assert reliability["coverageCount"] == 3
    assert sum(e["trials"] for e in reliability["perScenario"].values()) == 5
    assert sum(e["matches"] for e in reliability["perScenario"].values()) == 1
    assert reliability["baselineNoise"] == pytest.approx(math.sqrt((0.5 + 1 / 3 + 0.5) / 3))


def test_aggregate_mode_pools_runs_and_reports_coverage_and_drift() -> None:
    analysis = wire(aggregate_job())
    assert_host_reads(analysis)
    semantics = analysis["aggregateSemantics"]
    assert semantics["perModelRepeatCoverage"]["m1"] == {
        "repeatCoverageCount": 3, "repeatCoverageShare": 0.75, "contributingRunCount": 2,
    }  # fmt: skip
    assert semantics["perModelRepeatCoverage"]["m2"]["contributingRunCount"] == 1
    # m1's overall lean per run: r1 mean(2, 1, -1) = 2/3, r2 mean(1, 1, -2) = 0; 3 scenarios each
    centres = [2 / 3, 0.0]
    mean = sum(centres) / 2
    sd = math.sqrt(sum((c - mean) ** 2 for c in centres) / 2)
    drift = semantics["perModelDrift"]["m1"]
    assert drift["weightedOverallSignedCenterSd"] == pytest.approx(sd) and drift["exceedsWarningThreshold"] is True
    assert semantics["perModelDrift"]["m2"]["weightedOverallSignedCenterSd"] is None
    assert analysis["varianceAnalysis"]["orientationCorrectedCount"] == 1  # s2
    pair = analysis["reliabilitySummary"]["perModel"]["m1"]["perPair"]["care"]
    assert pair["primaryConditionIds"] == ["s1", "s2", "s3", "s4"]
    by_scenario = {c["scenarioId"]: c for c in pair["perCondition"]}
    assert by_scenario["s1"]["netPressureRank"] == 5 - 2 and by_scenario["s3"]["netPressureRank"] == 1 - 4
    assert by_scenario["s1"] == {"scenarioId": "s1", "netPressureRank": 3, "winRate": 1.0, "matches": 2, "trials": 2}
    assert {w["code"] for w in analysis["warnings"]} >= {"LOW_REPEAT_COVERAGE", "HIGH_DRIFT"}


def test_aggregate_mode_needs_each_transcripts_run_id() -> None:
    job = aggregate_job()
    del job["transcripts"][4]["runId"]
    with pytest.raises(WorkerError) as caught:
        analyze(job)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["field"] == "transcripts[4].runId"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aggregateSemantics": {"mode": "other"}}, "aggregateSemantics.mode"),
        ({"emitVignetteSemantics": "yes"}, "emitVignetteSemantics"),
        ({"valuePair": {"valueA": 3}}, "valuePair.valueA"),
    ],
)
def test_bad_job_options_name_the_field(change: dict[str, Any], field: str) -> None:
    job = aggregate_job()
    job.update(change)
    with pytest.raises(WorkerError) as caught:
        analyze(job)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and caught.value.details["field"] == field
