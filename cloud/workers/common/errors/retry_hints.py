"""Reads how long a provider asked us to wait before retrying, in milliseconds.

Sources, first found wins: the `retry-after-ms` header (OpenAI, Anthropic), the
`retry-after` header in seconds or as an HTTP date, Gemini's `google.rpc.RetryInfo`
`retryDelay` in the error body, and the wording in error messages: OpenAI's "Please try
again in 1.2s" / "in 20ms" / "in 6m0s" (Go durations, also used by OpenAI-compatible
servers) and Gemini's "Please retry in 47.3s".

One exception overrides them all: a Gemini 429 whose `google.rpc.QuotaFailure` names a
per-day quota (a `quotaId` with `PerDay`). Its RetryInfo still says ~50 s, but the wall
lasts until the daily reset at midnight Pacific time, so the hint is the time until then
(`daily_quota` says which quota it was). Hints are measured against `clock`, the wall
clock, which tests replace.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from common.errors.facts import SCANNED_TEXT_CHARS

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# One "<number><unit>" piece of a duration: "2.114s", "20ms", or the "15m37.44s" of a Go duration.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)(?![a-z])", re.IGNORECASE)
_TRY_AGAIN = re.compile(
    r"(?:try again|retry) in\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)(?![a-z]))+)",
    re.IGNORECASE,
)
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_QUOTA_FAILURE = "google.rpc.QuotaFailure"
# Gemini's daily quotas reset at midnight Pacific time (ai.google.dev/gemini-api/docs/rate-limits).
_DAILY_RESET_ZONE = "America/Los_Angeles"
# Without a time-zone database: Pacific Standard Time all year. In summer that reset is an
# hour after the real one: late, never early, so a retry then cannot hit the wall again.
_PST = timezone(timedelta(hours=-8), "PST")

clock: Callable[[], float] = time.time  # the wall clock (seconds since the epoch); tests replace it


@dataclass(frozen=True)
class DailyQuota:
    """A per-day quota the provider says is used up, and when it resets."""

    quota_id: str
    quota_metric: str | None
    reset_in_ms: int
    resets_at: str  # ISO 8601, UTC

    window: str = "day"


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
            match = _TRY_AGAIN.search(node, 0, SCANNED_TEXT_CHARS)
            if match:
                parts = _DURATION_PART.findall(match.group(1))
                return round(sum(float(amount) * _UNIT_MS[unit.lower()] for amount, unit in parts))
    return None


def _pacific() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # loaded on this rare path only
    except ImportError:  # pragma: no cover - zoneinfo is in the standard library since 3.9
        return _PST
    try:
        return ZoneInfo(_DAILY_RESET_ZONE)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _PST


def next_daily_reset(now: float) -> datetime:
    """The next midnight Pacific time after `now` (daylight saving time included)."""
    zone = _pacific()
    tomorrow = (datetime.fromtimestamp(now, zone) + timedelta(days=1)).date()
    return datetime.combine(tomorrow, datetime.min.time(), tzinfo=zone)


def daily_quota(body: Any, *, now: float | None = None) -> DailyQuota | None:
    """The first per-day quota a `google.rpc.QuotaFailure` in `body` names, with its reset."""
    for node in _walk(body):
        if not (isinstance(node, dict) and str(node.get("@type", "")).endswith(_QUOTA_FAILURE)):
            continue
        violations = node.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            quota_id = violation.get("quotaId") if isinstance(violation, dict) else None
            if isinstance(quota_id, str) and "PerDay" in quota_id:
                at = clock() if now is None else now
                reset = next_daily_reset(at)
                metric = violation.get("quotaMetric")
                return DailyQuota(
                    quota_id=quota_id,
                    quota_metric=metric if isinstance(metric, str) else None,
                    reset_in_ms=max(0, math.ceil((reset.timestamp() - at) * 1000)),
                    resets_at=reset.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                )
    return None


def retry_hint_ms(headers: Mapping[str, str] | None, body: Any = None, *, now: float | None = None) -> int | None:
    at = clock() if now is None else now
    quota = daily_quota(body, now=at)
    if quota is not None:  # RetryInfo's ~50 s would only hit the same wall again
        return quota.reset_in_ms
    try:
        from_headers = _from_headers(headers or {}, at)
    except (TypeError, ValueError, OverflowError):
        from_headers = None
    return from_headers if from_headers is not None else _from_body(body)
