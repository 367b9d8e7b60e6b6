"""A batch that FAILS as a whole (OpenAI `failed` with validation `errors`, Gemini JOB_STATE_FAILED,
Mistral FAILED), through the real SDKs against the loopback fake: every job of that batch gets the
truthful error (classified, retryable or not, the batch named), and its partial transcript is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT
from common.runs.provider_batch import gemini_batches
from testkit.fake_batches import FakeBatches, WholeBatchFailure
from tests.helpers import point_at_fake_batches
from tests.test_provider_batch import job, options, read_results, run

OPENAI = "openai:gpt-4o-mini"
GEMINI = "google:gemini-2.5-flash"
MISTRAL = "mistral:mistral-small-latest"
TWO_TURNS = {"prompt": "Question?", "followups": [{"prompt": "And then?"}]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatches]:
    with FakeBatches(polls_to_end=2).running() as server:
        point_at_fake_batches(monkeypatch, server, "openai", "google", "mistral")
        yield server


def two_turn_jobs(model: str, count: int = 2) -> dict[str, dict[str, Any]]:
    return {f"j{i}": job(model, f"j{i}", scenario={**TWO_TURNS, "prompt": f"Question {i}?"}) for i in range(count)}


@pytest.mark.parametrize("form", ["inline", "file"])
async def test_a_failed_gemini_batch_gives_each_of_its_jobs_the_operations_error(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    if form == "file":
        monkeypatch.setattr(gemini_batches.GeminiBatches, "inline_max_bytes", 0)
    fake.fail_next = WholeBatchFailure("Request contains an invalid argument.", status=400, skip=1)
    runner = await run(options(tmp_path, two_turn_jobs(GEMINI)))

    assert runner.exit_code == EXIT_DONE
    failed_batch = list(fake.batches.values())[1]
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == {"j0", "j1"}
    for result in results.values():
        assert result["success"] is False
        error = result["error"]
        # google.rpc.Code 3 INVALID_ARGUMENT is HTTP 400: the request is wrong, a new batch would fail too.
        assert error["code"] == "BAD_REQUEST" and error["retryable"] is False
        assert "Request contains an invalid argument." in error["message"]
        assert error["details"]["batchId"] == failed_batch.id
        assert error["details"]["batchStatus"] == "JOB_STATE_FAILED"
        assert error["details"]["completedTurns"] == 1
        turns = result["partialTranscript"]["turns"]
        assert [t["turnNumber"] for t in turns] == [1] and turns[0]["providerMetadata"]["via"] == "batch"
    assert fake.submissions == 2  # not retried: BAD_REQUEST is not retryable


async def test_a_failed_gemini_batch_without_an_error_is_retried_in_the_next_wave(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.fail_next = WholeBatchFailure(status=None)  # JOB_STATE_FAILED, the operation says nothing
    await run(options(tmp_path, two_turn_jobs(GEMINI)))

    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values())
    for result in results.values():
        meta = result["transcript"]["turns"][0]["providerMetadata"]
        assert meta["attempts"] == 2
        # No HTTP status was ever answered: none is claimed.
        assert meta["retries"] == [{"attempt": 1, "code": "SERVER_ERROR", "waitedMs": 0}]
    assert [len(b.requests) for b in fake.batches.values()] == [2, 2, 2]


async def test_a_failed_gemini_batch_for_a_rate_limit_is_a_retryable_rate_limit(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.fail_next = WholeBatchFailure("Resource has been exhausted (e.g. check quota).", status=429)
    runner = await run(options(tmp_path, two_turn_jobs(GEMINI), max_attempts=1))

    assert runner.exit_code == EXIT_RETRYABLE_LEFT
    for result in read_results(tmp_path / "results.jsonl").values():
        assert result["error"]["code"] == "RATE_LIMIT" and result["error"]["retryable"] is True
        assert result["error"]["details"]["batchStatus"] == "JOB_STATE_FAILED"


async def test_a_failed_mistral_job_is_retryable_and_says_why(tmp_path: Path, fake: FakeBatches) -> None:
    fake.fail_next = WholeBatchFailure("Batch job failed: internal processing error", skip=1)
    runner = await run(options(tmp_path, two_turn_jobs(MISTRAL), max_attempts=1))

    assert runner.exit_code == EXIT_RETRYABLE_LEFT
    failed_batch = list(fake.batches.values())[1]
    for result in read_results(tmp_path / "results.jsonl").values():
        error = result["error"]
        # Mistral gives a FAILED job no status or code, and nothing of it ran: the provider's failure.
        assert error["code"] == "SERVER_ERROR" and error["retryable"] is True
        assert "internal processing error" in error["message"]
        assert error["details"]["batchId"] == failed_batch.id and error["details"]["batchStatus"] == "FAILED"
        assert [t["turnNumber"] for t in result["partialTranscript"]["turns"]] == [1]


async def test_a_failed_mistral_job_goes_again_in_the_next_wave(tmp_path: Path, fake: FakeBatches) -> None:
    fake.fail_next = WholeBatchFailure("Batch job failed")
    await run(options(tmp_path, two_turn_jobs(MISTRAL)))
    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values())
    assert {r["transcript"]["turns"][0]["providerMetadata"]["attempts"] for r in results.values()} == {2}


async def test_a_failed_openai_batch_gives_each_job_its_validation_errors(tmp_path: Path, fake: FakeBatches) -> None:
    fake.fail_next = WholeBatchFailure("Invalid value for 'model'.", code="invalid_value", skip=1)
    await run(options(tmp_path, two_turn_jobs(OPENAI)))

    failed_batch = list(fake.batches.values())[1]
    for result in read_results(tmp_path / "results.jsonl").values():
        error = result["error"]
        assert error["code"] == "BAD_REQUEST" and error["retryable"] is False
        assert "line 1: Invalid value for 'model'." in error["message"]
        assert error["details"]["batchId"] == failed_batch.id
        assert [t["turnNumber"] for t in result["partialTranscript"]["turns"]] == [1]
