"""DeepSeek through its OpenAI-compatible endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from openai.types import CompletionUsage

from common.providers.adapters.openai import OpenAIProvider
from common.providers.usage import Usage, as_count


class DeepSeekProvider(OpenAIProvider):
    name: ClassVar[str] = "deepseek"

    def usage_of(self, usage: CompletionUsage) -> Usage:
        return with_cache_hits(super().usage_of(usage))


def with_cache_hits(usage: Usage) -> Usage:
    """Cache hits from DeepSeek's own field when `prompt_tokens_details.cached_tokens` gives none.

    DeepSeek reports `prompt_cache_hit_tokens` and `prompt_cache_miss_tokens`, whose sum
    is `prompt_tokens`: hits are inside the input count, as in ours (DeepSeek API docs).
    """
    if usage.cached_input_tokens or usage.raw is None:
        return usage
    hits = as_count(usage.raw.get("prompt_cache_hit_tokens"))
    return replace(usage, cached_input_tokens=hits) if hits else usage
