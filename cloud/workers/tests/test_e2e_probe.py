"""probe.py as a host runs it: a subprocess, a job on stdin, one JSON document on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.fake_provider import Failure, FakeProvider
from testkit.workers import PROBE_PY, REPO, run_script
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e


def run_probe(
    job: dict[str, Any] | bytes, *, cwd: Path = REPO, script: str | Path = PROBE_PY, **env: str
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    done = run_script(script, job, cwd=cwd, env=env)
    assert done.unparsed_logs == [], "every stderr line is a JSON log line"
    return done.code, done.document, done.logs


def test_mock_probe_from_repo_root_and_from_cloud() -> None:
    job = probe_job("mock:echo")
    code, out, logs = run_probe(job)
    assert code == 0 and out["success"] is True
    assert [t["turnNumber"] for t in out["transcript"]["turns"]] == [1, 2, 3]
    assert out["transcript"]["modelVersion"] == "mock-1.0"
    progress = [line for line in logs if line.get("type") == "progress"]
    assert [p["turn"] for p in progress] == [1, 2, 3] and progress[-1]["of"] == 3
    assert all({"level", "time", "event"} <= line.keys() for line in logs)
    assert all(line["runId"] == "run-1" for line in logs if line.get("event") == "turn complete")

    code2, out2, _ = run_probe(job, cwd=REPO / "cloud", script="workers/probe.py")
    assert code2 == 0
    # the mock is deterministic: same job, same answers
    assert [t["targetResponse"] for t in out2["transcript"]["turns"]] == [
        t["targetResponse"] for t in out["transcript"]["turns"]
    ]


def test_progress_lines_survive_a_quiet_log_level() -> None:
    code, out, logs = run_probe(probe_job("mock:echo"), PROBE_LOG_LEVEL="error")
    assert code == 0 and out["success"] is True
    assert [line["turn"] for line in logs if line.get("type") == "progress"] == [1, 2, 3]
    assert all(line.get("type") == "progress" for line in logs)  # the info lines are filtered out


def test_mock_failure_reports_retryable_with_a_hint_and_keeps_completed_turns() -> None:
    code, out, _ = run_probe(probe_job("mock:fail:SERVER_ERROR@2"))
    assert code == 0 and out["success"] is False
    assert out["error"]["code"] == "SERVER_ERROR" and out["error"]["retryable"] is True
    assert out["error"]["retryAfterMs"] == 10
    assert [t["turnNumber"] for t in out["partialTranscript"]["turns"]] == [1]


def test_mock_non_retryable_failure() -> None:
    code, out, _ = run_probe(probe_job("mock:fail:AUTH_ERROR"))
    assert code == 0 and out["error"]["code"] == "AUTH_ERROR" and out["error"]["retryable"] is False
    assert out["error"]["details"]["attempts"] == 1


def test_bad_input_is_a_validation_error_with_exit_zero() -> None:
    code, out, _ = run_probe(b"{not json")
    assert code == 0 and out["error"]["code"] == "VALIDATION_ERROR" and out["error"]["retryable"] is False


def test_missing_key_is_reported_without_calling_anyone() -> None:
    code, out, _ = run_probe(probe_job("gpt-4o"))
    assert code == 0 and out["error"]["code"] == "MISSING_API_KEY"
    assert "OPENAI_API_KEY" in out["error"]["message"]


def test_openai_through_a_local_fake_server(fake_provider: FakeProvider) -> None:
    key = "sk-test-e2e-not-a-real-key-123456"
    code, out, logs = run_probe(probe_job("gpt-4o-mini"), OPENAI_API_KEY=key, OPENAI_BASE_URL=f"{fake_provider.url}/v1")
    assert code == 0 and out["success"] is True, out
    transcript = out["transcript"]
    assert transcript["modelVersion"] == "gpt-4o-mini"
    assert len(transcript["turns"]) == 3 and all(t["targetResponse"] for t in transcript["turns"])
    # each turn re-sends the growing history, so input tokens grow
    inputs = [t["inputTokens"] for t in transcript["turns"]]
    assert inputs == sorted(inputs) and inputs[0] < inputs[-1]
    assert key not in json.dumps(out) and key not in json.dumps(logs)


def test_rate_limits_from_a_real_server_end_retryable(fake_provider: FakeProvider) -> None:
    fake_provider.failures.append(Failure(status=429, contains="trigger-429"))
    job = probe_job("gpt-4o-mini", config={"deadlineMs": 5000})
    job["scenario"]["followups"][0]["prompt"] = "trigger-429"
    url = f"{fake_provider.url}/v1"
    code, out, logs = run_probe(job, OPENAI_API_KEY="sk-test-not-real-00000000", OPENAI_BASE_URL=url)
    assert code == 0 and out["error"]["code"] == "RATE_LIMIT" and out["error"]["retryable"] is True
    assert out["error"]["retryAfterMs"] > 0
    assert [t["turnNumber"] for t in out["partialTranscript"]["turns"]] == [1]
    assert any(line.get("event") == "retrying" for line in logs)


def test_anthropic_through_a_local_fake_server(fake_provider: FakeProvider) -> None:
    job = probe_job("claude-sonnet-4-5", config={"preambleMode": "system"})
    job["scenario"]["preamble"] = "You are a careful assistant."
    code, out, _ = run_probe(job, ANTHROPIC_API_KEY="sk-ant-test-not-real-0000", ANTHROPIC_BASE_URL=fake_provider.url)
    assert code == 0 and out["success"] is True, out
    assert out["transcript"]["modelVersion"] == "claude-sonnet-4-5"
    assert out["transcript"]["turns"][0]["providerMetadata"]["provider"] == "anthropic"


def test_anthropic_overloaded_from_a_real_server(fake_provider: FakeProvider) -> None:
    # Anthropic's documented 529 body, with a 20 ms retry hint so the retries never wait for real.
    # The deadline counts from the process start, so it holds the SDK import (~2 s, 4+ s on a busy machine).
    fake_provider.failures.append(Failure(status=529, contains="trigger-529"))
    job = probe_job("claude-sonnet-4-5", followups=0, config={"deadlineMs": 15000})
    job["scenario"]["prompt"] = "trigger-529"
    code, out, _ = run_probe(job, ANTHROPIC_API_KEY="sk-ant-test-not-real-0000", ANTHROPIC_BASE_URL=fake_provider.url)
    assert code == 0 and out["error"]["code"] == "OVERLOADED" and out["error"]["retryable"] is True
