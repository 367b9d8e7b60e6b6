"""The few scipy.stats results analysis prints, computed the way scipy.stats computes them.

`import scipy.stats` costs ~0.45 s and ~70 MB (most of a large run's start-up); the
statistics here need only three special functions (`scipy.special`, imported on first
use) and numpy. Each function follows scipy's own arithmetic step by step (scipy 1.17:
`t.interval` = `stdtrit * scale + loc`, `t.sf` = `stdtr(df, -x)`, `kruskal`,
`zscore`, `rankdata(method="average")`), so the numbers are bit for bit the same;
`tests/test_analysis_distributions.py` holds them to scipy.stats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from common.analysis.extract import FloatArray


def _special() -> Any:
    import scipy.special  # only a run with statistics to test pays for it

    return scipy.special


def t_interval(confidence: float, df: int, loc: float, scale: float) -> tuple[float, float]:
    """`scipy.stats.t.interval(confidence, df, loc=loc, scale=scale)` for scale > 0."""
    stdtrit = _special().stdtrit
    low = np.asarray([(1.0 - confidence) / 2, (1.0 + confidence) / 2])
    ppf = stdtrit(np.asarray(df), low) * np.asarray(scale) + np.asarray(loc)
    return float(ppf[0]), float(ppf[1])


def t_sf(x: FloatArray, df: np.ndarray) -> FloatArray:
    """`scipy.stats.t.sf(x, df)` for df > 0: NaN stays NaN, +inf is 0."""
    result = np.zeros(np.broadcast(x, df).shape)
    nan = np.isnan(x)
    result[nan] = np.nan
    inside = ~nan & (x < np.inf)
    x_in, df_in = np.broadcast_arrays(x, df)
    result[inside] = _special().stdtr(df_in[inside], -x_in[inside])
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
    p = _special().chdtrc(np.asarray(len(groups) - 1, dtype=np.float64), h)
    return float(h), float(p)


def zscore(x: FloatArray) -> FloatArray:
    """`scipy.stats.zscore(x)` of a 1-D array without NaN (population SD; NaN where it is ~0)."""
    mean = np.mean(x, axis=0, keepdims=True)
    deviation = x - mean
    std = np.mean(deviation * deviation, axis=0, keepdims=True) ** 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / std
    zero = std <= np.abs(np.finfo(z.dtype).eps * mean)
    return np.where(np.broadcast_to(zero, z.shape), np.nan, z)
