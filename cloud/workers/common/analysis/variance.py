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

from common.analysis.cells import Cells
from common.analysis.compact import share_fields_set, share_in
from common.analysis.extract import Columns, FloatArray, IntArray
from common.analysis.json_numbers import finite_list
from common.analysis.methods import MAX_VARIANCE, TOP_SCENARIOS
from common.analysis.scoring import LEAN_FIRST, LEAN_SECOND, NEUTRAL, STRONG_FIRST, STRONG_SECOND
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


def repeat_groups(columns: Columns, cells: Cells) -> dict[str, dict[str, RepeatGroup]]:
    scored = np.maximum(cells.scored, 1)
    with np.errstate(invalid="ignore"):
        agreement = np.maximum(np.maximum(cells.positive, cells.negative), cells.zero) / scored
        neutral = cells.zero / scored
    empty = cells.scored == 0
    agreement[empty] = np.nan
    neutral = np.where(empty, np.nan, neutral)
    columns_out = zip(
        cells.model.tolist(),
        cells.scenario.tolist(),
        cells.transcripts.tolist(),
        cells.scored.tolist(),
        finite_list(cells.mean),
        finite_list(np.sqrt(cells.variance)),
        finite_list(cells.variance),
        finite_list(cells.min),
        finite_list(cells.max),
        finite_list(cells.max - cells.min),
        finite_list(agreement),
        finite_list(neutral),
        strict=True,
    )
    groups: dict[str, dict[str, RepeatGroup]] = {name: {} for name in columns.models}
    for m, s, transcripts, sample_count, mean, std, variance, low, high, spread, agree, share in columns_out:
        groups[columns.models[m]][columns.scenarios[s]] = RepeatGroup(
            transcript_count=transcripts,
            sample_count=sample_count,
            mean=mean,
            std_dev=std,
            variance=variance,
            min=low,
            max=high,
            range=spread,
            directional_agreement=agree,
            neutral_share=share,
        )
    share_in(groups.values())
    return groups


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
    result: list[dict[str, SampleVarianceStats]] = [{} for _ in columns.models]
    rows = zip(
        np.flatnonzero(scored).tolist(),
        cells.model[scored].tolist(),
        cells.scenario[scored].tolist(),
        cells.scored[scored].tolist(),
        cells.mean[scored].tolist(),
        cells.sample_variance[scored].tolist(),
        cells.min[scored].tolist(),
        cells.max[scored].tolist(),
        median[scored].tolist(),
        finite_list(iqr[scored]),
        sign[scored].tolist(),
        (same_side / n)[scored].tolist(),
        (cells.zero / n)[scored].tolist(),
        cells.flipped[scored].tolist(),
        strict=True,
    )
    buckets = cells.buckets.tolist()
    for c, m, s, count, mean, variance, low, high, mid, spread, lean, agreement, neutral, flipped in rows:
        strong_first, lean_first, neutral_count, lean_second, strong_second = buckets[c]
        result[m][columns.scenarios[s]] = SampleVarianceStats(
            sample_count=count,
            mean=mean,
            std_dev=math.sqrt(variance),
            variance=variance,
            min=low,
            max=high,
            range=high - low,
            direction_counts=DirectionCounts(
                favor_first_strong=strong_first,
                favor_first_lean=lean_first,
                neutral_neutral=neutral_count,
                favor_second_lean=lean_second,
                favor_second_strong=strong_second,
            ),
            direction=_LEANS[lean + 1],
            directional_agreement=agreement,
            median_signed_distance=mid,
            iqr=spread,
            neutral_share=neutral,
            orientation_corrected=flipped,
        )
    for per_scenario in result:
        share_fields_set(per_scenario.values())
        share_fields_set(stats.direction_counts for stats in per_scenario.values())
    return result


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
        orientation_corrected_count=int(np.unique(cells.scenario[cells.flipped]).shape[0]),
        per_model=per_model_variance(columns, cells),
        most_variable_scenarios=most_cells,
        least_variable_scenarios=least_cells,
        repeat_groups=repeat_groups(columns, cells),
        most_variable_scenarios_across_models=most,
        least_variable_scenarios_across_models=least,
    )
    return analysis, notes
