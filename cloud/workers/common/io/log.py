"""Structured JSON-lines logging on stderr; stdout belongs to the result document alone.

Every line carries `level`, `time`, `event` (the message, under structlog's name) and the
same text again as `msg`: ValueRank's `spawn.ts` (cloud/apps/api/src/queue/spawn.ts)
forwards a stderr line to its own log only when `level` and `msg` are both strings, and
hosts built on structlog's names read `event`, so both are written.

The logger is our own rather than structlog: importing structlog cost every one-shot job
~15-30 ms (greenlet, pickle, its dev console included), a tenth of a small SDK's whole
import, for the few features used here. The lines are what structlog's pipeline wrote:
the logger's bindings, the call's keywords, `event`, the bound context (`bind_job`), then
`level`, `time` (ISO 8601 UTC with `Z`, microseconds unless zero), `exception` (for
`exc_info`) and `msg`, redacted once, rendered so that a line can always be written and
parsed. The order of the context keys within a line follows binding; structlog's followed
the hash order of its context variables, which no reader could rely on.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import math
import sys
import threading
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, TextIO

from common.io import environment
from common.io.redaction import redact_fresh

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}

# The context of the current thread or asyncio task: a task sees what was bound when it
# was created, and what it binds itself stays its own (one variable, an immutable mapping).
_NO_CONTEXT: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("probe_log_context", default=_NO_CONTEXT)


class _Output:
    """Where and from which level lines go: read at each call, so `configure_logging` reaches every logger."""

    def __init__(self) -> None:
        self.threshold = _LEVELS["info"]
        self.stream: TextIO | None = None  # None: the current `sys.stderr` at each line
        self.lock = threading.Lock()  # one line at a time, whole, from any thread
        # Whether a job's progress lines are the host's (one-shot, serve, batch: no level filters
        # them out) or only logs (a Celery worker: its host is the driver, which reads results
        # from Redis; there they are info lines like any other).
        self.progress_is_contract = True


_OUTPUT = _Output()


class Logger:
    """A logger with bound key-value pairs: `log.info("event", key=value)` writes one JSON line.

    `log.info("a %s", x)` formats the event with `%`; `exc_info=` (an exception, or True for
    the one being handled) adds its traceback as `exception`.
    """

    __slots__ = ("_bindings", "_unfiltered")

    def __init__(self, bindings: Mapping[str, Any], *, unfiltered: bool = False) -> None:
        self._bindings = dict(bindings)
        self._unfiltered = unfiltered

    def bind(self, **values: Any) -> Logger:
        """A new logger with these pairs added to every line it writes."""
        return Logger({**self._bindings, **values}, unfiltered=self._unfiltered)

    def debug(self, event: Any, *args: Any, **kw: Any) -> None:
        self._log("debug", event, args, kw)

    def info(self, event: Any, *args: Any, **kw: Any) -> None:
        self._log("info", event, args, kw)

    def warning(self, event: Any, *args: Any, **kw: Any) -> None:
        self._log("warning", event, args, kw)

    def error(self, event: Any, *args: Any, **kw: Any) -> None:
        self._log("error", event, args, kw)

    def exception(self, event: Any, *args: Any, **kw: Any) -> None:
        """An error line with the traceback of the exception being handled."""
        kw.setdefault("exc_info", True)
        self._log("error", event, args, kw)

    def _log(self, level: str, event: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        if not self._unfiltered and _LEVELS[level] < _OUTPUT.threshold:
            return
        line = render_log_line(_event_dict(level, event % args if args else event, self._bindings, kw))
        stream = _OUTPUT.stream or sys.stderr
        with _OUTPUT.lock:
            stream.write(line + "\n")
            stream.flush()


def _event_dict(level: str, event: Any, bindings: Mapping[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The line's pairs, in the order (and with the precedence) structlog's processors gave them."""
    event_dict = {**bindings, **kw, "event": event}
    for key, value in _CONTEXT.get().items():  # the call's own keys win over the context
        event_dict.setdefault(key, value)
    event_dict["level"] = level
    event_dict["time"] = datetime.datetime.now(tz=datetime.UTC).isoformat().replace("+00:00", "Z")
    exc_info = _exc_info(event_dict.pop("exc_info", None))
    if exc_info is not None:
        event_dict["exception"] = _format_exception(exc_info)
    if not isinstance(event_dict.get("msg"), str):  # a host drops a line whose `msg` is not a string
        event_dict["msg"] = event if isinstance(event, str) else str(event)
    try:
        redacted: dict[str, Any] = redact_fresh(event_dict)  # one pass: the environment is read once
    except RecursionError:  # a value that holds itself: redact its JSON-safe copy (cycles cut)
        redacted = redact_fresh(_loggable(event_dict, set()))
    return redacted


