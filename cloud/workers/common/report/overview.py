"""The run at a glance: outcomes and error codes, tokens, cost, wall time, per provider and model, versions.

Tokens and cost count every paid-for turn, a failure's partial transcript included (the
provider billed them). Wall time runs from the first `startedAt` to the last `completedAt`
the results carry; a failure before its first turn has neither, so it is not in it.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from common.contract.probe import TranscriptWarningCode
from common.report.data import CodeCount, ModelVersions, Overview, Totals, UsageRow, VersionCount
from common.report.joined import JobRow, Outcome


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _cost(rows: Iterable[JobRow]) -> tuple[float | None, int]:
    total = 0.0
    priced = 0
    for row in rows:
        transcript = row.transcript
        if transcript is not None and transcript.cost_snapshot is not None:
            total += transcript.cost_snapshot.estimated_cost
            priced += 1
    return (total if priced else None), priced


def _totals(rows: list[JobRow]) -> Totals:
    outcomes = Counter(row.outcome for row in rows)
    starts: list[tuple[datetime, str]] = []
    ends: list[tuple[datetime, str]] = []
    turns = input_tokens = output_tokens = reasoning = request_ms = 0
    for row in rows:
        transcript = row.transcript
        if transcript is None:
            continue
        turns += len(transcript.turns)
        input_tokens += transcript.total_input_tokens
        output_tokens += transcript.total_output_tokens
        reasoning += transcript.total_reasoning_tokens
        request_ms += sum(turn.provider_metadata.timing.total_ms for turn in transcript.turns)
        started, completed = _instant(transcript.started_at), _instant(transcript.completed_at)
        if started is not None:
            starts.append((started, transcript.started_at))
        if completed is not None:
            ends.append((completed, transcript.completed_at))
    first = min(starts, default=None)
    last = max(ends, default=None)
    cost, priced = _cost(rows)
    return Totals(
        jobs=len(rows),
        succeeded=outcomes[Outcome.SUCCEEDED],
        failed=outcomes[Outcome.FAILED] + outcomes[Outcome.FAILED_RETRYABLE],
        failed_retryable=outcomes[Outcome.FAILED_RETRYABLE],
        no_result=outcomes[Outcome.NO_RESULT],
        turns=turns,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        estimated_cost=cost,
        priced_jobs=priced,
        wall_ms=round((last[0] - first[0]).total_seconds() * 1000) if first and last else None,
        first_started_at=first[1] if first else None,
        last_completed_at=last[1] if last else None,
        request_ms=request_ms,
    )


def _usage(name: str, provider: str, rows: list[JobRow]) -> UsageRow:
    outcomes = Counter(row.outcome for row in rows)
    turn_ms: list[int] = []
    truncated = retried = input_tokens = output_tokens = reasoning = 0
    for row in rows:
        transcript = row.transcript
        if transcript is None:
            continue
        input_tokens += transcript.total_input_tokens
        output_tokens += transcript.total_output_tokens
        reasoning += transcript.total_reasoning_tokens
        for turn in transcript.turns:
            meta = turn.provider_metadata
            turn_ms.append(meta.timing.total_ms)
            truncated += meta.truncated
            retried += bool(meta.retries)
    cost, _ = _cost(rows)
    return UsageRow(
        name=name,
        provider=provider,
        jobs=len(rows),
        succeeded=outcomes[Outcome.SUCCEEDED],
        failed=outcomes[Outcome.FAILED] + outcomes[Outcome.FAILED_RETRYABLE],
        no_result=outcomes[Outcome.NO_RESULT],
        turns=len(turn_ms),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        estimated_cost=cost,
        truncated_turns=truncated,
        retried_turns=retried,
        median_turn_ms=round(statistics.median(turn_ms)) if turn_ms else None,
    )


def _versions(model: str, provider: str, rows: list[JobRow]) -> ModelVersions:
    served: Counter[str | None] = Counter()
    changed = 0
    for row in rows:
        transcript = row.transcript
        if transcript is None:
            continue
        served.update(turn.provider_metadata.model_version for turn in transcript.turns)
        changed += any(w.code is TranscriptWarningCode.MODEL_VERSION_CHANGED for w in transcript.warning_details)
    counts = [VersionCount(version=v, turns=n) for v, n in sorted(served.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    named = [v for v in served if v is not None]
    return ModelVersions(
        model=model, provider=provider, versions=counts, drift=len(named) > 1 or changed > 0, changed_within=changed
    )


def overview(rows: list[JobRow]) -> Overview:
    codes: Counter[str] = Counter()
    retryable: Counter[str] = Counter()
    for row in rows:
        failure = row.failure
        if failure is not None:
            codes[failure.error.code.value] += 1
            retryable[failure.error.code.value] += failure.retryable
    by_provider: dict[str, list[JobRow]] = defaultdict(list)
    by_model: dict[tuple[str, str], list[JobRow]] = defaultdict(list)
    for row in rows:
        by_provider[row.provider].append(row)
        by_model[(row.model, row.provider)].append(row)
    return Overview(
        totals=_totals(rows),
        by_code=[CodeCount(code=code, count=count, retryable=retryable[code]) for code, count in codes.most_common()],
        per_provider=[_usage(name, name, group) for name, group in sorted(by_provider.items())],
        per_model=[_usage(model, provider, group) for (model, provider), group in sorted(by_model.items())],
        versions=[_versions(model, provider, group) for (model, provider), group in sorted(by_model.items())],
    )
