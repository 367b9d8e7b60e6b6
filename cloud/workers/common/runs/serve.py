"""Serve mode: one warm process runs many probe jobs, so start-up is paid once.

    python3 cloud/workers/probe.py --serve [--concurrency N] [--redis URL [--rpm openai=500 ...]]

Job lines on stdin (`common.runs.lines`: a probe job plus an `id`); one result line per
finished job on stdout, `{"id", "result"}`, where `result` is exactly what one-shot mode
prints (the same run path: `common.runs.run_path`). Up to N jobs run at once on one asyncio
loop; SDK clients (and their connection pools) are shared by jobs with the same provider,
base URL and key through the server's `ProviderPool`, and closed when serving ends.
Logs stay on stderr, each line of a job tagged with its `jobId`.

- stdin EOF: the jobs in flight finish, then the process exits 0.
- SIGTERM or SIGINT: every job in flight stops waiting on its provider and answers
  CANCELLED with its partial transcript. Every other line read answers exactly once too,
  wherever it was (waiting for a slot, queued, in the reader's hands): CANCELLED, or
  VALIDATION_ERROR with its id if it could never have run. What the host had already
  written into the pipe is read and answered the same way, so every complete line written
  before the signal gets its answer; then the process exits 0.
- A line that cannot run (not JSON, no id, an invalid job) answers VALIDATION_ERROR with
  its id when one can be read, and serving goes on.
- With a Redis URL (`--redis` or `PROBE_REDIS_URL`), every job is admitted through the
  shared rate limit before its first request (`common.runs.distributed.serve_limit`), so
  several serve processes using one key stop fighting; without one, nothing of that
  package is imported and a job runs as above.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import fcntl
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import BaseModel

from common.contract.probe import ProbeSuccess, Transcript, WorkerFailure
from common.errors.codes import cancelled_error
from common.io import environment
from common.io.json_input import line_source, max_input_bytes, too_large
from common.io.log import bind_job, configure_logging, get_logger
from common.providers.pool import ProviderPool
from common.runs import event_loop, process_start
from common.runs.lines import JobId, JobLineError, leading_id, parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.run_path import failure_for, parse_job, run_job

if TYPE_CHECKING:
    from common.runs.distributed.serve_limit import ServeLimit

DEFAULT_CONCURRENCY = 8
_READ_CHUNK = 1 << 16
_ID_SCAN_BYTES = 4096  # an oversize line keeps this much of its start, to answer with its id
# When serving stops, what the host already wrote into the pipe is read and answered, up to
# this much (a host that keeps writing after the signal cannot keep the process alive).
_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
# How long a stopping server waits for the reader to hand over its last lines; only a stdin
# that cannot be polled (none a host uses) would make it wait that long.
_DRAIN_GRACE_S = 5.0


@dataclass(frozen=True)
class RawLine:
    number: int
    data: bytes  # the whole line, or only its start when it is oversize
    oversize: bool = False
    cut: bool = False  # serving stopped before the line's newline arrived
    read_at: float = 0.0  # monotonic; the job's deadline counts from here (the host is already waiting)


@dataclass
class Running:
    """A line being run by its own task; `answered` once its result line is written."""

    line: RawLine
    answered: bool = field(default=False)


class _Eof:
    pass


EOF = _Eof()
QueueItem = RawLine | _Eof


class LineSplitter:
    """Bytes read from stdin -> complete lines, with the input limit applied (both readers use it).

    A line longer than the limit is reported (`oversize`, only its start kept, to answer with
    its id) and the rest of its bytes are dropped up to its newline.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = b""
        self.number = 0
        self.dropping = False  # inside an oversize line, until its newline

    def feed(self, chunk: bytes, read_at: float) -> list[RawLine]:
        lines: list[RawLine] = []
        *complete, self.pending = (self.pending + chunk).split(b"\n")
        for data in complete:
            self.number += 1
            if self.dropping:
                self.dropping = False
                continue
            if len(data) > self.limit:
                lines.append(RawLine(self.number, data[:_ID_SCAN_BYTES], oversize=True))
            elif data.strip():
                lines.append(RawLine(self.number, data, read_at=read_at))
        if len(self.pending) > self.limit and not self.dropping:
            self.dropping = True
            head, self.pending = self.pending[:_ID_SCAN_BYTES], b""
            lines.append(RawLine(self.number + 1, head, oversize=True))
        elif self.dropping:
            self.pending = b""
        return lines

    def last(self, cut: bool) -> RawLine | None:
        """At EOF a last line needs no newline; when stopping (`cut`), its rest may still be on its way."""
        if not self.pending.strip() or self.dropping:
            return None
        self.number += 1
        return RawLine(self.number, self.pending, cut=cut, read_at=time.monotonic())


