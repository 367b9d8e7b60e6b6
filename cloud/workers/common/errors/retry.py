"""The one retry policy: backoff with jitter for retryable codes, bounded by the job deadline.

The SDKs' own retries are switched off so this is the only place that decides to wait.
It never sleeps past the deadline, gives each attempt a timeout no longer than the time
left (minus a reserve so the worker can still print its JSON), and when it gives up on a
retryable error it says how long the host should wait (`retryAfterMs`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from common.errors.codes import ErrorCode, WorkerError

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    jitter: float = 0.25  # each backoff is shortened by up to this fraction, at random
    max_hinted_wait_s: float = 90.0  # a longer provider hint is handed to the host queue instead
    reserve_s: float = 1.0  # kept back from every attempt so the worker can always answer
    min_attempt_s: float = 1.0  # an attempt with less time than this is not started

    def backoff_s(self, retry_number: int, rng: random.Random) -> float:
        raw = min(self.max_delay_s, self.base_delay_s * self.multiplier ** (retry_number - 1))
        return raw * (1.0 - self.jitter * rng.random())

    def wait_s(self, retry_number: int, hint_ms: int | None, rng: random.Random) -> float:
        """How long to wait before retry `retry_number`: the provider's hint if it gave one."""
        return hint_ms / 1000 if hint_ms is not None else self.backoff_s(retry_number, rng)


DEFAULT_POLICY = RetryPolicy()


class Deadline:
    """A job's time budget, counted from `started` (the process start or the line's arrival)."""

    def __init__(self, clock: Clock, budget_s: float, *, started: float | None = None) -> None:
        self.clock = clock
        self.budget_s = budget_s
        self.started = clock.monotonic() if started is None else started

    def remaining_s(self) -> float:
        return self.budget_s - (self.clock.monotonic() - self.started)


@dataclass(frozen=True)
class Retry:
    attempt: int
    code: ErrorCode
    status_code: int | None
    waited_ms: int


@dataclass
class CallStats:
    attempts: int = 0
    retries: list[Retry] = field(default_factory=list)
    request_ms: int = 0  # wall time of the attempt that answered

    def absorb(self, other: CallStats) -> None:
        """Adds a later call's attempts (e.g. a retry without a rejected parameter)."""
        self.attempts += other.attempts
        self.retries.extend(other.retries)
        self.request_ms = other.request_ms or self.request_ms


def _deadline_error(deadline: Deadline) -> WorkerError:
    return WorkerError(
        ErrorCode.TIMEOUT,
        f"job deadline of {deadline.budget_s:g}s reached before the provider answered",
        details={"deadlineS": deadline.budget_s},
    )


async def call_with_retry(
    attempt: Callable[[float], Awaitable[T]],
    *,
    classify: Callable[[BaseException], WorkerError],
    deadline: Deadline,
    clock: Clock,
    policy: RetryPolicy = DEFAULT_POLICY,
    rng: random.Random | None = None,
    stats: CallStats | None = None,
    on_retry: Callable[[Retry, WorkerError], None] | None = None,
) -> T:
    """Runs `attempt(timeout_s)` until it succeeds, fails for good, or time runs out.

    The failure raised carries `details.attempts`; `stats` (if given) records every retry.
    """
    rng = rng or random.Random()
    stats = stats if stats is not None else CallStats()
    last: WorkerError | None = None
    for number in range(1, policy.max_attempts + 1):
        budget = deadline.remaining_s() - policy.reserve_s
        if budget < policy.min_attempt_s:
            if last is None:
                raise _with_attempts(_deadline_error(deadline), stats.attempts)
            # Out of time while the provider kept failing: report what it said, not the clock.
            last.details = {**last.details, "deadlineReached": True}
            raise _with_attempts(last, stats.attempts)
        stats.attempts = number
        started = clock.monotonic()
        try:
            async with asyncio.timeout(budget):
                result = await attempt(budget)
            stats.request_ms = int((clock.monotonic() - started) * 1000)
            return result
        except TimeoutError:
            error = WorkerError(ErrorCode.TIMEOUT, f"no answer within the {budget:.1f}s left before the deadline")
        except WorkerError as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = classify(exc)
        last = error
        if not error.retryable:
            raise _with_attempts(error, number)
        if number == policy.max_attempts:
            if error.retry_after_ms is None:  # tell the host queue when a retry makes sense
                error.retry_after_ms = int(policy.backoff_s(number, rng) * 1000)
            raise _with_attempts(error, number)
        wait = policy.wait_s(number, error.retry_after_ms, rng)
        left_after_wait = deadline.remaining_s() - policy.reserve_s - wait
        if wait > policy.max_hinted_wait_s or left_after_wait < policy.min_attempt_s:
            if error.retry_after_ms is None:
                error.retry_after_ms = int(wait * 1000)
            raise _with_attempts(error, number)
        retry = Retry(attempt=number, code=error.code, status_code=error.status_code, waited_ms=int(wait * 1000))
        stats.retries.append(retry)
        if on_retry is not None:
            on_retry(retry, error)
        await clock.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _with_attempts(error: WorkerError, attempts: int) -> WorkerError:
    error.details = {**error.details, "attempts": attempts}
    return error
