"""xAI (Grok) through its OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import ClassVar

import openai
from openai.types import CompletionUsage

from common.providers.adapters.openai import OpenAIProvider
from common.providers.usage import Usage


class XAIProvider(OpenAIProvider):
    name: ClassVar[str] = "xai"

    def usage_of(self, usage: CompletionUsage) -> Usage:
        return reasoning_placed_by_total(super().usage_of(usage))

    def error_message(self, exc: openai.APIStatusError) -> str:
        message = bare_error_message(exc)
        return message if message is not None else super().error_message(exc)


def reasoning_placed_by_total(usage: Usage) -> Usage:
    """xAI reports reasoning tokens beside `completion_tokens` (total = prompt + completion + reasoning).

    OpenAI counts them inside; the total says which a response did (see Usage).
    """
    raw = usage.raw or {}
    return Usage.reasoning_placed_by_total(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        total_tokens=raw.get("total_tokens"),
        cached_input_tokens=usage.cached_input_tokens,
        raw=usage.raw,
    )


def bare_error_message(exc: openai.APIStatusError) -> str | None:
    """xAI's message from its `{"code": ..., "error": "<message>"}` bodies (the SDK keeps the string as `body`)."""
    return exc.body if isinstance(exc.body, str) else None
