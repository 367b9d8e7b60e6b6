"""One job per process: the process contract shared by every worker script.

One JSON job on stdin, exactly one JSON document on stdout, JSON log lines on stderr,
exit code 0 for every handled outcome. Anything else that tries to write to stdout while
a worker runs (an SDK's print, a stray debug line) is sent to stderr instead, so the
host's parser only ever sees the result document.

A SIGTERM or SIGINT at any moment after the entry script's first statement
(`process_start.begin()`) is answered CANCELLED in one document with exit code 0:
recorded during the imports, it stops the job before it reads stdin; while waiting for
stdin, it ends the wait; while the job runs, it cancels it (the conversation answers with
its partial transcript); afterwards, it is ignored (the job's own document is printed).
A synchronous worker's job (`Worker.synchronous`: analysis) runs without an event loop or
asyncio: a signal while it runs is recorded and the job's document printed, as the loop,
which only acts between steps of a job that never yields, would do too.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO, TypeVar

from pydantic import BaseModel

from common.io.json_input import STDIN, decode_object, max_input_bytes, read_limited
from common.io.log import bind_job, clear_job, configure_logging, get_logger
from common.io.render import render
from common.runs import process_start
from common.runs.run_path import Worker, bind_job_ids, failure_for, is_cancellation, run_once, run_parsed_once

if TYPE_CHECKING:
    import asyncio

J = TypeVar("J")


def _run(worker: Worker[Any], coro: Coroutine[Any, Any, BaseModel]) -> BaseModel:
    """The job's document: on an event loop, or for a synchronous worker without one."""
    if not worker.synchronous:
        import asyncio

        return asyncio.run(_run_cancellable(coro))
    return _run_to_end(coro)


def _run_to_end(coro: Coroutine[Any, Any, BaseModel]) -> BaseModel:
    """A job that never waits, stepped to its end (`Worker.synchronous`).

    What the loop would do for it: a signal that came before it starts cancels it
    (CANCELLED); one during it is recorded and ignored, as the loop could only act on it
    once the job, which never yields, had already finished.
    """
    if process_start.received() is not None:
        coro.close()
        return failure_for(KeyboardInterrupt())
    try:
        coro.send(None)
    except StopIteration as finished:
        document: BaseModel = finished.value
        return document
    coro.close()
    raise RuntimeError("a synchronous worker's job waited for something: it needs an event loop")


async def _run_cancellable(coro: Coroutine[Any, Any, BaseModel]) -> BaseModel:
    """Runs the job; SIGTERM or SIGINT cancels it, and the job answers CANCELLED with what it has."""
    import asyncio

    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in process_start.SIGNALS:
        try:
            loop.add_signal_handler(sig, task.cancel)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            pass
    if process_start.received() is not None:  # came before the loop's handlers: stop at once
        task.cancel()
    try:
        return await task
    finally:
        _restore_handlers(loop, installed)


def _restore_handlers(loop: asyncio.AbstractEventLoop, installed: list[signal.Signals]) -> None:
    """Hands the signals back from the loop: to the recording handler when the script catches them.

    The signals are blocked meanwhile, so none can meet Python's default (which would kill
    the process before it prints its document); one that came is delivered just after.
    """
    if not installed:
        return
    if not process_start.caught():
        for sig in installed:
            loop.remove_signal_handler(sig)
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, installed)
    try:
        for sig in installed:
            loop.remove_signal_handler(sig)
        process_start.catch()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, installed)


def run_worker(
    worker: Worker[J],
    *,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Reads the job, runs it, prints exactly one document, returns the exit code (0)."""
    configure_logging()
    clear_job()  # no ids left over from an earlier job in this process
    bind_job(worker=worker.name)
    original_stdout = sys.stdout
    out = stdout or sys.stdout
    source = stdin if stdin is not None else (sys.stdin.buffer if sys.stdin is not None else None)
    sys.stdout = sys.stderr  # from here on, only `out` reaches the real stdout
    started = process_start.started()  # the deadline counts from the script's start
    document: BaseModel
    try:
        with process_start.interrupting():  # a signal ends the wait for a host that has not written yet
            raw = read_limited(source, max_input_bytes(worker.max_input_bytes))
        if worker.parse_bytes is not None:
            parsed = worker.parse_bytes(raw)
            del raw  # a large job's bytes are not kept alive while it runs
            document = _run(worker, run_parsed_once(worker, parsed, started=started))
        else:
            job = decode_object(raw, STDIN, allow_empty=worker.allow_empty_input)
            bind_job_ids(job)
            document = _run(worker, run_once(worker, job, started=started))
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt) and not is_cancellation(exc):
            raise
        if isinstance(exc, process_start.Stopped):
            get_logger().info("stopped by a signal before the job ran", signal=exc.args[0])
        document = failure_for(exc)
    finally:
        sys.stdout = original_stdout
    text = (worker.render or render)(document)
    out.write(text)  # not `text + "\n"`: a 17 MB analysis document would be copied once more
    out.write("\n")
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

    atexit handlers, stream flushing and module teardown still run as usual, except while a
    provider's SDK is still being imported on a background thread (the job was cancelled
    while it loaded): the streams are flushed and the process ends at once, rather than
    wait seconds for an import nobody needs or tear modules down under it.
    """
    freeze_heap()
    registry = sys.modules.get("common.providers.registry")  # never imported: no imports under way
    if registry is not None and registry.imports_in_progress():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)
