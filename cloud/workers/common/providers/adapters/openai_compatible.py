"""Any server speaking OpenAI Chat Completions (vLLM, llama.cpp, Ollama, LM Studio, gateways).

Needs OPENAI_COMPATIBLE_BASE_URL; OPENAI_COMPATIBLE_API_KEY is optional.
"""

from __future__ import annotations

from typing import ClassVar

import openai
from openai.types import CompletionUsage

from common.providers.adapters.deepseek import with_cache_hits
from common.providers.adapters.openai import OpenAIProvider
from common.providers.adapters.xai import bare_error_message, reasoning_placed_by_total
from common.providers.usage import Usage


class OpenAICompatibleProvider(OpenAIProvider):
    name: ClassVar[str] = "openai-compatible"

    # A compatible server (or a gateway in front of xAI or DeepSeek) may follow any of the
    # known compatible conventions, so each is recognised: reasoning beside completion
    # tokens when the total says so, DeepSeek's cache-hit field, bare-string errors.

    def usage_of(self, usage: CompletionUsage) -> Usage:
        return with_cache_hits(reasoning_placed_by_total(super().usage_of(usage)))

    def error_message(self, exc: openai.APIStatusError) -> str:
        message = bare_error_message(exc)
        return message if message is not None else super().error_message(exc)
