"""The few scipy.stats results analysis prints, computed the way scipy.stats computes them.

`import scipy.stats` costs ~0.45 s and ~70 MB, `import scipy.special` ~0.15 s (most of
a large run's start-up); scipy is not imported at all. `kruskal`, `zscore` and
`rankdata(method="average")` follow scipy 1.17's own arithmetic step by step, so they
are bit for bit scipy's; the t and chi-squared tails come from `special_functions`,
within a relative 1e-10 of scipy (`t.interval` = `stdtrit * scale + loc`, `t.sf`,
`chi2.sf`). `tests/test_analysis_decode.py` and `tests/test_analysis_special.py` hold
them to scipy.stats.
"""

from __future__ import annotations

import numpy as np

from common.analysis.extract import FloatArray
from common.analysis.special_functions import chi2_sf, t_isf
from common.analysis.special_functions import t_sf as t_upper_tail


def t_interval(confidence: float, df: int, loc: float, scale: float) -> tuple[float, float]:
    """`scipy.stats.t.interval(confidence, df, loc=loc, scale=scale)` for scale > 0."""
    quantile = t_isf((1.0 - confidence) / 2, float(df))
    return -quantile * scale + loc, quantile * scale + loc


def t_sf(x: FloatArray, df: np.ndarray) -> FloatArray:
    """`scipy.stats.t.sf(x, df)` for x >= 0 or NaN, df > 0: NaN stays NaN, +inf is 0."""
    result = np.zeros(np.broadcast(x, df).shape)
    nan = np.isnan(x)
    result[nan] = np.nan
    inside = ~nan & (x < np.inf)
    x_in, df_in = np.broadcast_arrays(x, df)
    result[inside] = t_upper_tail(x_in[inside].astype(np.float64), df_in[inside].astype(np.float64))
    return result


def rank_rows(x: FloatArray) -> FloatArray:
    """`scipy.stats.rankdata(x, axis=1, nan_policy="omit")`: average ranks per row, NaN where x is NaN.

    Ranks are whole or half numbers, exact in float64, so any correct computation of them
    is bit for bit scipy's.
    """
    rows, width = x.shape
    ranks = np.full(x.shape, np.nan)
    if not rows or not width:
        return ranks
    order = np.argsort(x, axis=1, kind="stable")  # NaN last
    ordered = np.take_along_axis(x, order, axis=1)
    starts = np.ones(x.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    position = np.broadcast_to(np.arange(width), x.shape)
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    ends = np.ones(x.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    last = np.minimum.accumulate(np.where(ends, position, width - 1)[:, ::-1], axis=1)[:, ::-1]
    average = (first + last) / 2 + 1
    average[np.isnan(ordered)] = np.nan
    np.put_along_axis(ranks, order, average, axis=1)
    return ranks


def kruskal(groups: list[FloatArray]) -> tuple[float, float]:
    """`scipy.stats.kruskal(*groups)` (statistic H with the tie correction, p from chi-squared)."""
    sizes = [int(group.shape[0]) for group in groups]
    total = sum(sizes)
    data = np.concatenate(groups).astype(np.float64)
    ranked = rank_rows(data[None, :])[0]
    _, counts = np.unique(data, return_counts=True)
    ties_counts = counts.astype(np.float64)
    ties = 1 - np.sum(ties_counts**3 - ties_counts) / (total**3 - total)
    bounds = [0, *np.cumsum(sizes).tolist()]
    ssbn = sum(np.sum(ranked[bounds[i] : bounds[i + 1]]) ** 2 / sizes[i] for i in range(len(groups)))
    h = 12.0 / (total * (total + 1)) * ssbn - 3 * (total + 1)
    h /= ties
    return float(h), chi2_sf(float(h), float(len(groups) - 1))


def median(x: FloatArray) -> float:
    """`numpy.median(x)` of a non-empty 1-D array, to the bit: the middle value, or the mean of the two.

    numpy's own median imports `numpy.ma` on first use (~0.05 s of a run's start-up) to
    check for NaN; here a NaN sorts last and makes the median NaN, as numpy's does.
    """
    ordered = np.sort(x)
    size = int(ordered.shape[0])
    if np.isnan(ordered[-1]):
        return float("nan")
    middle = size // 2
    if size % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def zscore(x: FloatArray) -> FloatArray:
    """`scipy.stats.zscore(x)` of a 1-D array without NaN (population SD; NaN where it is ~0)."""
    mean = np.mean(x, axis=0, keepdims=True)
    deviation = x - mean
    std = np.mean(deviation * deviation, axis=0, keepdims=True) ** 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / std
    zero = std <= np.abs(np.finfo(z.dtype).eps * mean)
    return np.where(np.broadcast_to(zero, z.shape), np.nan, z)
