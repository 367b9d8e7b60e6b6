"""One job per process: the process contract shared by every worker script.

One JSON job on stdin, exactly one JSON document on stdout, JSON log lines on stderr,
exit code 0 for every handled outcome. Anything else that tries to write to stdout while
a worker runs (an SDK's print, a stray debug line) is sent to stderr instead, so the
host's parser only ever sees the result document.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Coroutine
from typing import Any, BinaryIO, NoReturn, TextIO, TypeVar

import structlog
from pydantic import BaseModel

from common.io.json_input import STDIN, decode_object, max_input_bytes, read_limited
from common.io.log import configure_logging
from common.io.render import render
from common.runs.run_path import Worker, bind_job_ids, failure_for, run_once

J = TypeVar("J")


async def _run_cancellable(coro: Coroutine[Any, Any, BaseModel]) -> BaseModel:
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
    worker: Worker[J],
    *,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Reads the job, runs it, prints exactly one document, returns the exit code (0)."""
    configure_logging()
    structlog.contextvars.clear_contextvars()  # no ids left over from an earlier job in this process
    structlog.contextvars.bind_contextvars(worker=worker.name)
    original_stdout = sys.stdout
    out = stdout or sys.stdout
    source = stdin if stdin is not None else (sys.stdin.buffer if sys.stdin is not None else None)
    sys.stdout = sys.stderr  # from here on, only `out` reaches the real stdout
    document: BaseModel
    try:
        raw = read_limited(source, max_input_bytes(worker.max_input_bytes))
        job = decode_object(raw, STDIN, allow_empty=worker.allow_empty_input)
        bind_job_ids(job)
        document = asyncio.run(_run_cancellable(run_once(worker, job)))
    except (Exception, asyncio.CancelledError, KeyboardInterrupt) as exc:
        document = failure_for(exc)
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
