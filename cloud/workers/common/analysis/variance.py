"""`varianceAnalysis`: how consistently a model answers the same scenario when asked again.

The host's fields (`perModel`, `mostVariableScenarios`, ...) use the sample variance
(ddof=1) of a model's scored repeats of a scenario, as the host computes it for its own
aggregates; `repeatGroups` keeps the population variance (ddof=0). Medians and
quartiles are read off the per-cell bucket counts (scores take five values), so no
per-cell sorting is needed.
"""

from __future__ import annotations

import math

import numpy as np

from common.analysis.cells import Cells, by_model
from common.analysis.extract import Columns, FloatArray, IntArray
from common.analysis.json_numbers import finite_list
from common.analysis.methods import MAX_VARIANCE, TOP_SCENARIOS
from common.analysis.scoring import LEAN_FIRST, LEAN_SECOND, NEUTRAL, STRONG_FIRST, STRONG_SECOND
from common.analysis.trusted import Trusted, require_finite
from common.contract.analysis import (
    AnalysisWarning,
    AnalysisWarningCode,
    DirectionCounts,
    Lean,
    ModelVariance,
    RepeatGroup,
    SampleVarianceStats,
    ScenarioVariability,
    VariableCell,
    VarianceAnalysis,
)

# bucket columns in ascending score order, and their scores
_ASCENDING = np.array([STRONG_SECOND, LEAN_SECOND, NEUTRAL, LEAN_FIRST, STRONG_FIRST])
_ASCENDING_SCORE = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
_LEANS: tuple[Lean, Lean, Lean] = ("B", "NEUTRAL", "A")  # by sign of the median + 1
# one per (model, scenario): built from typed columns, not validated one by one
_REPEAT_GROUP = Trusted(RepeatGroup)
_SAMPLE_VARIANCE_STATS = Trusted(SampleVarianceStats)
_DIRECTION_COUNTS = Trusted(DirectionCounts)


def repeat_groups(columns: Columns, cells: Cells) -> dict[str, dict[str, RepeatGroup]]:
    scored = np.maximum(cells.scored, 1)
    with np.errstate(invalid="ignore"):
        agreement = np.maximum(np.maximum(cells.positive, cells.negative), cells.zero) / scored
        neutral = cells.zero / scored
    empty = cells.scored == 0
    agreement[empty] = np.nan
    neutral = np.where(empty, np.nan, neutral)
    groups = _REPEAT_GROUP.many(
        transcript_count=cells.transcripts.tolist(),
        sample_count=cells.scored.tolist(),
        mean=finite_list(cells.mean),
        std_dev=finite_list(np.sqrt(cells.variance)),
        variance=finite_list(cells.variance),
        min=finite_list(cells.min),
        max=finite_list(cells.max),
        range=finite_list(cells.max - cells.min),
        directional_agreement=finite_list(agreement),
        neutral_share=finite_list(neutral),
    )
    scenarios = list(map(columns.scenarios.__getitem__, cells.scenario.tolist()))
    per_model = by_model(len(columns.models), cells.model, scenarios, groups)
    return dict(zip(columns.models, per_model, strict=True))


def quantile(cells: Cells, q: float) -> FloatArray:
    """The q-quantile of each cell's scored samples, linear interpolation (as numpy.percentile)."""
    ascending = cells.buckets[:, _ASCENDING]
    cumulative = np.cumsum(ascending, axis=1)
    position = q * np.maximum(cells.scored - 1, 0)
    low = np.floor(position)
    high = np.ceil(position)

    def value_at(index: FloatArray) -> FloatArray:
        bucket = (cumulative <= index[:, None]).sum(axis=1)
        return np.asarray(_ASCENDING_SCORE[np.minimum(bucket, _ASCENDING.shape[0] - 1)], dtype=np.float64)

    low_value = value_at(low)
    return np.asarray(low_value + (value_at(high) - low_value) * (position - low), dtype=np.float64)


def median_side(cells: Cells) -> tuple[IntArray, IntArray]:
    """Per cell: the sign of the median score, and how many scored samples lie on that side (or at 0)."""
    sign = np.sign(quantile(cells, 0.5)).astype(np.int64)
    return sign, np.choose(sign + 1, [cells.negative, cells.zero, cells.positive])


