"""Which provider serves a model id, and lazy loading of that provider's adapter.

A job imports only its own provider's adapter (and so its SDK): the SDKs cost 1-3 s of
import each. Everything here is read from the provider records (`records.PROVIDERS`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from common.errors.codes import ErrorCode, WorkerError
from common.providers.adapter_import import import_adapter
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
    module = import_adapter(module_name)
    cls: type[Provider] = getattr(module, class_name)
    return cls


# Adapter modules being imported (or imported) off the event loop, by module name.
_IMPORTS: dict[str, concurrent.futures.Future[ModuleType]] = {}
_IMPORTS_LOCK = threading.Lock()


def _import_on_thread(module_name: str, future: concurrent.futures.Future[ModuleType]) -> None:
    try:
        module = import_adapter(module_name)
    except BaseException as exc:
        with _IMPORTS_LOCK:
            _IMPORTS.pop(module_name, None)  # a later job tries again (and fails the same way)
        future.set_exception(exc)
    else:
        future.set_result(module)


def _background_import(module_name: str) -> concurrent.futures.Future[ModuleType]:
    with _IMPORTS_LOCK:
        future = _IMPORTS.get(module_name)
        if future is None:
            future = _IMPORTS[module_name] = concurrent.futures.Future()
            # Running: a waiting job that is cancelled cannot cancel the import for the others.
            future.set_running_or_notify_cancel()
            threading.Thread(
                target=_import_on_thread, args=(module_name, future), name=f"import {module_name}", daemon=True
            ).start()
    return future


async def load_provider_class(name: str) -> type[Provider]:
    """`provider_class`, with a first import that never blocks the event loop.

    An SDK takes 1-3 s to import (5 s under load). Imported on the loop, it would hold up
    every other job of a serve process, and a signal would be answered only after it.
    So the adapter module is imported on a daemon thread while the job waits: a signal
    cancels the job at once, and the import, no longer needed, is left behind (a one-shot
    process does not wait for it: `imports_in_progress`). An adapter already imported
    costs no thread.
    """
    module_name, _, class_name = record_for(name).adapter.partition(":")
    future = _IMPORTS.get(module_name)
    if future is None and module_name in sys.modules:  # imported before, on the caller's thread
        module = sys.modules[module_name]
    elif future is not None and future.done():
        module = future.result()
    else:
        module = await asyncio.wrap_future(future or _background_import(module_name))
    cls: type[Provider] = getattr(module, class_name)
    return cls


def imports_in_progress() -> bool:
    """Whether an adapter is still being imported on a background thread."""
    with _IMPORTS_LOCK:
        return any(not future.done() for future in _IMPORTS.values())


def build_provider(name: str) -> Provider:
    """A new provider (and SDK client) from the environment; the caller closes it."""
    record = record_for(name)
    return provider_class(name)(settings_for(record))
