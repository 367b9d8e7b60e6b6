"""Distributed-run processes for tests and benchmarks: Celery workers and their brokers.

`start_worker` starts `celery -A common.runs.distributed.app worker` as a user does (from
`cloud/workers`) and returns once the worker says it consumes ("distributed worker ready"
on stderr: an event, never a guess). Brokers: a private Redis from `redis_server`, and
the machine's RabbitMQ when one answers on 127.0.0.1:5672 (`rabbitmq_url`). Each test run
uses its own queue name (`PROBE_QUEUE`), so a developer's real queue is never touched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator, Mapping, Sequence

from testkit.workers import WORKERS, WorkerProcess

RABBITMQ_URL = os.environ.get("PROBE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
READY = "distributed worker ready"
START_S = 60.0


def rabbitmq_reachable(url: str = RABBITMQ_URL) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception:
        return False
    return True


def new_queue() -> str:
    return f"probe-test-{uuid.uuid4().hex[:12]}"


def delete_queue(broker: str, queue: str) -> None:
    """Removes a test's queue from the broker (RabbitMQ keeps declared queues)."""
    from kombu import Connection, Queue

    with contextlib.suppress(Exception), Connection(broker, connect_timeout=2) as connection:
        Queue(queue, channel=connection.channel()).delete()


def distributed_env(broker: str, redis_url: str, queue: str, **extra: str) -> dict[str, str]:
    return {"PROBE_BROKER_URL": broker, "PROBE_REDIS_URL": redis_url, "PROBE_QUEUE": queue, **extra}


APP = "common.runs.distributed.app"
PINNED_CLOCK_APP = "testkit.pinned_clock_app"  # the same app, the wall clock pinned (PROBE_TEST_WALL_CLOCK)


def start_worker(
    env: Mapping[str, str],
    *,
    concurrency: int = 8,
    name: str | None = None,
    app: str = APP,
    extra_args: Sequence[str] = (),
) -> WorkerProcess:
    """A Celery worker process, ready to consume (kill it with `.kill()`: SIGKILL).

    `extra_args` go to `celery worker` as they are (e.g. `-P threads -E`, the pool and task
    events of before: a benchmark compares them)."""
    node = name or f"w{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "-c",
        str(concurrency),
        "-n",
        f"{node}@{socket.gethostname()}",
        "--loglevel",
        "warning",
        "--without-gossip",
        "--without-mingle",
        *extra_args,
        env=dict(env),
        cwd=WORKERS,
    )
    try:
        worker.wait_for_log(lambda entry: entry.get("msg") == READY, timeout_s=START_S)
    except AssertionError:
        worker.kill()
        raise AssertionError(f"the Celery worker did not become ready:\n{worker.err[-3000:]}") from None
    return worker


@contextlib.contextmanager
def workers(
    env: Mapping[str, str], count: int, *, concurrency: int = 8, app: str = APP, extra_args: Sequence[str] = ()
) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        for number in range(count):
            name = f"w{number}-{uuid.uuid4().hex[:4]}"
            started.append(start_worker(env, concurrency=concurrency, name=name, app=app, extra_args=extra_args))
        yield started
    finally:
        for worker in started:
            worker.kill()
