"""Per-provider request and token rates for batch runs, slowing down by themselves on 429s.

Each provider gets one `ProviderLimiter`, shared by all of its jobs. A job is admitted
once it may spend what it is expected to (its requests and estimated tokens); when it
ends, `settle` charges the difference between what it really spent and the estimate, so
the average rate stays exact even though the estimate is rough. Admission happens before
a job starts, so waiting for a permit never eats into a job's deadline or a request's
timeout.

On a 429 the limiter halves its rate (at most once per `quiet_s`, since many jobs in
flight see the same burst), honours the provider's retry hint as a pause, and steps back
up after a quiet period without 429s. A provider with no configured limit learns one:
its first 429 caps it at half the rate it was observed sending at.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass

from common.errors.retry import Clock, SystemClock

SECONDS_PER_MINUTE = 60.0
_EPSILON = 1e-6


@dataclass(frozen=True)
class Limits:
    """Requests and tokens per minute; None means no limit was configured."""

    rpm: float | None = None
    tpm: float | None = None


@dataclass(frozen=True)
class AdaptivePolicy:
    slow_factor: float = 0.5  # the rate is multiplied by this on a 429
    min_factor: float = 1 / 64  # never slower than this fraction of the configured rate
    quiet_s: float = 5.0  # 429s this soon after a slow-down are the same burst
    recover_after_s: float = 20.0  # this long without a 429 steps the rate back up
    recover_factor: float = 1.5
    burst_s: float = 1.0  # a full bucket holds this many seconds of the rate


class Bucket:
    """A token bucket that may go into debt: a job larger than the bucket waits for a full
    bucket and then borrows, so a large job is never starved and the average rate holds."""

    def __init__(self, per_minute: float, now: float, burst_s: float) -> None:
        self.per_minute = per_minute
        self.burst_s = burst_s
        self.level = self.capacity(1.0)
        self.updated = now

    def rate_per_s(self, factor: float) -> float:
        return self.per_minute * factor / SECONDS_PER_MINUTE

    def capacity(self, factor: float) -> float:
        return max(1.0, self.rate_per_s(factor) * self.burst_s)

    def refill(self, now: float, factor: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.level = min(self.capacity(factor), self.level + elapsed * self.rate_per_s(factor))
        self.updated = now

    def wait_s(self, amount: float, factor: float) -> float:
        """Seconds until `amount` may be taken (after `refill`)."""
        needed = min(amount, self.capacity(factor))
        if self.level >= needed - _EPSILON:  # a wait below the clock's resolution would never end
            return 0.0
        return (needed - self.level) / self.rate_per_s(factor)

    def take(self, amount: float) -> None:
        self.level -= amount

    def credit(self, amount: float, factor: float) -> None:
        """Gives back (or, negative, charges) `amount` after the fact."""
        self.level = min(self.capacity(factor), self.level + amount)


class ProviderLimiter:
    def __init__(
        self,
        provider: str,
        limits: Limits,
        *,
        clock: Clock | None = None,
        policy: AdaptivePolicy | None = None,
    ) -> None:
        self.provider = provider
        self.clock = clock or SystemClock()
        self.policy = policy or AdaptivePolicy()
        now = self.clock.monotonic()
        self.requests = Bucket(limits.rpm, now, self.policy.burst_s) if limits.rpm else None
        self.tokens = Bucket(limits.tpm, now, self.policy.burst_s) if limits.tpm else None
        self.factor = 1.0
        self.paused_until = now
        self.last_slowdown: float | None = None
        self.last_change = now
        self.rate_limited_count = 0
        self._sent: deque[tuple[float, int]] = deque()  # (time, requests) over the last minute
        self._first_sent: float | None = None
        self._lock = asyncio.Lock()

    # -- admission --------------------------------------------------------------------

    async def acquire(self, requests: int, tokens: int) -> float:
        """Waits until the job may start; returns the seconds waited."""
        waited = 0.0
        async with self._lock:  # one waiter at a time: jobs are admitted in arrival order
            while True:
                now = self.clock.monotonic()
                self._recover(now)
                wait = max(0.0, self.paused_until - now)
                for bucket, amount in ((self.requests, requests), (self.tokens, tokens)):
                    if bucket is not None:
                        bucket.refill(now, self.factor)
                        wait = max(wait, bucket.wait_s(amount, self.factor))
                if wait <= 0:
                    break
                await self.clock.sleep(wait)
                waited += wait
            if self.requests is not None:
                self.requests.take(requests)
            if self.tokens is not None:
                self.tokens.take(tokens)
            self._record_sent(now, requests)
        return waited

    def settle(self, extra_requests: int, extra_tokens: int) -> None:
        """Charges what a job spent beyond its estimate (negative: gives back what it did not)."""
        now = self.clock.monotonic()
        if self.requests is not None:
            self.requests.refill(now, self.factor)
            self.requests.credit(-extra_requests, self.factor)
        if self.tokens is not None:
            self.tokens.refill(now, self.factor)
            self.tokens.credit(-extra_tokens, self.factor)
        if extra_requests > 0:
            self._record_sent(now, extra_requests)

    # -- adapting ---------------------------------------------------------------------

    def rate_limited(self, retry_after_s: float | None = None) -> bool:
        """The provider answered 429: pause for its hint and halve the rate. True if it slowed down."""
        now = self.clock.monotonic()
        self.rate_limited_count += 1
        if retry_after_s:
            self.paused_until = max(self.paused_until, now + retry_after_s)
        if self.last_slowdown is not None and now - self.last_slowdown < self.policy.quiet_s:
            return False
        if self.requests is None:  # no configured limit: learn one from what we were sending
            self.requests = Bucket(max(1.0, self.observed_rpm(now)), now, self.policy.burst_s)
            self.requests.level = 0.0
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.refill(now, self.factor)
        self.factor = max(self.policy.min_factor, self.factor * self.policy.slow_factor)
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.level = min(bucket.level, bucket.capacity(self.factor))
        self.last_slowdown = now
        self.last_change = now
        return True

    def _recover(self, now: float) -> None:
        if self.factor >= 1.0:
            return
        quiet_since = self.last_change
        steps = math.floor((now - quiet_since) / self.policy.recover_after_s)
        if steps <= 0:
            return
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.refill(quiet_since + steps * self.policy.recover_after_s, self.factor)
        self.factor = min(1.0, self.factor * self.policy.recover_factor**steps)
        self.last_change = quiet_since + steps * self.policy.recover_after_s

    # -- observation ------------------------------------------------------------------

    def _record_sent(self, now: float, requests: int) -> None:
        if self._first_sent is None:
            self._first_sent = now
        self._sent.append((now, requests))
        while self._sent and self._sent[0][0] < now - SECONDS_PER_MINUTE:
            self._sent.popleft()

    def observed_rpm(self, now: float) -> float:
        """Requests per minute sent over the last minute (or since the first, if sooner)."""
        if self._first_sent is None:
            return 0.0
        window = min(SECONDS_PER_MINUTE, max(1.0, now - self._first_sent))
        sent = sum(n for t, n in self._sent if t >= now - window)
        return sent * SECONDS_PER_MINUTE / window

    @property
    def effective_rpm(self) -> float | None:
        return self.requests.per_minute * self.factor if self.requests is not None else None

    @property
    def effective_tpm(self) -> float | None:
        return self.tokens.per_minute * self.factor if self.tokens is not None else None


class LimiterSet:
    """One limiter per provider, created on first use with that provider's limits."""

    def __init__(
        self, limits: dict[str, Limits], *, clock: Clock | None = None, policy: AdaptivePolicy | None = None
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.policy = policy
        self.by_provider: dict[str, ProviderLimiter] = {}

    def for_provider(self, provider: str) -> ProviderLimiter:
        limiter = self.by_provider.get(provider)
        if limiter is None:
            limiter = ProviderLimiter(
                provider, self.limits.get(provider, Limits()), clock=self.clock, policy=self.policy
            )
            self.by_provider[provider] = limiter
        return limiter
