"""The event loop of long-lived processes (serve mode, batch runs): uvloop when installed.

uvloop cuts the loop's own cost per request, which matters when one process drives
dozens of concurrent provider calls; one-shot workers keep plain asyncio (they make a
handful of requests, and importing uvloop would only add start-up time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
