"""`batch.py` from a shell: the results file, the summary, exit codes, and what a kill or Ctrl-C leaves."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testkit.fake_provider import FakeProvider
from testkit.workers import BATCH_PY, WorkerProcess, run_script
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

WAIT_S = 60.0
MODEL = "openai:gpt-4o-mini"  # the kill and Ctrl-C tests hold its requests on the fake provider


def write_jobs(path: Path, jobs: dict[Any, dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"id": job_id, **job}) + "\n" for job_id, job in jobs.items()))
    return path


def run_batch(*args: str, **env: str) -> tuple[int, str, str]:
    """`batch.py` run to its end: exit code, stdout, stderr."""
    done = run_script(BATCH_PY, b"", *args, env=env, timeout_s=WAIT_S)
    return done.code, done.out, done.err


def start_batch(*args: str, **env: str) -> WorkerProcess:
    """`batch.py` left running, for a test that stops it."""
    return WorkerProcess(BATCH_PY, *args, env=env, stdin=subprocess.DEVNULL)


def provider_env(fake: FakeProvider) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-batch-cli-not-real-0000", "OPENAI_BASE_URL": f"{fake.url}/v1"}


def whole_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "the last line was cut"
    return [json.loads(line) for line in data.splitlines()]


def test_a_run_writes_results_and_prints_a_summary(tmp_path: Path) -> None:
    jobs = {
        "ok": probe_job("mock:echo", modelCost={"costInputPerMillion": 3, "costOutputPerMillion": 15}),
        "auth": probe_job("mock:fail:AUTH_ERROR"),
        "down": probe_job("mock:fail:SERVER_ERROR@3"),
    }
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    code, stdout, stderr = run_batch(
        str(jobs_file), "-o", str(out), "--max-attempts", "1", "--summary-json", str(summary)
    )
    assert code == 3, stderr  # a retryable failure is left: running the command again would retry it
    assert stdout == ""
    results = {line["id"]: line["result"] for line in whole_lines(out)}
    assert set(results) == set(jobs)
    assert "succeeded   1" in stderr and "failed      1 (not retryable)" in stderr and "retryable   1" in stderr
    assert "by code     AUTH_ERROR 1, SERVER_ERROR 1" in stderr
    facts = json.loads(summary.read_text())
    assert facts["succeeded"] == 1 and facts["errorCodes"] == {"AUTH_ERROR": 1, "SERVER_ERROR": 1}
    assert facts["estimatedCost"] == pytest.approx(results["ok"]["transcript"]["costSnapshot"]["estimatedCost"])
    assert facts["requests"] == 3 + 1 + 2 + 5  # ok: 3 turns; auth: 1; down: 2 turns, then 5 tries of turn 3
    log_lines = (tmp_path / "results.jsonl.log").read_text().splitlines()
    assert {json.loads(line)["jobId"] for line in log_lines if "turn complete" in line} == {"ok", "down"}


def test_a_jobs_file_with_unusable_lines_runs_nothing(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", **probe_job()}), "{oops", json.dumps(probe_job()), json.dumps({"id": "a"})]
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results.jsonl"
    code, stdout, stderr = run_batch(str(jobs_file), "-o", str(out))
    assert code == 2 and stdout == ""
    assert "3 line(s) cannot run, nothing was started" in stderr
    assert "line 2 is not valid JSON" in stderr and "line 3 has no usable id" in stderr
    assert "line 4 repeats id 'a' (first on line 1)" in stderr
    assert not out.exists()


def test_a_kill_leaves_whole_lines_and_the_same_command_finishes_the_rest(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    jobs = {f"j{n}": probe_job(MODEL, followups=0, scenarioId=f"s{n}") for n in range(60)}
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out = tmp_path / "results.jsonl"
    env = provider_env(fake_provider)
    held = fake_provider.hold(skip=6)  # the first 6 requests are answered; every later one waits
    with start_batch(str(jobs_file), "-o", str(out), "--concurrency", "6", **env) as proc:
        # 6 more jobs waiting means 6 slots were given back: 6 jobs finished and wrote their line
        held.wait_held(6)
        proc.proc.kill()
        proc.wait()
    held.release()
    done_before = {line["id"] for line in whole_lines(out)}
    assert 6 <= len(done_before) < 60

    code, _, stderr = run_batch(str(jobs_file), "-o", str(out), "--concurrency", "6", **env)
    assert code == 0, stderr
    assert f"{len(done_before)} already done" in stderr
    results = {line["id"]: line["result"] for line in whole_lines(out)}
    assert set(results) == set(jobs) and len(whole_lines(out)) == 60
    assert all(result["success"] for result in results.values())


def test_ctrl_c_writes_each_job_in_flight_with_its_turns_and_a_rerun_resumes_them(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    jobs = {f"j{n}": probe_job(MODEL, followups=3, scenarioId=f"s{n}") for n in range(3)}
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out, log = tmp_path / "results.jsonl", tmp_path / "run.log"
    env = provider_env(fake_provider)

    def every_job_has_a_turn() -> bool:
        lines = log.read_text().splitlines() if log.exists() else []
        return len({json.loads(x)["jobId"] for x in lines if '"progress"' in x}) == 3

    held = fake_provider.hold(turn=2)  # each job answers its first turn, then waits in its second
    with start_batch(str(jobs_file), "-o", str(out), "--concurrency", "3", "--log-file", str(log), **env) as proc:
        held.wait_held(3)
        proc.signal(signal.SIGINT)
        code = proc.wait()
        stderr = proc.err
    held.release()
    assert every_job_has_a_turn()
    assert code == 130 and "batch interrupted" in stderr
    interrupted = {line["id"]: line["result"] for line in whole_lines(out)}
    assert set(interrupted) == set(jobs)
    kept = 0
    for result in interrupted.values():
        assert result["error"]["code"] == "CANCELLED" and result["error"]["retryable"] is True
        kept += len(result["partialTranscript"]["turns"])
    assert kept >= 3

    summary = tmp_path / "summary.json"
    code, _, stderr = run_batch(str(jobs_file), "-o", str(out), "--summary-json", str(summary), **env)
    assert code == 0, stderr
    results = {line["id"]: line["result"] for line in whole_lines(out)}
    assert all(len(result["transcript"]["turns"]) == 4 for result in results.values())
    facts = json.loads(summary.read_text())
    assert facts["resumed"] == 3 and facts["requests"] == 12 - kept  # only the turns still missing were sent
