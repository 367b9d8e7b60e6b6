"""Per-provider rate limits: how long each job waits for admission (FakeClock: nothing really sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from common.runs.batch.rate_limit import AdaptivePolicy, LimiterSet, Limits, ProviderLimiter
from tests.helpers import FakeClock


def limiter(clock: FakeClock, **limits: float) -> ProviderLimiter:
    return ProviderLimiter("openai", Limits(**limits), clock=clock)


async def test_requests_per_minute_space_out_jobs_after_a_one_second_burst() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=120)  # 2 per second: a full bucket holds 2
    for _ in range(6):
        await lim.acquire(1, 0)
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    assert clock.now == pytest.approx(1002.0)


async def test_a_job_of_several_requests_takes_them_all_and_the_next_job_waits_for_them() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    await lim.acquire(3, 0)  # a three-turn conversation: admitted on a full bucket, then owes 2
    await lim.acquire(1, 0)
    assert clock.sleeps == [3.0]


async def test_tokens_per_minute_let_a_large_job_borrow_and_make_the_next_one_wait() -> None:
    clock = FakeClock()
    lim = limiter(clock, tpm=600)  # 10 tokens a second
    await lim.acquire(1, 50)  # larger than the bucket: waits for a full bucket, then borrows
    await lim.acquire(1, 5)
    assert clock.sleeps == [pytest.approx(4.5)]


async def test_both_limits_apply_and_the_slower_one_decides() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=600, tpm=60)  # requests are plentiful, tokens are not
    await lim.acquire(1, 1)
    await lim.acquire(1, 1)
    assert clock.sleeps == [pytest.approx(1.0)]


async def test_settle_charges_what_a_job_spent_beyond_its_estimate() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    await lim.acquire(1, 0)
    lim.settle(extra_requests=2, extra_tokens=0)  # two retries the estimate did not foresee
    await lim.acquire(1, 0)
    assert clock.sleeps == [3.0]


async def test_settle_gives_back_what_a_job_did_not_use() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    await lim.acquire(2, 0)  # planned two turns
    lim.settle(extra_requests=-1, extra_tokens=0)  # failed for good after the first
    await lim.acquire(1, 0)
    assert clock.sleeps == [1.0]


async def test_a_429_halves_the_rate_and_honours_the_retry_hint() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    await lim.acquire(1, 0)
    assert lim.rate_limited(retry_after_s=5.0) is True
    assert lim.effective_rpm == 30
    await lim.acquire(1, 0)  # paused for the hint, by which time the slower bucket has refilled
    await lim.acquire(1, 0)  # then one request every two seconds
    assert clock.sleeps == [5.0, 2.0]


async def test_a_burst_of_429s_slows_down_once_then_again_after_the_quiet_period() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=64)
    assert [lim.rate_limited() for _ in range(5)] == [True, False, False, False, False]
    assert lim.factor == 0.5
    await clock.sleep(AdaptivePolicy().quiet_s)
    assert lim.rate_limited() is True
    assert lim.factor == 0.25 and lim.rate_limited_count == 6


async def test_the_rate_recovers_step_by_step_without_429s_and_never_passes_the_limit() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    lim.rate_limited()
    await clock.sleep(19.0)
    await lim.acquire(1, 0)
    assert lim.factor == 0.5  # not yet quiet long enough
    await clock.sleep(1.0)
    await lim.acquire(1, 0)
    assert lim.factor == 0.75
    await clock.sleep(60.0)
    await lim.acquire(1, 0)
    assert lim.factor == 1.0 and lim.effective_rpm == 60


async def test_a_provider_without_limits_runs_free_until_a_429_then_learns_one() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(30):
        await lim.acquire(1, 0)
    assert clock.sleeps == [] and lim.effective_rpm is None
    await clock.sleep(1.0)  # 30 requests in the last second: 1800 per minute
    lim.rate_limited()
    assert lim.effective_rpm == pytest.approx(900)
    await lim.acquire(1, 0)
    assert clock.sleeps[-1] == pytest.approx(60 / 900)


async def test_jobs_waiting_on_the_same_provider_are_admitted_in_arrival_order() -> None:
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    admitted: list[int] = []

    async def job(n: int) -> None:
        await lim.acquire(1, 0)
        admitted.append(n)

    await asyncio.gather(*(job(n) for n in range(4)))
    assert admitted == [0, 1, 2, 3] and clock.sleeps == [1.0, 1.0, 1.0]


async def test_each_provider_has_its_own_limiter_shared_by_all_its_jobs() -> None:
    clock = FakeClock()
    limiters = LimiterSet({"openai": Limits(rpm=60)}, clock=clock)
    assert limiters.for_provider("openai") is limiters.for_provider("openai")
    await limiters.for_provider("openai").acquire(1, 0)
    await limiters.for_provider("anthropic").acquire(1, 0)  # no limit configured: not held up by openai
    await limiters.for_provider("anthropic").acquire(1, 0)
    assert clock.sleeps == []
    await limiters.for_provider("openai").acquire(1, 0)
    assert clock.sleeps == [1.0]
