"""`probe.py --serve` as a host drives it: JSON-lines jobs on stdin, one result line per job on stdout."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from functools import partial
from typing import Any

import pytest

from tests.conftest import REPO, worker_env
from tests.fake_provider import FakeProvider
from tests.helpers import probe_job
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.e2e

VOLATILE = {"startedAt", "completedAt", "timing"}


def one_shot(job: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "cloud/workers/probe.py"],
        input=json.dumps(job).encode(),
        capture_output=True,
        cwd=REPO,
        env=worker_env(),
        timeout=60,
    )
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def stable(value: Any) -> Any:
    """The document without what differs between two runs of the same job (clock readings)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def has_progress(job_id: str, entry: dict[str, Any]) -> bool:
    return entry.get("type") == "progress" and entry.get("jobId") == job_id


def job_line(job_id: Any, model: str = "mock:echo", **overrides: Any) -> dict[str, Any]:
    return {"id": job_id, **probe_job(model, **overrides)}


def test_each_result_carries_its_id_and_the_one_shot_document() -> None:
    jobs = {
        "ok": probe_job("mock:echo"),
        "partial": probe_job("mock:fail:BAD_REQUEST@2"),
        "auth": probe_job("mock:fail:AUTH_ERROR"),
    }
    server = ServeProcess("--concurrency", "2")
    try:
        server.send(*({"id": job_id, **job} for job_id, job in jobs.items()))
        server.close_stdin()
        results = server.results(3)
        assert server.wait() == 0
    finally:
        server.kill()
    assert set(results) == set(jobs)
    for job_id, job in jobs.items():
        assert stable(results[job_id]) == stable(one_shot(job)), job_id
    assert results["partial"]["error"]["code"] == "BAD_REQUEST"
    assert len(results["partial"]["partialTranscript"]["turns"]) == 1
    # nothing but result lines ever reaches stdout
    assert len(server.raw_stdout) == 3 and all(line.endswith("\n") for line in server.raw_stdout)


def test_logs_are_json_on_stderr_tagged_with_the_job_id() -> None:
    server = ServeProcess()
    try:
        server.send(job_line("job-a"), job_line(17, runId="run-b"))
        server.close_stdin()
        server.results(2)
        assert server.wait() == 0
    finally:
        server.kill()
    turns = [entry for entry in server.logs if entry.get("event") == "turn complete"]
    assert Counter((t["jobId"], t["runId"]) for t in turns) == {("job-a", "run-1"): 3, (17, "run-b"): 3}, turns
    assert not [entry for entry in server.logs if "unparsed" in entry]


def test_malformed_lines_each_answer_validation_error_and_serving_goes_on() -> None:
    server = ServeProcess()
    try:
        server.send(
            "this is not json",  # line 1
            '{"id": "cut-short", "runId": "r", "modelId": ',  # line 2: the id is still readable
            "[1, 2, 3]",  # line 3
            json.dumps(probe_job("mock:echo")),  # line 4: no id
            json.dumps({"id": "no-scenario", "modelId": "mock:echo"}),  # line 5: an invalid job
            b"\xff\xfe not utf-8",  # line 6
            "",  # a blank line is skipped, not answered
            json.dumps(job_line("good")),  # line 8
        )
        server.close_stdin()
        results = server.results(7)
        assert server.wait() == 0
    finally:
        server.kill()
    assert results["good"]["success"] is True
    bad = {key: value for key, value in results.items() if key != "good"}
    assert set(bad) == {("line", 1), "cut-short", ("line", 3), ("line", 4), "no-scenario", ("line", 6)}
    for result in bad.values():
        assert result["success"] is False and result["contractVersion"] == "1.0"
        assert result["error"]["code"] == "VALIDATION_ERROR" and result["error"]["retryable"] is False
    assert results["cut-short"]["error"]["details"]["line"] == 2
    assert "no usable id" in results[("line", 4)]["error"]["message"]
    assert results["no-scenario"]["error"]["details"]["field"] == "runId"


def test_a_line_over_the_size_limit_is_refused_and_the_next_one_runs() -> None:
    server = ServeProcess(PROBE_MAX_INPUT_BYTES="2000")
    try:
        huge = job_line("huge")
        huge["scenario"]["prompt"] = "x" * 5000
        server.send(huge, job_line("small"))
        server.close_stdin()
        results = server.results(2)
        assert server.wait() == 0
    finally:
        server.kill()
    assert results["small"]["success"] is True
    refused = results["huge"]  # its id is the line's first key, so the host can match the refusal
    assert refused["error"]["code"] == "VALIDATION_ERROR" and "larger than 2000 bytes" in refused["error"]["message"]


def test_stdin_eof_lets_the_jobs_in_flight_finish() -> None:
    server = ServeProcess("--concurrency", "4")
    try:
        server.send(*(job_line(f"slow-{n}", "mock:slow:300", followups=1) for n in range(3)))
        server.close_stdin()
        results = server.results(3)
        assert server.wait() == 0
    finally:
        server.kill()
    assert all(result["success"] is True for result in results.values())
    assert all(len(result["transcript"]["turns"]) == 2 for result in results.values())


def test_sigterm_answers_cancelled_with_each_partial_transcript_and_exits_zero() -> None:
    server = ServeProcess("--concurrency", "2")
    try:
        server.send(
            job_line("a", "mock:slow:400", followups=3),
            job_line("b", "mock:slow:400", followups=3),
            job_line("queued", "mock:echo"),  # waits for a slot: read but never started
        )
        for job_id in ("a", "b"):  # stdin stays open: the server is busy, not finished
            server.wait_for_log(partial(has_progress, job_id))
        server.proc.send_signal(signal.SIGTERM)
        results = server.results(3)
        assert server.wait() == 0
    finally:
        server.kill()
    for job_id in ("a", "b"):
        error = results[job_id]["error"]
        assert error["code"] == "CANCELLED" and error["retryable"] is True
        turns = results[job_id]["partialTranscript"]["turns"]
        assert 1 <= len(turns) < 4 and turns[0]["turnNumber"] == 1
    assert results["queued"]["error"]["code"] == "CANCELLED"
    assert "partialTranscript" not in results["queued"]


def test_jobs_share_one_client_and_never_exceed_the_concurrency() -> None:
    with FakeProvider(latency_s=0.3).running() as fake:
        server = ServeProcess(
            "--concurrency",
            "3",
            OPENAI_API_KEY="sk-test-serve-not-real-0000",
            OPENAI_BASE_URL=f"{fake.url}/v1",
        )
        try:
            server.send(*(job_line(n, "openai:gpt-4o-mini", followups=0) for n in range(9)))
            server.close_stdin()
            results = server.results(9)
            assert server.wait() == 0
        finally:
            server.kill()
        stats = fake.stats
    assert all(result["success"] is True for result in results.values())
    assert len(stats.requests) == 9
    assert stats.max_in_flight == 3
    # one SDK client per provider, base URL and key: its pool keeps the same connections
    assert stats.connections == 3


def test_bad_arguments_are_refused_before_anything_runs() -> None:
    for args in (["--serve", "--concurrency", "0"], ["--concurrency", "4"], ["--serve", "--bogus"]):
        done = subprocess.run(
            [sys.executable, "cloud/workers/probe.py", *args],
            capture_output=True,
            cwd=REPO,
            env=worker_env(),
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2 and done.stdout == b"", args
        assert b"usage: probe.py" in done.stderr
