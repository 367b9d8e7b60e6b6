"""numpy results as JSON numbers: NaN (undefined) becomes null, never the invalid token NaN."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def finite(value: float | np.floating) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def finite_list(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Element-wise `finite` for a whole array, without a numpy scalar per element.

    The list comes from `tolist` (C speed); only the entries that are not finite (a few, in
    cells without a scored sample) are set to None afterwards.
    """
    numbers: list[float | None] = values.tolist()
    for index in np.flatnonzero(~np.isfinite(values)).tolist():
        numbers[index] = None
    return numbers
