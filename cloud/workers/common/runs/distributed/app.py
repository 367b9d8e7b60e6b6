"""The Celery app of probe jobs; a worker is started from `cloud/workers` with

    celery -A common.runs.distributed.app worker -c 64 --loglevel warning

(the pool is `pool.LoopPool`, every job on the process's one event loop, no thread per
job: see `pool.py` and `loop_thread.py`; `-c` is how many jobs the process runs at once).
Start one such process per core. The broker is `PROBE_BROKER_URL`, its queue `PROBE_QUEUE`,
the run state's Redis `PROBE_REDIS_URL` (`io/environment.py`).

Delivery settings and why: a message is acknowledged after its job ran (`acks_late`) and
given back if the worker process dies (`reject_on_worker_lost`; on RabbitMQ the broker does
it); one message is prefetched per job slot (`-c`), so a dying worker strands few jobs. On a
`redis://` broker kombu's acknowledgement emulation is off (`redis_broker.py`: it cost two
round trips per message to give a dead worker's messages back after a visibility timeout of
hours); where it stays on (`rediss://`) the visibility timeout exceeds the longest job
deadline. None of this is relied on for correctness: the driver resubmits any job whose
lease ran out, and the claim and the done-set make a second delivery a no-op (`scripts.py`).

Task events (what Flower shows) are off by default: three event messages per job cost a
worker about a tenth of its CPU per job. Flower turns them on in the workers it watches
(its default), and `celery worker -E` turns them on from the start.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import sys
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready, worker_shutdown

from common.contract.probe import DEFAULT_DEADLINE_MS
from common.io import environment
from common.io.log import configure_logging, get_logger, get_progress_logger
from common.runs.distributed import metrics, redis_broker
from common.runs.distributed.connect import UnreachableError, check_all, state_client
from common.runs.distributed.loop_thread import LoopThread
from common.runs.distributed.messages import TASK_NAME
from common.runs.distributed.pool import defer, start_directly
from common.runs.distributed.task import JobRunner

DEFAULT_CONCURRENCY = 32
POOL = "common.runs.distributed.pool:LoopPool"
VISIBILITY_TIMEOUT_S = max(2 * 3600, 4 * DEFAULT_DEADLINE_MS // 1000)


def make_app(broker: str) -> Celery:
    celery = Celery("probe", broker=broker, set_as_current=False)
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=environment.queue_name(),
        task_ignore_result=True,  # results go to the run's Redis, keyed by run and job (state.py)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_pool=POOL,
        worker_concurrency=DEFAULT_CONCURRENCY,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=False,  # unreachable at start: say so and exit, no silent retry
        broker_connection_timeout=4,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_send_task_events=False,  # Flower's live view: Flower enables them, or `worker -E`
        task_send_sent_event=False,
    )
    transport = redis_broker.transport_for(broker)
    if transport is not None:  # kombu's Redis transport, one client per channel (redis_broker.py)
        celery.conf.broker_transport = transport
    return celery


app = make_app(environment.broker_url())
_loop: LoopThread | None = None


STRATEGY = "common.runs.distributed.strategy:probe_strategy"


@app.task(name=TASK_NAME, ignore_result=True, Strategy=STRATEGY)
def run_probe_task(message: Any) -> None:
    """One probe job: runs on the process's event loop; the result goes to Redis, never to Celery.

    `LoopPool` starts these messages itself (`start_directly` below) and acknowledges each when
    its job ends; this body runs for a message it could not read that way (through Celery's
    tracer: it returns once the job is on the loop, `defer`) and under another pool (it waits).
    """
    future = _start_job(message)
    if not defer(future):
        future.result()


def _start_job(message: Any) -> concurrent.futures.Future[None]:
    """Hands one task message to the process's event loop; the future ends with the job."""
    loop = _loop
    if loop is None:  # not started by `celery worker` (a test calling the task in-process)
        loop = _start_loop()
    return loop.submit(lambda runner: runner.handle(message))


start_directly(TASK_NAME, _start_job)  # LoopPool starts these messages itself (pool.py)


def _start_loop() -> LoopThread:
    global _loop
    if _loop is None:
        url = environment.state_redis_url(app.conf.broker_url)
        name = f"{socket.gethostname()}:{os.getpid()}"
        ttl = environment.claim_ttl_s()
        _loop = LoopThread(lambda: JobRunner(state_client(url), ttl, name))
        _loop.start()
    return _loop


@worker_init.connect
def _on_worker_init(**_: Any) -> None:
    # the real stderr, taken now: Celery later swaps sys.stderr for a proxy that would wrap each line;
    # a job's progress lines are logs here (the driver reads results from Redis): info lines
    configure_logging(stream=sys.stderr, progress_is_contract=False)
    log = get_logger(worker="distributed")
    broker = str(app.conf.broker_url)
    try:
        check_all(broker, environment.state_redis_url(broker))
    except UnreachableError as exc:
        sys.stderr.write(f"probe worker: {exc}\n")
        raise SystemExit(2) from None
    port = environment.metrics_port()
    if port is not None:
        metrics.serve(port)
    _start_loop()
    log.info("distributed worker started", pid=os.getpid(), metricsPort=port)


@worker_ready.connect
def _on_worker_ready(**_: Any) -> None:
    """Said once the worker consumes from the queue (tests and scripts wait for this line)."""
    # the unfiltered logger: scripts wait for this line whatever PROBE_LOG_LEVEL says
    get_progress_logger(worker="distributed").info("distributed worker ready", type="ready", pid=os.getpid())


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    if _loop is not None:
        _loop.stop()
