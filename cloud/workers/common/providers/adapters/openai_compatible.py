"""Any server speaking OpenAI Chat Completions (vLLM, llama.cpp, Ollama, LM Studio, gateways).

Needs OPENAI_COMPATIBLE_BASE_URL; OPENAI_COMPATIBLE_API_KEY is optional.
"""

from __future__ import annotations

from typing import ClassVar

from common.providers.adapters.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    name: ClassVar[str] = "openai-compatible"
