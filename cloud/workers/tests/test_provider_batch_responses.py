"""OpenAI Responses API jobs through the Batch API (`"url": "/v1/responses"` lines), driven by the real
openai SDK against the loopback fake: their own batches (one endpoint per batch), the same request
as online (the whole history as `input`, `store: false`), the same recording as online."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from common.runs.batch.runner import EXIT_DONE
from testkit.fake_batches import BatchFailure, FakeBatches
from tests.helpers import assert_batch_adds_only_its_fields, load_fixture, point_at_fake_batches, wire
from tests.test_provider_batch import COST, job, options, read_results, run

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
THREE_TURNS = {"temperature": 0.7, "maxTokens": 512, "preambleMode": "system"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatches]:
    with FakeBatches(polls_to_end=2).running() as server:
        point_at_fake_batches(monkeypatch, server, "openai")
        yield server


def responses_job(model: str, scenario_id: str, **overrides: Any) -> dict[str, Any]:
    document = job(model, scenario_id, config=dict(THREE_TURNS), **overrides)
    document["scenario"]["preamble"] = "You advise a hospital."
    return document


def openai_batches(fake: FakeBatches) -> list[Any]:
    return [b for b in fake.batches.values() if b.api == "openai"]


async def test_responses_jobs_go_in_batches_of_their_own_with_the_online_request(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {
        "chat": job("openai:gpt-4o-mini", "chat", modelCost=COST),
        "forced": responses_job("openai:gpt-4o-mini", "forced", modelConfig={"api": "responses"}, modelCost=COST),
        "only": responses_job("openai:o1-pro", "only", modelCost=COST),
    }
    runner = await run(options(tmp_path, jobs))
    assert runner.exit_code == EXIT_DONE

    batches = openai_batches(fake)
    # Per wave: gpt-4o-mini's chat batch and its responses batch, and o1-pro's: nine in three waves.
    assert len(batches) == 9 and fake.submissions == 9
    for batch in batches:
        assert {line["url"] for line in batch.requests} == {batch.endpoint}  # the fake fails a mixed batch
        assert batch.failure is None
    by_endpoint = {endpoint: [b for b in batches if b.endpoint == endpoint] for endpoint in (CHAT, RESPONSES)}
    assert len(by_endpoint[CHAT]) == 3 and len(by_endpoint[RESPONSES]) == 6
    assert sorted(len(b.requests) for b in by_endpoint[RESPONSES]) == [1] * 6

    # Turn 3 of a Responses job: the whole history replayed as input items, nothing stored at OpenAI.
    turn3 = next(
        line["body"]
        for b in by_endpoint[RESPONSES]
        for line in b.requests
        if line["body"]["model"] == "o1-pro" and len(line["body"]["input"]) == 5
    )
    prompt = jobs["only"]["scenario"]["prompt"]
    assert turn3["input"][0] == {"role": "user", "content": prompt}
    assert turn3["input"][1]["role"] == "assistant" and turn3["input"][1]["content"].startswith("Batch answer to:")
    assert turn3["input"][4] == {"role": "user", "content": "Follow-up question 2?"}
    assert turn3["instructions"] == "You advise a hospital."
    assert turn3["store"] is False and turn3["max_output_tokens"] == 512 and turn3["temperature"] == 0.7
    assert "previous_response_id" not in turn3 and "background" not in turn3 and "messages" not in turn3

    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values()), results
    assert "api" not in results["chat"]["transcript"]["turns"][0]["providerMetadata"]
    for name in ("forced", "only"):
        transcript = results[name]["transcript"]
        for number, turn in enumerate(transcript["turns"], 1):
            meta = turn["providerMetadata"]
            assert meta["api"] == "responses" and meta["via"] == "batch"
            assert meta["batchId"] in {b.id for b in by_endpoint[RESPONSES]}
            assert meta["responseId"].startswith("resp_") and meta["batchRequestId"].startswith("batch_req_")
            assert meta["modelVersion"].endswith("-2025-06-10")  # the served snapshot, as online
            assert (meta["finishReason"], meta["rawFinishReason"]) == ("stop", "completed")
            assert meta["paramsSent"] == {"max_output_tokens": 512, "temperature": 0.7, "store": False}
            assert turn["turnNumber"] == number
        assert transcript["modelVersion"].endswith("-2025-06-10")
        assert transcript["costSnapshot"]["batchPriceFactor"] == 0.5


async def test_reasoning_tokens_and_summaries_are_recorded_as_online(tmp_path: Path, fake: FakeBatches) -> None:
    config = {**THREE_TURNS, "reasoning": {"effort": "high", "summary": "auto"}}
    await run(options(tmp_path, {"r": job("openai:o1-pro", "r", config=config)}))
    body = openai_batches(fake)[0].requests[0]["body"]
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    turns = read_results(tmp_path / "results.jsonl")["r"]["transcript"]["turns"]
    for turn in turns:
        meta = turn["providerMetadata"]
        assert meta["reasoningTokens"] == 48
        assert meta["paramsSent"]["reasoning"] == {"effort": "high", "summary": "auto"}
        assert turn["reasoning"]["summary"] == "Reasoned about the question."
        assert turn["outputTokens"] >= 48


async def test_a_background_model_is_batched_without_background_mode_and_says_so(
    tmp_path: Path, fake: FakeBatches
) -> None:
    """o3-pro runs in background mode online (by its record); in a batch that mode has no use."""
    await run(options(tmp_path, {"bg": job("openai:o3-pro", "bg", config={"maxTurns": 1})}))
    body = openai_batches(fake)[0].requests[0]["body"]
    assert body["store"] is False and "background" not in body
    result = read_results(tmp_path / "results.jsonl")["bg"]
    assert result["success"] is True, result
    meta = result["transcript"]["turns"][0]["providerMetadata"]
    assert (
        meta["api"] == "responses" and meta["paramsSent"]["store"] is False and "background" not in meta["paramsSent"]
    )
    notes = [note for note in meta["paramNotes"] if note["param"] == "background"]
    assert len(notes) == 1 and notes[0]["action"] == "dropped" and "batch" in notes[0]["reason"]


async def test_responses_request_errors_are_classified_and_retried_like_chat_ones(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.failures.append(BatchFailure(429, turn=2, times=1, contains="r-retry"))
    fake.failures.append(BatchFailure(400, turn=2, times=1, contains="r-fail"))
    jobs = {
        name: job("openai:o1-pro", name, scenario={"prompt": f"{name}?", "followups": [{"prompt": f"{name} again?"}]})
        for name in ("r-retry", "r-fail")
    }
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    meta = results["r-retry"]["transcript"]["turns"][1]["providerMetadata"]
    assert meta["attempts"] == 2 and meta["retries"][0]["code"] == "RATE_LIMIT"
    error = results["r-fail"]["error"]
    assert error["code"] == "BAD_REQUEST" and error["retryable"] is False and error["details"]["completedTurns"] == 1
    assert error["details"]["batchId"].startswith("batch_")


async def test_the_transcript_has_the_online_responses_shape(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key an online Responses transcript has is in the batch one: only additions (via, batch ids)."""
    from common.runs.probe_worker import PROBE
    from common.runs.run_path import run_once

    config = {**THREE_TURNS, "reasoning": {"effort": "high", "summary": "auto"}}
    await run(options(tmp_path, {"x": job("openai:o1-pro", "x", config=config, modelCost=COST)}))
    batched = read_results(tmp_path / "results.jsonl")["x"]
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    with respx.mock(assert_all_called=False) as router:
        router.post("https://api.openai.com/v1/responses").mock(
            return_value=httpx.Response(200, json=load_fixture("openai", "responses_completed"))
        )
        online = wire(await run_once(PROBE, job("openai:o1-pro", "x", config=config, modelCost=COST)))
    assert online["success"] is True, online

    assert_batch_adds_only_its_fields(online, batched)


async def test_a_job_that_re_attaches_to_a_background_response_runs_online(tmp_path: Path, fake: FakeBatches) -> None:
    """`resumeResponseId` names a response that may already hold the answer: polling it is free, a batch
    would pay for the answer again, so the job goes through the online runner (which polls it)."""
    document = job("openai:o3-pro", "resume", config={"maxTurns": 1}, resumeResponseId="resp_from_an_earlier_run")
    await run(options(tmp_path, {"resume": document}))
    assert fake.submissions == 0
    # The online runner asked the fake's (absent) Responses route directly: GET the response first.
    assert fake.calls["other"] >= 1
    result = read_results(tmp_path / "results.jsonl")["resume"]
    assert result["success"] is False and "batchId" not in result["error"]["details"]
