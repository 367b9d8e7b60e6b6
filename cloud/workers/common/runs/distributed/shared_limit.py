"""One rate limit for every worker: per provider and API key, rpm and tpm, in Redis.

The same admission rule as a batch run's `ProviderLimiter` (estimate before the job, settle
the difference after it, halve on a 429 and step back up after a quiet period, learn a
limit from the first 429 when none was configured, honour retry hints as a pause), but the
state is one Redis hash per (provider, key hash) and each step is one atomic Lua script
(`scripts.ADMIT`, `SETTLE`, `RATE_LIMITED`), so a 429 seen by any worker slows them all
and N workers together send at most the configured rate plus one burst (`burst_s` seconds
of it, at least one job). The API key is hashed: a shared Redis never holds a key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from common.runs.batch.rate_limit import AdaptivePolicy, Limits
from common.runs.distributed import scripts
from common.runs.distributed.keys import limiter_key
from common.runs.distributed.script_calls import DirectSender, ScriptCall, ScriptSender


@dataclass(frozen=True)
class Reservation:
    """The admission script's answer: how long to wait, the rates in force, and where the
    shared schedule ended after this reservation (what a give-back is checked against)."""

    wait_s: float
    rpm: float | None
    tpm: float | None
    ends: tuple[str, str]  # tat_r, tat_t as the script stored them

    @classmethod
    def of(cls, answer: Any) -> Reservation:
        wait, rpm, tpm, end_r, end_t = (_text(item) for item in answer)
        return cls(max(0.0, float(wait)), float(rpm) or None, float(tpm) or None, (end_r, end_t))


@dataclass(frozen=True)
class Admission:
    waited_s: float
    rpm: float | None  # the rate in force for every worker when this job was admitted
    tpm: float | None
    ends: tuple[str, str]  # the schedule's ends after the reservation the job went with


MAX_RESERVATIONS = 8  # a process late this often goes anyway (it is starved, not bursting)
_LATE_FLOOR_S = 0.02  # below this, lateness is scheduling noise


def _text(item: Any) -> str:
    return item.decode() if isinstance(item, bytes) else str(item)


def _rate(value: float | None) -> float:
    return value if value else 0.0


def _tolerance_s(rpm: float | None) -> float:
    """How late a reserved slot may be used: one request interval (no limit: any lateness)."""
    return max(_LATE_FLOOR_S, 60 / rpm) if rpm else float("inf")


class SharedLimiter:
    def __init__(self, redis: Redis, policy: AdaptivePolicy | None = None, sender: ScriptSender | None = None) -> None:
        self.policy = policy or AdaptivePolicy()
        self.sender = sender or DirectSender(redis)  # a worker's: batched with its jobs' other calls
        self._admit = redis.register_script(scripts.ADMIT)
        self._settle = redis.register_script(scripts.SETTLE)
        self._rate_limited = redis.register_script(scripts.RATE_LIMITED)

    async def acquire(
        self, provider: str, key_hash: str, limits: Limits, requests: int, tokens: int, *, reserved: Any = None
    ) -> Admission:
        """Reserves the job's slot in the shared schedule and waits for it.

        `reserved`: the answer of a `reserve_call` already made (sent with other scripts in
        one round trip, `script_calls.py`), taken as the first reservation.

        A process that wakes up late for its slot (its loop was busy: an SDK import, a CPU
        spike) gives the slot up and reserves another, so late jobs cannot all go at once:
        a request leaves at most one interval after its reserved time.
        """
        loop = asyncio.get_running_loop()
        waited = 0.0
        for attempt in range(MAX_RESERVATIONS):
            if attempt == 0 and reserved is not None:
                slot = Reservation.of(reserved)
            else:
                slot = await self._reserve(provider, key_hash, limits, requests, tokens)
            due = loop.time() + slot.wait_s
            if slot.wait_s > 0:
                await asyncio.sleep(slot.wait_s)  # the reserved slot's time: nothing to await but the clock
            waited += slot.wait_s
            late = loop.time() - due
            if late <= _tolerance_s(slot.rpm):
                break
        return Admission(waited, slot.rpm, slot.tpm, slot.ends)

    def reserve_call(self, provider: str, key_hash: str, limits: Limits, requests: int, tokens: int) -> ScriptCall:
        """The admission script call that reserves a slot, to be sent with others (`acquire(reserved=...)`)."""
        args = [
            _rate(limits.rpm),
            _rate(limits.tpm),
            requests,
            tokens,
            self.policy.burst_s,
            self.policy.recover_after_s,
            self.policy.recover_factor,
        ]
        return ScriptCall(self._admit, [limiter_key(provider, key_hash)], args)

    async def _reserve(self, provider: str, key_hash: str, limits: Limits, requests: int, tokens: int) -> Reservation:
        return Reservation.of(await self.sender.send(self.reserve_call(provider, key_hash, limits, requests, tokens)))

    async def settle(
        self,
        provider: str,
        key_hash: str,
        limits: Limits,
        extra_requests: int,
        extra_tokens: int,
        ends: tuple[str, str],
    ) -> None:
        """Accounts a job's difference from its reservation; `ends` is where that reservation
        left the schedule: less than reserved is given back only while nothing was reserved
        after it (`scripts.SETTLE`: giving back a slot in the middle would book one twice)."""
        if not extra_requests and not (limits.tpm and extra_tokens):
            return  # nothing the schedule counts changed (tokens count only under a tpm): no round trip
        args = [_rate(limits.rpm), _rate(limits.tpm), extra_requests, extra_tokens, *ends]
        await self.sender.send(ScriptCall(self._settle, [limiter_key(provider, key_hash)], args))

    async def rate_limited(
        self, provider: str, key_hash: str, limits: Limits, retry_after_s: float | None
    ) -> float | None:
        """A 429 from the provider: every worker pauses for the hint; returns the new rpm if this slowed them."""
        args = [
            _rate(limits.rpm),
            retry_after_s or 0.0,
            self.policy.quiet_s,
            self.policy.slow_factor,
            self.policy.min_factor,
            self.policy.burst_s,
        ]
        slowed, rpm = await self.sender.send(ScriptCall(self._rate_limited, [limiter_key(provider, key_hash)], args))
        return float(rpm) if int(slowed) else None
