"""The worker's script calls share round trips (`script_calls.BatchingSender`), on a real Redis.

What a worker would notice: every caller gets its own answer (or its own error) whatever
else shares the batch; calls made together leave in one pipeline; a script Redis forgot
(it restarted) is loaded and answered; a broken connection reaches every caller of the
batch; a caller that gave up does not disturb the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, DataError, ResponseError

from common.runs.distributed.script_calls import BatchingSender, DirectSender, ScriptCall
from testkit.redis_server import RedisServer, free_port, private_redis

ECHO = "return {KEYS[1], ARGV[1]}"
FAILS = "return redis.error_reply('no such job')"
SLOW = """
local t = redis.call('TIME')
local stop = t[1] * 1000000 + t[2] + 50000
while true do
  local n = redis.call('TIME')
  if n[1] * 1000000 + n[2] > stop then return 'late' end
end
"""  # holds Redis for 50 ms


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


class CountingRedis:
    """Counts the pipelines a sender opens on a real client (one per round trip)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.pipelines: list[Any] = []

    def pipeline(self, transaction: bool = True) -> Any:
        pipe = self.redis.pipeline(transaction=transaction)
        self.pipelines.append(pipe)
        return pipe


def counting(redis: Redis) -> tuple[BatchingSender, CountingRedis]:
    spy = CountingRedis(redis)
    sender = BatchingSender(redis)
    sender.redis = spy  # type: ignore[assignment]  # the sender only opens pipelines on it
    return sender, spy


async def test_calls_made_together_leave_in_one_pipeline_and_each_gets_its_answer(redis: Redis) -> None:
    echo = redis.register_script(ECHO)
    sender, spy = counting(redis)
    answers = await asyncio.gather(*(sender.send(ScriptCall(echo, [f"k{n}"], [n])) for n in range(20)))
    assert answers == [[f"k{n}".encode(), str(n).encode()] for n in range(20)]
    assert len(spy.pipelines) == 1


async def test_calls_made_while_a_batch_is_on_its_way_go_in_the_next_one(redis: Redis) -> None:
    slow, echo = redis.register_script(SLOW), redis.register_script(ECHO)
    sender, spy = counting(redis)
    first = asyncio.ensure_future(sender.send(ScriptCall(slow, ["s"], [])))  # alone: a plain call
    await asyncio.sleep(0.01)  # it is on its way (Redis holds it 50 ms)
    later = [asyncio.ensure_future(sender.send(ScriptCall(echo, [f"k{n}"], [n]))) for n in range(5)]
    await asyncio.sleep(0)
    assert not any(call.done() for call in later)
    assert await first == b"late"
    assert [await call for call in later] == [[f"k{n}".encode(), str(n).encode()] for n in range(5)]
    assert len(spy.pipelines) == 1  # the five together, after the first came back


async def test_send_all_keeps_the_order_and_a_large_backlog_goes_in_pieces(redis: Redis) -> None:
    echo = redis.register_script(ECHO)
    sender, spy = counting(redis)
    sender.max_batch = 8
    answers = await sender.send_all([ScriptCall(echo, [f"k{n}"], [n]) for n in range(20)])
    assert answers == [[f"k{n}".encode(), str(n).encode()] for n in range(20)]
    assert len(spy.pipelines) == 3  # 8 + 8 + 4


async def test_an_error_answer_reaches_only_its_caller(redis: Redis) -> None:
    echo, fails = redis.register_script(ECHO), redis.register_script(FAILS)
    sender = BatchingSender(redis)
    calls = [ScriptCall(echo, ["a"], [1]), ScriptCall(fails, ["b"], []), ScriptCall(echo, ["c"], [3])]
    answers = await asyncio.gather(*(sender.send(call) for call in calls), return_exceptions=True)
    assert answers[0] == [b"a", b"1"] and answers[2] == [b"c", b"3"]
    assert isinstance(answers[1], ResponseError) and "no such job" in str(answers[1])
    with pytest.raises(ResponseError, match="no such job"):
        await sender.send_all(calls)


@pytest.mark.parametrize("make", [BatchingSender, DirectSender])
async def test_a_script_redis_forgot_is_loaded_and_answered(redis: Redis, make: type[Any]) -> None:
    echo = redis.register_script(ECHO)
    await redis.script_flush()  # as after a restart: Redis knows no script
    answers = await make(redis).send_all([ScriptCall(echo, ["a"], [1]), ScriptCall(echo, ["b"], [2])])
    assert answers == [[b"a", b"1"], [b"b", b"2"]]


async def test_a_caller_that_gives_up_leaves_the_others_answered(redis: Redis) -> None:
    echo = redis.register_script(ECHO)
    sender = BatchingSender(redis)
    calls = [asyncio.ensure_future(sender.send(ScriptCall(echo, [f"k{n}"], [n]))) for n in range(4)]
    await asyncio.sleep(0)
    calls[1].cancel()  # its job hit its deadline
    assert [await calls[n] for n in (0, 2, 3)] == [[b"k0", b"0"], [b"k2", b"2"], [b"k3", b"3"]]
    assert calls[1].cancelled()
    assert await sender.send(ScriptCall(echo, ["after"], [9])) == [b"after", b"9"]  # the sender goes on


async def test_a_broken_connection_reaches_every_caller_of_the_batch() -> None:
    gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    echo = gone.register_script(ECHO)
    sender = BatchingSender(gone)
    try:
        answers = await asyncio.gather(
            *(sender.send(ScriptCall(echo, [f"k{n}"], [n])) for n in range(3)), return_exceptions=True
        )
        assert all(isinstance(answer, ConnectionError) for answer in answers)
        with pytest.raises(ConnectionError):  # alone, too
            await sender.send(ScriptCall(echo, ["k"], [0]))
    finally:
        await gone.aclose()


async def test_a_batch_that_cannot_be_sent_answers_every_caller_and_the_sender_goes_on(redis: Redis) -> None:
    """A call Redis cannot be sent (an argument redis-py cannot encode) fails its whole
    pipeline; every caller of that batch hears why instead of waiting forever."""
    echo = redis.register_script(ECHO)
    sender = BatchingSender(redis)
    calls = [ScriptCall(echo, ["a"], [1]), ScriptCall(echo, ["b"], [{"not": "encodable"}])]
    answers = await asyncio.wait_for(asyncio.gather(*(sender.send(c) for c in calls), return_exceptions=True), 5)
    assert all(isinstance(answer, DataError) for answer in answers)
    assert await sender.send(ScriptCall(echo, ["c"], [3])) == [b"c", b"3"]
