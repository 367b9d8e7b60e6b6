"""Less memory per result model: one shared fields-set for models that set every field.

pydantic keeps, per instance, the set of the fields the constructor was given (728 bytes
of a ~1.1 KB `RepeatGroup`). A 100,000-transcript run builds ~100,000 per-cell models,
each given every field, so each such set holds the same names: they share one, which
saves ~70 MB. It stays exact: a field assigned later adds a name already in the set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

_SHARED: dict[type[BaseModel], set[str]] = {}


def share_fields_set(models: Iterable[BaseModel]) -> None:
    """Points each model that was given every one of its fields at its class's one set of them."""
    for model in models:
        kind = type(model)
        shared = _SHARED.get(kind)
        if shared is None:
            shared = _SHARED[kind] = set(kind.model_fields)
        if model.__pydantic_fields_set__ == shared:
            object.__setattr__(model, "__pydantic_fields_set__", shared)


def share_in(values: Iterable[dict[str, Any]]) -> None:
    """`share_fields_set` over the models of dicts of models (per model: scenario -> model)."""
    for mapping in values:
        share_fields_set(mapping.values())
