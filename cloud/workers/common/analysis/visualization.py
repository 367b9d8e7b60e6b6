"""`visualizationData`: the counts and the matrix a chart needs, without further processing.

The decision counts are printed under the original worker's keys, under the keys the
host's decision chart and aggregate read (`strongly` = favours the first option
strongly ... `opponentStrongly`), and under this worker's own keys with the unscored
reasons; a reader picks its vocabulary and never sees a count twice under it.
"""

from __future__ import annotations

import numpy as np

from common.analysis.cells import Cells
from common.analysis.extract import Columns
from common.analysis.scoring import BUCKET_COUNT, BUCKET_NAMES
from common.contract.analysis import DecisionBuckets, VisualizationData


def visualization_data(columns: Columns, cells: Cells) -> VisualizationData:
    model_count = len(columns.models)
    counts = np.bincount(columns.model * BUCKET_COUNT + columns.bucket, minlength=model_count * BUCKET_COUNT)
    counts = counts.reshape(model_count, BUCKET_COUNT)
    distribution: dict[str, DecisionBuckets] = {}
    for m, name in enumerate(columns.models):
        ours = dict(zip(BUCKET_NAMES, counts[m].tolist(), strict=True))
        distribution[name] = DecisionBuckets(
            favor_first_strong=ours["strong_first"],
            favor_first_lean=ours["lean_first"],
            neutral_neutral=ours["neutral"],
            favor_second_lean=ours["lean_second"],
            favor_second_strong=ours["strong_second"],
            strongly=ours["strong_first"],
            somewhat=ours["lean_first"],
            opponent_somewhat=ours["lean_second"],
            opponent_strongly=ours["strong_second"],
            **ours,
        )
    matrix: dict[str, dict[str, float]] = {name: {} for name in columns.models}
    scored = cells.scored > 0
    for m, s, mean in zip(
        cells.model[scored].tolist(), cells.scenario[scored].tolist(), cells.mean[scored].tolist(), strict=True
    ):
        matrix[columns.models[m]][columns.scenarios[s]] = mean
    return VisualizationData(decision_distribution=distribution, model_scenario_matrix=matrix)
