"""The same jobs through one-shot, serve and batch give the same documents.

The README promises that a serve or batch result is exactly what one-shot `probe.py`
prints for the job. Each job here runs as its own `probe.py` process, as lines of one
`probe.py --serve` process and as lines of one `batch.py` run; every document must be
equal, field for field, except the clock readings (timestamps and timings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.workers import BATCH_PY, PROBE_PY, run_python
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

# Jobs that exercise every outcome a host sees. The three identical flaky jobs caught a
# serve mode that shared the mock's per-turn request counter across jobs (2, 1, 1 attempts).
JOBS: dict[str, dict[str, Any]] = {
    "echo": probe_job("mock:echo", followups=2, modelCost={"costInputPerMillion": 1, "costOutputPerMillion": 2}),
    "flaky-1": probe_job("mock:flaky:SERVER_ERROR:1", followups=1),
    "flaky-2": probe_job("mock:flaky:SERVER_ERROR:1", followups=1),
    "flaky-3": probe_job("mock:flaky:SERVER_ERROR:1", followups=1),
    "fails-at-2": probe_job("mock:fail:AUTH_ERROR@2", followups=2),
    "truncated": probe_job("mock:truncate", followups=0, config={"preambleMode": "system"}),
    "filtered": probe_job("mock:filtered", followups=0),
    "invalid": probe_job("mock:echo", scenario={"prompt": "   "}),
    "no-provider": probe_job("some-unknown-model"),
    "no-key": probe_job("openai:gpt-4o"),
}

# Clock readings differ from run to run; everything else must not.
_CLOCK_FIELDS = frozenset({"startedAt", "completedAt", "timing"})


def without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_clock(item) for key, item in value.items() if key not in _CLOCK_FIELDS}
    if isinstance(value, list):
        return [without_clock(item) for item in value]
    return value


def job_lines() -> str:
    return "".join(json.dumps({"id": job_id, **job}) + "\n" for job_id, job in JOBS.items())


def one_shot() -> dict[str, Any]:
    return {job_id: run_python(PROBE_PY, stdin=job).document for job_id, job in JOBS.items()}


def served() -> dict[str, Any]:
    run = run_python(PROBE_PY, "--serve", "--concurrency", "4", stdin=job_lines())
    assert run.code == 0
    lines = [json.loads(line) for line in run.stdout_lines]
    return {line["id"]: line["result"] for line in lines}


def batched(tmp_path: Path) -> dict[str, Any]:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(job_lines())
    results = tmp_path / "results.jsonl"
    # One run per job, as one-shot does: batch's own re-runs of retryable failures are off.
    run = run_python(BATCH_PY, jobs, "-o", results, "--max-attempts", "1", "--no-progress", "--log-file", "-")
    assert run.code in (0, 3), run.err
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    return {line["id"]: line["result"] for line in lines}


def test_one_shot_serve_and_batch_give_the_same_documents(tmp_path: Path) -> None:
    expected = {job_id: without_clock(document) for job_id, document in one_shot().items()}
    assert expected["echo"]["success"] is True
    assert [turn["providerMetadata"]["attempts"] for turn in expected["flaky-1"]["transcript"]["turns"]] == [2, 2]
    assert expected["fails-at-2"]["error"]["code"] == "AUTH_ERROR"
    assert expected["invalid"]["error"]["code"] == "VALIDATION_ERROR"
    assert expected["no-key"]["error"]["code"] == "MISSING_API_KEY"
    for mode, documents in (("serve", served()), ("batch", batched(tmp_path))):
        assert set(documents) == set(JOBS), mode
        for job_id in JOBS:
            assert without_clock(documents[job_id]) == expected[job_id], f"{mode} differs from one-shot for {job_id}"
