"""A synchronous worker (`Worker.synchronous`, analyze_basic) in one-shot mode: no event loop, same contract.

Its job runs to its end without asyncio; what the host gets is what any worker gives:
the job's document, CANCELLED for a signal that came before the job started, and an
UNKNOWN error document (never a crash) for a job that waits for something after all.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from common.io.log import configure_logging
from common.providers.pool import ProviderPool
from common.runs import process_start
from common.runs.oneshot import run_worker
from common.runs.run_path import Worker


class Echo(BaseModel):
    success: bool
    echoed: str


def _parse(document: dict[str, Any]) -> str:
    return str(document["text"])


async def _echo(text: str, _: ProviderPool) -> BaseModel:
    return Echo(success=True, echoed=text)


async def _waits(text: str, _: ProviderPool) -> BaseModel:
    await asyncio.sleep(0)  # a job that waits: it needs an event loop
    return Echo(success=True, echoed=text)


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


def _one_shot(run: Any) -> dict[str, Any]:
    worker = Worker(name="echo", parse=_parse, run=run, synchronous=True)
    out = io.StringIO()
    assert run_worker(worker, stdin=io.BytesIO(b'{"text": "hello"}'), stdout=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # exactly one document
    document: dict[str, Any] = json.loads(lines[0])
    return document


def test_a_synchronous_job_prints_its_document() -> None:
    assert _one_shot(_echo) == {"success": True, "echoed": "hello"}


def test_a_synchronous_job_that_waits_is_answered_with_an_unexpected_error() -> None:
    document = _one_shot(_waits)
    assert document["success"] is False
    assert document["error"]["code"] == "UNKNOWN"  # what `unexpected_error` answers


def test_a_signal_before_a_synchronous_job_starts_answers_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded, not raised (no handler of the script's own while stdin is read): the job must not run.
    monkeypatch.setattr(process_start, "_caught", False)
    monkeypatch.setattr(process_start, "_received", signal.SIGTERM)
    document = _one_shot(_echo)
    assert document["success"] is False
    assert document["error"]["code"] == "CANCELLED"
