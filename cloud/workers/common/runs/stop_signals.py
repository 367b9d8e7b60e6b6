"""SIGINT and SIGTERM for the long-running commands (batch, distributed driver, provider batches).

Each of them stops the same way: the first signal asks the run to stop and write what it
has; the run's `stop(sig)` decides what that means. Installed on the running loop, so the
handler runs between callbacks, never in the middle of a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Protocol

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Interruptible(Protocol):
    interrupted: bool


class Stoppable(Protocol):
    stopping: bool
    exit_code: int

    @property
    def stats(self) -> _Interruptible: ...


def begin_stop(run: Stoppable, sig: int) -> None:
    """The first signal marks the run stopping (exit code 128+N); a second one exits at once.

    Every line written so far is whole (each is one write), so exiting then loses nothing
    that the next run of the same command cannot redo.
    """
    if run.stopping:
        os._exit(128 + sig)
    run.stopping = True
    run.stats.interrupted = True
    run.exit_code = 128 + sig


def install_stop_signals(stop: Callable[[int], None]) -> list[int]:
    """Routes SIGINT and SIGTERM to `stop(sig)`; returns the signals installed (none off the main thread)."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop, sig)
            installed.append(sig)
    return installed


def remove_stop_signals(installed: list[int]) -> None:
    loop = asyncio.get_running_loop()
    for sig in installed:
        loop.remove_signal_handler(sig)
