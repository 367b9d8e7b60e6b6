"""Reaching the broker and Redis at start, with a short timeout and a message a user can act on.

Celery and redis-py both retry a refused connection for a long time by default; a run
that cannot reach its services must say so at once instead (the driver exits 2, the
worker exits with the same sentence).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from kombu import Connection

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