def per_scenario_stats(columns: Columns, cells: Cells) -> list[dict[str, SampleVarianceStats]]:
    """Per model: scenario -> the host's VarianceStats, for every cell with a scored sample."""
    scored = cells.scored > 0
    n = np.maximum(cells.scored, 1)
    median = quantile(cells, 0.5)
    iqr = np.where(cells.scored >= 2, quantile(cells, 0.75) - quantile(cells, 0.25), np.nan)
    sign, same_side = median_side(cells)
    mean, variance = cells.mean[scored], cells.sample_variance[scored]
    low, high = cells.min[scored], cells.max[scored]
    require_finite(mean, variance, low, high)
    buckets = cells.buckets[scored]
    counts = _DIRECTION_COUNTS.many(
        favor_first_strong=buckets[:, STRONG_FIRST].tolist(),
        favor_first_lean=buckets[:, LEAN_FIRST].tolist(),
        neutral_neutral=buckets[:, NEUTRAL].tolist(),
        favor_second_lean=buckets[:, LEAN_SECOND].tolist(),
        favor_second_strong=buckets[:, STRONG_SECOND].tolist(),
    )
    stats = _SAMPLE_VARIANCE_STATS.many(
        sample_count=cells.scored[scored].tolist(),
        mean=mean.tolist(),
        std_dev=np.sqrt(variance).tolist(),  # the same correctly rounded square root as math.sqrt
        variance=variance.tolist(),
        min=low.tolist(),
        max=high.tolist(),
        range=(high - low).tolist(),
        direction_counts=counts,
        direction=[_LEANS[lean + 1] for lean in sign[scored].tolist()],
        directional_agreement=(same_side / n)[scored].tolist(),
        median_signed_distance=median[scored].tolist(),
        iqr=finite_list(iqr[scored]),
        neutral_share=(cells.zero / n)[scored].tolist(),
        orientation_corrected=cells.flipped[scored].tolist(),
    )
    scenarios = list(map(columns.scenarios.__getitem__, cells.scenario[scored].tolist()))
    return by_model(len(columns.models), cells.model[scored], scenarios, stats)


def samples_per_scenario(cells: Cells) -> int:
    """The most scored samples any model has of one scenario (1 when nothing is scored)."""
    return max(1, int(cells.scored.max())) if cells.size else 1


def per_model_variance(columns: Columns, cells: Cells) -> dict[str, ModelVariance]:
    """The host's ModelVarianceStats of every model with a scored sample.

    consistencyScore = clamp(1 - mean sample variance over its scenarios with >= 2 scored
    samples / 4, 0, 1), and 1 with avg/max variance 0 when it has no such scenario (the
    host's definition; `groupsWithRepeats` 0 and isMultiSample say there were no repeats).
    """
    count = len(columns.models)
    scored = cells.scored > 0
    repeated = cells.scored >= 2
    totals = np.bincount(cells.model, weights=cells.scored, minlength=count)
    scenarios = np.bincount(cells.model[scored], minlength=count)
    groups = np.bincount(cells.model[repeated], minlength=count)
    variance_sum = np.bincount(cells.model[repeated], weights=cells.sample_variance[repeated], minlength=count)
    largest = np.zeros(count)
    np.maximum.at(largest, cells.model[repeated], cells.sample_variance[repeated])
    per_scenario = per_scenario_stats(columns, cells)
    most = samples_per_scenario(cells)
    result: dict[str, ModelVariance] = {}
    for m, name in enumerate(columns.models):
        if scenarios[m] == 0:
            continue
        average = float(variance_sum[m] / groups[m]) if groups[m] else 0.0
        result[name] = ModelVariance(
            total_samples=int(totals[m]),
            unique_scenarios=int(scenarios[m]),
            samples_per_scenario=most,
            avg_within_scenario_variance=average,
            max_within_scenario_variance=float(largest[m]),
            consistency_score=min(1.0, max(0.0, 1.0 - average / MAX_VARIANCE)),
            groups_with_repeats=int(groups[m]),
            per_scenario=per_scenario[m],
        )
    return result


