"""What a worker script does before anything else: note the time, and catch SIGTERM and SIGINT.

Importing the run path (pydantic, asyncio, the contract models) takes 0.1-0.3 s, more under load,
and until `run_worker` (or serve mode) installs its own handlers Python's defaults apply:
SIGTERM kills the process with no document, SIGINT raises KeyboardInterrupt in the middle
of an import. `begin()`, the first statement of an entry script after its path set-up
(it imports only `signal` and `time`), replaces both with a handler that records the
signal and nothing else, so the imports finish intact and the job then answers CANCELLED
at once. Only while the worker waits for its stdin does the handler raise (`Stopped`),
because that wait could otherwise last as long as the host keeps stdin open.

`begin()` also holds the cyclic garbage collector until the script's own imports are done
(`collect_again()`): those imports leave ~32,000 tracked objects (pydantic's schemas and
validators, the contract models, asyncio), all alive until exit, and the 60-odd collections
they would trigger walk them again and again for no garbage at all: 5-10% of the CPU of a
job without an SDK.

The moment `begin()` runs is the job's start for its deadline: the host's budget covers
the imports too. The interpreter's own start-up before it (~20 ms) is out of reach of any
Python code: a signal that early still ends the process the default way.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import time
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)

_started: float | None = None
_received: int | None = None
_caught = False
_raising = False


class Stopped(KeyboardInterrupt):
    """A signal stopped the job before it ran; like an interrupt, it is answered CANCELLED."""


def _record(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signum
    if _raising:
        raise Stopped(signum)


def begin() -> None:
    """Notes the job's start, catches SIGTERM and SIGINT and holds the collector (a script calls it once, first)."""
    global _started
    _started = time.monotonic()
    gc.disable()
    catch()


def collect_again() -> None:
    """Lets the cyclic garbage collector run again: the script's start-up imports are done."""
    gc.enable()


def catch() -> None:
    """(Re)installs the recording handler, e.g. once the job's event loop has removed its own."""
    global _caught
    for sig in SIGNALS:
        signal.signal(sig, _record)
    _caught = True


def caught() -> bool:
    """Whether this process catches signals itself (an entry script called `begin`)."""
    return _caught


def received() -> int | None:
    """The signal recorded since `begin()`, if one came."""
    return _received


def started() -> float:
    """The job's start on the monotonic clock: `begin()`'s moment, or now if it was not called."""
    return time.monotonic() if _started is None else _started


def raise_if_received() -> None:
    if _received is not None:
        raise Stopped(_received)


@contextlib.contextmanager
def interrupting() -> Iterator[None]:
    """Inside, a signal raises `Stopped` where the main thread is: for a blocking wait (stdin)."""
    global _raising
    if not _caught:
        yield
        return
    raise_if_received()
    _raising = True
    try:
        yield
    finally:
        _raising = False
