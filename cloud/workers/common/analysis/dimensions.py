"""`dimensionAnalysis`: does a scenario dimension's level shift the decisions?

For each dimension, the (model, scenario) mean scores are grouped by the scenario's level
and compared with a Kruskal-Wallis test; eta-squared from H ranks the dimensions.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from common.analysis.cells import Cells
from common.analysis.extract import Columns, FloatArray
from common.analysis.methods import ALPHA
from common.contract.analysis import DimensionResult, LevelStats

_MIN_SCORES = 3


def eta_squared(h: float, groups: int, n: int) -> float:
    """Kruskal-Wallis effect size (H - k + 1) / (n - k), clamped to [0, 1]."""
    return float(min(1.0, max(0.0, (h - groups + 1) / (n - groups))))


def _degenerate_reason(groups: list[FloatArray], scores: FloatArray) -> str | None:
    n = int(scores.shape[0])
    if len(groups) < 2:
        return f"fewer than 2 levels with scores ({len(groups)})"
    if n < _MIN_SCORES:
        return f"fewer than {_MIN_SCORES} scores ({n})"
    if n == len(groups):
        return "only one score per level"
    if np.ptp(scores) == 0:
        return "zero variance: every score is the same"
    return None


def _test_dimension(
    name: str, scenario_levels: list[str | None], cells: Cells, scored: np.ndarray
) -> tuple[DimensionResult, str | None]:
    labels = sorted({level for level in scenario_levels if level is not None})
    code_of = {label: code for code, label in enumerate(labels)}
    level_code = np.array([-1 if level is None else code_of[level] for level in scenario_levels], dtype=np.int64)
    cell_level = level_code[cells.scenario[scored]]
    has_level = cell_level >= 0
    scores = cells.mean[scored][has_level]
    codes = cell_level[has_level]
    groups: list[FloatArray] = []
    levels: dict[str, LevelStats] = {}
    for code, label in enumerate(labels):
        group = scores[codes == code]
        if group.shape[0]:
            groups.append(group)
            levels[label] = LevelStats(
                count=int(group.shape[0]), mean=float(group.mean()), median=float(np.median(group))
            )
    reason = _degenerate_reason(groups, scores)
    statistic: float | None = None
    p_value, effect = 1.0, 0.0
    if reason is None:
        h, p = stats.kruskal(*groups)
        statistic, p_value = float(h), float(p)
        effect = eta_squared(statistic, len(groups), int(scores.shape[0]))
    with_level = int((level_code >= 0).sum())
    result = DimensionResult(
        statistic=statistic,
        p_value=p_value,
        significant=p_value < ALPHA,
        effect_size=effect,
        rank=0,
        n=int(scores.shape[0]),
        group_count=len(groups),
        scenario_count=with_level,
        scenarios_without_level=len(scenario_levels) - with_level,
        levels=levels,
        reason=reason,
    )
    note = f"dimension {name!r} was not tested: {reason}" if reason else None
    return result, note


def dimension_analysis(columns: Columns, cells: Cells) -> tuple[dict[str, DimensionResult], list[str]]:
    notes: list[str] = []
    names = sorted({dim for dims in columns.scenario_dimensions for dim in dims})
    if columns.size and not names:
        notes.append("no transcript carries scenario.dimensions, so dimensionAnalysis is empty")
    if columns.conflicting_dimension_scenarios:
        shown = ", ".join(columns.conflicting_dimension_scenarios[:5])
        notes.append(
            f"{len(columns.conflicting_dimension_scenarios)} scenario(s) carry different dimensions in different "
            f"transcripts (e.g. {shown}); the first dimensions seen for a scenario are used"
        )
    scored = cells.scored > 0
    results: dict[str, DimensionResult] = {}
    for name in names:
        scenario_levels = [dims.get(name) for dims in columns.scenario_dimensions]
        result, note = _test_dimension(name, scenario_levels, cells, scored)
        if result.scenarios_without_level:
            notes.append(
                f"dimension {name!r} is missing from {result.scenarios_without_level} of {len(scenario_levels)} "
                "scenario(s); they are left out of its test"
            )
        if note:
            notes.append(note)
        results[name] = result
    ranked = sorted(results, key=lambda dim: (-results[dim].effect_size, results[dim].p_value, dim))
    for rank, dim in enumerate(ranked, start=1):
        results[dim].rank = rank
    return results, notes
