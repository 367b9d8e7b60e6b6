"""How the worker's consumer hands a probe task message to the pool: no Celery request for it.

Celery's default strategy builds a `Request` for every message (its headers, reprs of the
arguments, time limits, the callbacks of the tracer), registers it among the reserved and
active requests and decodes the body a second time in the pool: about a tenth of a worker's
CPU per job here, for a task that never needs any of it (no ETA, no expiry, no retries, no
result, no time limit: the job's own deadline bounds it). This strategy decodes the body
once and starts the job on the loop through `LoopPool.start_message`, acknowledging the
message through the consumer's own promise when the job has ended, as before (`acks_late`).

Anything else goes through Celery's default strategy unchanged: task events enabled (Flower
watches this worker: its task view needs the request's events), another pool (`-P
threads`), a message with an ETA, an expiry or a revoked id, one whose body is not exactly
one positional argument, and a protocol-1 message. So what Flower shows, `celery inspect`
and the other pools keep working; without events, `inspect active` does not list the jobs
this strategy started (the metrics do: `probe_jobs_in_flight`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.utils.log import get_logger
from celery.worker.strategy import default

from common.runs.distributed.pool import LoopPool, direct_start

Handler = Callable[..., Any]
_ACK_LOG = get_logger(__name__)  # kombu's ack_log_error reports a failed acknowledgement here


def probe_strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Handler:
    """The message handler of one task type (Celery builds it once per task, at consumer start)."""
    celery_default: Handler = default(task, app, consumer, **kwargs)
    pool, start = consumer.pool, direct_start(task.name)
    if not isinstance(pool, LoopPool) or start is None:
        return celery_default
    eventer = consumer.event_dispatcher
    revoked = consumer.controller.state.revoked
    connection_errors = consumer.connection_errors

    def handler(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any) -> Any:
        argument = None
        if not callbacks and not task_events_on(eventer):
            argument = _only_argument(message, revoked)
        if argument is None:
            return celery_default(message, body, ack, reject, callbacks)
        # the consumer's ack promise takes what Celery's request gives it: where to log a failed
        # acknowledgement, and which errors mean the connection is gone
        pool.start_message(start, argument[0], lambda: ack(_ACK_LOG, connection_errors))
        return None

    return handler


def task_events_on(eventer: Any) -> bool:
    """Whether the worker sends task events now. Its dispatcher is enabled for the worker's own
    heartbeats whatever the task events are; their group says: no groups (`-E`: every group)
    or "task" among them (Flower's `enable_events` adds it to a running worker)."""
    if eventer is None or not eventer.enabled:
        return False
    groups = eventer.groups
    return not groups or "task" in groups


def _only_argument(message: Any, revoked: Any) -> tuple[Any] | None:
    """The one positional argument of a plain protocol-2 task message, or None (Celery's path)."""
    headers = message.headers
    if not isinstance(headers, dict) or headers.get("eta") or headers.get("expires") or headers.get("id") in revoked:
        return None
    try:
        payload = message.decode()
    except Exception:  # Celery's strategy decodes it again and says what is wrong
        return None
    if not isinstance(payload, list | tuple) or len(payload) != 3:
        return None
    positional, named, _ = payload
    if named or not isinstance(positional, list | tuple) or len(positional) != 1:
        return None
    return (positional[0],)
