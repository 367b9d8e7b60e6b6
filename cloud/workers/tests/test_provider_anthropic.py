"""Anthropic (Claude) at the HTTP layer: respx answers /v1/messages as Anthropic does.

The fixtures are the Messages API's documented response and error documents, so the real
anthropic SDK parses real shapes; FakeClock makes retry waits observable without sleeping.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from common.io.render import render
from common.providers.registry import build_provider
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from tests.helpers import FakeClock, anthropic_as_asked, load_fixture, probe_job, run, sent_bodies, wire

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
MESSAGES_URL = "https://api.anthropic.com/v1/messages"
FAKE_KEY = "sk-ant-test-key-not-real-0123456789"
SERVED = "claude-opus-4-5-20251101"
ERRORS: dict[str, Any] = json.loads((FIXTURES / "errors.json").read_text())


def fixture(name: str) -> dict[str, Any]:
    return load_fixture("anthropic", name)


def message(text: str | None = None, *, stop_reason: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(fixture("message"))
    if text is not None:
        body["content"] = [{"type": "text", "text": text}]
    if stop_reason is not None:
        body["stop_reason"] = stop_reason
    return body


def ok(text: str | None = None, **usage: int | None) -> httpx.Response:
    body = message(text)
    body["usage"].update(usage)
    return httpx.Response(200, json=body)


def error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=ERRORS[name], headers=headers)


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


# -- conversations ----------------------------------------------------------------------


async def test_three_turns_resend_history_map_parameters_and_count_cached_prompt_tokens(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            ok("answer 1", input_tokens=40, cache_creation_input_tokens=2051, cache_read_input_tokens=0),
            ok("answer 2", input_tokens=60, cache_creation_input_tokens=0, cache_read_input_tokens=2051),
            ok("answer 3", input_tokens=80, cache_creation_input_tokens=0, cache_read_input_tokens=2051),
        ]
    )
    document = probe_job("claude-opus-4-5", config={"temperature": 0.7, "seed": 11, "maxTokens": 300})
    document["scenario"]["preamble"] = "You advise a hospital."
    document["modelConfig"] = {
        "topP": 0.9,
        "frequencyPenalty": 0.1,
        "presencePenalty": 0.2,
        "stopSequences": ["END"],
    }
    out = wire(await run(document))

    assert out["success"] is True
    transcript = out["transcript"]
    assert [t["targetResponse"] for t in transcript["turns"]] == ["answer 1", "answer 2", "answer 3"]
    assert transcript["provider"] == "anthropic" and transcript["requestedModel"] == "claude-opus-4-5"
    assert transcript["modelVersion"] == SERVED
    assert [t["providerMetadata"]["modelVersion"] for t in transcript["turns"]] == [SERVED] * 3
    meta = transcript["turns"][0]["providerMetadata"]
    assert meta["responseId"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert (meta["finishReason"], meta["rawFinishReason"]) == ("stop", "end_turn")
    assert meta["paramsSent"] == {"max_tokens": 300, "temperature": 0.7, "top_p": 0.9, "stop_sequences": ["END"]}
    for turn in transcript["turns"]:
        notes = turn["providerMetadata"]["paramNotes"]
        assert {(n["param"], n["action"]) for n in notes} == {
            ("frequency_penalty", "dropped"),
            ("presence_penalty", "dropped"),
            ("seed", "dropped"),
        }
    # inputTokens is the whole prompt: uncached + cache writes + cache reads.
    assert [t["inputTokens"] for t in transcript["turns"]] == [40 + 2051, 60 + 2051, 80 + 2051]
    assert [t["providerMetadata"]["cachedInputTokens"] for t in transcript["turns"]] == [0, 2051, 2051]
    assert transcript["totalInputTokens"] == 180 + 3 * 2051
    assert transcript["totalOutputTokens"] == 3 * 503
    assert meta["rawUsage"]["cache_creation_input_tokens"] == 2051 and meta["rawUsage"]["service_tier"] == "standard"

    bodies = sent_bodies(route)
    first_user = "You advise a hospital.\n\n" + document["scenario"]["prompt"]
    assert transcript["turns"][0]["probePrompt"] == first_user
    assert bodies[0]["messages"] == [{"role": "user", "content": first_user}]
    assert bodies[2]["messages"] == [
        {"role": "user", "content": first_user},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "Follow-up question 1?"},
        {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": "Follow-up question 2?"},
    ]
    for body in bodies:
        assert body["model"] == "claude-opus-4-5" and "system" not in body
        assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop_sequences"]) == (
            300,
            0.7,
            0.9,
            ["END"],
        )
        assert not {"frequency_penalty", "presence_penalty", "seed", "stop"} & body.keys()
    request = route.calls[0].request
    # anthropic SDK 2.x sends the key as a bearer token; the version is pinned (see the provider)
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert request.headers["anthropic-version"] == "2023-06-01"


async def test_preamble_mode_system_uses_the_top_level_system_parameter(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=[ok("first"), ok("second")])
    document = probe_job("anthropic:claude-opus-4-1", followups=1, config={"preambleMode": "system"})
    document["scenario"]["preamble"] = "Be brief."
    out = wire(await run_once(PROBE, document))

    assert out["success"] is True
    assert out["transcript"]["turns"][0]["probePrompt"] == document["scenario"]["prompt"]
    bodies = sent_bodies(route)
    assert [b["system"] for b in bodies] == ["Be brief.", "Be brief."]
    assert bodies[0]["messages"] == [{"role": "user", "content": document["scenario"]["prompt"]}]
    assert [m["role"] for m in bodies[1]["messages"]] == ["user", "assistant", "user"]
    assert bodies[0]["model"] == "claude-opus-4-1"


async def test_thinking_blocks_are_not_answer_text_and_thinking_tokens_stay_inside_output(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(MESSAGES_URL).mock(return_value=httpx.Response(200, json=fixture("thinking_message")))
    out = wire(await run(probe_job("claude-opus-4-5", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert turn["targetResponse"] == "Based on my analysis..."
    assert turn["outputTokens"] == 1200 and turn["providerMetadata"]["reasoningTokens"] == 1150
    # null cache fields: the prompt is the uncached input alone
    assert turn["inputTokens"] == 46 and turn["providerMetadata"]["cachedInputTokens"] == 0
    assert turn["providerMetadata"]["tokensEstimated"] is False
    assert out["transcript"]["totalReasoningTokens"] == 1150


async def test_a_large_token_limit_is_streamed(respx_mock: respx.MockRouter) -> None:
    # The SDK refuses such a request without streaming unless given a timeout, and Anthropic
    # recommends streaming it: it is streamed and assembled (tests/test_anthropic_streaming.py).
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=anthropic_as_asked(ok()))
    document = probe_job("claude-opus-4-1", followups=0)
    document["modelConfig"] = {"maxTokens": 64000, "maxTokensParam": "max_completion_tokens"}
    out = wire(await run(document))
    assert out["success"] is True
    body = sent_bodies(route)[0]
    assert body["max_tokens"] == 64000 and "max_completion_tokens" not in body
    assert body["stream"] is True
    note = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"][0]
    assert (note["param"], note["action"]) == ("max_completion_tokens", "renamed")


async def test_base_url_variable_redirects_requests(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://gateway.internal/anthropic")
    route = respx_mock.post("http://gateway.internal/anthropic/v1/messages").mock(return_value=ok())
    out = wire(await run(probe_job("claude-opus-4-5", followups=0)))
    assert out["success"] is True and route.call_count == 1


# -- retries ----------------------------------------------------------------------------


async def test_rate_limit_waits_exactly_the_retry_after_header(respx_mock: respx.MockRouter) -> None:
    limited = error(429, "rate_limit", {"retry-after": "7"})
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=[limited, ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("claude-opus-4-5", followups=0), clock))
    assert clock.sleeps == [7.0]
    assert route.call_count == 2
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 7000}]


async def test_overloaded_is_retried_then_answers(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=[error(529, "overloaded"), ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("claude-opus-4-5", followups=0), clock))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"][0]["code"] == "OVERLOADED" and meta["retries"][0]["statusCode"] == 529
    assert len(clock.sleeps) == 1 and 0.75 <= clock.sleeps[0] <= 1.0  # first backoff, 25% jitter


async def test_overloaded_on_every_attempt_fails_retryable_with_a_wait_hint(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(return_value=error(529, "overloaded"))
    clock = FakeClock()
    out = wire(await run(probe_job("claude-opus-4-5"), clock))
    assert route.call_count == 5 and len(clock.sleeps) == 4
    failure = out["error"]
    assert (failure["code"], failure["retryable"], failure["statusCode"]) == ("OVERLOADED", True, 529)
    assert failure["retryAfterMs"] > 0
    assert failure["details"]["attempts"] == 5
    assert failure["details"]["providerErrorType"] == "overloaded_error"
    assert "partialTranscript" not in out


async def test_server_error_then_success_records_two_attempts(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=[error(500, "api_error"), ok()])
    out = wire(await run(probe_job("claude-opus-4-5", followups=0)))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"][0]["code"] == "SERVER_ERROR" and meta["retries"][0]["statusCode"] == 500


@pytest.mark.parametrize(
    ("side_effect", "code"),
    [(httpx.ReadTimeout("timed out"), "TIMEOUT"), (httpx.ConnectError("connection refused"), "NETWORK_ERROR")],
)
async def test_transport_failures_are_retryable(
    respx_mock: respx.MockRouter, side_effect: Exception, code: str
) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=side_effect)
    out = wire(await run(probe_job("claude-opus-4-5")))
    assert route.call_count == 5  # the SDK's own retries are off: each attempt is one request
    assert (out["error"]["code"], out["error"]["retryable"]) == (code, True)
    assert "statusCode" not in out["error"]


# -- failures that no retry can fix -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "code"),
    [
        (400, "credit_balance", "QUOTA_EXCEEDED"),
        (400, "usage_limits", "QUOTA_EXCEEDED"),
        (429, "spend_limit", "QUOTA_EXCEEDED"),
        (401, "authentication", "AUTH_ERROR"),
        (404, "not_found", "NOT_FOUND"),
        (400, "prompt_too_long", "CONTEXT_LENGTH"),
    ],
)
async def test_permanent_errors_fail_after_one_request(
    respx_mock: respx.MockRouter, status: int, name: str, code: str
) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(return_value=error(status, name, {"retry-after": "30"}))
    clock = FakeClock()
    out = wire(await run(probe_job("claude-opus-4-5"), clock))
    assert route.call_count == 1 and clock.sleeps == []
    failure = out["error"]
    assert (failure["code"], failure["retryable"], failure["statusCode"]) == (code, False, status)
    assert failure["details"]["providerErrorType"] == ERRORS[name]["error"]["type"]
    assert ERRORS[name]["error"]["message"] in failure["message"]
    assert failure["details"]["attempts"] == 1


async def test_spend_limit_reports_anthropics_error_code(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(return_value=error(429, "spend_limit"))
    out = wire(await run(probe_job("claude-opus-4-5")))
    assert out["error"]["details"]["providerErrorCode"] == "enforced_spend_limit_reached"


async def test_temperature_with_top_p_is_retried_without_temperature_for_every_turn(
    respx_mock: respx.MockRouter,
) -> None:
    rejected = error(400, "temperature_and_top_p")
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=[rejected, ok("one"), ok("two")])
    document = probe_job("claude-opus-4-5", followups=1, config={"temperature": 0.7, "maxTokens": 512})
    document["modelConfig"] = {"topP": 0.9}
    out = wire(await run(document))

    assert out["success"] is True
    bodies = sent_bodies(route)
    assert len(bodies) == 3
    assert bodies[0]["temperature"] == 0.7 and bodies[0]["top_p"] == 0.9
    assert all("temperature" not in b and b["top_p"] == 0.9 for b in bodies[1:])  # later turns too
    first, second = out["transcript"]["turns"]
    notes = first["providerMetadata"]["paramNotes"]
    assert [(n["param"], n["action"]) for n in notes] == [("temperature", "retried_without")]
    assert "cannot both be specified" in notes[0]["reason"]
    assert first["providerMetadata"]["attempts"] == 2
    assert first["providerMetadata"]["paramsSent"] == {"max_tokens": 512, "top_p": 0.9}
    assert second["providerMetadata"]["paramNotes"] == []


async def test_a_token_limit_above_the_model_maximum_is_lowered(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=[error(400, "max_tokens_too_large"), ok(), ok()])
    out = wire(await run(probe_job("claude-3-haiku-20240307", followups=1, config={"maxTokens": 8192})))
    assert [b["max_tokens"] for b in sent_bodies(route)] == [8192, 4096, 4096]
    note = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"][0]
    assert (note["param"], note["action"]) == ("maxTokens", "lowered")


# -- answers that are not a plain success -----------------------------------------------


async def test_max_tokens_stop_is_a_truncated_success_with_a_warning(respx_mock: respx.MockRouter) -> None:
    body = message("A long answer that was cut", stop_reason="max_tokens")
    respx_mock.post(MESSAGES_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("claude-opus-4-5", followups=0)))
    assert out["success"] is True
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "max_tokens", True)
    assert any("token limit" in w for w in out["transcript"]["warnings"])


async def test_refusal_without_content_on_turn_two_keeps_turn_one(respx_mock: respx.MockRouter) -> None:
    refused = httpx.Response(200, json=fixture("refusal_message"))
    route = respx_mock.post(MESSAGES_URL).mock(side_effect=[ok("first answer"), refused])
    out = wire(await run(probe_job("claude-opus-4-5")))

    assert route.call_count == 2
    assert out["success"] is False
    failure = out["error"]
    assert (failure["code"], failure["retryable"]) == ("CONTENT_FILTERED", False)
    assert failure["details"]["rawFinishReason"] == "refusal" and failure["details"]["turn"] == 2
    partial = out["partialTranscript"]
    assert [t["targetResponse"] for t in partial["turns"]] == ["first answer"]
    assert partial["modelVersion"] == SERVED


async def test_an_error_on_turn_two_returns_turn_one_as_a_partial_transcript(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=[ok("first answer"), error(400, "prompt_too_long")])
    out = wire(await run(probe_job("claude-opus-4-5")))
    assert out["error"]["code"] == "CONTEXT_LENGTH"
    assert out["error"]["details"]["completedTurns"] == 1 and out["error"]["details"]["plannedTurns"] == 3
    partial = out["partialTranscript"]
    assert [t["turnNumber"] for t in partial["turns"]] == [1]
    assert partial["totalInputTokens"] == 2095 and partial["totalOutputTokens"] == 503


async def test_a_200_that_is_not_json_is_an_invalid_response(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    )
    out = wire(await run(probe_job("claude-opus-4-5")))
    assert (out["error"]["code"], out["error"]["retryable"]) == ("INVALID_RESPONSE", False)


async def test_the_api_key_never_appears_in_the_failure_document(respx_mock: respx.MockRouter) -> None:
    body = copy.deepcopy(ERRORS["authentication"])
    body["error"]["message"] = f"invalid x-api-key: {FAKE_KEY}"  # as an echoing proxy might say it
    respx_mock.post(MESSAGES_URL).mock(return_value=httpx.Response(401, json=body))
    printed = render(await run_once(PROBE, probe_job("claude-opus-4-5")))
    assert json.loads(printed)["error"]["code"] == "AUTH_ERROR"
    assert FAKE_KEY not in printed and "[REDACTED]" in printed


# -- model listing (health checks) ------------------------------------------------------


async def test_list_models_returns_the_ids_the_key_can_see(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("https://api.anthropic.com/v1/models").mock(
        return_value=httpx.Response(200, json=fixture("models"))
    )
    provider = build_provider("anthropic")
    try:
        ids = await provider.list_models(5.0)
    finally:
        await provider.aclose()
    assert ids == [SERVED, "claude-3-haiku-20240307"]
    request = route.calls[0].request
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}" and request.url.params["limit"] == "1000"


async def test_a_response_that_writes_and_reads_the_cache_counts_both_in_the_prompt(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(MESSAGES_URL).mock(
        return_value=ok(input_tokens=21, cache_creation_input_tokens=188, cache_read_input_tokens=2051)
    )
    turn = wire(await run(probe_job("claude-opus-4-5", followups=0)))["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    # Anthropic's input_tokens is only the uncached part; inputTokens is the whole prompt.
    assert turn["inputTokens"] == 21 + 188 + 2051
    assert meta["cachedInputTokens"] == 2051  # cache reads only: a write is billed as a fresh (dearer) token
    assert (turn["outputTokens"], meta["reasoningTokens"], meta["tokensEstimated"]) == (503, 0, False)
    usage = meta["rawUsage"]
    assert (usage["input_tokens"], usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (
        21,
        188,
        2051,
    )