class LoopLineReader:
    """Reads stdin on the event loop itself (pipes, sockets and files): no thread, no hand-off per line.

    The descriptor is made non-blocking and read with `os.read` until it has nothing more;
    only then does the reader wait, through the loop's own poller (`add_reader`), for the next
    bytes. A regular file is always readable and is read directly. Lines go to the loop's
    bounded queue: while the queue is full the reader reads nothing, so a fast sender waits
    (the pipe fills) instead of filling memory.

    `stop()` (serving stops) ends the wait for input: the reader then hands over every line
    it holds, reads what the pipe already holds without waiting for more, hands over a last
    line cut short (`cut`), and ends with EOF, so every line read is answered.
    """

    def __init__(self, fd: int, queue: asyncio.Queue[QueueItem], limit: int, *, pollable: bool) -> None:
        self.fd = fd
        self.queue = queue
        self.splitter = LineSplitter(limit)
        self.pollable = pollable  # False: a regular file, which never has to be waited for
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[None] | None = None
        self._flags: int | None = None

    def start(self) -> None:
        if self.pollable:
            self._flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, self._flags | os.O_NONBLOCK)
        self.task = asyncio.get_running_loop().create_task(self._run(), name="stdin-reader")

    def stop(self) -> None:
        """Called on the loop when serving stops; the reader finishes with EOF soon after."""
        self.stopping = True
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)

    async def finish(self, timeout_s: float) -> None:
        """Waits for the reader to end (it has handed over EOF), then gives stdin its flags back."""
        if self.task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.task), timeout_s)
            if not self.task.done():
                self.task.cancel()  # nobody takes its lines any more
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
        if self._flags is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.fd, fcntl.F_SETFL, self._flags)
            self._flags = None

    async def _readable(self) -> None:
        """Waits until stdin has bytes, EOF or an error, or serving stops."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting = loop.create_future()

        def ready() -> None:
            if not waiting.done():
                waiting.set_result(None)

        loop.add_reader(self.fd, ready)
        try:
            await waiting
        finally:
            loop.remove_reader(self.fd)
            self._waiting = None

    def _read(self) -> bytes | None:
        """The next bytes (b"" at EOF), or None when a pipe has none right now."""
        try:
            return os.read(self.fd, _READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    async def _run(self) -> None:
        drained = 0  # bytes read after serving began to stop
        while True:
            if self.stopping and drained >= _DRAIN_LIMIT_BYTES:
                break
            chunk = self._read()
            if chunk is None:
                if self.stopping:
                    break  # stopping, and the pipe holds nothing more
                await self._readable()
                continue
            if not chunk:
                break
            if self.stopping:
                drained += len(chunk)
            for line in self.splitter.feed(chunk, time.monotonic()):
                await self.queue.put(line)
        last = self.splitter.last(cut=self.stopping)
        if last is not None:
            await self.queue.put(last)
        await self.queue.put(EOF)


class LineReader(threading.Thread):
    """Reads stdin on its own thread: the fallback for a terminal or a device the loop cannot poll.

    It uses `os.read` on the descriptor (no Python buffer lock is ever held by this
    daemon thread, so the process can exit while it waits) and hands complete lines to
    the loop through the bounded queue, so a fast sender waits instead of filling memory.
    `stop()` behaves as `LoopLineReader.stop()` does, woken through a pipe of its own.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[QueueItem], limit: int) -> None:
        super().__init__(name="stdin-reader", daemon=True)
        self.fd = fd
        self.loop = loop
        self.queue = queue
        self.splitter = LineSplitter(limit)
        self.stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()

    def stop(self) -> None:
        """Called on the loop when serving stops; the reader finishes with EOF soon after."""
        if not self.stopping.is_set():
            self.stopping.set()
            with contextlib.suppress(OSError):
                os.write(self._wake_write, b"!")

    async def finish(self, timeout_s: float) -> None:
        """Waits for the thread to end, then releases the wake-up pipe (kept if it never ends)."""
        self.join(timeout_s)  # it has handed over EOF already, unless its stdin cannot be woken from
        if not self.is_alive():
            for fd in (self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _readable(self, drained: int) -> bool:
        """Waits until stdin has bytes (or EOF); once stopping, only says whether it has them now."""
        if self.stopping.is_set():
            if drained >= _DRAIN_LIMIT_BYTES:
                return False
            try:
                ready, _, _ = select.select([self.fd], [], [], 0)
            except (OSError, ValueError):  # not pollable: read no further
                return False
            return bool(ready)
        try:
            ready, _, _ = select.select([self.fd, self._wake_read], [], [])
        except (OSError, ValueError):  # a descriptor select cannot watch: block in os.read as before
            return True
        return self.fd in ready or self._readable(drained)

    def _emit(self, item: QueueItem) -> bool:
        try:
            asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()
        except (RuntimeError, asyncio.CancelledError):  # the loop is gone: the process is exiting
            return False
        return True

    def run(self) -> None:
        drained = 0  # bytes read after serving began to stop
        while True:
            if not self._readable(drained):
                break  # stopping, and the pipe holds nothing more
            try:
                chunk = os.read(self.fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if self.stopping.is_set():
                drained += len(chunk)
            for line in self.splitter.feed(chunk, time.monotonic()):
                if not self._emit(line):
                    return
        last = self.splitter.last(cut=self.stopping.is_set())
        if last is not None and not self._emit(last):
            return
        self._emit(EOF)


def stdin_reader(
    fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[QueueItem], limit: int, out_fd: int | None
) -> LoopLineReader | LineReader:
    """The loop's own reader for a pipe, socket or file; the thread for anything else (a terminal).

    A descriptor that is also stdout (one socket for both) keeps the thread: making it
    non-blocking would make the result writes fail whenever the host reads slowly.
    """
    try:
        info = os.fstat(fd)
        same_as_out = out_fd is not None and os.path.samestat(info, os.fstat(out_fd))
    except OSError:
        return LineReader(fd, loop, queue, limit)
    if same_as_out:
        return LineReader(fd, loop, queue, limit)
    if stat.S_ISREG(info.st_mode):
        return LoopLineReader(fd, queue, limit, pollable=False)
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        return LoopLineReader(fd, queue, limit, pollable=True)
    return LineReader(fd, loop, queue, limit)


# A result whose answer and prompt text is larger than this is rendered (JSON-encoded and
# redacted) on a worker thread, so unrelated jobs keep running while it is written. Smaller
# results, nearly all of them, are rendered on the loop: a thread hop per job would cost more
# than the rendering itself.
RENDER_OFF_LOOP_CHARS = 256 * 1024


def text_chars(result: BaseModel) -> int:
    """The characters of answer and prompt text a result carries: what rendering it costs."""
    if isinstance(result, ProbeSuccess):
        transcript: Transcript | None = result.transcript
    elif isinstance(result, WorkerFailure):
        transcript = result.partial_transcript
    else:
        return 0
    if transcript is None:
        return 0
    return sum(len(turn.target_response) + len(turn.probe_prompt) for turn in transcript.turns)


class Server:
    """The loop of serve mode: dispatch lines to bounded concurrent jobs, write results."""

    def __init__(
        self, concurrency: int, out: TextIO, *, stdin_fd: int, limit: int, shared_limit: ServeLimit | None = None
    ) -> None:
        self.concurrency = concurrency
        self.shared_limit = shared_limit  # None: no shared rate limit, the job runs at once
        self.out = out
        self.stdin_fd = stdin_fd
        self.limit = limit
        self.log = get_logger(worker="probe", mode="serve")
        self.in_flight: dict[asyncio.Task[None], Running] = {}
        self.stopping = False
        self.output_lost = False
        self.pool = ProviderPool.warm()  # SDK clients shared by this process's jobs, closed when serving ends
        self.dispatcher: asyncio.Task[None] | None = None
        self.reader: LoopLineReader | LineReader | None = None

    def out_fd(self) -> int | None:
        try:
            return self.out.fileno()
        except (OSError, ValueError):  # not a real file (a test's buffer)
            return None

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

    async def run_line(self, running: Running) -> None:
        line = running.line
        accepted = self.accept(line)
        if accepted is None:
            running.answered = True  # accept wrote why the line cannot run
            return
        job_id, document = accepted
        bind_job(jobId=job_id)  # this task's log lines only
        if self.shared_limit is None:
            result = await run_job(PROBE, document, self.pool, started=line.read_at or None)
        else:
            result = await self.shared_limit.run_job(document, self.pool, started=line.read_at or None)
        if text_chars(result) <= RENDER_OFF_LOOP_CHARS:
            rendered = render_result_line(job_id, result)
        else:
            rendering = asyncio.ensure_future(asyncio.to_thread(render_result_line, job_id, result))
            try:
                rendered = await asyncio.shield(rendering)
            except asyncio.CancelledError:  # serving stops while a finished job is written: keep its answer
                rendered = await rendering
        self.write(rendered)
        running.answered = True

    def answer_unstarted(self, line: RawLine) -> None:
        """A line read but never started when the server stops: CANCELLED, or why it could never run."""
        if line.cut:
            self.answer_cut(line)
            return
        accepted = self.accept(line)
        if accepted is None:
            return
        job_id, document = accepted
        # An invalid job says so (sending it again would not help); its log lines name it, not the dispatcher's.
        parsed = contextvars.copy_context().run(parse_job, PROBE, document)
        failure = parsed if isinstance(parsed, WorkerFailure) else WorkerFailure.from_error(cancelled_error())
        self.write(render_result_line(job_id, failure))

    def answer_cut(self, line: RawLine) -> None:
        """The start of a line whose end had not arrived when serving stopped: CANCELLED, by its id.

        It is not an invalid job (its rest was on its way), so the host may send it again.
        """
        try:
            job_id: JobId | None = parse_job_line(line.data, line.number)[0]
        except JobLineError:
            job_id = leading_id(line.data)
        if job_id is None:
            self.log.warning("the start of a line without a readable id was dropped on stopping", line=line.number)
            return
        self.write(render_result_line(job_id, WorkerFailure.from_error(cancelled_error())))

    def stop(self) -> None:
        """Stops serving: jobs in flight are cancelled, every line read is answered, then serve() returns."""
        if self.stopping:
            return
        self.stopping = True
        self.log.info("stopping", inFlight=len(self.in_flight))
        if self.dispatcher is not None:
            self.dispatcher.cancel()  # it answers the lines not started, then every line the reader still hands over
        if self.reader is not None:
            self.reader.stop()
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
                if self.stopping:  # stopped from a job's task (stdout lost) while this line waited
                    self.answer_unstarted(item)
                    continue
                held = item
                await slots.acquire()
                held = None
                running = Running(item)
                task = asyncio.create_task(self.run_line(running), name=f"line-{item.number}")
                self.in_flight[task] = running
                task.add_done_callback(self._finished(slots))
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # stopping is this task's own last phase, not its end
            if held is not None:
                self.answer_unstarted(held)
        await self.answer_rest(queue)

    async def answer_rest(self, queue: asyncio.Queue[QueueItem]) -> None:
        """Once stopping: every line still queued or still to come from the reader answers unstarted."""
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), _DRAIN_GRACE_S)
            except TimeoutError:  # a stdin the reader cannot be woken from: nothing more will come
                self.log.warning("stdin reader did not finish; lines it still holds are not answered")
                return
            if isinstance(item, _Eof):
                return
            self.answer_unstarted(item)

    def _finished(self, slots: asyncio.Semaphore) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            running = self.in_flight.pop(task)
            slots.release()
            error = None if task.cancelled() else task.exception()
            if error is not None:
                self.log.error("job task crashed", exc_info=error)
            if running.answered:
                return
            # Cancelled before its first step (a signal right after it was created): never answered.
            if error is None:
                self.answer_unstarted(running.line)
            else:
                accepted = self.accept(running.line)
                if accepted is not None:
                    self.write(render_result_line(accepted[0], failure_for(error)))

        return done

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=self.concurrency)
        slots = asyncio.Semaphore(self.concurrency)
        self.reader = stdin_reader(self.stdin_fd, loop, queue, self.limit, self.out_fd())
        self.dispatcher = asyncio.create_task(self.dispatch(queue, slots), name="dispatcher")
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
        self.reader.start()
        if self.shared_limit is not None:
            self.shared_limit.start()
            self.log.info(
                "serving", concurrency=self.concurrency, pid=os.getpid(), sharedLimit=self.shared_limit.describe()
            )
        else:
            self.log.info("serving", concurrency=self.concurrency, pid=os.getpid())
        if process_start.received() is not None:  # came during start-up, before the handlers above
            self.stop()
        try:
            await self.dispatcher
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.dispatcher.cancelled() or (current is not None and current.cancelling()):
                raise
            await self.answer_rest(queue)  # stopped before its first step: nothing of its own ran
        while self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        await self.pool.aclose()
        if self.shared_limit is not None:
            await self.shared_limit.aclose()
        await self.reader.finish(_DRAIN_GRACE_S)
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
    shared = parser.add_argument_group("a rate limit shared by serve processes (Redis; see README)")
    shared.add_argument("--redis", metavar="URL", help="admit every job through the shared limit in this Redis")
    shared.add_argument("--rpm", action="append", default=[], metavar="PROVIDER=N", help="shared requests per minute")
    shared.add_argument("--tpm", action="append", default=[], metavar="PROVIDER=N", help="shared tokens per minute")
    shared.add_argument("--limits", type=Path, help="TOML or JSON file of per-provider rpm/tpm (as batch.py's)")
    args = parser.parse_args(argv)
    if not args.serve:
        parser.error("--concurrency needs --serve")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if (args.rpm or args.tpm or args.limits) and not (args.redis or environment.shared_limit_redis_url()):
        parser.error("--rpm, --tpm and --limits need --redis URL (or PROBE_REDIS_URL): serve limits only shared")
    return args


