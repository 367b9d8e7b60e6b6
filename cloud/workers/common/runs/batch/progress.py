"""What a batch run has done so far: the progress bar on stderr and the end summary.

Counts are by final outcome (a job retried inside the run counts once, when it ends);
tokens and cost are those of turns run in this run, so a resumed conversation's earlier
turns are not counted twice. Cost is estimated from each job's `modelCost`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from common.contract.probe import ProbeSuccess, WireModel, WorkerFailure
from common.runs.batch.spend import Spend


@dataclass
class BatchStats:
    total: int = 0  # jobs in the jobs file
    skipped: int = 0  # already finished in the output file
    resumed: int = 0  # retryable results from an earlier run, run again
    succeeded: int = 0
    failed: int = 0  # final failures: not retryable, or out of attempts
    left_retryable: int = 0  # retryable failures written as the result (interrupted or out of attempts)
    retrying: int = 0  # waiting right now to run again
    in_flight: int = 0
    crashed: int = 0  # jobs whose task broke (e.g. an unwritable results file): they run again next time
    codes: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: float = 0.0
    jobs_without_cost: int = 0
    rate_limited: int = 0
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False

    @property
    def to_run(self) -> int:
        return self.total - self.skipped

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.left_retryable

    def add_spend(self, spend: Spend) -> None:
        self.input_tokens += spend.input_tokens
        self.output_tokens += spend.output_tokens
        self.requests += spend.requests
        self.cost += spend.cost
        self.rate_limited += spend.rate_limited

    def finished(self, result: ProbeSuccess | WorkerFailure, *, cost_known: bool) -> None:
        if not cost_known:
            self.jobs_without_cost += 1
        if isinstance(result, ProbeSuccess):
            self.succeeded += 1
            return
        self.codes[result.error.code.value] += 1
        if result.retryable:
            self.left_retryable += 1
        else:
            self.failed += 1

    def wall_s(self) -> float:
        return time.monotonic() - self.started

    def summary(self, limiters: dict[str, LimiterState]) -> BatchSummary:
        wall = self.wall_s()
        return BatchSummary(
            total=self.total,
            skipped=self.skipped,
            resumed=self.resumed,
            run=self.to_run,
            succeeded=self.succeeded,
            failed=self.failed,
            retryable_left=self.left_retryable,
            error_codes=dict(sorted(self.codes.items())),
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            estimated_cost=round(self.cost, 6),
            jobs_without_cost=self.jobs_without_cost,
            rate_limited=self.rate_limited,
            limiters=limiters,
            wall_s=round(wall, 3),
            jobs_per_s=round(self.done / wall, 3) if wall > 0 else None,
            crashed=self.crashed,
            interrupted=self.interrupted,
        )


class LimiterState(WireModel):
    """Where a provider's limiter ended: the rates it used, and how often 429s slowed it."""

    rpm: float | None
    tpm: float | None
    factor: float
    rate_limited: int
    slowed_to: str | None


class BatchSummary(WireModel):
    """`batch.py --summary-json`: the end summary a script reads (the same figures as stderr's)."""

    total: int
    skipped: int
    resumed: int
    run: int
    succeeded: int
    failed: int
    retryable_left: int
    error_codes: dict[str, int]
    requests: int
    input_tokens: int
    output_tokens: int
    estimated_cost: float
    jobs_without_cost: int
    rate_limited: int
    limiters: dict[str, LimiterState]
    wall_s: float
    jobs_per_s: float | None
    crashed: int
    interrupted: bool


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.1f}k" if n >= 10_000 else str(n)


class Progress:
    """A tqdm bar over the jobs to run, with done/failed/retrying, tokens and cost after it."""

    def __init__(self, stats: BatchStats, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.stats = stats
        self.bar: tqdm[Any] | None = None
        if enabled:
            self.bar = tqdm(
                total=stats.to_run,
                unit="job",
                file=stream or sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
                smoothing=0.05,
            )
            self.refresh()

    def refresh(self) -> None:
        if self.bar is None:
            return
        s = self.stats
        self.bar.set_postfix_str(
            f"ok={s.succeeded} failed={s.failed + s.left_retryable} retrying={s.retrying}"
            f" tokens={_tokens(s.input_tokens + s.output_tokens)} cost=${s.cost:.4f}",
            refresh=False,
        )

    def job_done(self) -> None:
        self.refresh()
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.refresh()
            self.bar.refresh()
            self.bar.close()


def summary_text(stats: BatchStats, output: Path, limiters: dict[str, LimiterState]) -> str:
    s = stats
    wall = s.wall_s()
    lines = [
        f"batch {'interrupted' if s.interrupted else 'finished'}: {s.total} jobs, {s.skipped} already done in"
        f" {output}, {s.to_run} to run ({s.resumed} resumed from an earlier run)",
        f"  succeeded   {s.succeeded}",
        f"  failed      {s.failed} (not retryable)",
        f"  retryable   {s.left_retryable} (run the same command again to retry them)",
    ]
    if s.crashed:
        lines.append(f"  crashed     {s.crashed} (could not be written; see the log; they run again next time)")
    not_run = s.to_run - s.done - s.crashed
    if not_run:
        lines.append(f"  not run     {not_run} (the run stopped first; run the same command again)")
    if s.codes:
        lines.append("  by code     " + ", ".join(f"{code} {n}" for code, n in sorted(s.codes.items())))
    lines.append(
        f"  tokens      {s.input_tokens:,} in, {s.output_tokens:,} out, {s.requests:,} requests"
        f" ({s.rate_limited} answered 429)"
    )
    cost_note = f"; {s.jobs_without_cost} job(s) had no modelCost" if s.jobs_without_cost else ""
    lines.append(f"  cost        ${s.cost:.4f} estimated from modelCost{cost_note}")
    for provider, state in sorted(limiters.items()):
        if state.slowed_to is not None:
            lines.append(f"  {provider:11} slowed down by 429s to {state.slowed_to}")
    rate = f" ({s.done / wall:.1f} jobs/s)" if wall > 0 and s.done else ""
    lines.append(f"  wall        {wall:.1f} s{rate}")
    return "\n".join(lines) + "\n"


def write_summary_json(
    path: Path, stats: BatchStats, limiters: dict[str, LimiterState], *, summary: BatchSummary | None = None
) -> None:
    """`--summary-json`; a mode with figures of its own passes its (extended) summary."""
    document = summary if summary is not None else stats.summary(limiters)
    path.write_text(document.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
