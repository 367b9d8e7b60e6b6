"""`probe.py --serve` as a host drives it: JSON-lines jobs on stdin, one result line per job on stdout."""

from __future__ import annotations

import json
import signal
from collections import Counter
from typing import Any

import pytest

from testkit.fake_provider import FakeProvider
from testkit.workers import PROBE_PY, run_script, serve_process
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

VOLATILE = {"startedAt", "completedAt", "timing"}
MODEL = "openai:gpt-4o-mini"  # its requests can be held on the fake provider: no test waits on a clock


def one_shot(job: dict[str, Any]) -> dict[str, Any]:
    return run_script(PROBE_PY, job, timeout_s=60).document


def stable(value: Any) -> Any:
    """The document without what differs between two runs of the same job (clock readings)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def job_line(job_id: Any, model: str = "mock:echo", **overrides: Any) -> dict[str, Any]:
    return {"id": job_id, **probe_job(model, **overrides)}


def test_each_result_carries_its_id_and_the_one_shot_document() -> None:
    jobs = {
        "ok": probe_job("mock:echo"),
        "partial": probe_job("mock:fail:BAD_REQUEST@2"),
        "auth": probe_job("mock:fail:AUTH_ERROR"),
    }
    server = serve_process("--concurrency", "2")
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
    server = serve_process()
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
    server = serve_process()
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
        assert result["success"] is False and result["contractVersion"] == "2.0"
        assert result["error"]["code"] == "VALIDATION_ERROR" and result["error"]["retryable"] is False
    assert results["cut-short"]["error"]["details"]["line"] == 2
    assert "no usable id" in results[("line", 4)]["error"]["message"]
    assert results["no-scenario"]["error"]["details"]["field"] == "runId"


def test_a_line_over_the_size_limit_is_refused_and_the_next_one_runs() -> None:
    server = serve_process(PROBE_MAX_INPUT_BYTES="2000")
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


def openai_env(fake: FakeProvider) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-serve-not-real-0000", "OPENAI_BASE_URL": f"{fake.url}/v1"}


def test_stdin_eof_lets_the_jobs_in_flight_finish(fake_provider: FakeProvider) -> None:
    held = fake_provider.hold()  # every request waits until the test lets it through
    server = serve_process("--concurrency", "4", **openai_env(fake_provider))
    try:
        server.send(*(job_line(f"slow-{n}", MODEL, followups=1) for n in range(3)))
        held.wait_held(3)  # all three jobs are in the middle of a request
        server.close_stdin()
        closed = server.wait_for_log(lambda entry: entry.get("event") == "stdin closed; finishing jobs in flight")
        held.release()
        results = server.results(3)
        assert server.wait() == 0
    finally:
        server.kill()
    assert closed["inFlight"] == 3
    assert all(result["success"] is True for result in results.values())
    assert all(len(result["transcript"]["turns"]) == 2 for result in results.values())


def test_sigterm_answers_cancelled_with_each_partial_transcript_and_exits_zero(fake_provider: FakeProvider) -> None:
    held = fake_provider.hold(turn=2)  # each job answers its first turn, then waits in its second
    server = serve_process("--concurrency", "2", **openai_env(fake_provider))
    try:
        server.send(
            job_line("a", MODEL, followups=3),
            job_line("b", MODEL, followups=3),
            job_line("queued", "mock:echo"),  # waits for a slot: read but never started
        )
        held.wait_held(2)  # stdin stays open: the server is busy, not finished
        server.signal(signal.SIGTERM)
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


def test_jobs_share_one_client_and_never_exceed_the_concurrency(fake_provider: FakeProvider) -> None:
    fake_provider.hold(group=3)  # requests are answered three at a time, once three wait together
    server = serve_process("--concurrency", "3", **openai_env(fake_provider))
    try:
        server.send(*(job_line(n, MODEL, followups=0) for n in range(9)))
        server.close_stdin()
        results = server.results(9)
        assert server.wait() == 0
    finally:
        server.kill()
    stats = fake_provider.stats
    assert all(result["success"] is True for result in results.values())
    assert len(stats.requests) == 9
    assert stats.max_in_flight == 3
    # one SDK client per provider, base URL and key: its pool keeps the same connections
    assert stats.connections == 3


def test_bad_arguments_are_refused_before_anything_runs() -> None:
    for args in (["--serve", "--concurrency", "0"], ["--concurrency", "4"], ["--serve", "--bogus"]):
        done = run_script(PROBE_PY, b"", *args, timeout_s=60)
        assert done.code == 2 and done.stdout == b"", args
        assert b"usage: probe.py" in done.stderr


def test_a_large_result_is_written_whole_while_small_jobs_go_on() -> None:
    """A result over RENDER_OFF_LOOP_CHARS is rendered on a thread; the host sees the same kind of line."""
    big_prompt = "Consider the committee's key sk-test0123456789abcdefghij today. " * 7000  # ~440 K characters
    server = serve_process("--concurrency", "2", PROBE_MAX_INPUT_BYTES=str(4 << 20))
    try:
        server.send(job_line("big", followups=0, scenario={"prompt": big_prompt}), job_line("small"))
        server.close_stdin()
        results = server.results(2)
        assert server.wait() == 0
    finally:
        server.kill()
    assert results["small"]["success"] is True
    turn = results["big"]["transcript"]["turns"][0]
    assert len(turn["probePrompt"]) > 300_000  # over RENDER_OFF_LOOP_CHARS, after redaction too
    assert "sk-test0123456789" not in turn["probePrompt"]  # redacted like every document
    assert turn["probePrompt"].count("[REDACTED]") == 7000
