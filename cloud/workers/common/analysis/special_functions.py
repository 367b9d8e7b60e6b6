"""The Student t and chi-squared tails analysis needs, without scipy.

`import scipy.special` costs ~0.15 s of a large run's ~1 s and pulls in half of numpy's
optional modules (f2py, ma, testing, random). The statistics need three results only:
the Student t upper tail (Spearman p-values), its inverse (a model's confidence interval)
and the chi-squared upper tail (Kruskal-Wallis). They come from the regularized
incomplete beta and gamma functions, by the classic continued fractions and series
(Numerical Recipes, 3rd ed., 6.2 and 6.4) with `math.lgamma`, in float64.

They are not scipy's bits: scipy (Boost) sums differently. The tests hold them within a
relative 1e-10 of scipy (`test_analysis_decode.py`; measured here: under 1e-12 on 10^4
random cases, df up to 12,000, p-values down to 1e-300) and of closed forms, the finite
series of integer degrees of freedom and printed tables (`test_analysis_special.py`);
README states that tolerance for the printed p-values and interval bounds.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_EPS: Final = 1e-16  # a continued fraction stops when a step changes it by less than this
_TINY: Final = 1e-300  # keeps Lentz's divisions away from zero
_MAX_STEPS: Final = 10_000  # convergence takes ~sqrt(max(a, b)) steps: a few hundred at most here
_LGAMMA: Final = np.frompyfunc(math.lgamma, 1, 1)
_STIRLING_FROM: Final = 30.0


def _lgamma(values: FloatArray) -> FloatArray:
    return np.asarray(_LGAMMA(values), dtype=np.float64)


def _stirling_tail(x: FloatArray) -> FloatArray:
    """ln Gamma(x) - [(x - 1/2) ln x - x + ln(2 pi) / 2], by its series (x >= 30: the next term is < 1e-16)."""
    inverse = 1.0 / x
    square = inverse * inverse
    return np.asarray(
        inverse * (1 / 12 - square * (1 / 360 - square * (1 / 1260 - square * (1 / 1680)))), dtype=np.float64
    )


def _log_gamma_ratio(a: FloatArray, b: FloatArray) -> FloatArray:
    """ln Gamma(a) - ln Gamma(a + b) for 0 < b <= 1.

    For a large `a` the two logarithms are large and nearly equal (lgamma(311) ~ 1,470),
    so their difference loses ~13 digits' worth of ulps; Stirling's series written as
    a difference keeps every term O(ln a): -b ln a - (a + b - 1/2) log1p(b / a) + b.
    """
    large = a >= _STIRLING_FROM
    safe = np.where(large, a, _STIRLING_FROM)
    stirling = (
        -b * np.log(safe) - (safe + b - 0.5) * np.log1p(b / safe) + b + _stirling_tail(safe) - _stirling_tail(safe + b)
    )
    small = np.where(large, 1.0, a)
    direct = _lgamma(small) - _lgamma(small + b)
    return np.asarray(np.where(large, stirling, direct), dtype=np.float64)


def _beta_fraction(a: FloatArray, b: FloatArray, x: FloatArray) -> FloatArray:
    """The continued fraction of I_x(a, b) (Lentz's method), element-wise; converges for x < (a + 1) / (a + b + 2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, _MAX_STEPS + 1):
        m2 = 2.0 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            step = d * c
            h = np.where(active, h * step, h)
        active &= np.abs(step - 1.0) >= _EPS
        if not active.any():
            break
    return h


def t_sf(t: FloatArray, df: FloatArray) -> FloatArray:
    """P(T > t) for Student's t with `df` > 0 degrees of freedom, t >= 0 finite (same shapes).

    P(T > t) = I_z(df / 2, 1 / 2) / 2 with z = df / (df + t^2); z and 1 - z are formed from
    t^2 / df without a subtraction, and the prefactor in logarithms, so a far tail keeps
    its relative precision (and underflows to 0 only where the number does).
    """
    a = df / 2.0
    b = np.full_like(a, 0.5)
    with np.errstate(over="ignore", divide="ignore"):
        u = t * t / df  # t^2 / df: z = 1 / (1 + u), 1 - z = u / (1 + u)
        big = ~np.isfinite(u) | (u > 1e300)
        log_t = np.log(np.where(t > 0, t, 1.0))
        log_u = np.where(big, 2.0 * log_t - np.log(df), np.log(np.where(u > 0, u, 1.0)))
        log_1pu = np.where(big, log_u, np.log1p(np.where(big, 0.0, u)))
        log_z = -log_1pu
        log_1mz = np.where(u > 0, log_u - log_1pu, -np.inf)
        z = np.exp(log_z)
        one_minus_z = np.exp(log_1mz)
    log_beta = math.lgamma(0.5) + _log_gamma_ratio(a, b)
    # I_z(a, b) directly when z is below the fraction's switch point, else 1 - I_{1-z}(b, a)
    direct = z < (a + 1.0) / (a + b + 2.0)
    flip = ~direct
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        front = np.exp(a * log_z + b * log_1mz - log_beta)
        incomplete = np.empty_like(z)
        incomplete[direct] = front[direct] * _beta_fraction(a[direct], b[direct], z[direct]) / a[direct]
        incomplete[flip] = 1.0 - front[flip] * _beta_fraction(b[flip], a[flip], one_minus_z[flip]) / b[flip]
    return np.asarray(np.where(t == 0, 0.5, incomplete / 2.0), dtype=np.float64)


def _t_pdf(t: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=256)
def t_isf(tail: float, df: float) -> float:
    """The t > 0 with P(T > t) = `tail` (0 < tail < 1/2), Student's t with `df` degrees of freedom.

    Newton from t = 0: the tail is convex and decreasing for t > 0, so every step lands
    at or below the root and the steps rise to it; they stop when one moves t by less
    than a few ulps. One value per degree of freedom (models of a run share a few).
    """
    t = 0.0
    for _ in range(_MAX_STEPS):
        gap = float(t_sf(np.asarray([t]), np.asarray([float(df)]))[0]) - tail
        step = gap / _t_pdf(t, df)
        if step <= 4e-16 * t:
            break
        t += step
    return t


def _gamma_series(a: float, x: float) -> float:
    """P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_STEPS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (x >= a + 1), Lentz's method."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_STEPS + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) >= _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) >= _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for chi-squared with `df` > 0 degrees of freedom: Q(df / 2, x / 2); NaN stays NaN."""
    if math.isnan(x):
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half = df / 2.0, x / 2.0
    if half < a + 1.0:
        return 1.0 - _gamma_series(a, half)
    return _gamma_fraction(a, half)
