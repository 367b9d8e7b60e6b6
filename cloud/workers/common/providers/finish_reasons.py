"""Maps each provider's raw stop reason onto the transcript's closed set.

`stop | length | content_filter | tool_calls | refusal | other`; the raw value is kept
next to it in the transcript, so nothing the provider said is lost.
"""

from __future__ import annotations

from typing import get_args

from common.contract.probe import FinishReason

_TABLE: dict[str, FinishReason] = {
    # OpenAI, xAI, DeepSeek, Mistral and OpenAI-compatible servers
    "stop": "stop",
    "eos": "stop",
    "end": "stop",
    "length": "length",
    "model_length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "insufficient_system_resource": "other",  # DeepSeek: cut short by the server
    # Anthropic stop_reason
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
    "pause_turn": "other",
    # Gemini finishReason
    "finish_reason_unspecified": "other",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
    "language": "other",
    "malformed_function_call": "other",
    "unexpected_tool_call": "other",
    "other": "other",
}

FINISH_REASONS: tuple[str, ...] = get_args(FinishReason)


def normalize_finish_reason(raw: str | None) -> FinishReason:
    if not raw:
        return "other"
    return _TABLE.get(raw.strip().lower(), "other")
