"""A run's state in Redis, as the worker and the driver use it (each step one Lua script).

See `scripts.py` for what each step decides; this module only names the keys and turns
the scripts' answers into values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from common.runs.distributed import scripts
from common.runs.distributed.keys import RUN_TTL_S, RunKeys
from common.runs.distributed.script_calls import DirectSender, ScriptCall, ScriptSender


class Claim(StrEnum):
    OK = "ok"
    STALE = "stale"  # the driver submitted a newer generation, or the run is over
    DONE = "done"  # this generation's result is already in (a redelivery)
    BUSY = "busy"  # another worker holds the job right now


class Lease(StrEnum):
    CLAIMED = "claimed"  # a worker runs it: wait
    PENDING = "pending"  # its result is waiting to be collected
    SUBMIT = "submit"  # submit it as the returned generation


@dataclass(frozen=True)
class ClaimAnswer:
    status: Claim
    checkpoint: bytes | None  # the turns finished by an earlier run of the job (JSON), if any


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def claim_answer(answer: Any) -> ClaimAnswer:
    status, checkpoint = answer
    return ClaimAnswer(Claim(_text(status)), checkpoint or None)


class RunState:
    """The scripts, registered once per Redis client (EVALSHA, reloaded if the server forgot them).

    A worker's calls (claim, checkpoint, publish) go through `sender` (the worker's
    `BatchingSender`: batched with its other jobs' calls); the driver's go directly.
    """

    def __init__(self, redis: Redis, sender: ScriptSender | None = None) -> None:
        self.redis = redis
        self.sender = sender or DirectSender(redis)
        self._claim = redis.register_script(scripts.CLAIM)
        self._publish = redis.register_script(scripts.PUBLISH)
        self._checkpoint = redis.register_script(scripts.CHECKPOINT)
        self._renew = redis.register_script(scripts.RENEW)
        self._lease = redis.register_script(scripts.LEASE)

    # -- the worker's side ------------------------------------------------------------

    async def claim(self, keys: RunKeys, job: str, gen: int, token: str, ttl_s: float) -> ClaimAnswer:
        return claim_answer(await self.sender.send(self.claim_call(keys, job, gen, token, ttl_s)))

    def claim_call(self, keys: RunKeys, job: str, gen: int, token: str, ttl_s: float) -> ScriptCall:
        """`claim` as a script call, to be sent with others (`script_calls.py`); its answer goes to `claim_answer`."""
        return ScriptCall(
            self._claim,
            [keys.generations, keys.done, keys.checkpoints, keys.claim(job)],
            [job, gen, token, int(ttl_s * 1000), RUN_TTL_S],
        )

    async def checkpoint(self, keys: RunKeys, job: str, token: str, turns_json: str) -> bool:
        call = ScriptCall(self._checkpoint, [keys.checkpoints, keys.claim(job)], [job, token, turns_json, RUN_TTL_S])
        return bool(await self.sender.send(call))

    async def publish(self, keys: RunKeys, job: str, gen: int, token: str, payload: str) -> bool:
        call = ScriptCall(
            self._publish,
            [keys.generations, keys.done, keys.results, keys.claim(job)],
            [job, gen, token, payload, RUN_TTL_S],
        )
        return bool(await self.sender.send(call))

    async def renew(self, claims: Sequence[tuple[str, str]], ttl_s: float) -> int:
        """Renews (claim key, token) pairs still held by their token; returns how many were."""
        if not claims:
            return 0
        renewed = await self._renew(
            keys=[key for key, _ in claims], args=[*(token for _, token in claims), int(ttl_s * 1000)]
        )
        return int(renewed)

    # -- the driver's side ------------------------------------------------------------

    async def lease(self, keys: RunKeys, job: str) -> tuple[Lease, int]:
        status, gen = await self._lease(
            keys=[keys.generations, keys.done, keys.collected, keys.claim(job)], args=[job, RUN_TTL_S]
        )
        return Lease(_text(status)), int(gen)

    async def leases(self, keys: RunKeys, jobs: Sequence[str]) -> list[tuple[Lease, int]]:
        """`lease` for many jobs in one pipeline (each script call atomic on its own, as `lease`)."""
        if len(jobs) == 1:
            return [await self.lease(keys, jobs[0])]
        pipe = self.redis.pipeline(transaction=False)
        for job in jobs:
            await self._lease(
                keys=[keys.generations, keys.done, keys.collected, keys.claim(job)], args=[job, RUN_TTL_S], client=pipe
            )
        answers = await pipe.execute()
        return [(Lease(_text(status)), int(gen)) for status, gen in answers]

    async def waiting_results(self, keys: RunKeys, limit: int) -> tuple[bool, list[bytes]]:
        """Whether the run's `alive` marker is still there, and up to `limit` results waiting (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(keys.alive)
        pipe.lrange(keys.results, 0, limit - 1)
        alive, items = await pipe.execute()
        return bool(alive), [item if isinstance(item, bytes) else item.encode() for item in items]

    async def wait_for_results(self, keys: RunKeys, timeout_s: float) -> bool:
        """Blocks until a result is waiting (True) or the timeout passes; takes nothing off the list."""
        # a fractional timeout is fine for Redis >= 6 (redis-py's hint says int)
        moved = await self.redis.blmove(keys.results, keys.results, timeout_s, "RIGHT", "LEFT")  # type: ignore[arg-type]
        return moved is not None

    async def mark_collected(self, keys: RunKeys, count: int, collected: dict[str, int], finished: list[str]) -> None:
        """After the results file has the lines: drop them from the list, record what was collected,
        and forget the checkpoints of jobs that ended for good."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.ltrim(keys.results, count, -1)
        if collected:
            pipe.hset(keys.collected, mapping=collected)  # type: ignore[arg-type]
            pipe.expire(keys.collected, RUN_TTL_S)
        if finished:
            pipe.hdel(keys.checkpoints, *finished)
        await pipe.execute()

    async def mark_alive(self, keys: RunKeys) -> None:
        """The run's marker: gone mid-run (`waiting_results` says) means Redis restarted or was flushed."""
        await self.redis.set(keys.alive, "1", ex=RUN_TTL_S)

    async def forget(self, keys: RunKeys) -> None:
        """Deletes a finished run: a message still in a queue then finds no generation and is dropped
        (claims expire by themselves)."""
        await self.redis.delete(*keys.all_fixed())
