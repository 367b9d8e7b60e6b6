"""What a provider-batch run shows: batches on the progress bar, per-provider batch figures in the summary."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from tqdm import tqdm

from common.contract.probe import WireModel
from common.runs.batch.progress import BatchSummary
from common.runs.provider_batch.state import BatchEntry


@dataclass
class ProviderTotals:
    """One provider's batches in this run, and what its turns cost at batch and online prices."""

    price_factor: float
    batches: int = 0  # submitted by this process
    reattached: int = 0  # found again after a restart (submitted by an earlier process)
    cancelled: int = 0
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    cost: float = 0.0  # at the batch price (from each job's modelCost)
    online_cost: float = 0.0  # the same turns at the online price


class ProviderBatchFigures(WireModel):
    """One provider's batch figures in `--summary-json` (the summary's per-provider line)."""

    batches_submitted: int
    batches_reattached: int
    batches_cancelled: int
    requests: int  # in the batches this process submitted
    requests_answered: int
    requests_failed: int
    batch_price_factor: float
    estimated_cost: float  # at the batch price
    online_estimated_cost: float  # the same turns at the online price


class ProviderBatchSummary(BatchSummary):
    """`batch.py --via provider-batch --summary-json`: the online mode's summary, plus the batch figures."""

    providers: dict[str, ProviderBatchFigures]
    batch_calls: dict[str, int]  # provider calls of the batch APIs this process made, by kind


def provider_batch_summary(
    summary: BatchSummary, totals: dict[str, ProviderTotals], calls: Counter[str]
) -> ProviderBatchSummary:
    figures = {
        name: ProviderBatchFigures(
            batches_submitted=t.batches,
            batches_reattached=t.reattached,
            batches_cancelled=t.cancelled,
            requests=t.requests,
            requests_answered=t.succeeded,
            requests_failed=t.failed,
            batch_price_factor=t.price_factor,
            estimated_cost=round(t.cost, 6),
            online_estimated_cost=round(t.online_cost, 6),
        )
        for name, t in sorted(totals.items())
    }
    return ProviderBatchSummary(**dict(summary), providers=figures, batch_calls=dict(sorted(calls.items())))


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class BatchBar:
    """A tqdm bar over the batched jobs: batches in flight, requests done and failed, the oldest batch's age."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.bar: tqdm[Any] | None = None
        self.first_seen: dict[str, float] = {}
        self.done_batches = 0
        self.seen: set[str] = set()
        if enabled:
            self.bar = tqdm(total=total, unit="job", file=stream or sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def update_batches(self, entries: Sequence[BatchEntry], now: float) -> None:
        if self.bar is None:
            return
        submitted = [entry for entry in entries if entry.phase == "submitted"]
        for entry in submitted:
            self.first_seen.setdefault(entry.tag, now)
        running = [entry for entry in submitted if entry.status not in ("completed", "ended")]
        ok = sum(entry.counts.get("completed", entry.counts.get("succeeded", 0)) for entry in submitted)
        failed = sum(entry.counts.get("failed", entry.counts.get("errored", 0)) for entry in submitted)
        oldest = max((now - self.first_seen[entry.tag] for entry in submitted), default=0.0)
        self.bar.set_postfix_str(
            f"batches submitted={len(submitted)} in_progress={len(running)} requests ok={ok} failed={failed}"
            f" oldest={_age(oldest)}",
            refresh=False,
        )
        self.bar.refresh()

    def job_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_lines(totals: dict[str, ProviderTotals], calls: Counter[str]) -> str:
    lines = []
    for name, t in sorted(totals.items()):
        saved = t.online_cost - t.cost
        lines.append(
            f"  {name:11} {t.batches} batch(es) submitted, {t.reattached} re-attached, {t.cancelled} cancelled;"
            f" {t.requests} requests, {t.succeeded} answered, {t.failed} failed; cost ${t.cost:.4f} at the batch"
            f" price (x{t.price_factor:g}), ${t.online_cost:.4f} online (saved ${saved:.4f})"
        )
    if calls:
        lines.append("  batch calls " + ", ".join(f"{kind} {n}" for kind, n in sorted(calls.items())))
    return "\n".join(lines) + ("\n" if lines else "")