def variable_cells(columns: Columns, cells: Cells) -> tuple[list[VariableCell], list[VariableCell]]:
    """The (model, scenario) repeat groups with the largest and the smallest sample variance."""
    candidates = np.flatnonzero(cells.scored >= 2)
    variance = cells.sample_variance[candidates]
    # ties broken by model, then scenario: the cell order
    most = candidates[np.lexsort((candidates, -variance))][:TOP_SCENARIOS]
    least = candidates[np.lexsort((candidates, variance))][:TOP_SCENARIOS]

    def entry(c: int) -> VariableCell:
        s = int(cells.scenario[c])
        sample_variance = float(cells.sample_variance[c])
        return VariableCell(
            scenario_id=columns.scenarios[s],
            scenario_name=columns.scenario_names[s] or columns.scenarios[s],
            model_id=columns.models[int(cells.model[c])],
            mean=float(cells.mean[c]),
            std_dev=math.sqrt(sample_variance),
            variance=sample_variance,
            range=float(cells.max[c] - cells.min[c]),
            sample_count=int(cells.scored[c]),
        )

    return [entry(int(c)) for c in most], [entry(int(c)) for c in least]


def scenario_variability(columns: Columns, cells: Cells) -> tuple[list[ScenarioVariability], list[ScenarioVariability]]:
    """The scenarios whose repeats vary most and least, by mean within-(model, scenario) variance."""
    count = len(columns.scenarios)
    repeated = cells.scored >= 2
    groups = np.bincount(cells.scenario[repeated], minlength=count)
    total = np.bincount(cells.scenario[repeated], weights=cells.variance[repeated], minlength=count)
    candidates = np.flatnonzero(groups > 0)
    average = total[candidates] / groups[candidates]
    # ties broken by scenario id, which is the index order
    most = candidates[np.lexsort((candidates, -average))][:TOP_SCENARIOS]
    least = candidates[np.lexsort((candidates, average))][:TOP_SCENARIOS]

    def entry(s: int) -> ScenarioVariability:
        return ScenarioVariability(
            scenario_id=columns.scenarios[s],
            scenario_name=columns.scenario_names[s],
            avg_within_variance=float(total[s] / groups[s]),
            group_count=int(groups[s]),
        )

    return [entry(int(s)) for s in most], [entry(int(s)) for s in least]


def empty_variance() -> VarianceAnalysis:
    return VarianceAnalysis(
        is_multi_sample=False,
        samples_per_scenario=1,
        orientation_corrected_count=0,
        per_model={},
        most_variable_scenarios=[],
        least_variable_scenarios=[],
        repeat_groups={},
        most_variable_scenarios_across_models=[],
        least_variable_scenarios_across_models=[],
    )


def variance_analysis(columns: Columns, cells: Cells) -> tuple[VarianceAnalysis, list[AnalysisWarning]]:
    notes: list[AnalysisWarning] = []
    multi_sample = bool((cells.scored >= 2).any())
    if cells.size and not multi_sample:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.NO_REPEATS,
                message=(
                    "no model has 2 or more scored samples of any scenario, so within-scenario variance and "
                    "the most/least variable scenarios are not available (consistencyScore is 1 by definition)"
                ),
                recommendation="Run more than one sample per scenario to measure how consistent each model is",
            )
        )
    most_cells, least_cells = variable_cells(columns, cells)
    most, least = scenario_variability(columns, cells)
    analysis = VarianceAnalysis(
        is_multi_sample=multi_sample,
        samples_per_scenario=samples_per_scenario(cells),
        # distinct scenarios with a flip (np.unique here would import numpy.ma: ~25 ms of start-up)
        orientation_corrected_count=int(np.count_nonzero(np.bincount(cells.scenario[cells.flipped]))),
        per_model=per_model_variance(columns, cells),
        most_variable_scenarios=most_cells,
        least_variable_scenarios=least_cells,
        repeat_groups=repeat_groups(columns, cells),
        most_variable_scenarios_across_models=most,
        least_variable_scenarios_across_models=least,
    )
    return analysis, notes
