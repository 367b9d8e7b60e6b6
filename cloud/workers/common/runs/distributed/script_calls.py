"""Several Lua script calls sent to Redis in one round trip.

A worker starts each job with two scripts, the claim (the run's keys) and the shared rate
limit's admission (the limiter's key): each alone is one request and one wake-up of the
loop, and a send on this machine's loopback costs about as much CPU as a small script
itself. In one non-transactional pipeline they cost one. Each script stays atomic on its own,
and they may live on different Redis Cluster slots (no MULTI spans them).

redis-py's pipeline would first ask `SCRIPT EXISTS` for scripts registered on it (another
round trip each time), so the calls are queued as plain EVALSHA; a script the server does
not know (it restarted) answers NOSCRIPT without running, and only that call is made
again through its `AsyncScript`, which loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class ScriptCall:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]


async def call_together(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """The answers of `calls`, in order; an error answer (other than NOSCRIPT) is raised."""
    if len(calls) == 1:
        call = calls[0]
        return [await call.script(keys=list(call.keys), args=list(call.args))]
    pipe = redis.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    answers: list[Any] = await pipe.execute(raise_on_error=False)
    for index, (answer, call) in enumerate(zip(answers, calls, strict=True)):
        if isinstance(answer, NoScriptError):
            answers[index] = await call.script(keys=list(call.keys), args=list(call.args))
        elif isinstance(answer, Exception):
            raise answer
    return answers
