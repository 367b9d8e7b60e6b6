"""One row per (model, scenario): the repeats of a scenario reduced to their statistics.

Almost every section works on these cells rather than on transcripts, so that a
scenario sampled many times does not outweigh one sampled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from common.analysis.extract import Columns, FloatArray, IntArray
from common.analysis.scoring import SCORED_BUCKETS

T = TypeVar("T")


@dataclass(frozen=True)
class Cells:
    """Aligned arrays, one entry per (model, scenario) that has at least one transcript.

    Sorted by model, then scenario. Statistics are over scored samples and NaN for a
    cell with none; `variance` is the population variance (ddof=0) of the repeats,
    `sample_variance` the sample variance (ddof=1; 0 for a single sample), the one the
    host's fields report.
    """

    model: IntArray
    scenario: IntArray
    transcripts: IntArray
    scored: IntArray
    mean: FloatArray
    variance: FloatArray
    sample_variance: FloatArray
    min: FloatArray
    max: FloatArray
    positive: IntArray
    negative: IntArray
    zero: IntArray
    buckets: IntArray  # cells x 5: scored samples per bucket, scoring.STRONG_FIRST..STRONG_SECOND
    flipped: npt.NDArray[np.bool_]  # a scored sample of the cell was orientation-corrected by the host
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
        squares = np.bincount(cell, weights=deviation * deviation, minlength=size)
        variance = squares / scored
        sample_variance = np.where(scored > 1, squares / np.maximum(scored - 1, 1), np.where(scored == 1, 0.0, np.nan))
    low = np.full(size, np.inf)
    high = np.full(size, -np.inf)
    np.minimum.at(low, cell, score)
    np.maximum.at(high, cell, score)
    empty = scored == 0
    low[empty] = np.nan
    high[empty] = np.nan

    cell_model = keys // max(scenario_count, 1)
    cell_scenario = keys % max(scenario_count, 1)
    buckets = np.bincount(cell * SCORED_BUCKETS + columns.bucket[scored_rows], minlength=size * SCORED_BUCKETS).reshape(
        size, SCORED_BUCKETS
    )
    flipped = np.bincount(cell, weights=columns.flipped[scored_rows], minlength=size) > 0
    matrix = np.full((model_count, scenario_count), np.nan)
    matrix[cell_model, cell_scenario] = mean
    return Cells(
        model=cell_model,
        scenario=cell_scenario,
        transcripts=transcripts,
        scored=scored,
        mean=mean,
        variance=variance,
        sample_variance=sample_variance,
        min=low,
        max=high,
        positive=np.bincount(cell[score > 0], minlength=size).astype(np.int64),
        negative=np.bincount(cell[score < 0], minlength=size).astype(np.int64),
        zero=np.bincount(cell[score == 0], minlength=size).astype(np.int64),
        buckets=buckets.astype(np.int64),
        flipped=flipped,
        matrix=matrix,
    )


def by_model(model_count: int, model: IntArray, keys: Sequence[str], items: Sequence[T]) -> list[dict[str, T]]:
    """Per model m: {key: item} of the entries whose `model` is m, in their order.

    `model` must be sorted, as cell arrays (and any mask of them) are: each model's entries
    are one slice, so each dict is built at once rather than an entry at a time.
    """
    bounds = np.searchsorted(model, np.arange(model_count + 1)).tolist()
    return [dict(zip(keys[start:end], items[start:end], strict=True)) for start, end in pairwise(bounds)]
