"""What a provider said about one failed request, independent of its SDK.

Kept apart from `common.errors.classify` (its rule table, regexes and retry-hint parsing) so
that provider modules can name it without loading the classifier, which only a failed
request needs: a one-shot job that succeeds never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FailureKind = Literal["http", "timeout", "connect", "invalid_response"]

# How much of a provider's text the classifier and the retry-hint parser read. Real error
# messages are a few hundred characters; a gateway's error page can be megabytes, and every
# pattern scanned over all of it would hold a serve loop for seconds per attempt.
SCANNED_TEXT_CHARS = 16 * 1024


@dataclass(frozen=True)
class ErrorFacts:
    """What a provider told us about one failed request, SDK-independent."""

    provider: str
    kind: FailureKind = "http"
    status: int | None = None
    error_type: str | None = None  # e.g. OpenAI error.type, Anthropic error.type, Gemini status
    error_code: str | None = None  # e.g. OpenAI error.code, Gemini ErrorInfo.reason
    param: str | None = None  # the request parameter the provider blamed, when it says
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
