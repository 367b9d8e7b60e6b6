"""`visualizationData`: the counts and the matrix a chart needs, without further processing."""

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
    distribution = {
        name: DecisionBuckets(**dict(zip(BUCKET_NAMES, counts[m].tolist(), strict=True)))
        for m, name in enumerate(columns.models)
    }
    matrix: dict[str, dict[str, float]] = {name: {} for name in columns.models}
    scored = cells.scored > 0
    for m, s, mean in zip(
        cells.model[scored].tolist(), cells.scenario[scored].tolist(), cells.mean[scored].tolist(), strict=True
    ):
        matrix[columns.models[m]][columns.scenarios[s]] = mean
    return VisualizationData(decision_distribution=distribution, model_scenario_matrix=matrix)
