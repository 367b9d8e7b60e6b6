"""analyze_basic.py as a host runs it: a subprocess, a run on stdin, one JSON document on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, worker_env
from tests.test_analyze_basic import DIMS, TABLE, run_from_table

pytestmark = pytest.mark.e2e


def _no_nan(token: str) -> float:
    raise AssertionError(f"stdout holds the non-JSON number {token}")


def run_analyze(
    stdin: bytes, *, cwd: Path = REPO, script: str = "cloud/workers/analyze_basic.py", **env: str
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, script], input=stdin, capture_output=True, cwd=cwd, env=worker_env(**env), timeout=120
    )
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, f"stdout must hold exactly one line, got {lines!r}"
    logs = [json.loads(line) for line in done.stderr.decode().splitlines() if line.strip()]
    return done.returncode, json.loads(lines[0], parse_constant=_no_nan), logs


def test_a_run_is_analysed_through_stdin_and_stdout() -> None:
    document = run_from_table(TABLE, DIMS, run_id="run-e2e")
    code, out, logs = run_analyze(json.dumps(document).encode())
    assert code == 0 and out["success"] is True and out["contractVersion"]
    analysis = out["analysis"]
    assert analysis["runId"] == "run-e2e"
    assert sorted(analysis["perModel"]) == sorted(TABLE)
    assert len(analysis["modelAgreement"]["pairs"]) == 6
    assert set(analysis["dimensionAnalysis"]) == {"stakes", "framing"}
    done = [line for line in logs if line.get("event") == "analysis complete"]
    assert done and done[0]["runId"] == "run-e2e" and done[0]["transcripts"] == analysis["totals"]["transcripts"]


def test_from_another_working_directory() -> None:
    code, out, _ = run_analyze(
        b'{"runId": "r", "transcripts": []}', cwd=REPO / "cloud", script="workers/analyze_basic.py"
    )
    assert code == 0 and out["success"] is True
    assert out["analysis"]["warnings"] == ["the run has no transcripts, so every section is empty"]


def test_bad_transcript_is_a_validation_failure_document_with_exit_0() -> None:
    document = {"runId": "r", "transcripts": [{"id": "t-9", "scenarioId": "s"}]}
    code, out, _ = run_analyze(json.dumps(document).encode())
    assert code == 0 and out["success"] is False
    error = out["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["retryable"] is False
    assert error["details"]["field"] == "transcripts[0].modelId" and error["details"]["transcriptId"] == "t-9"


@pytest.mark.parametrize(("stdin", "field"), [(b"", "(stdin)"), (b"[1, 2]", "(document)"), (b"{not json", "(stdin)")])
def test_no_job_or_not_an_object(stdin: bytes, field: str) -> None:
    code, out, _ = run_analyze(stdin)
    assert code == 0 and out["success"] is False
    assert out["error"]["code"] == "VALIDATION_ERROR" and out["error"]["details"]["field"] == field


def test_a_run_above_the_probe_input_limit_is_accepted() -> None:
    """Probe jobs are capped at 16 MB by default; a large run must not be."""
    item = {"id": "t", "modelId": "m", "scenarioId": "s", "padding": "x" * (17 * 1024 * 1024)}
    code, out, _ = run_analyze(json.dumps({"runId": "r", "transcripts": [item]}).encode())
    assert code == 0 and out["success"] is True and out["analysis"]["totals"]["transcripts"] == 1
    code, out, _ = run_analyze(json.dumps({"runId": "r", "transcripts": [item]}).encode(), PROBE_MAX_INPUT_BYTES="1000")
    assert out["success"] is False and out["error"]["details"]["limitBytes"] == 1000
