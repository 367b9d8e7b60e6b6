"""Job lines the JSON decoder cannot take as they are, in batch and serve mode.

A line nested 10,000 levels deep (Python's parser gives up with RecursionError) or holding
an integer of 5,000 digits (over Python's 4,300-digit conversion limit: ValueError) is a
bad line like any other: batch.py stops before anything starts (exit 2, a message naming
the line, never a traceback with exit 1); serve mode answers it VALIDATION_ERROR with its
id and goes on serving.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.workers import BATCH_PY, run_script, serve_process
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

NESTED = b'{"id": "nested", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
DIGITS = b'{"id": "digits", "n": ' + b"7" * 5_000 + b"}"


@pytest.mark.parametrize(
    ("line", "wording"),
    [(NESTED, "line 2 cannot be read: its JSON nests too deeply"), (DIGITS, "line 2 cannot be read as JSON")],
    ids=["nested-10000", "integer-5000-digits"],
)
def test_an_unreadable_line_stops_the_run_with_exit_2_naming_the_line(
    tmp_path: Path, line: bytes, wording: str
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    good = json.dumps({"id": "good", **probe_job("mock:echo")}).encode()
    jobs.write_bytes(good + b"\n" + line + b"\n" + good.replace(b'"good"', b'"good-2"') + b"\n")
    results = tmp_path / "results.jsonl"
    done = run_script(BATCH_PY, b"", str(jobs), "-o", str(results), timeout_s=60)
    assert done.code == 2, done.err[-2000:]
    assert done.stdout == b""
    assert "Traceback" not in done.err
    message = [text for text in done.err.splitlines() if text.startswith("batch.py: ")]
    assert message and "1 line(s) cannot run, nothing was started" in message[0], done.err[-2000:]
    assert f"\n  {wording}" in done.err, done.err[-2000:]
    assert not results.exists()  # nothing ran


def test_serve_answers_each_unreadable_line_with_its_id_and_goes_on() -> None:
    server = serve_process()
    try:
        server.send(NESTED, DIGITS, {"id": "good", **probe_job("mock:echo")})
        server.close_stdin()
        results = server.results(3)
        assert server.wait() == 0
    finally:
        server.kill()
    assert results["good"]["success"] is True
    for job_id, line in (("nested", 1), ("digits", 2)):
        error = results[job_id]["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["retryable"] is False, job_id
        assert error["details"]["line"] == line
    assert "nests too deeply" in results["nested"]["error"]["message"]
    assert "4300 digits" in results["digits"]["error"]["message"]
