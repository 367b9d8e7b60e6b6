"""`reliabilitySummary`: how reproducible each model's answer to a scenario is (the host's vignette semantics).

Only repeats say anything about reliability: a model without a scenario sampled twice
gets null metrics, never a figure borrowed from the spread across scenarios.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from common.analysis.cells import Cells, by_model
from common.analysis.extract import Columns
from common.analysis.trusted import Trusted
from common.analysis.variance import median_side
from common.contract.analysis import (
    AnalysisOptions,
    BernoulliAgreement,
    ConditionPressure,
    ModelReliability,
    ModelVariance,
    PairCoverage,
    ReliabilitySummary,
)

# The host's level vocabulary for a value's pressure in a scenario (Definition.content), ranked 1..5.
APPEAL_RANK: Final[dict[str, int]] = {"negligible": 1, "minimal": 2, "moderate": 3, "substantial": 4, "full": 5}
_BERNOULLI = Trusted(BernoulliAgreement)  # one per (model, scenario) with repeats


def _rank(level: object) -> int | None:
    if type(level) is str:
        return APPEAL_RANK.get(level)
    return level if type(level) is int else None


def _pair_coverage(columns: Columns, cells: Cells, m: int, options: AnalysisOptions) -> dict[str, PairCoverage] | None:
    """perPair: per scenario, how often the model favoured valueA's option, with the pressure rank difference."""
    pair, aggregate = options.value_pair, options.aggregate_semantics
    if aggregate is None or pair is None or not (pair.value_a or "").strip() or not (pair.value_b or "").strip():
        return None
    value_a, value_b = str(pair.value_a), str(pair.value_b)
    mine = np.flatnonzero((cells.model == m) & (cells.scored > 0))
    conditions: list[ConditionPressure] = []
    for c in mine.tolist():
        s = int(cells.scenario[c])
        trials = int(cells.scored[c] - cells.zero[c])
        matches = int(cells.positive[c])
        levels = columns.scenario_levels[s]
        rank_a, rank_b = _rank(levels.get(value_a)), _rank(levels.get(value_b))
        conditions.append(
            ConditionPressure(
                scenario_id=columns.scenarios[s],
                net_pressure_rank=rank_a - rank_b if rank_a is not None and rank_b is not None else None,
                win_rate=matches / trials if trials else None,
                matches=matches,
                trials=trials,
            )
        )
    planned = [item for item in aggregate.planned_scenario_ids if item.strip()]
    companion = options.target_companion_run_id
    return {
        value_a: PairCoverage(
            target_analysis_run_id=columns.run_id,
            target_companion_run_id=companion if companion and companion.strip() else None,
            primary_condition_ids=planned,
            companion_condition_ids=list(planned),
            per_condition=conditions,
        )
    }


def reliability_summary(
    columns: Columns, cells: Cells, per_model: dict[str, ModelVariance], options: AnalysisOptions
) -> ReliabilitySummary:
    """Per model, over its scenarios with >= 2 scored samples (coverageCount of them):

    baselineNoise = sqrt(mean sample variance), baselineReliability = consistencyScore,
    directionalAgreement and neutralShare = sample-weighted means of the per-scenario
    shares; perScenario = pairs of repeats (trials) and pairs in the same bucket (matches).
    In aggregate mode the metrics are published only with at least minRepeatCoverageCount
    covered scenarios making at least minRepeatCoverageShare of the planned ones.
    """
    count = len(columns.models)
    repeated = cells.scored >= 2
    _, same_side = median_side(cells)
    samples = np.bincount(cells.model[repeated], weights=cells.scored[repeated], minlength=count)
    agreeing = np.bincount(cells.model[repeated], weights=same_side[repeated], minlength=count)
    neutral = np.bincount(cells.model[repeated], weights=cells.zero[repeated], minlength=count)
    trials = cells.scored * (cells.scored - 1) // 2
    matches = (cells.buckets * (cells.buckets - 1) // 2).sum(axis=1)
    pairs = _BERNOULLI.many(matches=matches[repeated].tolist(), trials=trials[repeated].tolist())
    scenarios = list(map(columns.scenarios.__getitem__, cells.scenario[repeated].tolist()))
    bernoulli = by_model(count, cells.model[repeated], scenarios, pairs)
    aggregate = options.aggregate_semantics
    result: dict[str, ModelReliability] = {}
    for m, name in enumerate(columns.models):
        variance = per_model.get(name)
        if variance is None:
            continue
        coverage = variance.groups_with_repeats
        publish = coverage > 0
        if aggregate is not None:
            planned = len(aggregate.planned_scenario_ids)
            share = coverage / planned if planned else 0.0
            publish = publish and coverage >= aggregate.min_repeat_coverage_count
            publish = publish and share >= aggregate.min_repeat_coverage_share
        result[name] = ModelReliability(
            baseline_noise=math.sqrt(variance.avg_within_scenario_variance) if publish else None,
            baseline_reliability=variance.consistency_score if publish else None,
            directional_agreement=float(agreeing[m] / samples[m]) if publish else None,
            neutral_share=float(neutral[m] / samples[m]) if publish else None,
            coverage_count=coverage,
            unique_scenarios=variance.unique_scenarios,
            per_scenario=bernoulli[m],
            per_pair=_pair_coverage(columns, cells, m, options),
        )
    return ReliabilitySummary(per_model=result)
