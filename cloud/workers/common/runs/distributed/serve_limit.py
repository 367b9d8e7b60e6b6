"""Serve mode's shared rate limit: serve processes that share a Redis share one limit per key.

    python3 cloud/workers/probe.py --serve --redis redis://127.0.0.1:6379/0 --rpm openai=500

(or `PROBE_REDIS_URL`, `PROBE_RPM`, `PROBE_TPM` in the environment, which is how the Node
`WorkerPool`'s processes get it). Each job is admitted through the same `SharedLimiter`
as a distributed worker's (`admission.py`) before its first request and settled after it,
so the processes of a pool, or of several hosts, together send at most the limit plus one
burst, and a 429 seen by one slows all. Loaded only when a Redis URL is configured: a
serve process without one imports nothing of this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.contract.probe import ProbeSuccess, WorkerFailure
from common.io.log import get_logger
from common.providers.pool import ProviderPool
from common.runs.batch.options import ConfigError, limits_from
from common.runs.batch.rate_limit import Limits
from common.runs.batch.spend import spend_of
from common.runs.distributed.admission import SharedAdmission
from common.runs.distributed.connect import UnreachableError, check_redis, shown, state_client
from common.runs.distributed.script_calls import BatchingSender
from common.runs.distributed.shared_limit import SharedLimiter
from common.runs.probe_worker import PROBE
from common.runs.run_path import parse_job, run_parsed

__all__ = ["ConfigError", "ServeLimit", "UnreachableError", "configure"]


@dataclass(frozen=True)
class ServeLimitConfig:
    redis_url: str
    limits: dict[str, Limits]


def configure(redis_url: str, rpm: list[str], tpm: list[str], limits_file: Path | None) -> ServeLimit:
    """The shared limit for a serve process; raises ConfigError (bad limits) or UnreachableError (no Redis)."""
    limits = limits_from(limits_file, rpm, tpm)
    check_redis(redis_url, "the shared limit's Redis")
    return ServeLimit(ServeLimitConfig(redis_url, limits))


class ServeLimit:
    """Runs serve's jobs through the shared limit; created before the loop, connected on it (`start`)."""

    def __init__(self, config: ServeLimitConfig) -> None:
        self.config = config
        self.redis: Redis | None = None
        self.admission: SharedAdmission | None = None
        self.log = get_logger(worker="probe", mode="serve")

    def describe(self) -> dict[str, Any]:
        limits = {name: {"rpm": limit.rpm, "tpm": limit.tpm} for name, limit in self.config.limits.items()}
        return {"redis": shown(self.config.redis_url), "limits": limits}

    def start(self) -> None:
        self.redis = state_client(self.config.redis_url)
        # the jobs of this serve process send their calls together (`script_calls.BatchingSender`)
        self.admission = SharedAdmission(SharedLimiter(self.redis, sender=BatchingSender(self.redis)))

    async def run_job(self, document: dict[str, Any], pool: ProviderPool, *, started: float | None) -> BaseModel:
        """`run_path.run_job` with admission before the job and settling after it.

        The wait for a slot counts against the job's deadline (from `started`: the host is
        already waiting). Redis unreachable mid-serve: the job runs without the shared limit
        (said in the log) rather than failing; its own retries still honour a 429.
        """
        parsed = parse_job(PROBE, document)
        if isinstance(parsed, WorkerFailure):
            return parsed
        admission = self.admission
        admitted = None
        if admission is not None:
            try:
                admitted = await admission.admit(parsed, self.config.limits)
            except (RedisError, OSError) as exc:
                self.log.warning("shared limit unreachable; this job runs without it", error=str(exc))
        result = await run_parsed(PROBE, parsed, pool, started=started)
        if admission is None or admitted is None or not isinstance(result, ProbeSuccess | WorkerFailure):
            return result
        spend = spend_of(result, len(parsed.prior_turns or []), parsed.model_cost)
        try:
            slowed = await admission.settle(admitted, spend)
        except (RedisError, OSError) as exc:
            self.log.warning("shared limit not settled", error=str(exc))
            return result
        if slowed is not None:
            self.log.warning(
                "provider answered 429: every process sharing the key slows down",
                provider=admitted.route.provider,
                rpm=slowed,
            )
        return result

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
