"""One event loop per worker process, on its own thread, fed by Celery's consumer.

Celery 5 has no asyncio tasks. The task body hands its job's coroutine to this loop
(`submit`): under the app's `LoopPool` (`pool.py`) it returns at once and the pool reports
the task when the coroutine ends; under `-P threads` its thread blocks until then (`run`).
Either way every job of the process shares one loop, one `ProviderPool` (SDK clients and
their connections, as in serve mode) and one Redis client; Celery's concurrency (`-c`) is
how many jobs run at once. The loop also renews the claims of the jobs in flight (one
script call per beat, whatever the number of jobs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from common.io.log import get_logger
from common.runs.distributed.task import JobRunner

T = TypeVar("T")


class LoopThread:
    def __init__(self, make_runner: Callable[[], JobRunner]) -> None:
        self._make_runner = make_runner
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: JobRunner | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="probe-loop", daemon=True)
        self.log = get_logger(worker="distributed")

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    @property
    def runner(self) -> JobRunner:
        assert self._runner is not None, "the loop thread is not started"
        return self._runner

    def submit(self, make: Callable[[JobRunner], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Starts a coroutine on the loop from any thread; the future ends when the coroutine does."""
        assert self._loop is not None, "the loop thread is not started"
        return asyncio.run_coroutine_threadsafe(make(self.runner), self._loop)

    def run(self, make: Callable[[JobRunner], Coroutine[Any, Any, T]]) -> T:
        """Runs a coroutine on the loop and blocks the calling thread until it ends."""
        return self.submit(make).result()

    def stop(self, timeout_s: float = 30.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is None or stop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)

    def _main(self) -> None:
        try:
            import uvloop
        except ImportError:
            loop = asyncio.new_event_loop()
        else:
            loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        try:
            self._runner = self._make_runner()
            self._stop = asyncio.Event()
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        beat = asyncio.create_task(self._heartbeat(), name="claims-heartbeat")
        await self._stop.wait()
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await self.runner.aclose()

    async def _heartbeat(self) -> None:
        interval = self.runner.claim_ttl_s / 3
        while True:
            await asyncio.sleep(interval)  # a beat is a period, not an event to await
            try:
                await self.runner.renew_claims()
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                self.log.warning("claims not renewed", exc_info=exc)
