"""The distributed workers' Celery app with the wall clock pinned, for tests of per-day quotas.

A Gemini per-day quota's hint runs until midnight Pacific time, measured on
`common.errors.retry_hints.clock`; a test that needs that hint to be a known length starts
its workers with `celery -A testkit.pinned_clock_app` and `PROBE_TEST_WALL_CLOCK` (seconds
since the epoch). Everything else is the real app (`common.runs.distributed.app`).
"""

from __future__ import annotations

import os

from common.errors import retry_hints
from common.runs.distributed.app import app

PINNED = float(os.environ["PROBE_TEST_WALL_CLOCK"])
retry_hints.clock = lambda: PINNED

__all__ = ["app"]
