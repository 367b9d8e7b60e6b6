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


class _EnvSecrets:
    """The values of the environment's secret-named variables, cheap to ask for per string.

    Decoding every variable's value for every string made redaction the largest cost of a
    warm worker's job. So each call lists only the names (a few microseconds), picks the
    secret-named ones again only when the names changed, and reads just those values: a
    variable set, removed or changed is seen at once, through `os.environ`'s public API.
    """

    def __init__(self) -> None:
        self._all_names: tuple[str, ...] | None = None
        self._names: tuple[str, ...] = ()
        self._values: tuple[str | None, ...] = ()
        self._secrets: list[str] = []

    def current(self) -> list[str]:
        all_names = tuple(os.environ)
        if all_names != self._all_names:
            self._all_names = all_names
            self._names = tuple(name for name in all_names if name.upper().endswith(_SECRET_ENV_SUFFIXES))
        values = tuple(os.environ.get(name) for name in self._names)
        if values != self._values:
            self._values = values
            found = {value for value in values if value is not None and len(value) >= _MIN_SECRET_LEN}
            self._secrets = sorted(found, key=len, reverse=True)
        return self._secrets


_env_secrets = _EnvSecrets().current


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
