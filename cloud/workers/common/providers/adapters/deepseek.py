"""DeepSeek through its OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import ClassVar

from common.providers.adapters.openai import OpenAIProvider

# deepseek-reasoner accepts these without error but ignores them (DeepSeek's API docs),
# so sending them would record a setting that had no effect.
_IGNORED_BY_REASONER = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})


class DeepSeekProvider(OpenAIProvider):
    name: ClassVar[str] = "deepseek"
    PARAM_NAMES: ClassVar[dict[str, str | None]] = {**OpenAIProvider.PARAM_NAMES, "seed": None}

    def param_name(self, model: str, generic: str) -> tuple[str | None, str]:
        if model.startswith("deepseek-reasoner") and generic in _IGNORED_BY_REASONER:
            return None, f"{model} ignores {generic} (DeepSeek API docs)"
        return super().param_name(model, generic)
