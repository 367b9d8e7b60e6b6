"""analyze_basic statistics, each checked against numbers computed independently here.

The expected values come from scipy.stats (spearmanr, kruskal, t, zscore) run on the
hand-made table below, from statistics/numpy formulas, or from arithmetic by hand; the
worker's numbers come from the JSON document a host receives (`to_wire()`).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from typing import Any

import numpy as np
import pytest
from scipy import stats

from common.analysis.agreement import effect_size_label, holm_adjust
from common.analysis.report import analyze

DECISION = {
    2: ("favor_first", "strong"),
    1: ("favor_first", "lean"),
    0: ("neutral", "neutral"),
    -1: ("favor_second", "lean"),
    -2: ("favor_second", "strong"),
}
REFUSED = "refusal"


def transcript(
    tid: str,
    model: str,
    scenario: str,
    score: int | str | None,
    *,
    values: dict[str, str] | None = None,
    dims: dict[str, Any] | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """A transcript whose decision has `score` (an int), is a refusal, or is absent (None)."""
    item: dict[str, Any] = {"id": tid, "modelId": model, "scenarioId": scenario}
    if sample is not None:
        item["sampleIndex"] = sample
    if score == REFUSED:
        item["decisionModelV2"] = {"canonical": {"direction": "refusal", "strength": "unknown"}}
    elif isinstance(score, int):
        direction, strength = DECISION[score]
        item["decisionModelV2"] = {"canonical": {"direction": direction, "strength": strength}}
    else:
        item["decisionModelV2"] = None
    if values is not None:
        item["summary"] = {"values": values}
    if dims is not None:
        item["scenario"] = {"name": f"name of {scenario}", "dimensions": dims}
    return item


def run_from_table(
    table: dict[str, dict[str, list[int | str | None]]],
    dims: dict[str, dict[str, Any]] | None = None,
    run_id: str = "run-1",
) -> dict[str, Any]:
    transcripts = []
    for model, scenarios in table.items():
        for scenario, scores in scenarios.items():
            for k, score in enumerate(scores):
                transcripts.append(
                    transcript(
                        f"{model}/{scenario}/{k}",
                        model,
                        scenario,
                        score,
                        dims=(dims or {}).get(scenario),
                        sample=k,
                    )
                )
    return {"runId": run_id, "transcripts": transcripts}


def wire(document: dict[str, Any]) -> dict[str, Any]:
    out = analyze(document).to_wire()
    assert out["success"] is True and out["contractVersion"]
    analysis: dict[str, Any] = out["analysis"]
    return analysis


# Four models, six scenarios, repeats; "refusal" is unscored; model-c never scores s6,
# model-d never sees s4.
TABLE: dict[str, dict[str, list[int | str | None]]] = {
    "model-a": {"s1": [2, 1], "s2": [1], "s3": [0, 0, 1], "s4": [-1], "s5": [-2, -1], "s6": [2]},
    "model-b": {"s1": [1], "s2": [2, 2], "s3": [-1], "s4": [0, REFUSED], "s5": [-1], "s6": [1, 0]},
    "model-c": {"s1": [-2], "s2": [-1, 0], "s3": [1], "s4": [2], "s5": [1, 2], "s6": [REFUSED, None]},
    "model-d": {"s1": [0], "s2": [1], "s3": [1, 2], "s5": [0], "s6": [-1]},
}
DIMS = {
    "s1": {"stakes": "high", "framing": "a"},
    "s2": {"stakes": "high", "framing": "b"},
    "s3": {"stakes": "low", "framing": "a"},
    "s4": {"stakes": "low", "framing": "b"},
    "s5": {"stakes": "medium"},
    "s6": {"stakes": "medium"},
}


def cell_means(table: dict[str, dict[str, list[int | str | None]]]) -> dict[str, dict[str, float]]:
    means: dict[str, dict[str, float]] = {}
    for model, scenarios in table.items():
        means[model] = {}
        for scenario, scores in scenarios.items():
            scored = [s for s in scores if isinstance(s, int)]
            if scored:
                means[model][scenario] = statistics.fmean(scored)
    return means


@pytest.fixture(scope="module")
def hand() -> dict[str, Any]:
    return wire(run_from_table(TABLE, DIMS))


# ---------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("direction", "strength", "bucket", "score"),
    [
        ("favor_first", "strong", "strongFirst", 2.0),
        ("favor_first", "lean", "leanFirst", 1.0),
        ("neutral", "neutral", "neutral", 0.0),
        ("neutral", "unknown", "neutral", 0.0),
        ("favor_second", "lean", "leanSecond", -1.0),
        ("favor_second", "strong", "strongSecond", -2.0),
        ("refusal", "unknown", "refusal", None),
        ("unknown", "strong", "unknown", None),
        ("favor_first", "unknown", "unknown", None),
        ("favor_second", "neutral", "unknown", None),
    ],
)
def test_each_decision_scores_as_the_table_says(
    direction: str, strength: str, bucket: str, score: float | None
) -> None:
    item = {
        "id": "t1",
        "modelId": "m",
        "scenarioId": "s",
        "decisionModelV2": {"canonical": {"direction": direction, "strength": strength}},
    }
    analysis = wire({"runId": "r", "transcripts": [item]})
    buckets = analysis["visualizationData"]["decisionDistribution"]["m"]
    ours = ("strongFirst", "leanFirst", "neutral", "leanSecond", "strongSecond", "refusal", "unknown", "missing")
    assert buckets[bucket] == 1 and sum(buckets[k] for k in ours) == 1
    model = analysis["perModel"]["m"]
    assert model["sampleSize"] == 1
    if score is None:
        assert model["scoredCount"] == 0 and model["unscoredCount"] == 1 and "overall" not in model
        assert analysis["visualizationData"]["modelScenarioMatrix"]["m"] == {}
        assert any("unscored" in w["message"] for w in analysis["warnings"])
    else:
        assert model["scoredCount"] == 1
        assert analysis["visualizationData"]["modelScenarioMatrix"]["m"] == {"s": score}


def test_missing_decision_or_canonical_is_unscored_as_missing() -> None:
    items = [
        {"id": "a", "modelId": "m", "scenarioId": "s"},
        {"id": "b", "modelId": "m", "scenarioId": "s", "decisionModelV2": None},
        {"id": "c", "modelId": "m", "scenarioId": "s", "decisionModelV2": {"canonical": None}},
        {"id": "d", "modelId": "m", "scenarioId": "s", "decisionModelV2": {}},
    ]
    analysis = wire({"runId": "r", "transcripts": items})
    assert analysis["perModel"]["m"]["unscoredReasons"] == {"refusal": 0, "unknown": 0, "missing": 4}
    assert analysis["totals"]["unscored"]["missing"] == 4 and analysis["totals"]["scored"] == 0


# ---------------------------------------------------------------- perModel


def test_per_model_counts_and_overall_against_numpy_and_scipy(hand: dict[str, Any]) -> None:
    means = cell_means(TABLE)
    for model, scenarios in TABLE.items():
        got = hand["perModel"][model]
        all_scores = [s for scores in scenarios.values() for s in scores]
        scored = [s for s in all_scores if isinstance(s, int)]
        assert got["sampleSize"] == len(all_scores)
        assert got["scoredCount"] == len(scored)
        assert got["unscoredCount"] == len(all_scores) - len(scored)
        assert got["conditionCount"] == len(scenarios)
        values = np.array(list(means[model].values()))
        overall = got["overall"]
        assert overall["scenarioCount"] == len(values)
        assert overall["mean"] == pytest.approx(values.mean())
        assert overall["stdDev"] == pytest.approx(statistics.stdev(values))
        assert overall["min"] == values.min() and overall["max"] == values.max()
        half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
        ci = overall["confidenceInterval"]
        assert ci["level"] == 0.95
        assert ci["lower"] == pytest.approx(values.mean() - half)
        assert ci["upper"] == pytest.approx(values.mean() + half)
    assert hand["perModel"]["model-c"]["unscoredReasons"] == {"refusal": 1, "unknown": 0, "missing": 1}


def test_win_rate_is_averaged_per_scenario_not_pooled() -> None:
    # autonomy for model m: s1 -> 1 of 2 prioritized, s2 -> 1 of 1, s3 -> 1 of 3
    rows = [
        ("s1", {"autonomy": "prioritized", "safety": "deprioritized"}),
        ("s1", {"autonomy": "deprioritized"}),
        ("s2", {"autonomy": "prioritized", "safety": "prioritized"}),
        ("s3", {"autonomy": "neutral"}),
        ("s3", {"autonomy": "neutral", "safety": "neutral"}),
        ("s3", {"autonomy": "prioritized"}),
    ]
    items = [transcript(f"t{i}", "m", s, 1, values=v) for i, (s, v) in enumerate(rows)]
    items.append(transcript("other", "n", "s1", 0, values={"autonomy": "deprioritized"}))
    analysis = wire({"runId": "r", "transcripts": items})
    autonomy = analysis["perModel"]["m"]["values"]["autonomy"]
    assert autonomy["winRate"] == pytest.approx((1 / 2 + 1 / 1 + 1 / 3) / 3)  # pooled would be 3/6
    assert autonomy["rawCount"] == {"prioritized": 3, "deprioritized": 1, "neutral": 2}
    # condition-weighted: s1 1/2 + 1/2, s2 1, s3 1/3 + 2/3
    assert autonomy["count"] == pytest.approx(
        {"prioritized": 1 / 2 + 1 + 1 / 3, "deprioritized": 1 / 2, "neutral": 2 / 3}
    )
    assert autonomy["scenarioCount"] == 3
    safety = analysis["perModel"]["m"]["values"]["safety"]
    assert safety["winRate"] == pytest.approx((0 / 1 + 1 / 1 + 0 / 1) / 3)
    assert analysis["perModel"]["n"]["values"] == {
        "autonomy": {
            "winRate": 0.0,
            "scenarioCount": 1,
            "count": {"prioritized": 0.0, "deprioritized": 1.0, "neutral": 0.0},
            "rawCount": {"prioritized": 0, "deprioritized": 1, "neutral": 0},
        }
    }


# ---------------------------------------------------------------- modelAgreement


def holm_by_hand(p_values: list[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (m - step) * p_values[i]))
        adjusted[i] = running
    return adjusted


def test_holm_adjustment_matches_the_step_down_procedure() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm_adjust(np.array(p)).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust(np.array([0.5, 0.9])).tolist() == pytest.approx([1.0, 1.0])


def test_pairs_against_scipy_spearmanr_holm_and_cohens_d(hand: dict[str, Any]) -> None:
    means = cell_means(TABLE)
    models = sorted(TABLE)
    expected = []
    for a, b in itertools.combinations(models, 2):
        shared = sorted(set(means[a]) & set(means[b]))
        x = [means[a][s] for s in shared]
        y = [means[b][s] for s in shared]
        rho, p = stats.spearmanr(x, y)
        d = (statistics.fmean(x) - statistics.fmean(y)) / math.sqrt(
            (statistics.variance(x) + statistics.variance(y)) / 2
        )
        expected.append((a, b, len(shared), rho, p, d))
    adjusted = holm_by_hand([e[4] for e in expected])
    pairs = hand["modelAgreement"]["pairs"]
    assert [(p["modelA"], p["modelB"]) for p in pairs] == [(e[0], e[1]) for e in expected]
    for got, (_, _, n, rho, p, d), p_adj in zip(pairs, expected, adjusted, strict=True):
        assert got["scenarioCount"] == n
        assert got["spearmanRho"] == pytest.approx(rho)
        assert got["pValue"] == pytest.approx(p)
        assert got["pValueAdjusted"] == pytest.approx(p_adj)
        assert got["significant"] == bool(p_adj < 0.05)
        assert got["cohensD"] == pytest.approx(d)
        assert got["effectSize"] == effect_size_label(d)
        assert got["reason"] is None
        host = hand["modelAgreement"]["pairwise"][f"{got['modelA']}:{got['modelB']}"]
        assert host["spearmanRho"] == pytest.approx(rho) and host["pValueCorrected"] == pytest.approx(p_adj)
        assert host["effectSize"] == pytest.approx(d) and host["effectInterpretation"] == effect_size_label(d)
    overall = hand["modelAgreement"]["agreementSummary"]
    rhos = [e[3] for e in expected]
    assert hand["modelAgreement"]["overallAgreement"] == pytest.approx(statistics.fmean(rhos))
    assert overall["meanRho"] == pytest.approx(statistics.fmean(rhos))
    assert overall["medianRho"] == pytest.approx(statistics.median(rhos))
    assert overall["pairCount"] == 6
    assert overall["significantPairCount"] == sum(p < 0.05 for p in adjusted)


@pytest.mark.parametrize(
    ("d", "label"),
    [(0.0, "negligible"), (-0.19, "negligible"), (0.2, "small"), (-0.49, "small"), (0.5, "medium"), (0.8, "large")],
)
def test_cohens_d_interpretation_thresholds(d: float, label: str) -> None:
    assert effect_size_label(d) == label


def outlier_run() -> dict[str, Any]:
    """Six models that rank eight scenarios alike (small swaps) and one that reverses them."""
    base = [-2, -1, -1, 0, 0, 1, 1, 2]
    table: dict[str, dict[str, list[int | str | None]]] = {}
    rng = random.Random(3)
    for m in range(6):
        scores = base[:]
        i = rng.randrange(7)
        scores[i], scores[i + 1] = scores[i + 1], scores[i]
        table[f"agree-{m}"] = {f"s{k}": [v] for k, v in enumerate(scores)}
    table["contrarian"] = {f"s{k}": [-v] for k, v in enumerate(base)}
    return run_from_table(table)


def test_outlier_model_by_z_score_of_mean_rho() -> None:
    document = outlier_run()
    analysis = wire(document)
    table: dict[str, dict[str, float]] = {}
    for item in document["transcripts"]:
        direction, strength = item["decisionModelV2"]["canonical"].values()
        score = next(k for k, v in DECISION.items() if v == (direction, strength))
        table.setdefault(item["modelId"], {})[item["scenarioId"]] = score
    models = sorted(table)
    rho = {m: [] for m in models}  # type: dict[str, list[float]]
    for a, b in itertools.combinations(models, 2):
        r = stats.spearmanr([table[a][s] for s in sorted(table[a])], [table[b][s] for s in sorted(table[a])])[0]
        rho[a].append(r)
        rho[b].append(r)
    mean_rho = np.array([statistics.fmean(rho[m]) for m in models])
    z = (mean_rho - mean_rho.mean()) / mean_rho.std()
    per_model = analysis["modelAgreement"]["perModel"]
    for m, mr, zm in zip(models, mean_rho, z, strict=True):
        assert per_model[m]["meanRho"] == pytest.approx(mr)
        assert per_model[m]["zScore"] == pytest.approx(zm)
    outliers = analysis["modelAgreement"]["outlierModelDetails"]
    assert [o["modelId"] for o in outliers] == [m for m, zm in zip(models, z, strict=True) if abs(zm) > 2]
    assert analysis["modelAgreement"]["outlierModels"] == ["contrarian"]


def test_fewer_than_three_models_warns_and_flags_no_outlier() -> None:
    table = {k: v for k, v in TABLE.items() if k in ("model-a", "model-b")}
    analysis = wire(run_from_table(table))
    assert len(analysis["modelAgreement"]["pairs"]) == 1
    assert analysis["modelAgreement"]["outlierModels"] == []
    assert any("outlier detection needs at least 3 models" in w["message"] for w in analysis["warnings"])


def test_one_model_has_no_pairs_and_says_why() -> None:
    analysis = wire(run_from_table({"model-a": TABLE["model-a"]}))
    agreement = analysis["modelAgreement"]
    assert agreement == {
        "pairwise": {},
        "overallAgreement": None,
        "outlierModels": [],
        "pairs": [],
        "agreementSummary": None,
        "perModel": {},
        "outlierModelDetails": [],
    }
    assert any("at least 2 models" in w["message"] for w in analysis["warnings"])
    assert analysis["perModel"]["model-a"]["overall"]["scenarioCount"] == 6


def test_one_scenario_gives_pairs_without_correlation_and_a_reason() -> None:
    table: dict[str, dict[str, list[int | str | None]]] = {"a": {"s": [1, 2]}, "b": {"s": [0]}, "c": {"s": [-1]}}
    analysis = wire(run_from_table(table))
    pairs = analysis["modelAgreement"]["pairs"]
    assert len(pairs) == 3
    assert all(p["spearmanRho"] is None and p["pValue"] is None and not p["significant"] for p in pairs)
    assert all("share 1 scored scenario" in p["reason"] for p in pairs)
    assert analysis["modelAgreement"]["overallAgreement"] is None
    # one scenario: a single score per model, so no t interval and no sample SD
    assert analysis["perModel"]["a"]["overall"]["confidenceInterval"] is None
    assert analysis["perModel"]["a"]["overall"]["stdDev"] == 0.0


def test_constant_scores_make_rho_undefined_not_nan() -> None:
    table: dict[str, dict[str, list[int | str | None]]] = {
        "flat": {f"s{k}": [0] for k in range(4)},
        "varied": {f"s{k}": [k - 2] for k in range(4)},
    }
    analysis = wire(run_from_table(table))
    (pair,) = analysis["modelAgreement"]["pairs"]
    assert pair["spearmanRho"] is None and pair["pValueAdjusted"] is None
    assert "do not vary" in pair["reason"]
    flat = analysis["perModel"]["flat"]["overall"]
    assert flat["stdDev"] == 0.0 and flat["confidenceInterval"]["lower"] == flat["confidenceInterval"]["upper"] == 0.0
    assert pair["cohensD"] == pytest.approx((0 - (-0.5)) / math.sqrt((0 + statistics.variance([-2, -1, 0, 1])) / 2))


# ---------------------------------------------------------------- dimensionAnalysis


def test_kruskal_wallis_against_scipy_with_eta_squared(hand: dict[str, Any]) -> None:
    means = cell_means(TABLE)
    groups: dict[str, list[float]] = {}
    for scenarios in means.values():
        for scenario, mean in scenarios.items():
            groups.setdefault(DIMS[scenario]["stakes"], []).append(mean)
    h, p = stats.kruskal(*(groups[k] for k in sorted(groups)))
    n, k = sum(len(g) for g in groups.values()), len(groups)
    stakes = hand["dimensionAnalysis"]["dimensions"]["stakes"]
    assert stakes["test"] == "kruskal-wallis"
    assert stakes["statistic"] == pytest.approx(h)
    assert stakes["pValue"] == pytest.approx(p)
    assert stakes["significant"] == bool(p < 0.05)
    assert stakes["effectSize"] == pytest.approx(max(0.0, (h - k + 1) / (n - k)))
    assert stakes["n"] == n and stakes["groupCount"] == 3
    assert stakes["levels"]["high"] == {
        "count": len(groups["high"]),
        "mean": pytest.approx(statistics.fmean(groups["high"])),
        "median": pytest.approx(statistics.median(groups["high"])),
    }


def test_a_dimension_that_shifts_scores_has_a_positive_eta_squared_and_ranks_first() -> None:
    levels = {"s1": "low", "s2": "low", "s3": "low", "s4": "mid", "s5": "mid", "s6": "mid", "s7": "high", "s8": "high"}
    shift = {"low": -2, "mid": 0, "high": 2}
    table: dict[str, dict[str, list[int | str | None]]] = {
        "m1": {s: [shift[lv]] for s, lv in levels.items()},
        "m2": {s: [max(-2, min(2, shift[lv] + (1 if s in ("s2", "s5") else 0)))] for s, lv in levels.items()},
    }
    dims = {s: {"stakes": lv, "noise": "odd" if int(s[1]) % 2 else "even"} for s, lv in levels.items()}
    result = wire(run_from_table(table, dims))["dimensionAnalysis"]["dimensions"]
    groups: dict[str, list[float]] = {}
    for model in table.values():
        for scenario, (score,) in model.items():
            groups.setdefault(levels[scenario], []).append(float(score))  # type: ignore[arg-type]
    h, p = stats.kruskal(*(groups[k] for k in sorted(groups)))
    n, k = 16, 3
    assert (h - k + 1) / (n - k) > 0.5
    assert result["stakes"]["effectSize"] == pytest.approx((h - k + 1) / (n - k))
    assert result["stakes"]["pValue"] == pytest.approx(p) and result["stakes"]["significant"] is True
    assert result["stakes"]["rank"] == 1 and result["noise"]["rank"] == 2


def test_missing_dimension_is_left_out_with_a_warning_and_dimensions_are_ranked(hand: dict[str, Any]) -> None:
    framing = hand["dimensionAnalysis"]["dimensions"]["framing"]
    assert framing["scenarioCount"] == 4 and framing["scenariosWithoutLevel"] == 2
    assert any("'framing' is missing from 2 of 6" in w["message"] for w in hand["warnings"])
    dims = hand["dimensionAnalysis"]["dimensions"]
    by_effect = sorted(dims, key=lambda d: (-dims[d]["effectSize"], dims[d]["pValue"], d))
    assert [dims[d]["rank"] for d in by_effect] == [1, 2]


@pytest.mark.parametrize(
    ("table", "dims", "reason"),
    [
        ({"m": {"s1": [1], "s2": [2], "s3": [0]}}, {"s1": "x", "s2": "x", "s3": "x"}, "fewer than 2 levels"),
        ({"m": {"s1": [1], "s2": [2]}}, {"s1": "x", "s2": "y"}, "fewer than 3 scores"),
        ({"m": {"s1": [1], "s2": [2], "s3": [0]}}, {"s1": "x", "s2": "y", "s3": "z"}, "one score per level"),
        ({"m": {"s1": [1], "s2": [1], "s3": [1, 1]}}, {"s1": "x", "s2": "y", "s3": "y"}, "zero variance"),
    ],
)
def test_degenerate_dimension_has_effect_zero_p_one_and_a_reason(
    table: dict[str, dict[str, list[int | str | None]]], dims: dict[str, str], reason: str
) -> None:
    analysis = wire(run_from_table(table, {s: {"d": level} for s, level in dims.items()}))
    result = analysis["dimensionAnalysis"]["dimensions"]["d"]
    assert result["effectSize"] == 0.0 and result["pValue"] == 1.0 and result["significant"] is False
    assert result["statistic"] is None and reason in result["reason"]
    assert any("'d' was not tested" in w["message"] for w in analysis["warnings"])


def test_no_dimensions_anywhere_is_an_empty_section_with_a_warning() -> None:
    analysis = wire(run_from_table(TABLE))
    assert analysis["dimensionAnalysis"] == {"dimensions": {}, "varianceExplained": 0.0, "method": "kruskal_wallis"}
    assert "NO_DIMENSIONS" in {w["code"] for w in analysis["warnings"]}
    assert any("no transcript carries scenario.dimensions" in w["message"] for w in analysis["warnings"])


def test_numeric_levels_group_3_and_3_0_together() -> None:
    items = [
        transcript("a", "m", "s1", 1, dims={"d": 3}),
        transcript("b", "m", "s2", 2, dims={"d": 3.0}),
        transcript("c", "m", "s3", -1, dims={"d": "low"}),
        transcript("e", "m", "s4", -2, dims={"d": "low"}),
    ]
    levels = wire({"runId": "r", "transcripts": items})["dimensionAnalysis"]["dimensions"]["d"]["levels"]
    assert levels["3"]["count"] == 2 and levels["low"]["count"] == 2


# ---------------------------------------------------------------- varianceAnalysis


def test_repeat_groups_by_hand(hand: dict[str, Any]) -> None:
    groups = hand["varianceAnalysis"]["repeatGroups"]
    a3 = groups["model-a"]["s3"]  # scores 0, 0, 1
    assert a3["transcriptCount"] == 3 and a3["sampleCount"] == 3
    assert a3["mean"] == pytest.approx(1 / 3)
    assert a3["variance"] == pytest.approx(((1 / 3) ** 2 * 2 + (2 / 3) ** 2) / 3)
    assert a3["stdDev"] == pytest.approx(math.sqrt(a3["variance"]))
    assert (a3["min"], a3["max"], a3["range"]) == (0.0, 1.0, 1.0)
    assert a3["directionalAgreement"] == pytest.approx(2 / 3) and a3["neutralShare"] == pytest.approx(2 / 3)
    b4 = groups["model-b"]["s4"]  # 0 and a refusal
    assert b4["transcriptCount"] == 2 and b4["sampleCount"] == 1 and b4["variance"] == 0.0
    c6 = groups["model-c"]["s6"]  # nothing scored
    assert c6["sampleCount"] == 0 and c6["mean"] is None and c6["directionalAgreement"] is None
    assert "s4" not in groups["model-d"]


def test_consistency_score_and_most_least_variable_scenarios(hand: dict[str, Any]) -> None:
    variances: dict[str, dict[str, float]] = {}
    for model, scenarios in TABLE.items():
        for scenario, scores in scenarios.items():
            scored = [s for s in scores if isinstance(s, int)]
            if len(scored) >= 2:
                variances.setdefault(model, {})[scenario] = float(np.var(scored, ddof=1))
    per_model = hand["varianceAnalysis"]["perModel"]
    for model, groups in variances.items():
        average = statistics.fmean(groups.values())
        assert per_model[model]["avgWithinScenarioVariance"] == pytest.approx(average)
        assert per_model[model]["consistencyScore"] == pytest.approx(min(1, max(0, 1 - average / 4)))
        assert per_model[model]["groupsWithRepeats"] == len(groups)
        assert per_model[model]["maxWithinScenarioVariance"] == pytest.approx(max(groups.values()))
    # across models: the population variance (ddof=0) of each repeat group, averaged per scenario
    by_scenario: dict[str, list[float]] = {}
    for scenarios in TABLE.values():
        for scenario, scores in scenarios.items():
            scored = [s for s in scores if isinstance(s, int)]
            if len(scored) >= 2:
                by_scenario.setdefault(scenario, []).append(float(np.var(scored)))
    averages = {s: statistics.fmean(v) for s, v in by_scenario.items()}
    most = sorted(averages, key=lambda s: (-round(averages[s], 12), s))[:5]
    least = sorted(averages, key=lambda s: (round(averages[s], 12), s))[:5]
    variance = hand["varianceAnalysis"]
    assert [s["scenarioId"] for s in variance["mostVariableScenariosAcrossModels"]] == most
    assert [s["scenarioId"] for s in variance["leastVariableScenariosAcrossModels"]] == least
    assert variance["mostVariableScenariosAcrossModels"][0]["scenarioName"] == f"name of {most[0]}"
    cells = sorted(
        ((var, model, scenario) for model, groups in variances.items() for scenario, var in groups.items()),
        key=lambda c: (-round(c[0], 12), c[1], c[2]),
    )
    assert [(c["modelId"], c["scenarioId"]) for c in variance["mostVariableScenarios"]] == [
        (m, s) for _, m, s in cells[:5]
    ]


def test_consistency_extremes_are_one_and_zero() -> None:
    table: dict[str, dict[str, list[int | str | None]]] = {"steady": {"s": [1, 1, 1]}, "split": {"s": [2, -2, 2, -2]}}
    per_model = wire(run_from_table(table))["varianceAnalysis"]["perModel"]
    assert per_model["steady"]["consistencyScore"] == 1.0
    # sample variance of [2, -2, 2, -2] is 16/3; the score is clamped at 0
    assert per_model["split"]["consistencyScore"] == 0.0
    assert per_model["split"]["avgWithinScenarioVariance"] == pytest.approx(16 / 3)


def test_single_samples_have_no_repeats_and_say_so() -> None:
    analysis = wire(run_from_table({"m": {"s1": [1], "s2": [2]}}))
    model = analysis["varianceAnalysis"]["perModel"]["m"]
    # the host's definition: no repeats -> consistency 1 and variance 0; groupsWithRepeats says why
    assert (model["consistencyScore"], model["avgWithinScenarioVariance"], model["groupsWithRepeats"]) == (1.0, 0.0, 0)
    assert analysis["varianceAnalysis"]["isMultiSample"] is False
    assert analysis["reliabilitySummary"]["perModel"]["m"]["baselineReliability"] is None
    assert analysis["varianceAnalysis"]["mostVariableScenarios"] == []
    assert any("2 or more scored samples" in w["message"] for w in analysis["warnings"])


# ---------------------------------------------------------------- contested, visualization


def test_most_contested_scenarios_by_variance_across_models(hand: dict[str, Any]) -> None:
    means = cell_means(TABLE)
    by_scenario: dict[str, dict[str, float]] = {}
    for model, scenarios in means.items():
        for scenario, mean in scenarios.items():
            by_scenario.setdefault(scenario, {})[model] = mean
    variance = {s: float(np.var(list(v.values()))) for s, v in by_scenario.items() if len(v) >= 2}
    top = sorted(variance, key=lambda s: (-round(variance[s], 12), s))[:5]
    contested = hand["mostContestedScenarios"]
    assert [c["scenarioId"] for c in contested] == top
    first = contested[0]
    assert first["variance"] == pytest.approx(variance[top[0]])
    assert first["modelScores"] == pytest.approx(by_scenario[top[0]])
    assert first["modelCount"] == len(by_scenario[top[0]])


def test_visualization_distribution_and_matrix(hand: dict[str, Any]) -> None:
    distribution = hand["visualizationData"]["decisionDistribution"]["model-b"]
    assert distribution == {
        "favor_first.strong": 2,
        "favor_first.lean": 2,
        "neutral.neutral": 2,
        "favor_second.lean": 2,
        "favor_second.strong": 0,
        "strongly": 2,
        "somewhat": 2,
        "opponentSomewhat": 2,
        "opponentStrongly": 0,
        "strongFirst": 2,
        "leanFirst": 2,
        "neutral": 2,
        "leanSecond": 2,
        "strongSecond": 0,
        "refusal": 1,
        "unknown": 0,
        "missing": 0,
    }
    matrix = hand["visualizationData"]["modelScenarioMatrix"]
    expected = cell_means(TABLE)
    assert matrix.keys() == expected.keys()
    for model, row in expected.items():
        assert matrix[model] == pytest.approx(row)


# ---------------------------------------------------------------- whole-run properties


def test_all_unscored_run_is_a_success_with_warnings() -> None:
    table: dict[str, dict[str, list[int | str | None]]] = {"a": {"s1": [REFUSED, None]}, "b": {"s1": [REFUSED]}}
    analysis = wire(run_from_table(table))
    assert analysis["totals"] == {
        "transcripts": 3,
        "scored": 0,
        "unscored": {"refusal": 2, "unknown": 0, "missing": 1},
        "models": 2,
        "scenarios": 1,
    }
    assert "overall" not in analysis["perModel"]["a"]
    assert analysis["mostContestedScenarios"] == []
    assert any("no transcript has a scorable decision" in w["message"] for w in analysis["warnings"])


def test_empty_run_is_a_success_with_empty_sections_and_a_warning() -> None:
    out = analyze({"runId": "r", "transcripts": []}).to_wire()
    analysis = out["analysis"]
    assert out["success"] is True
    assert analysis["perModel"] == {} and analysis["dimensionAnalysis"]["dimensions"] == {}
    assert analysis["modelAgreement"]["pairs"] == [] and analysis["mostContestedScenarios"] == []
    assert analysis["varianceAnalysis"]["repeatGroups"] == {}
    assert analysis["totals"]["transcripts"] == 0
    assert analysis["warnings"] == [
        {
            "code": "NO_TRANSCRIPTS",
            "message": "the run has no transcripts, so every section is empty",
            "recommendation": "Analyse the run once it has transcripts",
        }
    ]
    assert analysis["methodsUsed"]["alpha"] == 0.05


def test_same_run_in_any_order_gives_the_same_analysis() -> None:
    document = run_from_table(TABLE, DIMS)
    shuffled = dict(
        document, transcripts=random.Random(11).sample(document["transcripts"], len(document["transcripts"]))
    )
    first, second = wire(document), wire(shuffled)
    for volatile in ("computedAt", "durationMs"):
        first.pop(volatile), second.pop(volatile)
    assert first == second


def test_methods_timestamps_and_duplicate_ids(hand: dict[str, Any]) -> None:
    methods = hand["methodsUsed"]
    assert methods["alpha"] == 0.05
    for key in ("correlation", "multipleComparison", "dimensionTest", "effectSize", "confidenceInterval"):
        assert methods[key]
    assert "Holm" in methods["multipleComparison"] and "Kruskal" in methods["dimensionTestDetail"]
    assert (methods["modelComparison"], methods["pValueCorrection"], methods["dimensionTest"]) == (
        "spearman_rho",
        "holm_bonferroni",
        "kruskal_wallis",
    )
    assert any("by position" in line for line in methods["differencesFromOriginal"])
    assert hand["computedAt"].endswith("Z") and hand["durationMs"] >= 0
    items = [transcript("same", "m", "s", 1), transcript("same", "m", "s", 2)]
    analysis = wire({"runId": "r", "transcripts": items})
    assert analysis["perModel"]["m"]["sampleSize"] == 2
    assert any("1 transcript id(s) occur more than once" in w["message"] for w in analysis["warnings"])
