"""The committed JSON Schema files: in step with the models, and true to what the workers print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import schema
from common.contract.health import HealthJob
from common.contract.probe import CONTRACT_VERSION, ProbeJob
from common.health.check import check_health
from common.io.json_input import validate_job
from common.io.render import render
from common.providers.pool import ProviderPool
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from testkit.workers import REPO, run_python
from tests.helpers import probe_job
from tests.test_analyze_basic import DIMS, TABLE, run_from_table


def committed(name: str) -> Draft202012Validator:
    document = json.loads((schema.SCHEMA_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)


def problems(validator: Draft202012Validator, document: Any) -> list[str]:
    """Every error, including those under each branch of an `anyOf` (success | failure)."""
    found: list[str] = []
    pending = list(validator.iter_errors(document))
    while pending:
        error = pending.pop(0)
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
        pending += error.context or []
    return found


def on_the_wire(document: Any) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(render(document))
    return wire


# ---------------------------------------------------------------- drift


def test_committed_schema_matches_the_models() -> None:
    assert schema.drift() == [], "run `python3 cloud/workers/schema.py` and commit cloud/workers/schema/"


def test_every_worker_has_an_input_and_an_output_file() -> None:
    names = {p.name for p in schema.SCHEMA_DIR.glob("*.schema.json")}
    for worker in ("probe", "health_check", "analyze_basic"):
        assert {f"{worker}.input.schema.json", f"{worker}.output.schema.json"} <= names
        assert (REPO / "cloud" / "workers" / f"{worker}.py").exists()


def test_drift_names_an_edited_a_missing_and_a_stale_file(tmp_path: Path) -> None:
    schema.write(tmp_path)
    assert schema.drift(tmp_path) == []
    edited = tmp_path / "probe.output.schema.json"
    edited.write_text(edited.read_text().replace('"retryable"', '"retriable"'))
    (tmp_path / "health_check.input.schema.json").unlink()
    (tmp_path / "old_worker.input.schema.json").write_text("{}")
    assert sorted(schema.drift(tmp_path)) == [
        "health_check.input.schema.json: missing",
        "old_worker.input.schema.json: no worker has this contract any more",
        "probe.output.schema.json: differs from the models",
    ]
    schema.write(tmp_path)
    assert schema.drift(tmp_path) == [] and not (tmp_path / "old_worker.input.schema.json").exists()


def test_check_command_passes_on_the_committed_folder() -> None:
    done = run_python("cloud/workers/schema.py", "--check", timeout_s=60)
    assert done.code == 0, done.err
    assert "up to date" in done.out


# ---------------------------------------------------------------- the schema says what is on the wire


async def test_probe_documents_validate_against_the_committed_schema() -> None:
    output = committed("probe.output.schema.json")
    success = on_the_wire(await run_once(PROBE, probe_job("mock:echo")))
    failure = on_the_wire(await run_once(PROBE, probe_job("mock:fail:RATE_LIMIT@2")))
    invalid = on_the_wire(await run_once(PROBE, probe_job("mock:echo", scenario={"prompt": "  "})))
    assert failure["partialTranscript"]["turns"] and failure["error"]["retryAfterMs"] == 10
    assert invalid["error"]["code"] == "VALIDATION_ERROR" and "partialTranscript" not in invalid
    for document in (success, failure, invalid):
        assert document["contractVersion"] == CONTRACT_VERSION
        assert problems(output, document) == []


async def test_output_schema_requires_what_the_worker_always_prints() -> None:
    output = committed("probe.output.schema.json")
    success = on_the_wire(await run_once(PROBE, probe_job("mock:echo")))
    del success["transcript"]["totalInputTokens"]
    del success["transcript"]["turns"][0]["providerMetadata"]["retries"]  # has a default, yet always printed
    found = problems(output, success)
    assert any("totalInputTokens" in p for p in found) and any("retries" in p for p in found)


async def test_a_resumed_job_with_prior_turns_is_valid_probe_input() -> None:
    failure = on_the_wire(await run_once(PROBE, probe_job("mock:fail:SERVER_ERROR@3", followups=4)))
    job = probe_job("mock:echo", followups=4, priorTurns=failure["partialTranscript"]["turns"])
    assert problems(committed("probe.input.schema.json"), job) == []
    assert len(validate_job(job, ProbeJob).prior_turns or []) == 2
    job["priorTurns"][0].pop("probePrompt")
    assert any("probePrompt" in p for p in problems(committed("probe.input.schema.json"), job))


async def test_health_document_validates() -> None:
    document = on_the_wire(await check_health(HealthJob(), ProviderPool()))
    assert problems(committed("health_check.output.schema.json"), document) == []
    assert problems(committed("health_check.input.schema.json"), {"live": True, "timeoutMs": 2000}) == []


def test_analyze_documents_validate() -> None:
    from common.analysis.report import analyze

    job = run_from_table(TABLE, DIMS, run_id="run-schema")
    assert problems(committed("analyze_basic.input.schema.json"), job) == []
    document = on_the_wire(analyze(job))
    assert problems(committed("analyze_basic.output.schema.json"), document) == []


@pytest.mark.parametrize("worker", ["probe", "health_check", "analyze_basic"])
def test_input_schema_rejects_a_document_of_the_wrong_type(worker: str) -> None:
    assert problems(committed(f"{worker}.input.schema.json"), ["not", "an", "object"])
