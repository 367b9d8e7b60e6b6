"""analyze_basic.py as a host runs it: a subprocess, a run on stdin, one JSON document on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.workers import ANALYZE_BASIC_PY, REPO, run_script
from tests.test_analyze_basic import DIMS, TABLE, run_from_table

pytestmark = pytest.mark.e2e


def run_analyze(
    stdin: bytes, *, cwd: Path = REPO, script: str | Path = ANALYZE_BASIC_PY, **env: str
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Exit code, the one stdout document (strict JSON: a NaN or Infinity fails), stderr logs."""
    done = run_script(script, stdin, cwd=cwd, env=env)
    assert done.unparsed_logs == [], "every stderr line is a JSON log line"
    return done.code, done.document, done.logs


def test_a_run_is_analysed_through_stdin_and_stdout() -> None:
    document = run_from_table(TABLE, DIMS, run_id="run-e2e")
    code, out, logs = run_analyze(json.dumps(document).encode())
    assert code == 0 and out["success"] is True and out["contractVersion"]
    analysis = out["analysis"]
    assert analysis["runId"] == "run-e2e"
    assert sorted(analysis["perModel"]) == sorted(TABLE)
    assert len(analysis["modelAgreement"]["pairs"]) == 6
    assert set(analysis["dimensionAnalysis"]["dimensions"]) == {"stakes", "framing"}
    done = [line for line in logs if line.get("event") == "analysis complete"]
    assert done and done[0]["runId"] == "run-e2e" and done[0]["transcripts"] == analysis["totals"]["transcripts"]


def test_from_another_working_directory() -> None:
    code, out, _ = run_analyze(
        b'{"runId": "r", "transcripts": []}', cwd=REPO / "cloud", script="workers/analyze_basic.py"
    )
    assert code == 0 and out["success"] is True
    assert [w["code"] for w in out["analysis"]["warnings"]] == ["NO_TRANSCRIPTS"]


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


@pytest.mark.parametrize(
    ("package", "code", "named", "error"),
    [
        # a module whose import fails names no module; a missing one does
        ("numpy", "raise ImportError('numpy build is broken')", None, "ImportError: numpy build is broken"),
        (
            "msgspec",
            "raise ModuleNotFoundError(\"No module named 'msgspec'\", name='msgspec')",
            "msgspec",
            "ModuleNotFoundError: No module named 'msgspec'",
        ),
    ],
)
def test_a_broken_analysis_package_is_an_environment_error_document(
    tmp_path: Path, package: str, code: str, named: str | None, error: str
) -> None:
    """health_check says analyze_basic is not ready; the worker itself answers the host, exit 0, no traceback."""
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(code + "\n")
    exit_code, out, logs = run_analyze(b'{"runId": "run-7", "transcripts": []}', PYTHONPATH=str(tmp_path))
    assert exit_code == 0 and out["success"] is False
    assert out["error"]["code"] == "ENVIRONMENT_ERROR" and out["error"]["retryable"] is False
    assert (
        error in out["error"]["message"] and "pip install -r cloud/workers/requirements.txt" in out["error"]["message"]
    )
    assert out["error"]["details"] == {"package": named, "error": error}
    (failed,) = [line for line in logs if line["msg"] == "job failed"]
    assert failed["runId"] == "run-7" and failed["code"] == "ENVIRONMENT_ERROR"
