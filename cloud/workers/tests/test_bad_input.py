"""Bad job input: every case is one VALIDATION_ERROR document naming the field, exit code 0.

Most cases run `run_worker` in memory (stdin and stdout are byte/text buffers, stderr is
captured); a few run the real `probe.py` as a host would spawn it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from common.io.log import configure_logging
from common.providers.pool import ProviderPool
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from common.runs.run_path import Worker
from testkit.workers import PROBE_PY, run_script
from tests.helpers import probe_job


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


def run_in_memory(raw: bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    stdout = io.StringIO()
    code = run_worker(PROBE, stdin=io.BytesIO(raw), stdout=stdout)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1, f"stdout must hold exactly one line, got {lines!r}"
    captured = capsys.readouterr()
    assert captured.out == "", "nothing but the document may reach stdout"
    return code, json.loads(lines[0]), captured.err


def encode(job: dict[str, Any]) -> bytes:
    return json.dumps(job).encode()


def job_with(**changes: Any) -> bytes:
    """A valid mock job with top-level or dotted (`scenario.prompt`) fields changed or removed."""
    job = probe_job("mock:echo")
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = job
        for part in parents:
            target = target[part]
        if value is REMOVE:
            target.pop(leaf)
        else:
            target[leaf] = value
    return encode(job)


REMOVE = object()

# How the message names what is wrong when it is the document itself rather than a field.
WORDING = {"(stdin)": "stdin", "(document)": "must be a JSON object"}

CASES: list[tuple[str, bytes, str]] = [
    ("empty stdin", b"", "(stdin)"),
    ("whitespace only", b"  \n\t \r\n", "(stdin)"),
    ("not JSON", b"{not json", "(stdin)"),
    ("truncated JSON", encode(probe_job())[:40], "(stdin)"),
    ("a JSON array", b'[{"runId": "r"}]', "(document)"),
    ("a JSON string", b'"run the probe"', "(document)"),
    ("a JSON number", b"42", "(document)"),
    ("JSON null", b"null", "(document)"),
    ("not UTF-8", b'{"runId": "r\xff\xfe"}', "(stdin)"),
    ("Latin-1 text", '{"runId": "caf\u00e9"}'.encode("latin-1"), "(stdin)"),
    ("missing runId", job_with(runId=REMOVE), "runId"),
    ("missing scenarioId", job_with(scenarioId=REMOVE), "scenarioId"),
    ("missing modelId", job_with(modelId=REMOVE), "modelId"),
    ("empty modelId", job_with(modelId=""), "modelId"),
    ("runId a number", job_with(runId=17), "runId"),
    ("missing scenario", job_with(scenario=REMOVE), "scenario"),
    ("scenario a string", job_with(scenario="be nice"), "scenario"),
    ("missing prompt", job_with(scenario__prompt=REMOVE), "scenario.prompt"),
    ("empty prompt", job_with(scenario__prompt=""), "scenario.prompt"),
    ("whitespace prompt", job_with(scenario__prompt=" \n\t "), "scenario.prompt"),
    ("prompt a list", job_with(scenario__prompt=["a", "b"]), "scenario.prompt"),
    ("followups not a list", job_with(scenario__followups="and then?"), "scenario.followups"),
    ("followup not an object", job_with(scenario__followups=[{"prompt": "ok"}, "and then?"]), "scenario.followups[1]"),
    ("maxTurns a word", job_with(config={"maxTurns": "ten"}), "config.maxTurns"),
    ("maxTurns fractional", job_with(config={"maxTurns": 2.5}), "config.maxTurns"),
    ("temperature a word", job_with(config={"temperature": "warm"}), "config.temperature"),
    ("preambleMode unknown", job_with(config={"preambleMode": "append"}), "config.preambleMode"),
    ("config a list", job_with(config=[1]), "config"),
    ("modelConfig a string", job_with(modelConfig="fast"), "modelConfig"),
    (
        "modelCost without output rate",
        job_with(modelCost={"costInputPerMillion": 2.5}),
        "modelCost.costOutputPerMillion",
    ),
    # Empty followups, maxTurns/maxTokens below 1 and out-of-range or oddly shaped modelConfig
    # values run, with warnings (tests/test_lenient_params.py). Non-finite numbers do not:
    (
        "modelCost rate 1e400",
        job_with(modelCost={"costInputPerMillion": 1e400, "costOutputPerMillion": 1}),
        "modelCost.costInputPerMillion",
    ),
    ("modelConfig topP 1e400", job_with(modelConfig={"topP": 1e400}), "modelConfig.topP"),
    ("config temperature -1e400", job_with(config={"temperature": -1e400}), "config.temperature"),
    (
        "modelCost a word",
        job_with(modelCost={"costInputPerMillion": "cheap", "costOutputPerMillion": 1}),
        "modelCost.costInputPerMillion",
    ),
]


@pytest.mark.parametrize(("raw", "field"), [(raw, field) for _, raw, field in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_validation_error_naming_the_field(
    raw: bytes, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, stderr = run_in_memory(raw, capsys)
    assert code == 0
    assert out["success"] is False
    error = out["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["retryable"] is False
    assert error["details"]["field"] == field
    assert WORDING.get(field, field) in error["message"]
    assert "Traceback" not in json.dumps(out)
    assert all(json.loads(line)["level"] for line in stderr.splitlines())  # stderr holds log lines only


def test_every_problem_is_listed_when_there_are_several(capsys: pytest.CaptureFixture[str]) -> None:
    raw = job_with(runId=REMOVE, config={"maxTurns": "ten", "temperature": "warm"})
    _, out, _ = run_in_memory(raw, capsys)
    fields = [p["field"] for p in out["error"]["details"]["problems"]]
    assert set(fields) == {"runId", "config.maxTurns", "config.temperature"}
    for field in fields:
        assert field in out["error"]["message"]


def test_the_messages_say_what_to_send(capsys: pytest.CaptureFixture[str]) -> None:
    assert "empty" in run_in_memory(b"", capsys)[1]["error"]["message"]
    assert "JSON array" in run_in_memory(b"[]", capsys)[1]["error"]["message"]
    assert "UTF-8" in run_in_memory(b"\xff", capsys)[1]["error"]["message"]
    message = run_in_memory(b'{"runId": ', capsys)[1]["error"]["message"]
    assert "not valid JSON" in message and "line 1" in message


def test_an_oversized_document_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROBE_MAX_INPUT_BYTES", "200")
    raw = encode(probe_job(scenario={"prompt": "x" * 500}))
    _, out, _ = run_in_memory(raw, capsys)
    assert out["error"]["code"] == "VALIDATION_ERROR"
    assert out["error"]["details"] == {"field": "(stdin)", "limitBytes": 200}
    assert "PROBE_MAX_INPUT_BYTES" in out["error"]["message"]


def test_a_document_at_the_limit_is_accepted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = encode(probe_job())
    monkeypatch.setenv("PROBE_MAX_INPUT_BYTES", str(len(raw)))
    assert run_in_memory(raw, capsys)[1]["success"] is True


# ------------------------------------------------------------ what hosts send and must be accepted


@pytest.mark.parametrize(
    "changes",
    [
        {"modelConfig": None},
        {"modelConfig": REMOVE},
        {"modelConfig": {}},
        {"modelCost": None},
        {"modelCost": REMOVE},
        {"config": {"maxTokens": 512}},  # temperature absent
        {"config": {"temperature": None, "seed": None, "maxTokens": None, "maxTurns": None}},
        {"config": None},
        {"config": REMOVE},
        {"scenario__followups": None},
        {"scenario__followups": REMOVE},
        {"scenario__followups": []},
        {"scenario__preamble": None},
        {"hostOnlyField": {"anything": True}},  # unknown keys are ignored
    ],
    ids=repr,
)
def test_null_and_absent_optional_fields_are_accepted(
    changes: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_in_memory(job_with(**changes), capsys)
    assert code == 0
    assert out["success"] is True, out


def test_a_utf8_byte_order_mark_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_in_memory(b"\xef\xbb\xbf" + encode(probe_job()), capsys)[1]["success"] is True


# ------------------------------------------------------------ failures that are not the job's fault


def test_an_unexpected_exception_is_unknown_with_the_traceback_only_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def broken(job: dict[str, Any], pool: ProviderPool) -> Any:
        raise RuntimeError("the adapter tripped over its own shoelaces")

    stdout = io.StringIO()
    worker = Worker(name="probe", parse=dict, run=broken)
    assert run_worker(worker, stdin=io.BytesIO(encode(probe_job())), stdout=stdout) == 0
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["error"]["code"] == "UNKNOWN" and out["error"]["retryable"] is False
    assert "Traceback" not in lines[0]
    err = capsys.readouterr().err
    assert "Traceback" in err and "shoelaces" in err
    assert all(json.loads(line) for line in err.splitlines())  # the traceback is inside a JSON log line


def test_a_stray_print_goes_to_stderr_and_stdout_is_restored(capsys: pytest.CaptureFixture[str]) -> None:
    from common.contract.probe import ErrorInfo, WorkerFailure
    from common.errors.codes import ErrorCode

    before = sys.stdout

    async def chatty(job: dict[str, Any], pool: ProviderPool) -> WorkerFailure:
        print("debug: an SDK printed this")  # noqa: T201 - what this test is about
        return WorkerFailure(error=ErrorInfo(message="m", code=ErrorCode.BAD_REQUEST, retryable=False))

    stdout = io.StringIO()
    run_worker(Worker(name="probe", parse=dict, run=chatty), stdin=io.BytesIO(b"{}"), stdout=stdout)
    assert sys.stdout is before
    assert "debug" not in stdout.getvalue()
    assert "debug: an SDK printed this" in capsys.readouterr().err


# ------------------------------------------------------------ the real script, as a host spawns it


def spawn_probe(raw: bytes, **env: str) -> tuple[int, list[str], str]:
    done = run_script(PROBE_PY, raw, env=env, timeout_s=60)
    return done.code, done.stdout_lines, done.err


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("raw", "field", "env"),
    [
        (b"", "(stdin)", {}),
        (b"\x80\x81\x82 not utf-8", "(stdin)", {}),
        (b'[{"runId": "r"}]', "(document)", {}),
        (job_with(scenario__prompt=REMOVE), "scenario.prompt", {}),
        (
            job_with(modelCost={"costInputPerMillion": 3, "costOutputPerMillion": 15}).replace(b": 3,", b": 1e400,"),
            "modelCost.costInputPerMillion",
            {},
        ),
        (encode(probe_job(scenario={"prompt": "x" * 5000})), "(stdin)", {"PROBE_MAX_INPUT_BYTES": "1024"}),
    ],
    ids=["empty", "not-utf8", "array", "no-prompt", "cost-1e400", "oversized"],
)
def test_probe_py_answers_bad_input_with_one_line_and_exit_zero(raw: bytes, field: str, env: dict[str, str]) -> None:
    code, lines, stderr = spawn_probe(raw, **env)
    assert code == 0
    assert len(lines) == 1, lines
    out = json.loads(lines[0])
    assert out["error"]["code"] == "VALIDATION_ERROR" and out["error"]["retryable"] is False
    assert out["error"]["details"]["field"] == field
    assert out["contractVersion"] == "2.0"
    assert "Traceback" not in stderr
    assert all("level" in json.loads(line) for line in stderr.splitlines() if line.strip())
