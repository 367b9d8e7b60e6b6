"""Which jobs of a jobs file still have to run: the one resume rule of every batch mode.

An id whose last result is a success or a non-retryable failure is done; an id whose last
result is a retryable failure runs again from its paid-for turns (`priorTurns`); a new id
runs. Local batches, the distributed driver and provider batches all plan with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.runs.batch.files import BatchJob, read_jobs, read_previous
from common.runs.batch.progress import BatchStats


def plan_jobs(jobs_path: Path, output_path: Path, stats: BatchStats, log: Any) -> list[BatchJob]:
    """The jobs to run, with their prior turns; `stats` counts the total, the skipped and the resumed."""
    jobs = read_jobs(jobs_path)
    previous, unreadable = read_previous(output_path)
    if unreadable:
        log.warning("unreadable lines in the results file were ignored", lines=unreadable)
    stats.total = len(jobs)
    to_run: list[BatchJob] = []
    for job in jobs:
        earlier = previous.get(job.id)
        if earlier is not None and earlier.final:
            stats.skipped += 1
            continue
        if earlier is not None:
            job.prior_turns = earlier.prior_turns
            stats.resumed += 1
        to_run.append(job)
    return to_run
