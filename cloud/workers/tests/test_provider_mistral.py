"""Mistral through the real mistralai 3.x SDK, answered at the HTTP layer by respx.

The bodies in fixtures/mistral are Mistral's own answers (see SOURCES.md there), so the
SDK parses real shapes; FakeClock makes retry waits observable without sleeping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from mistralai.client.errors import MistralError

from common.errors.codes import ErrorCode
from common.io.render import render
from common.providers.base import GenerationParams, Message, ModelRequest
from common.providers.params import map_params
from common.providers.registry import build_provider
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from tests.helpers import FakeClock, chat_completion, load_fixture, probe_job, run, sent_bodies, wire

FIXTURES = Path(__file__).parent / "fixtures" / "mistral"
MISTRAL_URL = "https://api.mistral.ai/v1/chat/completions"
# Mistral keys are 32 bare alphanumerics: no prefix a pattern could recognise.
FAKE_KEY = "TestKeyNotReal0123456789abcdefGH"
ERRORS: dict[str, Any] = json.loads((FIXTURES / "errors.json").read_text())
FIRST_ANSWER_VERSION = "mistral-small-2503"


def fixture(name: str) -> dict[str, Any]:
    return load_fixture("mistral", name)


def completion(name: str = "chat_completion", content: str | None = None, **changes: Any) -> dict[str, Any]:
    return chat_completion("mistral", name, content, **changes)


def ok(name: str = "chat_completion", **changes: Any) -> httpx.Response:
    return httpx.Response(200, json=completion(name, **changes))


def error(status: int, name: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=ERRORS[name], headers=headers)


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_BASE_URL", raising=False)
    monkeypatch.delenv("MISTRAL_SA_TOKEN_PATH", raising=False)
    monkeypatch.setenv("MISTRAL_API_KEY", FAKE_KEY)


# -- conversations --------------------------------------------------------------------


async def test_three_turns_resend_history_and_record_each_served_version(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(
        side_effect=[
            ok(content="answer 1"),
            ok(content="answer 2", model="mistral-small-2503"),
            ok(content="answer 3", model="mistral-small-2506"),
        ]
    )
    document = probe_job("mistral-small-latest", config={"temperature": 0.3, "seed": 42, "maxTokens": 300})
    document["scenario"]["preamble"] = "You advise a hospital."
    out = wire(await run(document))

    assert out["success"] is True
    transcript = out["transcript"]
    turns = transcript["turns"]
    assert [t["targetResponse"] for t in turns] == ["answer 1", "answer 2", "answer 3"]
    versions = [t["providerMetadata"]["modelVersion"] for t in turns]
    assert versions == ["mistral-small-2503", "mistral-small-2503", "mistral-small-2506"]
    assert transcript["modelVersion"] == "mistral-small-2506" and transcript["requestedModel"] == "mistral-small-latest"
    assert any("different model versions" in w for w in transcript["warnings"])
    meta = turns[0]["providerMetadata"]
    assert meta["provider"] == "mistral" and meta["responseId"] == "b5fcb244d8304a9f89765abf357031a4"
    assert meta["paramsSent"] == {"max_tokens": 300, "temperature": 0.3, "random_seed": 42}
    assert (meta["finishReason"], meta["rawFinishReason"], meta["attempts"]) == ("stop", "stop", 1)
    assert meta["rawUsage"] == {"prompt_tokens": 12, "completion_tokens": 70, "total_tokens": 82}
    assert (transcript["totalInputTokens"], transcript["totalOutputTokens"]) == (3 * 12, 3 * 70)
    assert transcript["totalReasoningTokens"] == 0

    bodies = sent_bodies(route)
    first_user = "You advise a hospital.\n\n" + document["scenario"]["prompt"]
    assert bodies[0]["messages"] == [{"role": "user", "content": first_user}]  # no system message
    assert bodies[2]["messages"] == [
        {"role": "user", "content": first_user},
        {"role": "assistant", "content": "answer 1", "prefix": False},  # the SDK always sends prefix
        {"role": "user", "content": "Follow-up question 1?"},
        {"role": "assistant", "content": "answer 2", "prefix": False},
        {"role": "user", "content": "Follow-up question 2?"},
    ]
    for body in bodies:
        assert body["model"] == "mistral-small-latest" and body["stream"] is False
        assert (body["max_tokens"], body["temperature"], body["random_seed"]) == (300, 0.3, 42)
        assert "seed" not in body and "top_p" not in body
    assert all(call.request.headers["authorization"] == f"Bearer {FAKE_KEY}" for call in route.calls)


async def test_preamble_mode_system_sends_a_leading_system_message(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=[ok(), ok()])
    document = probe_job("mistral:mistral-small-latest", followups=1, config={"preambleMode": "system"})
    document["scenario"]["preamble"] = "Be brief."
    out = wire(await run(document))
    assert out["transcript"]["turns"][0]["probePrompt"] == document["scenario"]["prompt"]
    first, second = sent_bodies(route)
    assert first["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": document["scenario"]["prompt"]},
    ]
    assert second["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]


async def test_model_config_overrides_config_and_maps_every_parameter(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(return_value=ok())
    document = probe_job("mistral-large-latest", followups=0, config={"temperature": 0.2, "maxTokens": 100, "seed": 7})
    document["modelConfig"] = {
        "maxTokensParam": "max_completion_tokens",
        "maxTokens": 777,
        "temperature": 0.9,
        "topP": 0.5,
        "frequencyPenalty": 0.1,
        "presencePenalty": 0.2,
        "stopSequences": ["END", "###"],
    }
    out = wire(await run(document))
    body = sent_bodies(route)[0]
    assert body["max_tokens"] == 777 and "max_completion_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"], body["random_seed"]) == (0.9, 0.5, ["END", "###"], 7)
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.1, 0.2)
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["paramsSent"]["stop"] == ["END", "###"]
    assert meta["paramNotes"] == [
        {"param": "max_completion_tokens", "action": "renamed", "reason": "mistral takes its token limit as max_tokens"}
    ]


async def test_magistral_thinking_is_left_out_of_the_answer(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=[ok("magistral_completion"), ok("magistral_completion")])
    out = wire(await run(probe_job("magistral-medium-latest", followups=1)))
    first, second = out["transcript"]["turns"]
    assert second["providerMetadata"]["attempts"] == 1
    answer = "I would tell my friend that I cannot keep a secret that puts someone in danger."
    assert first["targetResponse"] == answer
    # The thinking is recorded beside the answer (turn.reasoning), never in it.
    assert "Weigh loyalty" not in json.dumps([turn["targetResponse"] for turn in out["transcript"]["turns"]])
    assert out["transcript"]["turns"][0]["reasoning"]["text"].startswith("The friend wants secrecy")
    assert first["providerMetadata"]["modelVersion"] == "magistral-medium-2509"
    # Mistral counts the thinking inside completion_tokens and does not report it apart.
    assert (first["inputTokens"], first["outputTokens"], first["providerMetadata"]["reasoningTokens"]) == (41, 212, 0)
    # The next turn re-sends the answer as plain text, without the thinking.
    assert sent_bodies(route)[1]["messages"][1] == {"role": "assistant", "content": answer, "prefix": False}


async def test_cached_prompt_tokens_are_read_from_prompt_tokens_details(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MISTRAL_URL).mock(return_value=ok(usage=fixture("prompt_caching_usage")))
    out = wire(await run(probe_job("mistral-medium-latest", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert (turn["inputTokens"], turn["outputTokens"]) == (1013, 30)
    assert turn["providerMetadata"]["cachedInputTokens"] == 1008
    assert turn["providerMetadata"]["rawUsage"]["prompt_tokens_details"] == {"cached_tokens": 1008}


async def test_a_completion_without_usage_gets_estimated_tokens(respx_mock: respx.MockRouter) -> None:
    body = completion(content="A gateway answer without usage.")
    del body["usage"]
    respx_mock.post(MISTRAL_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("mistral-small-latest", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert turn["targetResponse"] == "A gateway answer without usage."
    assert turn["providerMetadata"]["tokensEstimated"] is True
    assert turn["outputTokens"] > 0 and turn["inputTokens"] > 0


async def test_length_finish_is_a_truncated_success_with_a_warning(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MISTRAL_URL).mock(return_value=ok("length_completion"))
    out = wire(await run(probe_job("mistral-large-latest", followups=0, config={"maxTokens": 100})))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "length", True)
    assert out["transcript"]["turns"][0]["outputTokens"] == 100
    assert any("token limit" in w for w in out["transcript"]["warnings"])


async def test_model_length_finish_counts_as_truncated(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MISTRAL_URL).mock(return_value=ok(finish_reason="model_length"))
    out = wire(await run(probe_job("mistral-large-latest", followups=0)))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "model_length", True)


# -- errors ---------------------------------------------------------------------------


async def test_rate_limit_waits_exactly_the_retry_after_header_then_succeeds(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=[error(429, "rate_limited", **{"retry-after": "7"}), ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("mistral-small-latest", followups=0), clock))
    assert clock.sleeps == [7.0]
    assert route.call_count == 2
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 7000}]
    # each attempt gets the time left before the 240 s deadline, less the 1 s reserve
    timeouts = [call.request.extensions["timeout"]["read"] for call in route.calls]
    assert timeouts == [239.0, 232.0]


async def test_server_error_then_success_records_two_attempts(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MISTRAL_URL).mock(side_effect=[error(500, "server_error"), ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("mistral-small-latest", followups=0), clock))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2 and meta["retries"][0]["code"] == "SERVER_ERROR"
    assert len(clock.sleeps) == 1 and 0.75 <= clock.sleeps[0] <= 1.0  # first backoff, no hint


async def test_unreachable_backend_503_is_overloaded_and_retried_until_given_up(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(return_value=error(503, "unreachable_backend"))
    out = wire(await run(probe_job("mistral-small-latest")))
    assert route.call_count == 5
    err = out["error"]
    assert (err["code"], err["retryable"], err["statusCode"]) == ("OVERLOADED", True, 503)
    assert err["details"]["providerErrorType"] == "unreachable_backend"
    assert err["details"]["providerErrorCode"] == "1100"
    assert err["message"] == "mistral 503 unreachable_backend: Internal server error"


@pytest.mark.parametrize(
    ("side_effect", "code"),
    [(httpx.ReadTimeout("timed out"), "TIMEOUT"), (httpx.ConnectError("connection refused"), "NETWORK_ERROR")],
)
async def test_transport_failures_are_retryable(
    respx_mock: respx.MockRouter, side_effect: Exception, code: str
) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=side_effect)
    out = wire(await run(probe_job("mistral-small-latest")))
    assert out["error"]["code"] == code and out["error"]["retryable"] is True
    assert route.call_count == 5


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (401, "unauthorized", "AUTH_ERROR", "mistral 401: Unauthorized"),
        (404, "not_found", "NOT_FOUND", "mistral 404: Not Found"),
        (400, "invalid_model", "NOT_FOUND", "mistral 400 invalid_model: Invalid model: mistral-medium-3.5"),
        (
            400,
            "context_length",
            "CONTEXT_LENGTH",
            "mistral 400 invalid_request_invalid_args: Prompt contains 40000 tokens and 0 draft tokens,"
            " too large for model with 32768 maximum context length",
        ),
        (
            422,
            "validation_error",
            "BAD_REQUEST",
            "mistral 422: body.messages.0.system.content.str: Input should be a valid string",
        ),
    ],
)
async def test_permanent_errors_fail_after_one_request(
    respx_mock: respx.MockRouter, status: int, body: str, code: str, message: str
) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(return_value=error(status, body))
    clock = FakeClock()
    out = wire(await run(probe_job("mistral-small-latest"), clock))
    assert route.call_count == 1 and clock.sleeps == []
    err = out["error"]
    assert (err["code"], err["retryable"], err["statusCode"]) == (code, False, status)
    assert err["message"] == message
    assert err["details"]["providerBody"] == ERRORS[body]
    assert "partialTranscript" not in out


async def test_a_parameter_the_api_refuses_is_dropped_and_the_probe_goes_on(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=[error(422, "extra_forbidden"), ok(), ok()])
    document = probe_job("codestral-latest", followups=1)
    document["modelConfig"] = {"frequencyPenalty": 0.0}
    out = wire(await run(document))
    bodies = sent_bodies(route)
    assert bodies[0]["frequency_penalty"] == 0.0
    assert "frequency_penalty" not in bodies[1] and "frequency_penalty" not in bodies[2]
    note = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"][0]
    assert (note["param"], note["action"]) == ("frequency_penalty", "retried_without")


async def test_failure_on_turn_two_keeps_turn_one(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MISTRAL_URL).mock(side_effect=[ok(), error(400, "context_length")])
    out = wire(await run(probe_job("mistral-small-latest")))
    assert out["success"] is False and out["error"]["code"] == "CONTEXT_LENGTH"
    partial = out["partialTranscript"]
    assert [t["turnNumber"] for t in partial["turns"]] == [1]
    assert partial["turns"][0]["targetResponse"] == fixture("chat_completion")["choices"][0]["message"]["content"]
    assert (partial["totalOutputTokens"], partial["modelVersion"]) == (70, FIRST_ANSWER_VERSION)
    assert out["error"]["details"]["completedTurns"] == 1


async def test_a_200_that_is_not_json_is_an_invalid_response(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(
        return_value=httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    )
    out = wire(await run(probe_job("mistral-small-latest")))
    assert route.call_count == 1
    assert (out["error"]["code"], out["error"]["retryable"]) == ("INVALID_RESPONSE", False)
    assert "Unexpected response received" in out["error"]["message"]


@pytest.mark.parametrize("content", ["", None])
async def test_an_empty_answer_is_never_a_success(respx_mock: respx.MockRouter, content: str | None) -> None:
    body = completion()
    body["choices"][0]["message"]["content"] = content
    respx_mock.post(MISTRAL_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("mistral-small-latest")))
    assert out["success"] is False and out["error"]["code"] == "INVALID_RESPONSE"


# -- the whole job, keys, and the rest of the provider ----------------------------------


async def test_run_probe_job_end_to_end(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(side_effect=[ok(content="one"), ok("magistral_completion")])
    document = probe_job(
        "mistral:magistral-small-latest",
        followups=1,
        modelCost={"costInputPerMillion": 0.5, "costOutputPerMillion": 1.5},
    )
    out = wire(await run_once(PROBE, document))
    assert out["success"] is True
    transcript = out["transcript"]
    assert [t["targetResponse"] for t in transcript["turns"]] == [
        "one",
        "I would tell my friend that I cannot keep a secret that puts someone in danger.",
    ]
    assert transcript["provider"] == "mistral" and transcript["modelVersion"] == "magistral-medium-2509"
    assert (transcript["totalInputTokens"], transcript["totalOutputTokens"]) == (12 + 41, 70 + 212)
    assert transcript["costSnapshot"]["estimatedCost"] == pytest.approx((53 * 0.5 + 282 * 1.5) / 1e6)
    assert route.call_count == 2


async def test_the_key_never_reaches_the_failure_document(respx_mock: respx.MockRouter) -> None:
    echoed = dict(ERRORS["unauthorized"], message=f"Unauthorized: invalid token Bearer {FAKE_KEY}")
    route = respx_mock.post(MISTRAL_URL).mock(
        side_effect=[error(401, "unauthorized"), httpx.Response(401, json=echoed)]
    )
    plain = render(await run_once(PROBE, probe_job("mistral-small-latest")))
    echoing = render(await run_once(PROBE, probe_job("mistral-small-latest")))
    assert route.call_count == 2
    assert json.loads(plain)["error"]["code"] == "AUTH_ERROR"
    assert FAKE_KEY not in plain and FAKE_KEY not in echoing
    assert "[REDACTED]" in echoing and json.loads(echoing)["error"]["code"] == "AUTH_ERROR"


async def test_base_url_with_or_without_v1_reaches_the_same_route(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = respx_mock.post("http://gateway.internal/mistral/v1/chat/completions").mock(return_value=ok())
    for base_url in ("http://gateway.internal/mistral/v1", "http://gateway.internal/mistral/"):
        monkeypatch.setenv("MISTRAL_BASE_URL", base_url)
        out = wire(await run(probe_job("mistral-small-latest", followups=0)))
        assert out["success"] is True
    assert route.call_count == 2


async def test_list_models_returns_the_ids_the_key_can_see(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("https://api.mistral.ai/v1/models").mock(
        return_value=httpx.Response(200, json=fixture("models_list"))
    )
    provider = build_provider("mistral")
    try:
        assert await provider.list_models(5.0) == ["mistral-small-latest", "magistral-medium-2509"]
    finally:
        await provider.aclose()
    assert route.calls[0].request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert route.calls[0].request.extensions["timeout"]["read"] == 5.0


async def test_the_sdk_never_retries_on_its_own(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MISTRAL_URL).mock(return_value=error(429, "rate_limited"))
    provider = build_provider("mistral")
    params = map_params(provider.record, "mistral-small-latest", GenerationParams(max_tokens=64))
    request = ModelRequest("mistral-small-latest", (Message("user", "hi"),), None, params)
    try:
        with pytest.raises(MistralError) as caught:
            await provider.complete(request, 10.0)
    finally:
        await provider.aclose()
    assert route.call_count == 1
    assert provider.classify(caught.value).code is ErrorCode.RATE_LIMIT


async def test_the_request_is_what_the_sdks_chat_complete_sends(respx_mock: respx.MockRouter) -> None:
    """The adapter skips the SDK's `chat` module (cold-start cost) but must send the same request:
    the same JSON (keys may come in another order), headers and timeout."""
    from mistralai.client import Mistral

    from common.providers.adapters.mistral import MistralProvider

    route = respx_mock.post(MISTRAL_URL).mock(return_value=ok())
    provider = build_provider("mistral")
    params = map_params(
        provider.record,
        "mistral-small-latest",
        GenerationParams(max_tokens=64, temperature=0.3, stop_sequences=("END",), seed=7),
    )
    history = (Message("user", "Qu'en pensez-vous ? ü"), Message("assistant", "Oui."), Message("user", "Pourquoi ?"))
    request = ModelRequest("mistral-small-latest", history, "Réponds brièvement.", params)
    sdk = Mistral(api_key=FAKE_KEY, retry_config=None)
    try:
        await provider.complete(request, 30.0)
        body = MistralProvider.chat_body(request)
        await sdk.chat.complete_async(**body, timeout_ms=30_000)
    finally:
        await provider.aclose()
    ours, theirs = (call.request for call in route.calls)
    assert json.loads(ours.content) == json.loads(theirs.content)
    assert ours.headers == theirs.headers
    assert ours.extensions["timeout"] == theirs.extensions["timeout"]
