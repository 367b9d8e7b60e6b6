"""Structured JSON-lines logging on stderr; stdout belongs to the result document alone."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from common.io import environment
from common.io.redaction import redact

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    redacted: MutableMapping[str, Any] = redact(dict(event_dict))  # one pass: the environment is read once
    return redacted


def configure_logging(level: str | None = None) -> None:
    """JSON lines with `level`, `time`, `event` on stderr; `PROBE_LOG_LEVEL` sets the level."""
    chosen = (level or environment.log_level()).lower()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            _redact_event,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
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
