"""The one retry policy and the retry hints it honours.

`call_with_retry` runs on `FakeClock`, so every wait is recorded instead of slept and the
deadline is measured in fake seconds; a seeded `random.Random` makes the jitter repeatable.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from common.errors.classify import to_worker_error
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.errors.retry import CallStats, Deadline, RetryPolicy, call_with_retry
from common.errors.retry_hints import retry_hint_ms
from tests.helpers import FakeClock

NOW = 1_700_000_000.0


class FakeSDKError(Exception):
    """Stands in for an SDK exception; `classify` turns it into the provider's WorkerError."""

    def __init__(self, facts: ErrorFacts) -> None:
        super().__init__(facts.message)
        self.facts = facts


def classify(exc: BaseException) -> WorkerError:
    if isinstance(exc, FakeSDKError):
        return to_worker_error(exc.facts)
    return WorkerError(ErrorCode.UNKNOWN, f"unexpected {type(exc).__name__}")


class Script:
    """An attempt function that fails with the given outcomes, then answers "ok"."""

    def __init__(self, clock: FakeClock, outcomes: list[BaseException], *, takes_s: float = 0.0) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.takes_s = takes_s
        self.timeouts: list[float] = []
        self.calls = 0

    async def __call__(self, timeout_s: float) -> str:
        self.calls += 1
        self.timeouts.append(timeout_s)
        if self.takes_s > timeout_s:  # the HTTP client's timeout cuts the request off
            self.clock.now += timeout_s
            raise TimeoutError
        self.clock.now += self.takes_s  # the request itself takes time
        if self.outcomes:
            raise self.outcomes.pop(0)
        return "ok"


def server_error() -> WorkerError:
    return WorkerError(ErrorCode.SERVER_ERROR, "openai 500 server_error", status_code=500)


async def run(
    attempt: Callable[[float], Awaitable[str]],
    clock: FakeClock,
    *,
    budget_s: float = 240.0,
    policy: RetryPolicy | None = None,
    seed: int = 7,
    stats: CallStats | None = None,
) -> str:
    return await call_with_retry(
        attempt,
        classify=classify,
        deadline=Deadline(clock, budget_s),
        clock=clock,
        policy=policy or RetryPolicy(),
        rng=random.Random(seed),
        stats=stats,
    )


# ------------------------------------------------------------ backoff


@pytest.mark.parametrize("seed", range(20))
async def test_backoff_is_exponential_with_jitter_inside_its_bounds(seed: int) -> None:
    clock = FakeClock()
    policy = RetryPolicy()
    script = Script(clock, [server_error() for _ in range(4)])
    assert await run(script, clock, policy=policy, seed=seed) == "ok"
    assert script.calls == 5
    assert len(clock.sleeps) == 4
    for retry_number, slept in enumerate(clock.sleeps, start=1):
        ceiling = policy.base_delay_s * policy.multiplier ** (retry_number - 1)
        assert ceiling * (1 - policy.jitter) <= slept <= ceiling


async def test_jitter_is_random_but_repeatable_for_a_seed() -> None:
    runs: list[list[float]] = []
    for seed in (1, 1, 2):
        clock = FakeClock()
        await run(Script(clock, [server_error() for _ in range(3)]), clock, seed=seed)
        runs.append(clock.sleeps)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0] != [1.0, 2.0, 4.0]  # jitter really shortens the waits


async def test_backoff_is_capped_at_the_maximum_delay() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=8, base_delay_s=1.0, max_delay_s=3.0)
    await run(Script(clock, [server_error() for _ in range(7)]), clock, policy=policy)
    assert max(clock.sleeps) <= 3.0
    assert min(clock.sleeps[3:]) >= 3.0 * (1 - policy.jitter)


# ------------------------------------------------------------ provider hints


async def test_a_retry_after_header_is_waited_exactly() -> None:
    clock = FakeClock()
    facts = ErrorFacts("anthropic", status=429, error_type="rate_limit_error", headers={"retry-after": "7"})
    stats = CallStats()
    assert await run(Script(clock, [FakeSDKError(facts)]), clock, stats=stats) == "ok"
    assert clock.sleeps == [7.0]
    assert stats.attempts == 2
    assert [(r.attempt, r.code, r.status_code, r.waited_ms) for r in stats.retries] == [
        (1, ErrorCode.RATE_LIMIT, 429, 7000)
    ]


async def test_a_hint_in_the_message_is_waited_exactly() -> None:
    clock = FakeClock()
    facts = ErrorFacts(
        "openai",
        status=429,
        error_code="rate_limit_exceeded",
        message="Rate limit reached for gpt-4o on tokens per min (TPM). Please try again in 2.114s.",
        body={"message": "Rate limit reached for gpt-4o on tokens per min (TPM). Please try again in 2.114s."},
    )
    await run(Script(clock, [FakeSDKError(facts), FakeSDKError(facts)]), clock)
    assert clock.sleeps == [2.114, 2.114]


