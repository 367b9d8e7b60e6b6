"""Which provider serves a model id, and lazy loading of that provider's module.

A job imports only its own provider's module (and so its SDK): the SDKs cost 1-3 s of
import each. Adding a provider is one module under `providers/` plus one line in
`PROVIDER_MODULES` (and, if it has recognisable model names, a line in `FAMILIES`).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors.codes import ErrorCode, WorkerError
from common.providers.settings import settings_for

if TYPE_CHECKING:
    from common.providers.base import Provider

PROVIDER_MODULES: dict[str, str] = {
    "openai": "common.providers.adapters.openai:OpenAIProvider",
    "anthropic": "common.providers.adapters.anthropic:AnthropicProvider",
    "google": "common.providers.adapters.google:GoogleProvider",
    "xai": "common.providers.adapters.xai:XAIProvider",
    "deepseek": "common.providers.adapters.deepseek:DeepSeekProvider",
    "mistral": "common.providers.adapters.mistral:MistralProvider",
    "openai-compatible": "common.providers.adapters.openai_compatible:OpenAICompatibleProvider",
    "mock": "common.providers.adapters.mock:MockProvider",
}

# Model families recognised without a prefix, checked in order.
FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(ft:)?(gpt-|chatgpt-|o\d(-|$)|codex-|computer-use-)"), "openai"),
    (re.compile(r"^claude-"), "anthropic"),
    (re.compile(r"^(models/)?(gemini-|gemma-)"), "google"),
    (re.compile(r"^grok-"), "xai"),
    (re.compile(r"^deepseek-"), "deepseek"),
    (
        re.compile(
            r"^(mistral-|ministral-|magistral-|codestral-|pixtral-|open-mistral-|open-mixtral-"
            r"|open-codestral-|devstral-|voxtral-)"
        ),
        "mistral",
    ),
)


@dataclass(frozen=True)
class ModelRoute:
    provider: str
    model: str


def _unsupported(model_id: str) -> WorkerError:
    prefixes = ", ".join(f"{name}:" for name in PROVIDER_MODULES)
    return WorkerError(
        ErrorCode.UNSUPPORTED_PROVIDER,
        f"cannot tell which provider serves model {model_id!r}; prefix it with one of {prefixes}"
        " (for example 'openai:gpt-4o' or 'mock:echo')",
        details={"modelId": model_id, "prefixes": list(PROVIDER_MODULES)},
    )


def resolve_model(model_id: str) -> ModelRoute:
    """An explicit `provider:model` prefix always wins; otherwise the model family decides."""
    model_id = model_id.strip()
    prefix, sep, rest = model_id.partition(":")
    if sep and prefix.lower() in PROVIDER_MODULES:
        provider = prefix.lower()
        if not rest.strip() and provider != "mock":
            raise WorkerError(
                ErrorCode.VALIDATION_ERROR,
                f"modelId {model_id!r} names the {provider} provider but no model",
                details={"field": "modelId"},
            )
        return ModelRoute(provider, rest.strip() or "echo")
    lowered = model_id.lower()
    for pattern, provider in FAMILIES:
        if pattern.match(lowered):
            model = model_id[len("models/") :] if lowered.startswith("models/") else model_id
            return ModelRoute(provider, model)
    raise _unsupported(model_id)


def provider_class(name: str) -> type[Provider]:
    target = PROVIDER_MODULES.get(name)
    if target is None:
        raise _unsupported(f"{name}:")
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Provider] = getattr(module, class_name)
    return cls


_CACHE: dict[tuple[str, str | None, str | None], Provider] = {}


def get_provider(name: str, *, reuse: bool = False) -> Provider:
    """Builds the provider from its environment settings.

    With `reuse`, an instance (and its SDK client and connection pool) is shared by
    every caller with the same provider, base URL and key, as a warm worker wants.
    """
    settings = settings_for(name)
    key = (name, settings.base_url, settings.api_key)
    if reuse and key in _CACHE:
        return _CACHE[key]
    provider = provider_class(name)(settings)
    if reuse:
        _CACHE[key] = provider
    return provider