def _exc_info(value: Any) -> tuple[type[BaseException], BaseException, Any] | None:
    """An `(type, exception, traceback)` from an exception, such a tuple, or a truthy value (the current one)."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3:
        kind, exc, _ = value
        if isinstance(kind, type) and issubclass(kind, BaseException) and isinstance(exc, BaseException):
            return value
    if value:
        current = sys.exc_info()
        if current[1] is not None:
            return current
    return None


def _format_exception(exc_info: tuple[type[BaseException], BaseException, Any]) -> str:
    import traceback  # only for a line that carries a traceback

    return "".join(traceback.format_exception(*exc_info)).removesuffix("\n")


def render_log_line(event_dict: Mapping[str, Any]) -> str:
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
    if isinstance(value, MutableMapping | Mapping | list | tuple):
        if id(value) in seen:
            return "<cycle>"
        seen = seen | {id(value)}
        if isinstance(value, list | tuple):
            return [_loggable(item, seen) for item in value]
        return {without_lone_surrogates(_as_text(key)): _loggable(item, seen) for key, item in value.items()}
    return without_lone_surrogates(_as_text(value))


def configure_logging(
    level: str | None = None, *, stream: TextIO | None = None, progress_is_contract: bool = True
) -> None:
    """Lines from `level` (default `PROBE_LOG_LEVEL`, else info) on `stream`.

    Without a stream, each line goes to `sys.stderr` as it is at that moment (a test's
    captured stderr, too). `progress_is_contract=False`: a job's progress lines are filtered
    by the level like any info line (`job_progress_logger`).
    """
    chosen = (level or environment.log_level()).lower()
    _OUTPUT.threshold = _LEVELS.get(chosen, _LEVELS["info"])
    _OUTPUT.stream = stream
    _OUTPUT.progress_is_contract = progress_is_contract


def write_logs_to(stream: TextIO) -> None:
    """Sends every later line to `stream` (batch's `--log-file`), at the level already chosen."""
    _OUTPUT.stream = stream


def get_logger(**bindings: Any) -> Logger:
    return Logger(bindings)


def get_progress_logger(**bindings: Any) -> Logger:
    """A logger for `type: "progress"` lines: hosts rely on them, so no level filters them out."""
    return Logger(bindings, unfiltered=True)


def job_progress_logger(**bindings: Any) -> Logger:
    """The logger of a job's per-turn progress lines: unfiltered where they are the host's
    (`get_progress_logger`), an info logger where the process said they are not
    (`configure_logging(progress_is_contract=False)`: the Celery worker, where they were about
    a tenth of a job's CPU and nobody read them)."""
    return Logger(bindings, unfiltered=_OUTPUT.progress_is_contract)


def bind_job(**ids: Any) -> None:
    """Binds job identifiers (runId, scenarioId, ...) to every later log line of this context."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})


def unbind_job(*keys: str) -> None:
    """Takes these identifiers out of this context's later log lines (a worker's job ended)."""
    _CONTEXT.set({k: v for k, v in _CONTEXT.get().items() if k not in keys})


def clear_job() -> None:
    """Forgets every identifier bound in this context (a new job starts)."""
    _CONTEXT.set(_NO_CONTEXT)
