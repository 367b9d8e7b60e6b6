"""Serve mode: one warm process runs many probe jobs, so start-up is paid once.

    python3 cloud/workers/probe.py --serve [--concurrency N]

Job lines on stdin (`common.runs.lines`: a probe job plus an `id`); one result line per
finished job on stdout, `{"id", "result"}`, where `result` is exactly what one-shot mode
prints (the same run path: `common.runs.run_path`). Up to N jobs run at once on one asyncio
loop; SDK clients (and their connection pools) are shared by jobs with the same provider,
base URL and key through the server's `ProviderPool`, and closed when serving ends.
Logs stay on stderr, each line of a job tagged with its `jobId`.

- stdin EOF: the jobs in flight finish, then the process exits 0.
- SIGTERM or SIGINT: every job in flight stops waiting on its provider and answers
  CANCELLED with its partial transcript; lines read but not yet started answer CANCELLED
  too; then the process exits 0.
- A line that cannot run (not JSON, no id, an invalid job) answers VALIDATION_ERROR with
  its id when one can be read, and serving goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

from common.contract.probe import WorkerFailure
from common.errors.codes import cancelled_error
from common.io.json_input import line_source, max_input_bytes, too_large
from common.io.log import configure_logging, get_logger
from common.providers.pool import ProviderPool
from common.runs import event_loop
from common.runs.lines import JobId, JobLineError, leading_id, parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_job

DEFAULT_CONCURRENCY = 8
_READ_CHUNK = 1 << 16
_ID_SCAN_BYTES = 4096  # an oversize line keeps this much of its start, to answer with its id


@dataclass(frozen=True)
class RawLine:
    number: int
    data: bytes  # the whole line, or only its start when it is oversize
    oversize: bool = False


class _Eof:
    pass


EOF = _Eof()
QueueItem = RawLine | _Eof


class LineReader(threading.Thread):
    """Reads stdin on its own thread, so pipes, files and terminals all work the same.

    It uses `os.read` on the descriptor (no Python buffer lock is ever held by this
    daemon thread, so the process can exit while it waits) and hands complete lines to
    the loop through a bounded queue, which makes a fast sender wait instead of filling
    memory. A line longer than the input limit is reported, and its bytes are dropped.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[QueueItem], limit: int) -> None:
        super().__init__(name="stdin-reader", daemon=True)
        self.fd = fd
        self.loop = loop
        self.queue = queue
        self.limit = limit

    def _emit(self, item: QueueItem) -> bool:
        try:
            asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()
        except (RuntimeError, asyncio.CancelledError):  # the loop is gone: the process is exiting
            return False
        return True

    def run(self) -> None:
        pending = b""
        number = 0
        dropping = False  # inside an oversize line, until its newline
        while True:
            try:
                chunk = os.read(self.fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            for data in complete:
                number += 1
                if dropping:
                    dropping = False
                    continue
                if len(data) > self.limit:
                    if not self._emit(RawLine(number, data[:_ID_SCAN_BYTES], oversize=True)):
                        return
                elif data.strip() and not self._emit(RawLine(number, data)):
                    return
            if len(pending) > self.limit and not dropping:
                dropping = True
                head, pending = pending[:_ID_SCAN_BYTES], b""
                if not self._emit(RawLine(number + 1, head, oversize=True)):
                    return
            elif dropping:
                pending = b""
        if pending.strip() and not dropping:
            number += 1
            if not self._emit(RawLine(number, pending)):
                return
        self._emit(EOF)


class Server:
    """The loop of serve mode: dispatch lines to bounded concurrent jobs, write results."""

    def __init__(self, concurrency: int, out: TextIO, *, stdin_fd: int, limit: int) -> None:
        self.concurrency = concurrency
        self.out = out
        self.stdin_fd = stdin_fd
        self.limit = limit
        self.log = get_logger(worker="probe", mode="serve")
        self.in_flight: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.output_lost = False
        self.pool = ProviderPool()  # SDK clients shared by this process's jobs, closed when serving ends

    def write(self, line: str) -> None:
        if self.output_lost:
            return
        try:
            self.out.write(line)
            self.out.flush()
        except OSError as exc:  # the host closed our stdout: nobody can receive results any more
            self.output_lost = True
            self.log.error("stdout is closed; stopping", error=str(exc))
            self.stop()

    def accept(self, line: RawLine) -> tuple[JobId, dict[str, Any]] | None:
        """The line's id and job, or None once the line's VALIDATION_ERROR answer is written."""
        if line.oversize:
            error = too_large(line_source(line.number), self.limit)
            self.write(render_result_line(leading_id(line.data), WorkerFailure.from_error(error)))
            return None
        try:
            return parse_job_line(line.data, line.number)
        except JobLineError as bad:
            self.log.warning("bad job line", line=line.number, jobId=bad.job_id, message=bad.error.message)
            self.write(render_result_line(bad.job_id, WorkerFailure.from_error(bad.error)))
            return None

    async def run_line(self, line: RawLine) -> None:
        accepted = self.accept(line)
        if accepted is None:
            return
        job_id, document = accepted
        structlog.contextvars.bind_contextvars(jobId=job_id)  # this task's log lines only
        result = await run_job(PROBE, document, self.pool)
        self.write(render_result_line(job_id, result))

    def answer_unstarted(self, line: RawLine) -> None:
        """A line read but never started when the server stops: CANCELLED (or why it could not run)."""
        accepted = self.accept(line)
        if accepted is not None:
            self.write(render_result_line(accepted[0], WorkerFailure.from_error(cancelled_error())))

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.log.info("stopping", inFlight=len(self.in_flight))
        for task in list(self.in_flight):
            task.cancel()  # ProbeRunner answers CANCELLED with the turns it has

    async def dispatch(self, queue: asyncio.Queue[QueueItem], slots: asyncio.Semaphore) -> None:
        held: RawLine | None = None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Eof):
                    self.log.info("stdin closed; finishing jobs in flight", inFlight=len(self.in_flight))
                    return
                held = item
                await slots.acquire()
                held = None
                task = asyncio.create_task(self.run_line(item), name=f"line-{item.number}")
                self.in_flight.add(task)
                task.add_done_callback(self._finished(slots))
        except asyncio.CancelledError:
            unstarted = [held] if held is not None else []
            while not queue.empty():
                queued = queue.get_nowait()
                if isinstance(queued, RawLine):
                    unstarted.append(queued)
            for line in unstarted:
                self.answer_unstarted(line)

    def _finished(self, slots: asyncio.Semaphore) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self.in_flight.discard(task)
            slots.release()
            if not task.cancelled() and task.exception() is not None:
                self.log.error("job task crashed", exc_info=task.exception())

        return done

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=self.concurrency)
        slots = asyncio.Semaphore(self.concurrency)
        dispatcher = asyncio.create_task(self.dispatch(queue, slots), name="dispatcher")

        def on_signal() -> None:
            dispatcher.cancel()
            self.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal)
        LineReader(self.stdin_fd, loop, queue, self.limit).start()
        self.log.info("serving", concurrency=self.concurrency, pid=os.getpid())
        await dispatcher
        while self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        await self.pool.aclose()
        self.log.info("served", stopped=self.stopping)
        return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="probe.py",
        description="Probe worker. Without arguments: one job on stdin, one document on stdout. "
        "With --serve: JSON-lines jobs (each with an id) on stdin, one result line per job on stdout.",
    )
    parser.add_argument("--serve", action="store_true", help="stay alive and run JSON-lines jobs from stdin")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"jobs run at once in serve mode (default {DEFAULT_CONCURRENCY})",
    )
    args = parser.parse_args(argv)
    if not args.serve:
        parser.error("--concurrency needs --serve")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def run_server(concurrency: int = DEFAULT_CONCURRENCY) -> int:
    """Serves until stdin closes or a signal arrives; returns the exit code (0)."""
    configure_logging()
    out = sys.stdout
    sys.stdout = sys.stderr  # from here on, only result lines reach the real stdout
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else os.open(os.devnull, os.O_RDONLY)
    server = Server(concurrency, out, stdin_fd=stdin_fd, limit=max_input_bytes())
    try:
        return event_loop.run(server.serve())
    finally:
        sys.stdout = out
        if server.output_lost:  # keep the interpreter's final flush from failing on a dead pipe
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return run_server(args.concurrency)
