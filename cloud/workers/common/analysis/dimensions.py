"""`dimensionAnalysis`: does a scenario dimension's level shift the decisions?

For each dimension, the (model, scenario) mean scores are grouped by the scenario's level
and compared with a Kruskal-Wallis test; eta-squared from H ranks the dimensions.
`varianceExplained` is the R-squared of all dimensions together (an additive least-squares
fit on their levels), not the sum of the per-dimension effects, which double-counts
dimensions that vary together.
"""

from __future__ import annotations

import numpy as np

from common.analysis.cells import Cells
from common.analysis.distributions import kruskal, median
from common.analysis.extract import Columns, FloatArray
from common.analysis.methods import ALPHA
from common.contract.analysis import (
    AnalysisWarning,
    AnalysisWarningCode,
    DimensionAnalysis,
    DimensionResult,
    LevelStats,
)

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
) -> tuple[DimensionResult, AnalysisWarning | None]:
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
            levels[label] = LevelStats(count=int(group.shape[0]), mean=float(group.mean()), median=median(group))
    reason = _degenerate_reason(groups, scores)
    statistic: float | None = None
    p_value, effect = 1.0, 0.0
    if reason is None:
        h, p = kruskal(groups)
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
    note = None
    if reason:
        note = AnalysisWarning(
            code=AnalysisWarningCode.DIMENSION_NOT_TESTED,
            message=f"dimension {name!r} was not tested: {reason}",
            recommendation=f"Its effectSize is 0 and pValue 1; vary {name!r} across more scenarios to test it",
        )
    return result, note


def variance_explained(columns: Columns, cells: Cells, names: list[str]) -> float | None:
    """R-squared of the cell mean scores on every dimension's levels (one-hot, additive).

    Over the scored cells whose scenario sets every dimension; null when there are no
    such cells, their scores do not vary, or there are no more cells than parameters.
    """
    scored = np.flatnonzero(cells.scored > 0)
    scenario_of_cell = cells.scenario[scored]
    keep = np.ones(scored.shape[0], dtype=bool)
    codes: list[np.ndarray] = []
    for name in names:
        labels = [dims.get(name) for dims in columns.scenario_dimensions]
        known = sorted({label for label in labels if label is not None})
        code_of = {label: code for code, label in enumerate(known)}
        per_scenario = np.array([-1 if label is None else code_of[label] for label in labels], dtype=np.int64)
        code = per_scenario[scenario_of_cell] if per_scenario.shape[0] else np.empty(0, dtype=np.int64)
        keep &= code >= 0
        codes.append(code)
    y = cells.mean[scored][keep]
    if y.shape[0] == 0:
        return None
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 1e-12:
        return None
    blocks = [np.ones((y.shape[0], 1))]
    for code in codes:
        kept = code[keep]
        levels = int(kept.max()) + 1 if kept.shape[0] else 0
        if levels > 1:
            blocks.append((kept[:, None] == np.arange(1, levels)[None, :]).astype(np.float64))
    design = np.hstack(blocks)
    if y.shape[0] <= design.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(((y - design @ coef) ** 2).sum())
    return float(min(1.0, max(0.0, 1.0 - residual / total)))


def dimension_analysis(columns: Columns, cells: Cells) -> tuple[DimensionAnalysis, list[AnalysisWarning]]:
    notes: list[AnalysisWarning] = []
    names = sorted({dim for dims in columns.scenario_dimensions for dim in dims})
    if columns.size and not names:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.NO_DIMENSIONS,
                message="no transcript carries scenario.dimensions, so dimensionAnalysis.dimensions is empty",
                recommendation="Variable impact analysis needs scenarios with dimension levels",
            )
        )
    if columns.conflicting_dimension_scenarios:
        shown = ", ".join(columns.conflicting_dimension_scenarios[:5])
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.CONFLICTING_DIMENSIONS,
                message=(
                    f"{len(columns.conflicting_dimension_scenarios)} scenario(s) carry different dimensions in "
                    f"different transcripts (e.g. {shown}); the first dimensions seen for a scenario are used"
                ),
                recommendation="Send the same scenario.dimensions with every transcript of a scenario",
            )
        )
    scored = cells.scored > 0
    results: dict[str, DimensionResult] = {}
    for name in names:
        scenario_levels = [dims.get(name) for dims in columns.scenario_dimensions]
        result, note = _test_dimension(name, scenario_levels, cells, scored)
        if result.scenarios_without_level:
            notes.append(
                AnalysisWarning(
                    code=AnalysisWarningCode.PARTIAL_DIMENSIONS,
                    message=(
                        f"dimension {name!r} is missing from {result.scenarios_without_level} of "
                        f"{len(scenario_levels)} scenario(s); they are left out of its test"
                    ),
                    recommendation="Condition grouping and variable impact exclude the scenarios without a level",
                )
            )
        if note:
            notes.append(note)
        results[name] = result
    ranked = sorted(results, key=lambda dim: (-results[dim].effect_size, results[dim].p_value, dim))
    for rank, dim in enumerate(ranked, start=1):
        results[dim].rank = rank
    analysis = DimensionAnalysis(dimensions=results, variance_explained=variance_explained(columns, cells, names))
    return analysis, notes
