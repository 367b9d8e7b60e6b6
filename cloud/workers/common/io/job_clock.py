"""When the job being run started, on the monotonic clock: the moment its deadline counts from.

A job's deadline (`config.deadlineMs`) is the host's budget for the whole job, so it counts
from the moment the host handed the job over: the start of a one-shot process, a serve
line being read. Counted from the start of the conversation instead, it would leave out
the imports, a provider SDK's above all (1-3 s): a 5 s deadline ended at 6.8 s of wall time.
The run path (`runs/run_path.py`) sets it around each job and the probe's conversation
reads it; a context variable, so the concurrent jobs of one serve process each see their own.
"""

from __future__ import annotations

from contextvars import ContextVar

# None: the job started when its conversation did (batch runs, in-process callers).
JOB_STARTED: ContextVar[float | None] = ContextVar("job_started", default=None)
