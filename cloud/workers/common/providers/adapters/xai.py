"""xAI (Grok) through its OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import ClassVar

from common.providers.adapters.openai import OpenAIProvider


class XAIProvider(OpenAIProvider):
    name: ClassVar[str] = "xai"
