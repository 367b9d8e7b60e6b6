"""Scrubs secrets from anything a worker prints, because provider errors echo keys back.

Applied to every stdout document and every log line, so a key in the environment, an
`Authorization` header or a key fragment quoted in a provider's error body never leaves
the process.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
_MIN_SECRET_LEN = 8

_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI, Anthropic (sk-ant-), DeepSeek
    re.compile(r"\bxai-[A-Za-z0-9_\-]{8,}"),  # xAI
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[-_]?key|authorization)[\"']?\s*[:=]\s*[\"']?)([^\"'\s,}&]{6,})"),
    re.compile(r"(?i)([?&]key=)([^&\s\"']+)"),
)

# Every pattern above starts with one of these; most strings contain none, so one search
# spares them the six substitutions (redaction runs over every string of every document).
_TRIGGER = re.compile(r"(?i)sk-|xai-|aiza|bearer|api[-_]?key|authorization|key=")


_secrets_cache: tuple[dict[Any, Any] | None, list[str]] = (None, [])


def _env_snapshot() -> dict[Any, Any] | None:
    """A cheap copy of the raw environment (CPython keeps it in `os.environ._data`), or None."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else None


def _env_secrets() -> list[str]:
    # Recomputed only when the environment changed: decoding every variable for every
    # string made redaction the largest cost of a warm worker's job.
    global _secrets_cache
    snapshot = _env_snapshot()
    if snapshot is not None and snapshot == _secrets_cache[0]:
        return _secrets_cache[1]
    values = [
        value
        for name, value in os.environ.items()
        if name.upper().endswith(_SECRET_ENV_SUFFIXES) and len(value) >= _MIN_SECRET_LEN
    ]
    secrets = sorted(set(values), key=len, reverse=True)
    _secrets_cache = (snapshot, secrets)
    return secrets


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for secret in _env_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _TRIGGER.search(text) is None:
        return text
    for pattern in _PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """Returns a copy of a JSON-like value with secrets in every string replaced."""
    if secrets is None:
        secrets = _env_secrets()  # read the environment once per value, not once per string
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    return value
