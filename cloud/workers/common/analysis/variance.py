"""`varianceAnalysis`: how consistently a model answers the same scenario when asked again."""

from __future__ import annotations

import numpy as np

from common.analysis.cells import Cells
from common.analysis.extract import Columns
from common.analysis.json_numbers import finite_list
from common.analysis.methods import MAX_VARIANCE, TOP_SCENARIOS
from common.contract.analysis import ModelConsistency, RepeatGroup, ScenarioVariability, VarianceAnalysis


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
    return groups


def consistency(columns: Columns, cells: Cells) -> dict[str, ModelConsistency]:
    """Per model: clamp(1 - mean within-scenario variance / 4, 0, 1) over groups with >= 2 scored samples."""
    count = len(columns.models)
    repeated = cells.scored >= 2
    groups = np.bincount(cells.model[repeated], minlength=count)
    total = np.bincount(cells.model[repeated], weights=cells.variance[repeated], minlength=count)
    result: dict[str, ModelConsistency] = {}
    for m, name in enumerate(columns.models):
        if groups[m] == 0:
            result[name] = ModelConsistency(
                consistency_score=None, avg_within_scenario_variance=None, groups_with_repeats=0
            )
            continue
        average = float(total[m] / groups[m])
        result[name] = ModelConsistency(
            consistency_score=min(1.0, max(0.0, 1.0 - average / MAX_VARIANCE)),
            avg_within_scenario_variance=average,
            groups_with_repeats=int(groups[m]),
        )
    return result


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


def variance_analysis(columns: Columns, cells: Cells) -> tuple[VarianceAnalysis, list[str]]:
    notes: list[str] = []
    if cells.size and not (cells.scored >= 2).any():
        notes.append(
            "no model has 2 or more scored samples of any scenario, so within-scenario variance, "
            "consistencyScore and the most/least variable scenarios are not available"
        )
    most, least = scenario_variability(columns, cells)
    analysis = VarianceAnalysis(
        repeat_groups=repeat_groups(columns, cells),
        per_model=consistency(columns, cells),
        most_variable_scenarios=most,
        least_variable_scenarios=least,
    )
    return analysis, notes
