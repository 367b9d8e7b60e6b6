"""`mostContestedScenarios`: the scenarios on which the models disagree most."""

from __future__ import annotations

import numpy as np

from common.analysis.cells import Cells
from common.analysis.extract import Columns
from common.analysis.methods import TOP_SCENARIOS
from common.contract.analysis import AnalysisWarning, AnalysisWarningCode, ContestedScenario


def most_contested(columns: Columns, cells: Cells) -> tuple[list[ContestedScenario], list[AnalysisWarning]]:
    """Top scenarios by population variance across models of the models' mean scores."""
    matrix = cells.matrix  # models x scenarios
    present = ~np.isnan(matrix)
    model_counts = present.sum(axis=0)
    candidates = np.flatnonzero(model_counts >= 2)
    notes: list[AnalysisWarning] = []
    if columns.size and candidates.shape[0] == 0:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.NO_CONTESTED_SCENARIOS,
                message="no scenario was scored by 2 or more models, so mostContestedScenarios is empty",
                recommendation="Score the same scenarios with at least 2 models to see where they disagree",
            )
        )
        return [], notes
    column_block = matrix[:, candidates]
    with np.errstate(invalid="ignore"):
        variance = np.nanvar(column_block, axis=0) if candidates.shape[0] else np.empty(0)
    top = candidates[np.lexsort((candidates, -variance))][:TOP_SCENARIOS]
    result: list[ContestedScenario] = []
    for s in top.tolist():
        column = matrix[:, s]
        scored_by = np.flatnonzero(present[:, s])
        values = column[scored_by]
        var = float(values.var())
        result.append(
            ContestedScenario(
                scenario_id=columns.scenarios[s],
                scenario_name=columns.scenario_names[s] or columns.scenarios[s],
                variance=var,
                std_dev=float(np.sqrt(var)),
                mean=float(values.mean()),
                min=float(values.min()),
                max=float(values.max()),
                model_count=int(scored_by.shape[0]),
                model_scores={columns.models[m]: float(column[m]) for m in scored_by.tolist()},
            )
        )
    return result, notes
