"""Reads how long a provider asked us to wait before retrying, in milliseconds.

Sources, first found wins: the `retry-after-ms` header (OpenAI, Anthropic), the
`retry-after` header in seconds or as an HTTP date, Gemini's `google.rpc.RetryInfo`
`retryDelay` in the error body, and the wording in error messages: OpenAI's "Please try
again in 1.2s" / "in 20ms" / "in 6m0s" (Go durations, also used by OpenAI-compatible
servers) and Gemini's "Please retry in 47.3s".
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# One "<number><unit>" piece of a duration: "2.114s", "20ms", or the "15m37.44s" of a Go duration.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)(?![a-z])", re.IGNORECASE)
_TRY_AGAIN = re.compile(
    r"(?:try again|retry) in\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)(?![a-z]))+)",
    re.IGNORECASE,
)
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _from_headers(headers: Mapping[str, str], now: float) -> int | None:
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms)
        except ValueError:
            value = -1
        if value >= 0 and math.isfinite(value):
            return int(value)
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw.strip() else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0, int(seconds * 1000))


def _walk(value: Any) -> list[Any]:
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found.extend(_walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk(item))
    return found


def _from_body(body: Any) -> int | None:
    for node in _walk(body):
        if isinstance(node, dict) and str(node.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(node.get("retryDelay", "")))
            if match:
                return int(float(match.group(1)) * 1000)
    for node in _walk(body):
        if isinstance(node, str):
            match = _TRY_AGAIN.search(node)
            if match:
                parts = _DURATION_PART.findall(match.group(1))
                return round(sum(float(amount) * _UNIT_MS[unit.lower()] for amount, unit in parts))
    return None


def retry_hint_ms(headers: Mapping[str, str] | None, body: Any = None, *, now: float | None = None) -> int | None:
    try:
        from_headers = _from_headers(headers or {}, time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError):
        from_headers = None
    return from_headers if from_headers is not None else _from_body(body)
