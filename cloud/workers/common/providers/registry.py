"""Which provider serves a model id, and lazy loading of that provider's adapter.

A job imports only its own provider's adapter (and so its SDK): the SDKs cost 1-3 s of
import each. Everything here is read from the provider records (`records.PROVIDERS`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors.codes import ErrorCode, WorkerError
from common.providers.records import BY_NAME, PROVIDERS, ProviderRecord
from common.providers.settings import settings_for

if TYPE_CHECKING:
    from common.providers.base import Provider


@dataclass(frozen=True)
class ModelRoute:
    provider: str
    model: str


def _unsupported(model_id: str) -> WorkerError:
    prefixes = ", ".join(f"{record.name}:" for record in PROVIDERS)
    return WorkerError(
        ErrorCode.UNSUPPORTED_PROVIDER,
        f"cannot tell which provider serves model {model_id!r}; prefix it with one of {prefixes}"
        " (for example 'openai:gpt-4o' or 'mock:echo')",
        details={"modelId": model_id, "prefixes": [record.name for record in PROVIDERS]},
    )


def resolve_model(model_id: str) -> ModelRoute:
    """An explicit `provider:model` prefix always wins; otherwise the model family decides."""
    model_id = model_id.strip()
    prefix, sep, rest = model_id.partition(":")
    record = BY_NAME.get(prefix.lower()) if sep else None
    if record is not None:
        model = rest.strip() or record.default_model
        if not model:
            raise WorkerError(
                ErrorCode.VALIDATION_ERROR,
                f"modelId {model_id!r} names the {record.name} provider but no model",
                details={"field": "modelId"},
            )
        return ModelRoute(record.name, model)
    lowered = model_id.lower()
    for candidate in PROVIDERS:
        if candidate.families is not None and candidate.families.match(lowered):
            model = model_id[len("models/") :] if lowered.startswith("models/") else model_id
            return ModelRoute(candidate.name, model)
    raise _unsupported(model_id)


def record_for(name: str) -> ProviderRecord:
    record = BY_NAME.get(name)
    if record is None:
        raise _unsupported(f"{name}:")
    return record


def provider_class(name: str) -> type[Provider]:
    module_name, _, class_name = record_for(name).adapter.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Provider] = getattr(module, class_name)
    return cls


def build_provider(name: str) -> Provider:
    """A new provider (and SDK client) from the environment; the caller closes it."""
    record = record_for(name)
    return provider_class(name)(settings_for(record))
