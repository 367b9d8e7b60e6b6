"""SIGINT and SIGTERM for the long-running commands (batch, distributed driver, provider batches).

Each of them stops the same way: the first signal asks the run to stop and write what it
has; the run's `stop(sig)` decides what that means. Installed on the running loop, so the
handler runs between callbacks, never in the middle of a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
