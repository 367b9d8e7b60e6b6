"""Reaching the broker and Redis at start, with a short timeout and a message a user can act on.

Celery and redis-py both retry a refused connection for a long time by default; a run
that cannot reach its services must say so at once instead (the driver exits 2, the
worker exits with the same sentence).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from kombu import Connection
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT_S = 3.0


class UnreachableError(Exception):
    """The broker or the Redis of a distributed run cannot be reached."""


class RedisLostError(Exception):
    """The run's Redis went away, or came back empty, while the driver ran (the driver exits 2)."""


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_redis(url: str, what: str = "Redis") -> None:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise UnreachableError(f"cannot reach {what} at {shown(url)}: {exc}") from None


def state_client(url: str) -> AsyncRedis:
    """The asyncio client a worker (or a serve process) keeps for the run state and the shared limit.

    After Redis restarts, every connection the client pooled is closed at the server's end,
    and the first command sent on each fails: redis-py's connections retry nothing by
    default, so that job's claim or result failed and it waited for its lease (60 s). One
    immediate retry on a connection error reconnects. Every script is safe to run twice in
    the rare case that the first went through before the connection broke: a claim held by
    the same token is the caller's own, a second publish finds the result in the done-set,
    a checkpoint or renewal writes the same value, a second reservation only leaves a slot
    empty, and a give-back applies once (`scripts.SETTLE` checks the schedule's end).
    """
    return AsyncRedis.from_url(url, retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))


def check_broker(url: str) -> None:
    try:
        with Connection(url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=int(CONNECT_TIMEOUT_S)
            )
    except Exception as exc:  # kombu wraps each transport's own errors differently
        raise UnreachableError(f"cannot reach the broker at {shown(url)}: {exc}") from None


def check_all(broker: str, state: str) -> None:
    check_broker(broker)
    if state != broker:
        check_redis(state, "the run's Redis")
    else:
        check_redis(state, "the broker's Redis")