def shared_limit_for(args: argparse.Namespace) -> ServeLimit | None:
    """The shared limit when a Redis URL is configured (flags win over PROBE_RPM / PROBE_TPM), else None."""
    url = args.redis or environment.shared_limit_redis_url()
    if url is None:
        return None
    from common.runs.distributed import serve_limit

    env_rpm, env_tpm = environment.shared_limit_flags()
    return serve_limit.configure(url, [*env_rpm, *args.rpm], [*env_tpm, *args.tpm], args.limits)


def run_server(concurrency: int = DEFAULT_CONCURRENCY, shared_limit: ServeLimit | None = None) -> int:
    """Serves until stdin closes or a signal arrives; returns the exit code (0)."""
    configure_logging()
    out = sys.stdout
    sys.stdout = sys.stderr  # from here on, only result lines reach the real stdout
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else os.open(os.devnull, os.O_RDONLY)
    server = Server(concurrency, out, stdin_fd=stdin_fd, limit=max_input_bytes(), shared_limit=shared_limit)
    try:
        return event_loop.run(server.serve())
    finally:
        sys.stdout = out
        if server.output_lost:  # keep the interpreter's final flush from failing on a dead pipe
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.redis is None and environment.shared_limit_redis_url() is None:
        return run_server(args.concurrency)  # the warm path: nothing of the distributed package
    from common.runs.distributed.serve_limit import ConfigError, UnreachableError

    try:
        shared_limit = shared_limit_for(args)
    except (ConfigError, UnreachableError) as exc:
        sys.stderr.write(f"probe.py --serve: {exc}\n")
        return 2
    return run_server(args.concurrency, shared_limit)
