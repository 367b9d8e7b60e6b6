"""Structured JSON-lines logging on stderr; stdout belongs to the result document alone.

Every line carries `level`, `time`, `event` (structlog's name for the message) and the
same text again as `msg`: ValueRank's `spawn.ts` (cloud/apps/api/src/queue/spawn.ts)
forwards a stderr line to its own log only when `level` and `msg` are both strings, and
hosts built on structlog's names read `event`, so both are written.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from common.io import environment
from common.io.redaction import redact_fresh

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _add_msg(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`msg` beside `event`, always a string (a host drops a line whose `msg` is not one)."""
    if not isinstance(event_dict.get("msg"), str):
        event = event_dict.get("event")
        event_dict["msg"] = event if isinstance(event, str) else str(event)
    return event_dict


def _redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    redacted: MutableMapping[str, Any] = redact_fresh(dict(event_dict))  # one pass: the environment is read once
    return redacted


def render_log_line(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> str:
    """The event as one JSON line that can always be written and always parsed.

    A log line must never take the worker down: a lone UTF-16 surrogate (an answer cut
    mid-emoji), a NaN, a key that is not a string or an object whose `str` raises would
    otherwise raise here, or print a line `JSON.parse` rejects. The fast path is plain
    `json.dumps` (ASCII output: writable to any stderr); only a line that failed, or that
    holds a `\\ud` escape (a surrogate, lone or paired), is built again from a cleaned copy,
    with lone surrogates as U+FFFD and non-finite numbers as the strings "NaN"/"Infinity".
    """
    try:
        line = json.dumps(event_dict, default=_as_text, allow_nan=False)
        if "\\ud" not in line:
            return line
    except Exception:  # whatever it was, the line is rebuilt from a cleaned copy
        pass
    try:
        return json.dumps(_loggable(event_dict, set()), allow_nan=False)
    except Exception as exc:  # the last resort must not raise either
        failed = "a log line could not be rendered"
        return json.dumps({"level": "error", "event": failed, "msg": failed, "error": type(exc).__name__})


def _as_text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # an object whose __str__ raises still gets a line
        return f"<unprintable {type(value).__name__}>"


def _loggable(value: Any, seen: set[int]) -> Any:
    """A JSON-safe copy of a log value (only built for the rare line the fast path refused)."""
    from common.io.render import without_lone_surrogates

    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, MutableMapping | dict | list | tuple):
        if id(value) in seen:
            return "<cycle>"
        seen = seen | {id(value)}
        if isinstance(value, list | tuple):
            return [_loggable(item, seen) for item in value]
        return {without_lone_surrogates(_as_text(key)): _loggable(item, seen) for key, item in value.items()}
    return without_lone_surrogates(_as_text(value))


def configure_logging(level: str | None = None) -> None:
    """JSON lines with `level`, `time`, `event`, `msg` on stderr; `PROBE_LOG_LEVEL` sets the level."""
    chosen = (level or environment.log_level()).lower()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            _add_msg,
            _redact_event,
            render_log_line,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(chosen, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bindings: Any) -> Any:
    return structlog.get_logger().bind(**bindings)


def bind_job(**ids: Any) -> None:
    """Binds job identifiers (runId, scenarioId, ...) to every later log line of this context."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def get_progress_logger(**bindings: Any) -> Any:
    """A logger for `type: "progress"` lines: hosts rely on them, so no level filters them out."""
    unfiltered = structlog.make_filtering_bound_logger(logging.DEBUG)
    return structlog.wrap_logger(None, wrapper_class=unfiltered).bind(**bindings)
