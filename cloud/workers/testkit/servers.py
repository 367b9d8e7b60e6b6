"""Running a local fake server (fake provider, hostile provider, fake batch APIs) for a test or bench.

In the test's own process, on a thread with its own event loop (`serving_on_thread`), or in
a process of its own so its CPU is not the measured process's (`server_process` in the
parent, `announce_and_wait` in the child: a "ready" line with the port, then it serves until
its stdin closes or a signal arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

WAIT_S = 60.0  # the longest a start or a stop may take


@contextlib.contextmanager
def serving_on_thread(
    start: Callable[[], Awaitable[object]], close: Callable[[], Awaitable[None]], name: str
) -> Iterator[None]:
    """Runs `start()` on a new loop in a daemon thread, serves for the block, then `close()`."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to the thread that waits for the start
            failed.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(close())
        loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not started.wait(WAIT_S) or failed:
        raise RuntimeError(f"the {name} server did not start") from (failed[0] if failed else None)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT_S)


@contextlib.contextmanager
def server_process(module: str, *args: str) -> Iterator[str]:
    """`python -m <module> <args>` from cloud/workers; yields its base URL, stops it on exit."""
    workers = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(workers), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # the server's "ready" line: it listens once this is written
        if not ready:
            raise RuntimeError(f"{module} exited before it was ready")
        yield f"http://127.0.0.1:{json.loads(ready)['port']}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def announce_and_wait(port: int) -> None:
    """In the server's process: tells the parent the port, then waits for stdin EOF or a signal."""
    sys.stdout.write(json.dumps({"port": port}) + "\n")  # the parent's ready signal
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)

    def watch_stdin() -> None:  # the parent going away closes our stdin
        sys.stdin.read()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await done.wait()
