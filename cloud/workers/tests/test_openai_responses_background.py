"""Responses API background mode: polling on the clock, cancel on stop, the response id in failures, re-attach.

The server is testkit.fake_responses.BackgroundResponses behind respx (its documented
shapes: tests/fixtures/openai/responses_sources.md); every wait is a FakeClock sleep.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from testkit.fake_responses import BackgroundResponses
from tests.helpers import FakeClock, probe_job, run, wire

API = "https://api.openai.com/v1"


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-not-real-0123456789")


def serve(respx_mock: respx.MockRouter, fake: BackgroundResponses) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        status, document = fake.reply(request.method, request.url.path, body)
        return httpx.Response(status, json=document)

    respx_mock.route(url__startswith=f"{API}/responses").mock(side_effect=answer)


def job(followups: int = 0, **model_config: Any) -> dict[str, Any]:
    return probe_job("o3-pro", followups=followups, config={"maxTokens": 2000}, modelConfig=model_config or None)


async def test_a_background_model_is_created_in_background_and_polled_with_backoff_on_the_clock(
    respx_mock: respx.MockRouter,
) -> None:
    fake = BackgroundResponses(polls_to_finish=4)
    serve(respx_mock, fake)
    clock = FakeClock()
    out = wire(await run(job(followups=1), clock))

    assert out["success"] is True, out
    assert [body["background"] for body in fake.created] == [True, True]
    assert all(body["store"] is True for body in fake.created)  # background mode needs the response stored
    assert fake.created[1]["input"][1] == {
        "role": "assistant",
        "content": out["transcript"]["turns"][0]["targetResponse"],
    }
    assert clock.sleeps == [1.0, 1.5, 2.25, 3.375] * 2  # each turn: 4 polls, waits growing 1.5x
    turn = out["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    assert meta["paramsSent"] == {"max_output_tokens": 2000, "background": True, "store": True}
    assert meta["responseId"] == "resp_fake" + "1".zfill(40)
    assert meta["modelVersion"] == "o3-pro-2025-06-10" and meta["reasoningTokens"] == 64
    assert turn["targetResponse"].startswith("Background answer to:")
    assert not fake.cancelled


async def test_polls_wait_at_most_ten_seconds(respx_mock: respx.MockRouter) -> None:
    fake = BackgroundResponses(polls_to_finish=12)
    serve(respx_mock, fake)
    clock = FakeClock()
    out = wire(await run(job(), clock))
    assert out["success"] is True
    assert max(clock.sleeps) == 10.0 and clock.sleeps[-1] == 10.0


async def test_near_the_deadline_the_response_is_cancelled_and_its_id_is_in_the_failure(
    respx_mock: respx.MockRouter,
) -> None:
    fake = BackgroundResponses(polls_to_finish=None)  # never done
    serve(respx_mock, fake)
    clock = FakeClock()
    document = job()
    document["config"]["deadlineMs"] = 60_000
    out = wire(await run(document, clock))

    error = out["error"]
    assert (error["code"], error["retryable"]) == ("TIMEOUT", True)
    response_id = next(iter(fake.responses))
    assert fake.cancelled == [response_id]  # POST /responses/{id}/cancel was sent, once
    assert len(fake.created) == 1  # never asked (and paid for) twice
    assert error["details"]["responseId"] == response_id
    incomplete = error["details"]["incompleteTurn"]
    assert incomplete["incomplete"] is True and incomplete["turnNumber"] == 1
    assert (incomplete["responseId"], incomplete["responseStatus"]) == (response_id, "cancelled")
    assert incomplete["transport"] == "responses_background"
    assert "resumeResponseId" not in error["details"]  # cancelled: nothing left to re-attach to
    assert sum(clock.sleeps) <= 60  # every wait within deadlineMs
    assert error["retryAfterMs"] == 10_000


async def test_detached_a_response_keeps_running_and_a_resumed_job_reattaches_without_paying_again(
    respx_mock: respx.MockRouter,
) -> None:
    fake = BackgroundResponses(polls_to_finish=None)
    serve(respx_mock, fake)
    first = job(followups=1, backgroundOnStop="detach")
    first["config"]["deadlineMs"] = 30_000
    failed = wire(await run(first, FakeClock()))
    details = failed["error"]["details"]
    response_id = details["resumeResponseId"]
    assert failed["error"]["code"] == "TIMEOUT" and not fake.cancelled
    assert details["incompleteTurn"]["resumable"] is True
    assert details["incompleteTurn"]["responseStatus"] == "in_progress"

    fake.finish(response_id)  # it went on running while the host waited
    fake.polls_to_finish = 2
    resumed = job(followups=1, backgroundOnStop="detach")
    resumed["resumeResponseId"] = response_id
    out = wire(await run(resumed, FakeClock()))
    assert out["success"] is True, out
    turns = out["transcript"]["turns"]
    assert turns[0]["providerMetadata"]["responseId"] == response_id
    assert turns[0]["providerMetadata"]["reattached"] is True
    assert "reattached" not in turns[1]["providerMetadata"]
    assert len(fake.created) == 2  # the first job's turn 1, then only the resumed job's turn 2


async def test_a_cancelled_job_cancels_its_background_response_and_reports_it(respx_mock: respx.MockRouter) -> None:
    fake = BackgroundResponses(polls_to_finish=None)
    polling = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        if request.method == "GET" and len(fake.polled) == 2:
            polling.set()
            await asyncio.Event().wait()  # the third poll hangs until the job is cancelled
        status, document = fake.reply(request.method, request.url.path, body)
        return httpx.Response(status, json=document)

    respx_mock.route(url__startswith=f"{API}/responses").mock(side_effect=answer)
    task = asyncio.create_task(run(job(), FakeClock()))
    await polling.wait()
    task.cancel()
    out = wire(await task)

    response_id = next(iter(fake.responses))
    assert out["error"]["code"] == "CANCELLED" and out["error"]["retryable"] is True
    assert fake.cancelled == [response_id]
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert (incomplete["responseId"], incomplete["responseStatus"]) == (response_id, "cancelled")


async def test_a_poll_that_fails_is_retried_by_the_one_policy_and_never_creates_a_second_response(
    respx_mock: respx.MockRouter,
) -> None:
    fake = BackgroundResponses(polls_to_finish=3)
    failures = [503]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and failures:
            return httpx.Response(failures.pop(), json={"error": {"message": "overloaded", "type": "server_error"}})
        body = json.loads(request.content) if request.content else None
        status, document = fake.reply(request.method, request.url.path, body)
        return httpx.Response(status, json=document)

    respx_mock.route(url__startswith=f"{API}/responses").mock(side_effect=answer)
    out = wire(await run(job(), FakeClock()))
    assert out["success"] is True, out
    assert len(fake.created) == 1


@pytest.mark.parametrize("status", ["cancelled", "missing"])
async def test_a_resume_id_that_cannot_be_used_asks_anew_with_a_warning(
    respx_mock: respx.MockRouter, status: str
) -> None:
    fake = BackgroundResponses(polls_to_finish=1)
    serve(respx_mock, fake)
    resume_id = "resp_unknown"
    if status == "cancelled":
        fake.reply("POST", "/v1/responses", {"model": "o3-pro", "background": True, "input": []})
        resume_id = next(iter(fake.responses))
        fake.reply("POST", f"/v1/responses/{resume_id}/cancel", None)
    document = job()
    document["resumeResponseId"] = resume_id
    out = wire(await run(document, FakeClock()))
    assert out["success"] is True, out
    assert out["transcript"]["turns"][0]["providerMetadata"]["responseId"] != resume_id
    assert any(w["code"] == "RESUME_RESPONSE_UNUSABLE" for w in out["transcript"]["warningDetails"])


async def test_a_resume_id_of_another_model_is_a_validation_error(respx_mock: respx.MockRouter) -> None:
    fake = BackgroundResponses(polls_to_finish=1, served_model=lambda _: "gpt-5-pro-2025-10-06")
    serve(respx_mock, fake)
    fake.reply("POST", "/v1/responses", {"model": "gpt-5-pro", "background": True, "input": []})
    document = job()
    document["resumeResponseId"] = next(iter(fake.responses))
    out = wire(await run(document, FakeClock()))
    assert out["error"]["code"] == "VALIDATION_ERROR"
    assert out["error"]["details"]["field"] == "resumeResponseId"
    assert len(fake.created) == 1  # nothing new was asked


async def test_a_resume_id_on_a_chat_job_is_ignored_with_a_warning(respx_mock: respx.MockRouter) -> None:
    from tests.helpers import load_fixture

    respx_mock.post(f"{API}/chat/completions").mock(
        return_value=httpx.Response(200, json=load_fixture("openai", "chat_completion"))
    )
    document = probe_job("gpt-4.1", followups=0)
    document["resumeResponseId"] = "resp_abc"
    out = wire(await run(document))
    assert out["success"] is True
    assert any(w["code"] == "RESUME_RESPONSE_UNUSABLE" for w in out["transcript"]["warningDetails"])
