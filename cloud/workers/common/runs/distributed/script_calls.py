"""How Lua script calls reach Redis: one round trip each, or batched across a loop's jobs.

A round trip through redis-py's asyncio client costs about as much CPU as a small script
itself here (~110 us a call alone, measured; ~15 us more for each further command of one
pipeline), and a worker makes two or three of them per job (the claim with the rate limit's
reservation, the result, a checkpoint after each turn but the last). Sixty jobs on one loop
make those calls at about the same times, so the worker sends them through a
`BatchingSender`: every call made while a batch is on its way (or in the same turn of the
loop) goes in the next one, one pipeline per round trip, one batch in flight at a time. A
call waits at most one round trip longer; nothing waits for a timer. The driver, whose calls
are one at a time or already pipelined, sends directly (`DirectSender`).

redis-py's pipeline would first ask `SCRIPT EXISTS` for scripts registered on it (another
round trip each time), so the calls are queued as plain EVALSHA; a script the server does
not know (it restarted) answers NOSCRIPT without running, and only that call is made
again through its `AsyncScript`, which loads it. Each script stays atomic on its own (the
pipeline is not a transaction), so calls on different Redis Cluster slots may share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

MAX_BATCH = 256  # calls per pipeline: a backlog goes out in pieces rather than one huge write


@dataclass(frozen=True)
class ScriptCall:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]

    async def run(self) -> Any:
        """This call alone (loading the script if the server does not know it)."""
        return await self.script(keys=list(self.keys), args=list(self.args))


class ScriptSender(Protocol):
    async def send(self, call: ScriptCall) -> Any:
        """The call's answer; an error answer is raised."""
        ...

    async def send_all(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """The answers of `calls` (in one round trip), in order; an error answer is raised."""
        ...


class DirectSender:
    """Each `send` is its own round trip; a `send_all` shares one."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def send(self, call: ScriptCall) -> Any:
        return await call.run()

    async def send_all(self, calls: Sequence[ScriptCall]) -> list[Any]:
        answers = await _answers(self.redis, calls)
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers


_Queued = tuple[ScriptCall, "asyncio.Future[Any]"]


class BatchingSender:
    """The calls of every job on one event loop, sent together (see the module's docstring).

    Used from one loop only (a worker's, a serve process's). A caller that gives up (its job
    was cancelled) leaves its call in the batch: it runs, and its answer is dropped, as an
    answer to a call cancelled on its way would be.
    """

    def __init__(self, redis: Redis, max_batch: int = MAX_BATCH) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._queue: list[_Queued] = []
        self._sending: asyncio.Task[None] | None = None

    async def send(self, call: ScriptCall) -> Any:
        return await self._enqueue(call)

    async def send_all(self, calls: Sequence[ScriptCall]) -> list[Any]:
        return list(await asyncio.gather(*(self._enqueue(call) for call in calls)))

    def _enqueue(self, call: ScriptCall) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((call, future))
        if self._sending is None:  # the task's first step runs after this turn of the loop: its calls join
            self._sending = loop.create_task(self._send_queued())
        return future

    async def _send_queued(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._send_batch(batch)
        except asyncio.CancelledError:  # the loop is closing: nobody will be answered
            for _, future in (*batch, *self._queue):
                future.cancel()
            self._queue.clear()
            raise
        finally:
            self._sending = None

    async def _send_batch(self, batch: list[_Queued]) -> None:
        try:
            answers = await _answers(self.redis, [call for call, _ in batch])
        except Exception as exc:  # not sent or not answered (the connection failed): every caller hears why
            answers = [exc] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            _answer(future, answer)


async def _answers(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """The answers of `calls` in one round trip, an error answer in its call's place (a
    NOSCRIPT: that call again, alone, loading its script); a broken connection is raised."""
    if len(calls) == 1:  # alone, a plain call is cheaper than a pipeline of one
        try:
            return [await calls[0].run()]
        except ResponseError as exc:
            return [exc]
    pipe = redis.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    answers: list[Any] = await pipe.execute(raise_on_error=False)
    for index, (answer, call) in enumerate(zip(answers, calls, strict=True)):
        if isinstance(answer, NoScriptError):
            try:
                answers[index] = await call.run()
            except ResponseError as exc:
                answers[index] = exc
    return answers


def _answer(future: asyncio.Future[Any], answer: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if isinstance(answer, Exception):
        future.set_exception(answer)
    else:
        future.set_result(answer)
