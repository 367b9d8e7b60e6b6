"""`preferenceSummary`: which option each model leans to, and how strongly (the host's vignette semantics).

Built from the per-scenario mean scores, so a scenario sampled many times counts once.
"""

from __future__ import annotations

import numpy as np

from common.analysis.cells import Cells
from common.analysis.extract import Columns
from common.contract.analysis import (
    Lean,
    ModelPreference,
    ModelStats,
    PreferenceDirection,
    PreferenceSummary,
    PreferenceValue,
)


def _lean(center: float) -> Lean:
    return "A" if center > 0 else "B" if center < 0 else "NEUTRAL"


def preference_summary(columns: Columns, cells: Cells, per_model: dict[str, ModelStats]) -> PreferenceSummary:
    """overallSignedCenter = mean of the scenario means; preferenceStrength = mean of their absolute values."""
    result: dict[str, ModelPreference] = {}
    for m, name in enumerate(columns.models):
        row = cells.matrix[m]
        means = row[~np.isnan(row)]
        center = float(means.mean()) if means.shape[0] else None
        strength = float(np.abs(means).mean()) if means.shape[0] else None
        by_value = {
            value: PreferenceValue(win_rate=stats.win_rate, count=stats.count)
            for value, stats in per_model[name].values.items()
        }
        result[name] = ModelPreference(
            preference_direction=PreferenceDirection(
                by_value=by_value,
                overall_lean=_lean(center) if center is not None else None,
                overall_signed_center=center,
            ),
            preference_strength=strength,
        )
    return PreferenceSummary(per_model=result)
