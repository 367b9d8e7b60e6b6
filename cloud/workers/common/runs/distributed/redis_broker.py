"""kombu's Redis transport with one Redis client per channel and no acknowledgement emulation.

kombu's Redis channel wraps its connection pool in a new `redis.Redis` for every command it
sends outside the consumer's poller: each message a worker receives (recorded among the
unacknowledged), each acknowledgement, each task the driver submits. Building that client
(its table of response callbacks) cost 0.1-0.2 ms each here, about a tenth of a worker's
CPU per job. A `redis.Redis` over a pool is safe to share between threads (each command
takes a connection from the pool; a pipeline is its own object), so the channel keeps one,
made again when the channel's pool is replaced (after a reconnect).

And no emulated acknowledgements (kombu's `ack_emulation`, off): kombu records every message
it hands out in a hash and a sorted set and removes it again on the acknowledgement, two
more round trips per message (a seventh of a worker's profile samples here), so that a
message a dead worker held comes back after the visibility timeout: two hours, long after
the driver's lease (60 s) has given the job to another worker, and that lease, not the
broker, is what this design relies on (`app.py`). The messages a worker holds live in its
memory: a warm shutdown puts back those it did not run (kombu's `restore_unacked_once`);
a killed worker's jobs come back by their leases, their turns from the checkpoints.

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
    ack_emulation = False  # a transport option can still turn it on: `broker_transport_options`

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