async def test_gemini_retry_info_is_waited_exactly() -> None:
    clock = FakeClock()
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}],
        }
    }
    facts = ErrorFacts("google", status=429, error_type="RESOURCE_EXHAUSTED", body=body)
    await run(Script(clock, [FakeSDKError(facts)]), clock)
    assert clock.sleeps == [13.0]


async def test_a_zero_hint_retries_at_once() -> None:
    clock = FakeClock()
    facts = ErrorFacts("openai", status=429, headers={"retry-after-ms": "0"})
    assert await run(Script(clock, [FakeSDKError(facts)]), clock) == "ok"
    assert clock.sleeps == [0.0]


# ------------------------------------------------------------ giving up


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.AUTH_ERROR,
        ErrorCode.QUOTA_EXCEEDED,
        ErrorCode.BAD_REQUEST,
        ErrorCode.CONTEXT_LENGTH,
        ErrorCode.CONTENT_FILTERED,
        ErrorCode.NOT_FOUND,
        ErrorCode.INVALID_RESPONSE,
        ErrorCode.UNKNOWN,
    ],
)
async def test_a_non_retryable_code_fails_after_one_attempt(code: ErrorCode) -> None:
    clock = FakeClock()
    script = Script(clock, [WorkerError(code, "no")])
    with pytest.raises(WorkerError) as raised:
        await run(script, clock)
    assert raised.value.code is code and raised.value.retryable is False
    assert script.calls == 1
    assert clock.sleeps == []
    assert raised.value.details["attempts"] == 1


async def test_an_unrecognised_exception_is_classified_and_not_retried() -> None:
    clock = FakeClock()
    script = Script(clock, [KeyError("choices")])
    with pytest.raises(WorkerError) as raised:
        await run(script, clock)
    assert raised.value.code is ErrorCode.UNKNOWN
    assert script.calls == 1


async def test_max_attempts_then_gives_up_retryable_with_a_wait_for_the_host() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3)
    script = Script(clock, [server_error() for _ in range(5)])
    with pytest.raises(WorkerError) as raised:
        await run(script, clock, policy=policy)
    error = raised.value
    assert script.calls == 3
    assert len(clock.sleeps) == 2
    assert error.code is ErrorCode.SERVER_ERROR and error.retryable is True
    assert error.details["attempts"] == 3
    assert error.retry_after_ms is not None and error.retry_after_ms > 0


async def test_a_hint_longer_than_the_time_left_gives_up_at_once_and_hands_it_to_the_host() -> None:
    clock = FakeClock()
    facts = ErrorFacts("openai", status=429, error_code="rate_limit_exceeded", headers={"retry-after": "20"})
    script = Script(clock, [FakeSDKError(facts)])
    with pytest.raises(WorkerError) as raised:
        await run(script, clock, budget_s=10.0)
    error = raised.value
    assert clock.sleeps == []  # never slept into the deadline
    assert script.calls == 1
    assert error.code is ErrorCode.RATE_LIMIT and error.retryable is True
    assert error.retry_after_ms == 20_000
    assert error.details["attempts"] == 1


async def test_a_hint_longer_than_the_policy_allows_is_handed_to_the_host() -> None:
    clock = FakeClock()
    facts = ErrorFacts("google", status=429, message="Please retry in 120s.", body={"message": "Please retry in 120s."})
    with pytest.raises(WorkerError) as raised:
        await run(Script(clock, [FakeSDKError(facts)]), clock, budget_s=600.0)
    assert clock.sleeps == []
    assert raised.value.retry_after_ms == 120_000


async def test_a_backoff_that_would_pass_the_deadline_is_not_slept() -> None:
    clock = FakeClock()
    policy = RetryPolicy(reserve_s=1.0, min_attempt_s=1.0)
    script = Script(clock, [server_error() for _ in range(10)], takes_s=1.5)
    with pytest.raises(WorkerError) as raised:
        await run(script, clock, budget_s=8.0, policy=policy)
    elapsed = clock.now - 1000.0
    assert elapsed <= 8.0 - policy.reserve_s
    assert raised.value.retryable is True
    assert raised.value.retry_after_ms is not None
    assert raised.value.details["attempts"] == script.calls


