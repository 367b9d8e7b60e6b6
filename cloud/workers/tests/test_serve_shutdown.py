"""Serve mode stopping on a signal while it holds far more lines than it runs at once.

A host that sends SIGTERM to a busy warm worker must get exactly one answer for every
line the worker read (CANCELLED for a job, VALIDATION_ERROR with its id for a line that
could never run), wherever the line was at that moment: running, waiting for a slot, in
the queue, still in the reader's hands, or in the pipe's buffer.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from typing import Any

import pytest

from testkit.fake_provider import FakeProvider
from testkit.workers import WorkerProcess, serve_process
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

CONCURRENCY = 8
LINES = 200  # 25 times the concurrency; all of it fits in a pipe's buffer, so writing never blocks
SLOW = "mock:slow:600000"  # in flight until cancelled


def openai_env(fake: FakeProvider) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-shutdown-not-real-0000", "OPENAI_BASE_URL": f"{fake.url}/v1"}


def answers(server: WorkerProcess) -> list[dict[str, Any]]:
    """Every result line the server printed, once it has exited."""
    return [json.loads(line) for line in server.raw_stdout]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_every_line_read_is_answered_once_when_a_signal_stops_a_busy_server(
    fake_provider: FakeProvider, sig: signal.Signals
) -> None:
    held = fake_provider.hold()
    server = serve_process("--concurrency", str(CONCURRENCY), **openai_env(fake_provider))
    try:
        running = [{"id": f"run-{n}", **probe_job(SLOW, followups=0)} for n in range(CONCURRENCY - 1)]
        running.append({"id": "held", **probe_job("openai:gpt-4o-mini", followups=0)})
        waiting = [{"id": n, **probe_job(SLOW, followups=0)} for n in range(LINES - CONCURRENCY)]
        server.send(*running, *waiting)  # fits the pipe: the test never blocks on a busy server
        held.wait_held(1)  # the last job to start is waiting on the provider: every slot is taken
        server.signal(sig)
        assert server.wait() == 0
    finally:
        server.kill()
    lines = answers(server)
    ids = Counter(line["id"] for line in lines)
    expected = {f"run-{n}" for n in range(CONCURRENCY - 1)} | {"held"} | set(range(LINES - CONCURRENCY))
    assert set(ids) == expected, f"missing {sorted(map(str, expected - set(ids)))[:10]}"
    assert all(count == 1 for count in ids.values()), [key for key, count in ids.items() if count > 1]
    for line in lines:
        error = line["result"]["error"]
        assert error["code"] == "CANCELLED" and error["retryable"] is True, line
    assert len(server.raw_stdout) == len(expected)  # nothing but result lines on stdout


def test_lines_that_cannot_run_are_answered_with_their_id_when_the_server_stops(fake_provider: FakeProvider) -> None:
    held = fake_provider.hold()
    server = serve_process("--concurrency", "1", **openai_env(fake_provider))
    try:
        server.send(
            {"id": "held", **probe_job("openai:gpt-4o-mini", followups=0)},
            {"id": "queued", **probe_job(SLOW, followups=0)},
            '{"id": "broken", "runId": ',  # not JSON: its id is still readable
            {"id": "invalid", "modelId": "mock:echo"},  # JSON, but not a job
            {"id": "deep", "x": json.loads("[" * 50 + "]" * 50)} | probe_job(SLOW, followups=0),
            b'{"id": "nested", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            b'{"id": "digits", "n": ' + b"7" * 5_000 + b"}",
        )
        held.wait_held(1)
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.kill()
    results = {line["id"]: line["result"] for line in answers(server)}
    assert len(server.raw_stdout) == len(results) == 7
    for job_id in ("held", "queued", "deep"):
        assert results[job_id]["error"]["code"] == "CANCELLED", job_id
    for job_id in ("broken", "invalid", "nested", "digits"):
        error = results[job_id]["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["retryable"] is False, job_id
    assert "nests too deeply" in results["nested"]["error"]["message"]
    assert results["nested"]["error"]["details"]["line"] == 6
    assert results["digits"]["error"]["details"]["line"] == 7
