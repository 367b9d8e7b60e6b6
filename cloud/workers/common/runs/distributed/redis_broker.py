"""kombu's Redis transport with one Redis client per channel, not one per broker command.

kombu's Redis channel wraps its connection pool in a new `redis.Redis` for every command it
sends outside the consumer's poller: each message a worker receives (recorded among the
unacknowledged), each acknowledgement, each task the driver submits. Building that client
(its table of response callbacks) cost 0.1-0.2 ms each here, about a tenth of a worker's
CPU per job. A `redis.Redis` over a pool is safe to share between threads (each command
takes a connection from the pool; a pipeline is its own object), so the channel keeps one,
made again when the channel's pool is replaced (after a reconnect). Nothing else changes:
the keys, the unacknowledged bookkeeping and the visibility timeout are kombu's.

Used for `redis://` brokers (`app.py`); `rediss://`, sentinel and RabbitMQ keep kombu's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from kombu.transport import redis as kombu_redis

TRANSPORT = "common.runs.distributed.redis_broker:Transport"


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared_client = self._create_client()  # type: ignore[attr-defined]  # not in kombu's stubs
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport to name in Celery's `broker_transport` for this broker (None: the URL's own)."""
    return TRANSPORT if broker_url.startswith("redis://") else None
