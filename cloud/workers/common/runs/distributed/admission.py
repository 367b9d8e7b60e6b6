"""Admitting one probe job through the shared rate limit, and settling it afterwards.

Used by a distributed worker's task (`task.py`) and by serve mode with a Redis URL
(`serve_limit.py`), so both follow one rule: the job's provider and hashed key name the
limiter; the SDK is imported before admission (an import that holds the process for a
second must not sit between a job's reserved slot and its request); the estimate of what
the job still has to send is reserved; after the job, the difference is settled and a
429 it met slows every process sharing the key (not a wall such as a per-day quota: that is
one model's, and the driver parks the model instead, `common.runs.batch.parking`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.contract.probe import ProbeJob
from common.errors.codes import WorkerError
from common.providers.registry import load_provider_class, record_for, resolve_model
from common.providers.settings import settings_for
from common.runs.batch.parking import is_wall_s
from common.runs.batch.rate_limit import Limits
from common.runs.batch.spend import DEFAULT_EXPECTED_OUTPUT_TOKENS, Estimate, Spend, estimate_job
from common.runs.distributed.keys import hash_api_key
from common.runs.distributed.script_calls import ScriptCall
from common.runs.distributed.shared_limit import Reservation, SharedLimiter


@dataclass(frozen=True)
class Route:
    provider: str
    key_hash: str
    limits: Limits


@dataclass(frozen=True)
class Pending:
    """A job about to be admitted: its limiter and what it is expected to send."""

    route: Route
    estimate: Estimate


@dataclass(frozen=True)
class Admitted:
    """A job let through: where it was admitted, what was reserved for it, how long it waited."""

    route: Route
    estimate: Estimate
    waited_s: float
    ends: tuple[str, str]  # where its reservation left the shared schedule (`SharedLimiter.settle`)


def route_for(job: ProbeJob, limits: Mapping[str, Limits]) -> Route | None:
    """The limiter a job is admitted by; None when its model names no provider (it fails at once)."""
    try:
        provider = resolve_model(job.model_id).provider
        key = settings_for(record_for(provider)).api_key
    except WorkerError:
        return None
    return Route(provider, hash_api_key(key), limits.get(provider, Limits()))


class SharedAdmission:
    """One process's side of the shared limit: admission, settling, and the output sizes it has seen."""

    def __init__(self, limiter: SharedLimiter) -> None:
        self.limiter = limiter
        self.output_means: dict[str, tuple[int, int]] = {}  # provider -> (output tokens, turns)

    async def admit(self, job: ProbeJob, limits: Mapping[str, Limits]) -> Admitted | None:
        """Waits for the job's slot; None when the job names no provider (nothing to admit)."""
        pending = await self.prepare(job, limits)
        return None if pending is None else await self.admitted(pending)

    async def prepare(self, job: ProbeJob, limits: Mapping[str, Limits]) -> Pending | None:
        """What admitting the job reserves, its SDK imported; None when the job names no provider."""
        route = route_for(job, limits)
        if route is None:
            return None
        await load_provider_class(route.provider)
        return Pending(route, estimate_job(job, self.expected_output(route.provider)))

    def reserve_call(self, pending: Pending) -> ScriptCall:
        """The reservation as a script call, to be sent with others; its answer goes to `admitted`."""
        route, estimate = pending.route, pending.estimate
        return self.limiter.reserve_call(
            route.provider, route.key_hash, route.limits, estimate.requests, estimate.tokens
        )

    async def admitted(self, pending: Pending, reserved: Any = None) -> Admitted:
        """Waits for the job's slot (the one `reserved` answered, if given)."""
        route, estimate = pending.route, pending.estimate
        admission = await self.limiter.acquire(
            route.provider, route.key_hash, route.limits, estimate.requests, estimate.tokens, reserved=reserved
        )
        return Admitted(route, estimate, admission.waited_s, admission.ends)

    async def give_back(self, pending: Pending, reserved: Any) -> None:
        """A slot reserved (`reserved`: the reservation's answer) for a job that will not run (its
        message was not claimed): given back if no slot was reserved after it, else left empty."""
        route, estimate = pending.route, pending.estimate
        ends = Reservation.of(reserved).ends
        await self.limiter.settle(
            route.provider, route.key_hash, route.limits, -estimate.requests, -estimate.tokens, ends
        )

    async def settle(self, admitted: Admitted, spend: Spend) -> float | None:
        """Accounts what the job really sent; returns the new shared rpm when its 429 slowed everyone."""
        route, estimate = admitted.route, admitted.estimate
        if spend.output_tokens_per_turn:
            total, turns = self.output_means.get(route.provider, (0, 0))
            self.output_means[route.provider] = (total + sum(spend.output_tokens_per_turn), turns + spend.new_turns)
        await self.limiter.settle(
            route.provider,
            route.key_hash,
            route.limits,
            spend.requests - estimate.requests,
            spend.tokens - estimate.tokens,
            admitted.ends,
        )
        if not spend.rate_limited or is_wall_s(spend.retry_after_s):
            return None
        return await self.limiter.rate_limited(route.provider, route.key_hash, route.limits, spend.retry_after_s)

    def expected_output(self, provider: str) -> float:
        total, turns = self.output_means.get(provider, (0, 0))
        return total / turns if turns else DEFAULT_EXPECTED_OUTPUT_TOKENS
