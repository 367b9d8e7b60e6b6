"""One row per (model, scenario): the repeats of a scenario reduced to their statistics.

Almost every section works on these cells rather than on transcripts, so that a
scenario sampled many times does not outweigh one sampled once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.analysis.extract import Columns, FloatArray, IntArray


@dataclass(frozen=True)
class Cells:
    """Aligned arrays, one entry per (model, scenario) that has at least one transcript.

    Sorted by model, then scenario. Statistics are over scored samples and NaN for a
    cell with none; `variance` is the population variance (ddof=0) of the repeats.
    """

    model: IntArray
    scenario: IntArray
    transcripts: IntArray
    scored: IntArray
    mean: FloatArray
    variance: FloatArray
    min: FloatArray
    max: FloatArray
    positive: IntArray
    negative: IntArray
    zero: IntArray
    matrix: FloatArray  # models x scenarios, the cell mean or NaN

    @property
    def size(self) -> int:
        return int(self.model.shape[0])


def build_cells(columns: Columns) -> Cells:
    model_count, scenario_count = len(columns.models), len(columns.scenarios)
    key = columns.model * max(scenario_count, 1) + columns.scenario
    keys, cell_of_row = np.unique(key, return_inverse=True)
    size = int(keys.shape[0])
    scored_rows = ~np.isnan(columns.score)
    cell = cell_of_row[scored_rows]
    score = columns.score[scored_rows]

    transcripts = np.bincount(cell_of_row, minlength=size).astype(np.int64)
    scored = np.bincount(cell, minlength=size).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cell, weights=score, minlength=size) / scored
        deviation = score - mean[cell]
        variance = np.bincount(cell, weights=deviation * deviation, minlength=size) / scored
    low = np.full(size, np.inf)
    high = np.full(size, -np.inf)
    np.minimum.at(low, cell, score)
    np.maximum.at(high, cell, score)
    empty = scored == 0
    low[empty] = np.nan
    high[empty] = np.nan

    cell_model = keys // max(scenario_count, 1)
    cell_scenario = keys % max(scenario_count, 1)
    matrix = np.full((model_count, scenario_count), np.nan)
    matrix[cell_model, cell_scenario] = mean
    return Cells(
        model=cell_model,
        scenario=cell_scenario,
        transcripts=transcripts,
        scored=scored,
        mean=mean,
        variance=variance,
        min=low,
        max=high,
        positive=np.bincount(cell[score > 0], minlength=size).astype(np.int64),
        negative=np.bincount(cell[score < 0], minlength=size).astype(np.int64),
        zero=np.bincount(cell[score == 0], minlength=size).astype(np.int64),
        matrix=matrix,
    )
