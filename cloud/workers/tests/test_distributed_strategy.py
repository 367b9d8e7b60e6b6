"""The consumer strategy of probe tasks: a plain message starts its job on the pool, no Celery request.

What a worker does with each message decides its CPU per job, and whether Flower and the
other pools still work: a plain message (one argument, no ETA, no expiry, not revoked, task
events off, our pool) is started through `LoopPool.start_message` and acknowledged only when
its job has ended; everything else goes through Celery's own strategy.
"""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace
from typing import Any

import pytest

from common.runs.distributed import strategy
from common.runs.distributed.app import make_app
from common.runs.distributed.pool import LoopPool, start_directly

TASK = "probe.test-strategy"
WORKER_EVENTS_ONLY = {"worker"}  # the worker's default: heartbeats, no task events
CONNECTION_ERRORS = (ConnectionError,)


class Message:
    def __init__(self, payload: Any, **headers: Any) -> None:
        self.headers = {"task": TASK, "id": "m-1", **headers}
        self._payload = payload

    def decode(self) -> Any:
        if isinstance(self._payload, Exception):
            raise self._payload
        return self._payload


class Setup:
    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, *, pool: Any = None, groups: set[str] | None = WORKER_EVENTS_ONLY
    ) -> None:
        self.started: list[Any] = []
        self.futures: list[concurrent.futures.Future[None]] = []
        self.by_celery: list[Any] = []
        self.acks = 0

        def start(argument: Any) -> concurrent.futures.Future[None]:
            self.started.append(argument)
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            self.futures.append(future)
            return future

        start_directly(TASK, start)
        monkeypatch.setattr(strategy, "default", lambda *a, **k: lambda message, *rest: self.by_celery.append(message))
        self.pool = pool if pool is not None else LoopPool(limit=4, app=make_app("redis://127.0.0.1:1/0"))
        consumer = SimpleNamespace(
            pool=self.pool,
            # as Celery's dispatcher is: enabled for the worker's heartbeats; task events by group
            event_dispatcher=SimpleNamespace(enabled=True, groups=None if groups is None else set(groups)),
            controller=SimpleNamespace(state=SimpleNamespace(revoked={"revoked-id"})),
            connection_errors=CONNECTION_ERRORS,
        )
        self.handler = strategy.probe_strategy(SimpleNamespace(name=TASK), None, consumer)

    def ack(self, logger: Any, errors: Any) -> None:  # what the consumer's ack promise is called with
        assert hasattr(logger, "error") and errors == CONNECTION_ERRORS
        self.acks += 1

    def receive(self, message: Message, callbacks: Any = ()) -> None:
        self.handler(message, None, self.ack, None, list(callbacks))


def test_a_plain_message_starts_its_job_and_is_acknowledged_when_the_job_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = Setup(monkeypatch)
    setup.receive(Message([[{"job": 1}], {}, {}]))
    assert setup.started == [{"job": 1}] and setup.by_celery == []
    assert setup.acks == 0  # still running: not acknowledged (acks_late)
    setup.futures[0].set_result(None)
    assert setup.acks == 1


def test_a_job_cut_off_by_the_worker_stopping_is_not_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    setup = Setup(monkeypatch)
    setup.receive(Message([["job"], {}, {}]))
    setup.futures[0].set_exception(RuntimeError("the loop stopped"))
    assert setup.acks == 0


@pytest.mark.parametrize(
    "message",
    [
        Message([["job"], {}, {}], eta="2026-12-01T00:00:00"),
        Message([["job"], {}, {}], expires="2026-12-01T00:00:00"),
        Message([["job"], {}, {}], id="revoked-id"),
        Message([["job"], {"named": 1}, {}]),
        Message([["one", "two"], {}, {}]),
        Message({"args": ["job"]}),
        Message(ValueError("not JSON")),
    ],
    ids=["eta", "expires", "revoked", "named-arguments", "two-arguments", "not-protocol-2", "undecodable"],
)
def test_anything_but_a_plain_message_goes_through_celerys_strategy(
    monkeypatch: pytest.MonkeyPatch, message: Message
) -> None:
    setup = Setup(monkeypatch)
    setup.receive(message)
    assert setup.by_celery == [message] and setup.started == []


def test_task_events_callbacks_and_other_pools_keep_celerys_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    flower = Setup(monkeypatch, groups={"worker", "task"})  # Flower's enable_events: it needs the request's
    flower.receive(Message([["job"], {}, {}]))
    dash_e = Setup(monkeypatch, groups=None)  # `worker -E`: every group
    dash_e.receive(Message([["job"], {}, {}]))
    with_callbacks = Setup(monkeypatch)
    with_callbacks.receive(Message([["job"], {}, {}]), callbacks=[lambda request: None])
    threads = Setup(monkeypatch, pool=SimpleNamespace())  # `-P threads`: not our pool
    threads.receive(Message([["job"], {}, {}]))
    setups = (flower, dash_e, with_callbacks, threads)
    assert [len(s.by_celery) for s in setups] == [1, 1, 1, 1]
    assert [s.started for s in setups] == [[], [], [], []]
