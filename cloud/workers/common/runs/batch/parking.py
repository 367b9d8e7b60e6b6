"""Parking a provider+model whose answer is a wall: one rule for local and distributed batches.

A retryable failure whose hint is longer than a batch waits (`BATCH_RETRY_POLICY.max_hinted_wait_s`;
a Gemini per-day quota: until midnight Pacific time) parks its provider+model: no job of that
model starts until the hint has passed, while other models and providers go on. When only
parked jobs are left, each is written as a retryable failure carrying the time left, so the
next run of the same command resumes it. The runners own their queues; this module owns the
walls, the jobs waiting behind them and what those jobs are told.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from common.contract.probe import ProbeJob, Transcript, Turn, WorkerFailure
from common.errors.codes import WorkerError
from common.errors.retry import RetryPolicy
from common.io.log import get_logger
from common.providers.registry import resolve_model
from common.runs.batch.files import BatchJob

# A batch waits longer between runs of a job than a job waits between its requests: the
# job itself already retried within its deadline (common.errors.retry).
BATCH_RETRY_POLICY = RetryPolicy(base_delay_s=2.0, max_delay_s=60.0, jitter=0.0)

ModelKey = tuple[str, str]  # (provider, model)


@dataclass
class Parking:
    """A provider+model that answered with a wall (a hint longer than a batch waits)."""

    until: float  # on the runner's monotonic clock
    failure: WorkerFailure  # the answer that parked it: what a job that never started is told
    jobs: list[BatchJob] = field(default_factory=list)


def model_key(provider: str, probe: ProbeJob) -> ModelKey:
    try:
        return provider, resolve_model(probe.model_id).model
    except WorkerError:
        return provider, probe.model_id


def hint_s(failure: WorkerFailure) -> float:
    hint = failure.error.retry_after_ms
    return hint / 1000 if failure.retryable and hint is not None else 0.0


def is_wall_s(hint_s: float | None) -> bool:
    """A hint longer than a batch waits: slowing down cannot help, the model is parked instead."""
    return hint_s is not None and hint_s > BATCH_RETRY_POLICY.max_hinted_wait_s


def is_wall(failure: WorkerFailure) -> bool:
    """A retryable failure no batch retry gets past before its hint: its model is parked."""
    return is_wall_s(hint_s(failure))


def resume_transcript(turns: list[Turn]) -> Transcript:
    """The paid-for turns of a job that was parked before it started again, so they stay resumable."""
    meta = turns[-1].provider_metadata
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return Transcript(
        turns=turns,
        total_input_tokens=sum(turn.input_tokens for turn in turns),
        total_output_tokens=sum(turn.output_tokens for turn in turns),
        total_reasoning_tokens=sum(turn.provider_metadata.reasoning_tokens for turn in turns),
        model_version=meta.model_version,
        provider=meta.provider,
        requested_model=meta.requested_model,
        started_at=now,
        completed_at=now,
    )


def parked_answer(job: BatchJob, parking: Parking, left_ms: int) -> WorkerFailure:
    """A parked job's result: retryable, with the time left before its model's wall passes."""
    own = job.last_result if isinstance(job.last_result, WorkerFailure) else None
    if own is not None:
        return own.model_copy(update={"error": own.error.model_copy(update={"retry_after_ms": left_ms})})
    # never started this run: told what its model answered, its turns kept
    details = {**parking.failure.error.details, "attempts": 0, "notStarted": True}
    error = parking.failure.error.model_copy(update={"retry_after_ms": left_ms, "details": details})
    partial = resume_transcript(job.prior_turns) if job.prior_turns else None
    return WorkerFailure(error=error, partial_transcript=partial)


class ParkingLot:
    """The walled models of one run, on the runner's monotonic clock."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.parked: dict[ModelKey, Parking] = {}
        self.log = get_logger(worker="batch")

    def __len__(self) -> int:
        """How many jobs wait behind a wall."""
        return sum(len(parking.jobs) for parking in self.parked.values())

    def hold(self, key: ModelKey, job: BatchJob) -> bool:
        """Parks a job that has not started yet if its model is walled; False when it may start."""
        parking = self.parked.get(key)
        if parking is None or self.monotonic() >= parking.until:
            return False
        parking.jobs.append(job)
        return True

    def park(self, key: ModelKey, job: BatchJob, failure: WorkerFailure) -> None:
        """Parks the job whose answer was the wall (and its model, from now until the hint has passed)."""
        until = self.monotonic() + hint_s(failure)
        parking = self.parked.get(key)
        if parking is None:
            parking = self.parked[key] = Parking(until, failure)
            self.log.warning(
                "model parked: its provider answered with a wall no batch retry gets past",
                provider=key[0],
                model=key[1],
                code=failure.error.code.value,
                retryAfterMs=failure.error.retry_after_ms,
                quotaWindow=failure.error.details.get("quotaWindow"),
            )
        elif until > parking.until:
            parking.until, parking.failure = until, failure
        parking.jobs.append(job)

    def release_due(self) -> list[BatchJob]:
        """The jobs of models whose wall has passed, taken out of the lot to start again."""
        now, released = self.monotonic(), []
        for key, parking in list(self.parked.items()):
            if now >= parking.until:
                del self.parked[key]
                released.extend(parking.jobs)
        return released

    def next_release_s(self) -> float | None:
        """Seconds until the first wall passes, or None when nothing is parked."""
        if not self.parked:
            return None
        return max(0.0, min(parking.until for parking in self.parked.values()) - self.monotonic())

    def drain(self) -> list[tuple[BatchJob, WorkerFailure]]:
        """Empties the lot: each parked job with its answer (retryable, the time left as its hint)."""
        now = self.monotonic()
        parkings, self.parked = list(self.parked.values()), {}
        answers: list[tuple[BatchJob, WorkerFailure]] = []
        for parking in parkings:
            left_ms = max(0, math.ceil((parking.until - now) * 1000))
            answers.extend((job, parked_answer(job, parking, left_ms)) for job in parking.jobs)
        return answers
