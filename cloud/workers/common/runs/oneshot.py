"""The process contract shared by every worker script.

One JSON job on stdin, exactly one JSON document on stdout, JSON log lines on stderr,
exit code 0 for every handled outcome. Anything else that tries to write to stdout while
a worker runs (an SDK's print, a stray debug line) is sent to stderr instead, so the
host's parser only ever sees the result document.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, NoReturn, TextIO, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from common.contract.probe import ErrorInfo, WorkerFailure
from common.errors.codes import ErrorCode, WorkerError
from common.io.log import bind_job, configure_logging, get_logger
from common.io.redaction import redact

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024


def max_input_bytes(default: int = DEFAULT_MAX_INPUT_BYTES) -> int:
    try:
        return int(os.environ.get("PROBE_MAX_INPUT_BYTES", default))
    except ValueError:
        return default


def read_input(stream: BinaryIO | None, limit: int) -> bytes:
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"the job on stdin is larger than {limit} bytes (set PROBE_MAX_INPUT_BYTES to allow more)",
            details={"field": "(stdin)", "limitBytes": limit},
        )
    return data


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def validation_error(exc: ValidationError) -> WorkerError:
    problems = [
        {"field": _field_path(tuple(err["loc"])), "problem": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return WorkerError(
        ErrorCode.VALIDATION_ERROR,
        f"invalid job: {summary}{more}",
        details={"field": problems[0]["field"] if problems else None, "problems": problems},
    )


_JSON_TYPE_NAMES: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}

# Job fields that identify a job in every log line (the host's ids), when a job has them.
_JOB_ID_FIELDS = ("runId", "scenarioId", "modelId", "jobId")


def _bind_job_ids(job: dict[str, Any]) -> None:
    """Puts the job's ids on every later log line, including the final `job failed` line."""
    bind_job(**{name: job[name] for name in _JOB_ID_FIELDS if isinstance(job.get(name), str)})


def parse_document(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """Decodes stdin into a JSON object, naming what is wrong when it is not one."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"stdin is not valid UTF-8 (byte {exc.start}): send the job as UTF-8 JSON",
            details={"field": "(stdin)", "byteOffset": exc.start},
        ) from None
    if not text.strip():
        if allow_empty:
            return {}
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            "stdin is empty: send one JSON job document on stdin",
            details={"field": "(stdin)"},
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"stdin is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            details={"field": "(stdin)", "line": exc.lineno, "column": exc.colno},
        ) from None
    if not isinstance(document, dict):
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"the job must be a JSON object, not a JSON {_JSON_TYPE_NAMES.get(type(document), 'value')}",
            details={"field": "(document)"},
        )
    return document


def validate_job(document: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from None


def failure(error: WorkerError) -> WorkerFailure:
    return WorkerFailure(
        error=ErrorInfo(
            message=error.message,
            code=error.code,
            retryable=error.retryable,
            details=error.details,
            status_code=error.status_code,
            retry_after_ms=error.retry_after_ms,
        )
    )


def render(document: BaseModel | dict[str, Any]) -> str:
    data = document.model_dump(mode="json", by_alias=True) if isinstance(document, BaseModel) else document
    return json.dumps(redact(data), ensure_ascii=False, separators=(",", ":"))


async def _run_cancellable(coro: Awaitable[BaseModel]) -> BaseModel:
    """Runs the job; SIGTERM or SIGINT cancels it, and the job answers CANCELLED with what it has."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, task.cancel)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            pass
    try:
        return await task
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_worker(
    name: str,
    handle: Callable[[dict[str, Any]], Awaitable[BaseModel]],
    *,
    allow_empty_input: bool = False,
    max_input_default: int = DEFAULT_MAX_INPUT_BYTES,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Reads the job, runs `handle`, prints exactly one document, returns the exit code (0)."""
    configure_logging()
    structlog.contextvars.clear_contextvars()  # no ids left over from an earlier job in this process
    log = get_logger(worker=name)
    original_stdout = sys.stdout
    out = stdout or sys.stdout
    source = stdin if stdin is not None else (sys.stdin.buffer if sys.stdin is not None else None)
    sys.stdout = sys.stderr  # from here on, only `out` reaches the real stdout
    document: BaseModel
    try:
        raw = read_input(source, max_input_bytes(max_input_default))
        job = parse_document(raw, allow_empty=allow_empty_input)
        _bind_job_ids(job)
        document = asyncio.run(_run_cancellable(handle(job)))
    except WorkerError as error:
        log.warning("job failed", code=error.code.value, message=error.message)
        document = failure(error)
    except (asyncio.CancelledError, KeyboardInterrupt):
        document = failure(WorkerError(ErrorCode.CANCELLED, "the worker was asked to stop"))
    except Exception as exc:
        log.error("unexpected error", exc_info=exc)
        document = failure(
            WorkerError(
                ErrorCode.UNKNOWN,
                f"unexpected {type(exc).__name__}: {exc}",
                details={"exception": type(exc).__name__, "trace": traceback.format_exception_only(exc)[-1].strip()},
            )
        )
    finally:
        sys.stdout = original_stdout
    out.write(render(document) + "\n")
    out.flush()
    return 0


def freeze_heap() -> None:
    """Takes every object alive now out of the cyclic garbage collector's sight (`gc.freeze()`).

    For a one-shot script, at two moments. After its start-up imports: modules, classes
    and pydantic schemas live until exit anyway, yet each full collection during the job
    would walk them all again (~20-40 ms of a job). After its document is written: the
    interpreter's shutdown collections would walk everything once more, SDK included
    (0.1-0.4 s). Garbage cycles alive at that moment are left for the OS to reclaim, so
    never call it from a long-lived process (serve, batch) or from library code.
    """
    gc.freeze()


def exit_process(status: int) -> NoReturn:
    """Ends a one-shot script once its document is written, without the shutdown collections.

    atexit handlers, stream flushing and module teardown still run as usual.
    """
    freeze_heap()
    sys.exit(status)