@pytest.mark.parametrize("seed", range(25))
async def test_the_deadline_is_never_slept_past(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    budget = rng.uniform(3.0, 40.0)
    outcomes: list[BaseException] = [server_error() for _ in range(10)]
    script = Script(clock, outcomes, takes_s=rng.uniform(0.0, 3.0))
    policy = RetryPolicy(max_attempts=10)
    try:
        await run(script, clock, budget_s=budget, policy=policy, seed=seed)
    except WorkerError as error:
        assert error.retryable is True
    assert clock.now - 1000.0 <= budget - policy.reserve_s + 1e-9


async def test_no_time_for_a_first_attempt_is_a_timeout_with_zero_attempts() -> None:
    clock = FakeClock()
    script = Script(clock, [])
    with pytest.raises(WorkerError) as raised:
        await run(script, clock, budget_s=1.5)
    assert raised.value.code is ErrorCode.TIMEOUT and raised.value.retryable is True
    assert raised.value.details["attempts"] == 0
    assert script.calls == 0


# ------------------------------------------------------------ per-attempt timeouts


async def test_each_attempt_gets_the_time_left_minus_the_reserve() -> None:
    clock = FakeClock()
    policy = RetryPolicy(reserve_s=1.0)
    script = Script(clock, [server_error(), server_error()], takes_s=5.0)
    await run(script, clock, budget_s=60.0, policy=policy, seed=3)
    assert script.timeouts[0] == pytest.approx(59.0)
    expected_second = 60.0 - 5.0 - clock.sleeps[0] - policy.reserve_s
    expected_third = expected_second - 5.0 - clock.sleeps[1]
    assert script.timeouts[1:] == pytest.approx([expected_second, expected_third])


async def test_an_attempt_that_hangs_past_its_budget_becomes_a_timeout() -> None:
    clock = FakeClock()
    policy = RetryPolicy(reserve_s=0.0, min_attempt_s=0.01)
    calls: list[float] = []

    async def hangs(timeout_s: float) -> str:
        calls.append(timeout_s)
        await asyncio.Event().wait()  # a provider that never answers
        return "never"

    with pytest.raises(WorkerError) as raised:
        await run(hangs, clock, budget_s=0.05, policy=policy)
    error = raised.value
    assert error.code is ErrorCode.TIMEOUT and error.retryable is True
    assert "before the deadline" in error.message
    # no time is left for a backoff and a second attempt: it gives up and says when to retry
    assert error.details["attempts"] == 1
    assert calls == [pytest.approx(0.05)]
    assert error.retry_after_ms is not None


async def test_a_request_cut_off_by_its_timeout_is_retried_as_a_timeout() -> None:
    clock = FakeClock()
    stats = CallStats()
    script = Script(clock, [TimeoutError()])
    assert await run(script, clock, stats=stats) == "ok"
    assert [r.code for r in stats.retries] == [ErrorCode.TIMEOUT]
    assert stats.attempts == 2


async def test_cancellation_is_not_swallowed() -> None:
    clock = FakeClock()

    async def cancelled(timeout_s: float) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run(cancelled, clock)


async def test_stats_count_every_attempt_of_a_success() -> None:
    clock = FakeClock()
    stats = CallStats()
    await run(Script(clock, [server_error(), server_error()]), clock, stats=stats)
    assert stats.attempts == 3
    assert [r.attempt for r in stats.retries] == [1, 2]
    assert [r.waited_ms for r in stats.retries] == [int(s * 1000) for s in clock.sleeps]


# ------------------------------------------------------------ hints from headers and bodies


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(NOW + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after": "3"}, None, 3000),
        ({"Retry-After": "1.5"}, None, 1500),
        ({"retry-after-ms": "250"}, None, 250),
        ({"retry-after-ms": "250", "retry-after": "9"}, None, 250),  # the finer one wins
        ({"retry-after": _http_date(30)}, None, 30_000),
        ({"retry-after": _http_date(-30)}, None, 0),  # a date in the past: retry now
        ({"retry-after": "-4"}, None, 0),
        ({}, {"message": "Please try again in 2.114s. Visit ..."}, 2114),
        ({}, {"message": "Please try again in 20ms."}, 20),
        ({}, {"message": "Please try again in 6m0s."}, 360_000),
        ({}, {"message": "Please try again in 1h34m52.896s."}, 5_692_896),
        ({}, {"error": {"message": "Please retry in 47.312877329s."}}, 47_313),
        (
            {},
            {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}]}},
            13_000,
        ),
        (
            {},
            {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}]}},
            500,
        ),
        ({"retry-after": "5"}, {"message": "Please try again in 20ms."}, 5000),  # a header beats wording
        ({}, "Please try again in 3s.", 3000),  # a bare string body (xAI, gateways)
    ],
)
def test_retry_hints(headers: dict[str, str], body: Any, expected: int) -> None:
    assert retry_hint_ms(headers, body, now=NOW) == expected


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "1e400"}, None),
        ({"retry-after-ms": "fast"}, None),
        ({"retry-after-ms": "-5"}, None),
        ({}, {"message": "Please try again later."}),
        ({}, {"message": "try again in 20 seconds"}),
        ({}, {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}]}}),
        ({}, {"retryDelay": "13s"}),  # not inside a RetryInfo detail
        ({}, 42),
    ],
)
def test_garbage_hints_are_ignored(headers: dict[str, str], body: Any) -> None:
    assert retry_hint_ms(headers, body, now=NOW) is None


def test_garbage_header_falls_back_to_the_body() -> None:
    assert retry_hint_ms({"retry-after": "soon"}, {"message": "Please try again in 2s."}, now=NOW) == 2000
    assert retry_hint_ms({"retry-after-ms": "x", "retry-after": "4"}, None, now=NOW) == 4000
