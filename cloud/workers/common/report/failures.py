"""Failures grouped by error code: how many, which messages, what the providers said about retrying.

Messages are grouped by their exact text (most frequent first, the first few jobs of each
kept so the page can open them); a run of 10,000 rate limits reads as one line per
distinct message, not 10,000 lines.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from common.report.data import FailureGroup, FailureMessage, HintStats
from common.report.joined import JobRow

MESSAGES_SHOWN = 20
JOBS_PER_MESSAGE = 5


def failure_groups(rows: list[JobRow]) -> list[FailureGroup]:
    by_code: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        failure = row.failure
        if failure is not None:
            by_code[failure.error.code.value].append(index)
    groups: list[FailureGroup] = []
    for code, indexes in by_code.items():
        messages: dict[str, list[int]] = defaultdict(list)
        statuses: Counter[str] = Counter()
        hints: list[int] = []
        retryable = with_partial = 0
        for index in indexes:
            failure = rows[index].failure
            assert failure is not None
            error = failure.error
            messages[error.message].append(index)
            if error.status_code is not None:
                statuses[str(error.status_code)] += 1
            if error.retry_after_ms is not None:
                hints.append(error.retry_after_ms)
            retryable += error.retryable
            with_partial += bool(failure.partial_transcript and failure.partial_transcript.turns)
        ordered = sorted(messages.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        groups.append(
            FailureGroup(
                code=code,
                count=len(indexes),
                retryable=retryable,
                with_partial=with_partial,
                status_codes=dict(statuses.most_common()),
                retry_after=(
                    HintStats(
                        count=len(hints),
                        min_ms=min(hints),
                        median_ms=round(statistics.median(hints)),
                        max_ms=max(hints),
                    )
                    if hints
                    else None
                ),
                messages=[
                    FailureMessage(message=message, count=len(jobs), jobs=jobs[:JOBS_PER_MESSAGE])
                    for message, jobs in ordered[:MESSAGES_SHOWN]
                ],
                distinct_messages=len(messages),
            )
        )
    return sorted(groups, key=lambda group: (-group.count, group.code))
