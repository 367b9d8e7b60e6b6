"""The t and chi-squared tails analyze_basic computes without scipy, against exact values.

Closed forms hold for 1 and 2 degrees of freedom (for every t, p-values down to 1e-300
included), the finite series of Abramowitz & Stegun for other integer degrees, and the
printed tables; scipy itself is compared in
`test_analysis_decode.py`. A worker run must not import scipy at all.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from common.analysis.special_functions import chi2_sf, t_isf, t_sf
from testkit.workers import ANALYZE_BASIC_PY, WORKERS

TOLERANCE = 1e-10

T_VALUES = [0.0, 1e-12, 1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 1e3, 1e6, 1e12, 1e100, 1e300]


def exact_t_sf(t: float, df: int) -> float:
    if df == 1:
        return math.atan2(1.0, t) / math.pi  # 1/2 - atan(t) / pi, without the subtraction
    root = math.sqrt(t * t + 2.0) if t < 1e150 else t
    return 1.0 / (root * (root + t)) if t else 0.5  # (1 - t / sqrt(t^2 + 2)) / 2


@pytest.mark.parametrize("df", [1, 2])
def test_t_tail_is_the_closed_form(df: int) -> None:
    t = np.asarray(T_VALUES)
    got = t_sf(t, np.full(t.shape, float(df)))
    expected = [exact_t_sf(value, df) for value in T_VALUES]
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=0)


@pytest.mark.parametrize("tail", [0.25, 0.05, 0.025, 0.005, 1e-6])
def test_t_quantile_is_the_closed_form(tail: float) -> None:
    assert t_isf(tail, 1.0) == pytest.approx(1.0 / math.tan(math.pi * tail), rel=TOLERANCE)
    assert t_isf(tail, 2.0) == pytest.approx((1 - 2 * tail) / math.sqrt(2 * tail * (1 - tail)), rel=TOLERANCE)


def series_t_sf(t: float, df: int) -> float:
    """P(T > t) by the finite series of Abramowitz & Stegun 26.7.3-4 (integer df), for moderate t."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    term, total = 1.0, 1.0
    if df % 2:
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0))
    else:
        for k in range(1, df // 2):
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return (1 - inside) / 2


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 10, 31, 100])
def test_t_tail_and_quantile_are_the_series(df: int) -> None:
    t = [0.01, 0.5, 1.0, 2.0, 3.0, 4.0]
    got = t_sf(np.asarray(t), np.full(len(t), float(df)))
    np.testing.assert_allclose(got, [series_t_sf(value, df) for value in t], rtol=TOLERANCE, atol=0)
    assert series_t_sf(t_isf(0.025, float(df)), df) == pytest.approx(0.025, rel=TOLERANCE)


# two-sided 95% critical values of Student's t as printed tables give them (3 decimals)
T_TABLE = {1: 12.706, 3: 3.182, 5: 2.571, 10: 2.228, 30: 2.042, 100: 1.984}


@pytest.mark.parametrize(("df", "critical"), T_TABLE.items())
def test_t_quantile_matches_the_printed_table(df: int, critical: float) -> None:
    assert round(t_isf(0.025, float(df)), 3) == critical


@pytest.mark.parametrize("x", [1e-8, 0.01, 0.5, 1.0, 3.84145882069, 10.0, 50.0, 700.0, 1400.0])
def test_chi2_tail_is_the_closed_form(x: float) -> None:
    assert chi2_sf(x, 2.0) == pytest.approx(math.exp(-x / 2), rel=TOLERANCE)
    assert chi2_sf(x, 1.0) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=TOLERANCE)
    # 4 degrees of freedom: exp(-x/2) (1 + x/2)
    assert chi2_sf(x, 4.0) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=TOLERANCE)


def test_chi2_tail_edges_and_table() -> None:
    assert chi2_sf(0.0, 3.0) == 1.0
    assert chi2_sf(math.inf, 3.0) == 0.0
    assert math.isnan(chi2_sf(math.nan, 3.0))
    assert chi2_sf(7.81472790325, 3.0) == pytest.approx(0.05, rel=1e-10)  # the 5% critical value, 3 df


def test_the_worker_never_imports_scipy() -> None:
    job = {
        "runId": "r",
        "transcripts": [
            {
                "id": f"t-{m}-{s}-{k}",
                "modelId": f"m-{m}",
                "scenarioId": f"s-{s}",
                "decisionModelV2": {"canonical": {"direction": "favor_first", "strength": ("strong", "lean")[k % 2]}},
                "scenario": {"dimensions": {"stakes": ("low", "high")[s % 2]}},
            }
            for m in range(3)
            for s in range(6)
            for k in range((m + s) % 3 + 1)
        ],
    }
    code = (  # the worker as its own process, which then lists the scipy modules it loaded
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write(\n"
        "    'SCIPY=' + str(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))))\n"
        f"sys.argv = [{str(ANALYZE_BASIC_PY)!r}]\n"
        f"runpy.run_path({str(ANALYZE_BASIC_PY)!r}, run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(job).encode(), capture_output=True, cwd=WORKERS, check=False
    )
    document = json.loads(done.stdout)
    assert document["success"] is True
    assert document["analysis"]["dimensionAnalysis"]["dimensions"]["stakes"]["pValue"] is not None
    assert document["analysis"]["modelAgreement"]["pairs"][0]["pValue"] is not None
    assert b"SCIPY=[]" in done.stderr
