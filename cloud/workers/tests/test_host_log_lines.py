"""Our stderr lines as ValueRank's API reads them: every line reaches its log, ids included.

The host's reading is written here as its code states it, in
chrislawcodes/valuerank cloud/apps/api/src/queue/spawn.ts: each complete stderr line goes
first to `tryParseProgress` (when the caller passed `onProgress`; the probe handler does
not), else to `tryParsePythonLog`, and `forwardPythonLog` writes it to the host's log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.workers import ANALYZE_BASIC_PY, HEALTH_CHECK_PY, PROBE_PY, WorkerRun, run_script
from tests.helpers import probe_job

JOB_IDS = {"runId": "run-1", "scenarioId": "scenario-1"}


def _parse_like_spawn_ts(line: str) -> Any:
    """`line.trim().startsWith('{')`, then `JSON.parse(line.trim())`; None where spawn.ts gives up."""
    trimmed = line.strip()
    if not trimmed.startswith("{"):
        return None
    try:
        return json.loads(trimmed)
    except ValueError:
        return None


def host_reads_progress(line: str) -> bool:
    """spawn.ts `tryParseProgress`: an object whose `type` is "progress"."""
    parsed = _parse_like_spawn_ts(line)
    return isinstance(parsed, dict) and parsed.get("type") == "progress"


def host_forwards(line: str) -> bool:
    """spawn.ts `tryParsePythonLog`: an object with `typeof level === 'string'` and `typeof msg === 'string'`."""
    parsed = _parse_like_spawn_ts(line)
    return isinstance(parsed, dict) and isinstance(parsed.get("level"), str) and isinstance(parsed.get("msg"), str)


def stderr_lines(run: WorkerRun) -> list[str]:
    return [line for line in run.err.splitlines() if line.strip()]


def probe_run(model_id: str, **env: str) -> WorkerRun:
    return run_script(PROBE_PY, probe_job(model_id, followups=1), env=env)


@pytest.mark.parametrize(
    "model_id",
    [
        "mock:echo",  # info lines and progress lines
        "mock:flaky:SERVER_ERROR:1",  # a warning line for the retry
        "mock:fail:AUTH_ERROR",  # the failure's warning line
        "gpt-4o",  # no OPENAI_API_KEY: a job that fails before any request
    ],
)
def test_every_probe_line_reaches_the_host_log_with_the_job_ids(model_id: str) -> None:
    run = probe_run(model_id)
    lines = stderr_lines(run)
    assert lines and run.code == 0
    refused = [line for line in lines if not host_forwards(line)]
    assert refused == [], "spawn.ts drops these lines"
    for entry in map(json.loads, lines):
        assert entry["msg"] == entry["event"]  # the same message under both names
        assert isinstance(entry["time"], str) and entry["time"]
        assert {**JOB_IDS, "modelId": model_id}.items() <= entry.items(), entry


def test_progress_lines_are_read_as_progress_and_forwarded_as_logs_too() -> None:
    """With `onProgress` spawn.ts takes them as progress; without (the probe handler) it logs them."""
    lines = stderr_lines(probe_run("mock:echo"))
    progress = [line for line in lines if host_reads_progress(line)]
    assert [json.loads(line)["turn"] for line in progress] == [1, 2]
    assert all(host_forwards(line) for line in progress)


def test_a_quiet_log_level_still_sends_progress_the_host_can_forward() -> None:
    lines = stderr_lines(probe_run("mock:echo", PROBE_LOG_LEVEL="error"))
    assert lines and all(host_reads_progress(line) and host_forwards(line) for line in lines)


@pytest.mark.parametrize(
    ("script", "stdin"),
    [(ANALYZE_BASIC_PY, b'{"runId": "run-1"}'), (HEALTH_CHECK_PY, b'{"live": "sometimes"}')],
)
def test_other_workers_failure_lines_reach_the_host_log(script: Path, stdin: bytes) -> None:
    run = run_script(script, stdin)
    assert run.document["success"] is False
    lines = stderr_lines(run)
    assert lines and all(host_forwards(line) for line in lines)
    assert any(json.loads(line)["msg"] == "job failed" for line in lines)


def test_the_last_resort_line_reaches_the_host_log_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line that cannot be rendered at all is replaced by an error line the host still forwards."""
    from common.io import log

    def unrenderable(value: object, seen: set[int]) -> object:
        raise RecursionError("too deep")

    monkeypatch.setattr(log, "_loggable", unrenderable)
    line = log.render_log_line({"event": "x", "level": "info", "answer": float("nan")})
    assert host_forwards(line) and json.loads(line)["level"] == "error"
