"""Result models built from values already typed and checked, without validating each one.

A 100,000-transcript run prints ~100,000 per-cell models (`RepeatGroup`,
`SampleVarianceStats` + `DirectionCounts`, `BernoulliAgreement`). Validating each costs
~3 us of ~0.4 s in all, and proves nothing new: every value is a Python int, float,
bool or str taken from numpy arrays whose dtype and finiteness the caller already
settled. `Trusted(Model).many(field=column, ...)` sets each instance's state the way
validation would leave it (~0.6 us) and the contract model stays the one definition of
the wire shape: its serializer prints the instances.

What keeps it exact: only models whose fields are all required are accepted (no default
to fill in), every field comes as a column in the model's field order (checked once per
call: the serializer prints `__dict__` in its order), and all instances of a class share
one fields-set (validation would give each its own copy of the same names: ~700 bytes).
`tests/test_analysis_golden.py` holds the printed document byte for byte to the one
the validating constructors print, and `VALIDATE` switches them back for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__


class Trusted(Generic[ModelT]):
    """Builds many `model` instances at once from trusted columns of values, one column per field."""

    VALIDATE = False  # True: every instance is validated, as `model(**values)` (what the tests compare with)

    def __init__(self, model: type[ModelT]) -> None:
        optional = [name for name, field in model.model_fields.items() if not field.is_required()]
        if optional:
            raise TypeError(f"{model.__name__} has fields with defaults ({', '.join(optional)}): validate it")
        self.model = model
        self.names = list(model.model_fields)
        self.fields_set = set(self.names)

    def many(self, **columns: Sequence[Any]) -> list[ModelT]:
        """One instance per row of the columns (all of one length), given as field=column in field order."""
        if list(columns) != self.names:
            raise TypeError(f"{self.model.__name__} needs its fields in order: {', '.join(self.names)}")
        lengths = {len(column) for column in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.model.__name__}: columns of different lengths {sorted(lengths)}")
        count = lengths.pop() if lengths else 0
        names, model = self.names, self.model
        rows = zip(*columns.values(), strict=False)  # one length: checked above
        if Trusted.VALIDATE:
            return [model(**dict(zip(names, row, strict=True))) for row in rows]
        # each step a `map` over all the instances (C loops, no Python frame per instance)
        built: list[ModelT] = list(map(_new, repeat(model, count)))
        states = map(dict, map(zip, repeat(names), rows))
        for consumed in (
            map(_set, built, repeat("__dict__"), states),
            map(_set, built, repeat("__pydantic_fields_set__"), repeat(self.fields_set)),
            map(_set, built, repeat("__pydantic_extra__"), repeat(None)),
            map(_set, built, repeat("__pydantic_private__"), repeat(None)),
        ):
            deque(consumed, maxlen=0)
        return built


def require_finite(*arrays: npt.NDArray[np.float64]) -> None:
    """What validation (`allow_inf_nan=False`) would refuse in a non-null float field, refused for a whole column."""
    for values in arrays:
        if not np.isfinite(values).all():
            raise ValueError("a result field that must be a finite number is NaN or infinite")
