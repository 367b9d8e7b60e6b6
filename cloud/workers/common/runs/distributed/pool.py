"""A Celery pool that runs every task of the process on its one event loop: no thread per job.

Celery's `threads` pool parks one thread per job, blocked on the loop (`loop_thread.py`)
until the job ends: a thread wake-up, a `Future` and the GIL passed back and forth for
every job (about a tenth of a worker's profile samples here). This pool (the app's
default: `app.py`) starts a message where the consumer received it, on the hub's thread: a
task registered with `start_directly` is handed its argument and returns the job's future
at once; any other task runs through Celery's tracer, and its body may hand the job to the
loop and *defer* it (`defer`) instead of waiting. Celery hears that the task ended (and so,
`acks_late`, acknowledges the message) only once the job has ended, and on the hub's
thread, where the consumer's own callbacks run (the broker connection is not shared
between threads). So a message is acknowledged after its job, as before: a worker killed
mid-job has acknowledged nothing and the broker gives the message back; a warm shutdown
(SIGTERM) waits for the jobs in flight. How many jobs run at once is still `-c`: the
consumer prefetches `-c` messages (prefetch multiplier 1) and takes no more until one is
acknowledged.

`-P threads` still works: with no pool to defer to, the task body blocks its thread.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.concurrency.base import BasePool, apply_target
from kombu.serialization import loads, prepare_accept_content

from common.io.log import get_logger

_applying = threading.local()  # the deferred futures of the task being applied on this thread

Callback = Callable[[Any], Any]
Start = Callable[[Any], "concurrent.futures.Future[Any]"]
_DIRECT: dict[str, Start] = {}


def start_directly(task_name: str, start: Start) -> None:
    """Registers a task of one argument that `LoopPool` starts itself, without Celery's tracer.

    The tracer (signals, the task's request context, a `repr` of the return value for the
    log) cost a few percent of a job's CPU here and gives a task that returns at once and
    never raises nothing. A message whose body does not hold exactly one argument goes
    through the tracer as any task does (which fails it as Celery would).
    """
    _DIRECT[task_name] = start


def direct_start(task_name: str) -> Start | None:
    """The start function registered for a task (`start_directly`), if any."""
    return _DIRECT.get(task_name)


def defer(future: concurrent.futures.Future[Any]) -> bool:
    """Called by a task body: True when a `LoopPool` took the job's future (the body returns
    at once, the pool reports the task when the future ends); False when no pool defers
    (`-P threads`, a task called in-process): the caller waits for the future itself."""
    pending: list[concurrent.futures.Future[Any]] | None = getattr(_applying, "pending", None)
    if pending is None:
        return False
    pending.append(future)
    return True


class _Applied:
    """What `apply_async` returns to Celery (it keeps only a weak reference)."""

    def __init__(self, future: concurrent.futures.Future[Any] | None) -> None:
        self.future = future

    def wait(self, timeout: float | None = None) -> None:
        if self.future is not None:
            concurrent.futures.wait([self.future], timeout)


class LoopPool(BasePool):
    signal_safe = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accept = prepare_accept_content(self.app.conf.accept_content) if self.app is not None else None
        self._hub: Any = None  # kombu's Hub, when the consumer runs one (Redis and AMQP do)
        self._running: set[concurrent.futures.Future[Any]] = set()
        self._ended: collections.deque[tuple[Callback, Any]] = collections.deque()
        self.log = get_logger(worker="distributed")

    def register_with_event_loop(self, loop: Any) -> None:
        self._hub = loop

    def on_apply(  # type: ignore[override]  # the stubs say (*args, **kwargs) -> None; Celery passes these
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callback | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **_: Any,
    ) -> _Applied:
        start = _DIRECT.get(args[0]) if args else None
        argument = self._only_argument(args) if start is not None and args else None
        if start is not None and argument is not None:
            return self._start(start, argument[0], callback, accept_callback)
        outcome: list[Any] = []
        pending: list[concurrent.futures.Future[Any]] = []
        _applying.pending = pending
        try:
            apply_target(target, args, kwargs, outcome.append, accept_callback, pid=os.getpid())
        except Exception as exc:  # the tracer itself failed (it catches the task's errors): never acknowledged
            self.log.error("the task could not be applied; its message is not acknowledged", exc_info=exc)
            return _Applied(None)
        finally:
            _applying.pending = None
        if not pending:  # a task that ran to its end right here
            if callback is not None and outcome:
                callback(outcome[0])
            return _Applied(None)
        future = pending[0]
        self._running.add(future)
        if callback is not None and outcome:
            done, ret = callback, outcome[0]
            future.add_done_callback(lambda ended: self._job_ended(ended, done, ret))
        else:
            future.add_done_callback(self._running.discard)
        return _Applied(future)

    def _only_argument(self, args: tuple[Any, ...]) -> tuple[Any] | None:
        """The one positional argument of a task message (Celery's protocol 2), or None."""
        body, content_type, content_encoding = args[3], args[4], args[5]
        try:
            if content_type:
                positional, named, _ = loads(body, content_type, content_encoding, accept=self._accept)
            else:
                positional, named, _ = body
        except Exception:  # not readable here: the tracer reads it again and says what is wrong
            return None
        if named or not isinstance(positional, list | tuple) or len(positional) != 1:
            return None
        return (positional[0],)

    def _start(
        self, start: Start, argument: Any, callback: Callback | None, accept_callback: Callable[..., Any] | None
    ) -> _Applied:
        started = time.monotonic()
        try:
            if accept_callback is not None:
                accept_callback(os.getpid(), started)
            future = start(argument)
        except Exception as exc:
            self.log.error("the task could not be started; its message is not acknowledged", exc_info=exc)
            return _Applied(None)
        self._running.add(future)
        if callback is None:
            future.add_done_callback(self._running.discard)
            return _Applied(future)
        done = callback

        def ended(future: concurrent.futures.Future[Any]) -> None:
            # what Celery's tracer reports for a task that returned None: (failed, repr of the result, runtime)
            self._job_ended(future, done, (False, "None", time.monotonic() - started))

        future.add_done_callback(ended)
        return _Applied(future)

    def start_message(self, start: Start, argument: Any, acknowledge: Callable[[], Any]) -> None:
        """Starts one message's job (`strategy.py`: no Celery request); `acknowledge` when it ends.

        `acknowledge` is the consumer's own promise (it hands the ack to the hub's thread), so
        it may be called on the loop's thread. A job cut off by the worker stopping is not
        acknowledged, as under Celery's request."""
        try:
            future = start(argument)
        except Exception as exc:
            self.log.error("the task could not be started; its message is not acknowledged", exc_info=exc)
            return
        self._running.add(future)

        def ended(done: concurrent.futures.Future[Any]) -> None:
            if self._ended_cleanly(done):
                acknowledge()

        future.add_done_callback(ended)

    def _ended_cleanly(self, future: concurrent.futures.Future[Any]) -> bool:
        """A job's future is done: no longer running; False (said in the log) when the loop
        stopped under the job, whose message is then not acknowledged."""
        self._running.discard(future)
        if future.cancelled() or future.exception() is not None:
            self.log.warning("a job was cut off by the worker stopping; its message is not acknowledged")
            return False
        return True

    def _job_ended(self, future: concurrent.futures.Future[Any], callback: Callback, ret: Any) -> None:
        """On the loop's thread: hands Celery's callback (the acknowledgement) to the hub's thread."""
        if not self._ended_cleanly(future):
            return
        self._ended.append((callback, ret))
        hub = self._hub
        if hub is None:
            self._report_ended()
        else:
            hub.call_soon(self._report_ended)  # thread-safe: wakes the hub if it sleeps

    def _report_ended(self) -> None:
        while True:
            try:
                callback, ret = self._ended.popleft()
            except IndexError:
                return
            callback(ret)

    def on_stop(self) -> None:
        """A warm shutdown: the jobs in flight run to their end and are acknowledged."""
        running = list(self._running)
        if running:
            self.log.info("waiting for the jobs in flight", jobs=len(running))
            concurrent.futures.wait(running)
        self._report_ended()
        super().on_stop()
