"""Gemini through the real google-genai SDK, answered at the HTTP layer by respx.

The bodies in fixtures/google are Gemini's own answers and errors (see SOURCES.md there),
so the SDK parses real shapes; FakeClock makes retry waits observable without sleeping.
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
from testkit.fake_provider import FakeProvider
from testkit.workers import PROBE_PY, run_python, run_script
from tests.helpers import FakeClock, load_fixture, probe_job, run, sent_bodies, wire

FIXTURES = Path(__file__).parent / "fixtures" / "google"
API = "https://generativelanguage.googleapis.com/v1"
FLASH_URL = f"{API}/models/gemini-2.5-flash:generateContent"
PRO_URL = f"{API}/models/gemini-2.5-pro:generateContent"
FAKE_KEY = "AIzaSyD-test-key-not-real-0123456789ab"
ERRORS: dict[str, Any] = json.loads((FIXTURES / "errors.json").read_text())


def fixture(name: str) -> dict[str, Any]:
    return load_fixture("google", name)


def answer(name: str = "generate_content", text: str | None = None, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(fixture(name))
    if text is not None:
        body["candidates"][0]["content"]["parts"] = [{"text": text}]
    body.update(changes)
    return body


def ok(name: str = "generate_content", text: str | None = None, **changes: Any) -> httpx.Response:
    return httpx.Response(200, json=answer(name, text, **changes))


def error(status: int, name: str) -> httpx.Response:
    return httpx.Response(status, json=ERRORS[name])


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "GEMINI_BASE_URL",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def model(text: str) -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


# -- conversations --------------------------------------------------------------------


async def test_three_turns_resend_history_map_parameters_and_count_thinking_tokens(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(FLASH_URL).mock(
        side_effect=[
            ok(text="answer 1"),
            ok("implicit_cache", text="answer 2"),
            ok(text="answer 3", modelVersion="gemini-2.5-flash-preview-09-2025"),
        ]
    )
    document = probe_job(
        "gemini-2.5-flash", config={"temperature": 0.7, "seed": 11, "maxTokens": 300, "preambleMode": "system"}
    )
    document["scenario"]["preamble"] = "You advise a hospital."
    document["modelConfig"] = {
        "temperature": 0.4,
        "topP": 0.9,
        "frequencyPenalty": 0.1,
        "presencePenalty": 0.2,
        "stopSequences": ["END"],
    }
    out = wire(await run(document))

    assert out["success"] is True
    transcript = out["transcript"]
    turns = transcript["turns"]
    assert [t["targetResponse"] for t in turns] == ["answer 1", "answer 2", "answer 3"]
    versions = [t["providerMetadata"]["modelVersion"] for t in turns]
    assert versions == ["gemini-2.5-flash", "gemini-2.5-flash", "gemini-2.5-flash-preview-09-2025"]
    assert transcript["modelVersion"] == "gemini-2.5-flash-preview-09-2025"
    assert any("different model versions" in w for w in transcript["warnings"])
    assert (transcript["provider"], transcript["requestedModel"]) == ("google", "gemini-2.5-flash")

    first, second, _ = (t["providerMetadata"] for t in turns)
    assert first["responseId"] == "YIpUacCjHJHG2roPuofg6Aw"
    assert (first["finishReason"], first["rawFinishReason"], first["truncated"]) == ("stop", "STOP", False)
    assert first["paramsSent"] == {
        "max_output_tokens": 300,
        "temperature": 0.4,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "stop_sequences": ["END"],
        "seed": 11,
    }
    assert first["rawUsage"] == fixture("generate_content")["usageMetadata"]  # Gemini's camelCase, as sent
    # Gemini counts thinking apart from candidate tokens; outputTokens always includes it.
    assert (turns[0]["inputTokens"], turns[0]["outputTokens"]) == (15, 359 + 661)
    assert (first["reasoningTokens"], first["cachedInputTokens"], first["tokensEstimated"]) == (661, 0, False)
    # promptTokenCount already includes the cached prefix.
    assert (turns[1]["inputTokens"], turns[1]["outputTokens"]) == (1200, 30 + 70)
    assert (second["reasoningTokens"], second["cachedInputTokens"]) == (70, 1000)
    assert transcript["totalReasoningTokens"] == 661 + 70 + 661
    assert transcript["totalOutputTokens"] == 1020 + 100 + 1020

    bodies = sent_bodies(route)
    prompt = document["scenario"]["prompt"]
    assert bodies[0]["contents"] == [user(prompt)]
    assert bodies[2]["contents"] == [
        user(prompt),
        model("answer 1"),
        user("Follow-up question 1?"),
        model("answer 2"),
        user("Follow-up question 2?"),
    ]
    for body in bodies:
        assert body["systemInstruction"]["parts"] == [{"text": "You advise a hospital."}]
        assert body["generationConfig"] == {
            "maxOutputTokens": 300,
            "temperature": 0.4,
            "topP": 0.9,
            "seed": 11,
            "stopSequences": ["END"],
            "frequencyPenalty": 0.1,
            "presencePenalty": 0.2,
        }
    for call in route.calls:
        assert call.request.headers["x-goog-api-key"] == FAKE_KEY
        assert "key=" not in str(call.request.url)  # the key travels in the header only


async def test_prepend_mode_sends_no_system_instruction_through_the_job_entry_point(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(FLASH_URL).mock(side_effect=[ok(text="first"), ok(text="second")])
    document = probe_job("google:gemini-2.5-flash", followups=1)
    document["scenario"]["preamble"] = "Be brief."
    out = wire(await run_once(PROBE, document))

    assert out["success"] is True
    first_prompt = "Be brief.\n\n" + document["scenario"]["prompt"]
    assert out["transcript"]["turns"][0]["probePrompt"] == first_prompt
    first, second = sent_bodies(route)
    assert "systemInstruction" not in first and "systemInstruction" not in second
    assert first["contents"] == [user(first_prompt)]
    assert second["contents"] == [user(first_prompt), model("first"), user("Follow-up question 1?")]
    assert first["generationConfig"] == {"maxOutputTokens": 512, "temperature": 0.7}


async def test_thought_summary_parts_are_not_answer_text(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(PRO_URL).mock(return_value=ok("thought_summary"))
    out = wire(await run(probe_job("gemini-2.5-pro", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert turn["targetResponse"] == "I would gently refuse to keep it and help my friend find a safe way to tell."
    assert turn["outputTokens"] == 19 + 180 and turn["providerMetadata"]["reasoningTokens"] == 180


async def test_each_attempt_is_given_the_time_left_before_the_deadline(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(return_value=ok())
    await run(probe_job("gemini-2.5-flash", followups=0, config={"maxTokens": 64, "deadlineMs": 30_000}))
    request = route.calls[0].request
    # 30 s deadline minus the 1 s the worker keeps to print its answer
    assert request.extensions["timeout"]["read"] == 29.0
    assert request.headers["x-server-timeout"] == "29"


async def test_base_url_variable_redirects_requests(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_BASE_URL", "http://gateway.internal/gemini")
    route = respx_mock.post("http://gateway.internal/gemini/v1/models/gemini-2.5-flash:generateContent").mock(
        return_value=ok()
    )
    out = wire(await run(probe_job("models/gemini-2.5-flash", followups=0)))
    assert out["success"] is True and route.call_count == 1


async def test_vertex_environment_variables_do_not_reroute_requests(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "some-project")
    route = respx_mock.post(FLASH_URL).mock(return_value=ok())
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0)))
    assert out["success"] is True and route.call_count == 1


# -- retries --------------------------------------------------------------------------


async def test_rate_limit_waits_exactly_the_retry_delay_gemini_gives(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(side_effect=[error(429, "rate_limited"), ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0), clock))
    assert out["success"] is True and route.call_count == 2
    assert clock.sleeps == [13.0]
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 13000}]


async def test_a_per_day_quota_is_handed_to_the_host_with_the_time_to_its_reset(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.errors import retry_hints

    # 2026-03-10 15:00 UTC = 08:00 in Pacific daylight time: the daily quota resets in 16 h.
    monkeypatch.setattr(retry_hints, "clock", lambda: 1_773_154_800.0)
    route = respx_mock.post(FLASH_URL).mock(return_value=error(429, "rate_limited_per_day"))
    clock = FakeClock()
    out = wire(await run(probe_job("gemini-2.5-flash", config={"deadlineMs": 30_000}), clock))
    assert route.call_count == 1 and clock.sleeps == []  # never waited on inside the worker
    err = out["error"]
    assert (err["code"], err["retryable"], err["statusCode"]) == ("RATE_LIMIT", True, 429)
    assert err["retryAfterMs"] == 16 * 3600 * 1000 and err["details"]["quotaWindow"] == "day"
    assert err["details"]["providerErrorType"] == "RESOURCE_EXHAUSTED"
    assert err["details"]["providerBody"] == ERRORS["rate_limited_per_day"]


async def test_overloaded_is_retried_then_answers(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(side_effect=[error(503, "overloaded"), ok()])
    clock = FakeClock()
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0), clock))
    assert out["success"] is True and route.call_count == 2
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert (meta["retries"][0]["code"], meta["retries"][0]["statusCode"]) == ("OVERLOADED", 503)
    assert 0.75 <= clock.sleeps[0] <= 1.0  # first backoff step, shortened by jitter


async def test_internal_errors_back_off_then_give_up_retryable(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(return_value=error(500, "internal"))
    clock = FakeClock()
    out = wire(await run(probe_job("gemini-2.5-flash"), clock))
    assert route.call_count == 5  # our five attempts; the SDK adds none of its own
    err = out["error"]
    assert (err["code"], err["retryable"], err["statusCode"]) == ("SERVER_ERROR", True, 500)
    assert err["details"]["attempts"] == 5 and err["retryAfterMs"] > 0
    for waited, base in zip(clock.sleeps, (1, 2, 4, 8), strict=True):
        assert base * 0.75 <= waited <= base


@pytest.mark.parametrize(
    ("side_effect", "code"),
    [(httpx.ReadTimeout("timed out"), "TIMEOUT"), (httpx.ConnectError("connection refused"), "NETWORK_ERROR")],
)
async def test_transport_failures_are_retried_by_us_only(
    respx_mock: respx.MockRouter, side_effect: Exception, code: str
) -> None:
    route = respx_mock.post(FLASH_URL).mock(side_effect=side_effect)
    out = wire(await run(probe_job("gemini-2.5-flash")))
    assert route.call_count == 5
    assert (out["error"]["code"], out["error"]["retryable"]) == (code, True)
    assert "statusCode" not in out["error"]


# -- permanent failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "reason"),
    [
        (400, "api_key_invalid", "AUTH_ERROR", "API_KEY_INVALID"),
        (400, "api_key_expired", "AUTH_ERROR", "API_KEY_INVALID"),
        (403, "permission_denied", "AUTH_ERROR", None),
        (404, "model_not_found", "NOT_FOUND", None),
        (400, "context_length", "CONTEXT_LENGTH", None),
    ],
)
async def test_permanent_errors_fail_after_one_request(
    respx_mock: respx.MockRouter, status: int, body: str, code: str, reason: str | None
) -> None:
    route = respx_mock.post(FLASH_URL).mock(return_value=error(status, body))
    clock = FakeClock()
    out = wire(await run(probe_job("gemini-2.5-flash"), clock))
    assert route.call_count == 1 and clock.sleeps == []
    err = out["error"]
    assert (err["code"], err["retryable"], err["statusCode"]) == (code, False, status)
    assert ERRORS[body]["error"]["message"] in err["message"]
    assert err["details"]["providerErrorType"] == ERRORS[body]["error"]["status"]
    assert err["details"].get("providerErrorCode") == reason
    assert "partialTranscript" not in out


async def test_penalties_a_model_refuses_are_dropped_one_by_one_for_every_turn(respx_mock: respx.MockRouter) -> None:
    refused = error(400, "penalty_not_enabled")
    route = respx_mock.post(FLASH_URL).mock(side_effect=[refused, refused, ok(), ok()])
    document = probe_job("gemini-2.5-flash", followups=1)
    document["modelConfig"] = {"presencePenalty": 0.5, "frequencyPenalty": 0.5}
    out = wire(await run(document))

    assert out["success"] is True
    configs = [b["generationConfig"] for b in sent_bodies(route)]
    assert [("presencePenalty" in c, "frequencyPenalty" in c) for c in configs] == [
        (True, True),
        (False, True),
        (False, False),
        (False, False),  # the next turn keeps the change
    ]
    first, second = (t["providerMetadata"] for t in out["transcript"]["turns"])
    notes = [(n["param"], n["action"]) for n in first["paramNotes"]]
    assert notes == [("presence_penalty", "retried_without"), ("frequency_penalty", "retried_without")]
    assert first["attempts"] == 3 and second["paramNotes"] == []
    assert "presence_penalty" not in second["paramsSent"] and "frequency_penalty" not in second["paramsSent"]


# -- answers that are not answers -----------------------------------------------------


async def test_a_blocked_prompt_on_turn_two_is_content_filtered_and_keeps_turn_one(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(FLASH_URL).mock(side_effect=[ok(text="answer 1"), ok("prompt_blocked")])
    out = wire(await run(probe_job("gemini-2.5-flash")))
    assert route.call_count == 2
    err = out["error"]
    assert (err["code"], err["retryable"]) == ("CONTENT_FILTERED", False)
    assert err["details"]["rawFinishReason"] == "PROMPT_BLOCKED:SAFETY"
    assert err["details"]["finishReason"] == "content_filter"
    assert err["details"]["completedTurns"] == 1
    partial = out["partialTranscript"]
    assert [t["targetResponse"] for t in partial["turns"]] == ["answer 1"]
    assert partial["modelVersion"] == "gemini-2.5-flash"


async def test_a_safety_stop_without_text_is_content_filtered(respx_mock: respx.MockRouter) -> None:
    body = answer()
    body["candidates"][0] = {"finishReason": "SAFETY", "index": 0}
    respx_mock.post(FLASH_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0)))
    assert (out["error"]["code"], out["error"]["details"]["rawFinishReason"]) == ("CONTENT_FILTERED", "SAFETY")


async def test_max_tokens_stop_is_a_truncated_success_with_a_warning(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH_URL).mock(return_value=ok("max_tokens"))
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0)))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "MAX_TOKENS", True)
    assert any("token limit" in w for w in out["transcript"]["warnings"])


async def test_a_candidate_with_only_thoughts_is_an_invalid_response(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO_URL).mock(return_value=ok("thought_only"))
    out = wire(await run(probe_job("gemini-2.5-pro")))
    assert route.call_count == 1
    err = out["error"]
    assert (err["code"], err["retryable"]) == ("INVALID_RESPONSE", False)
    assert (err["details"]["rawFinishReason"], err["details"]["reasoningTokens"]) == ("MAX_TOKENS", 512)


async def test_a_body_with_neither_candidates_nor_feedback_is_an_invalid_response(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(FLASH_URL).mock(return_value=httpx.Response(200, json={"modelVersion": "gemini-2.5-flash"}))
    out = wire(await run(probe_job("gemini-2.5-flash")))
    assert (out["error"]["code"], out["error"]["retryable"]) == ("INVALID_RESPONSE", False)


async def test_a_200_that_is_not_json_is_an_invalid_response(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(
        return_value=httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    )
    out = wire(await run(probe_job("gemini-2.5-flash")))
    assert route.call_count == 1
    assert (out["error"]["code"], out["error"]["retryable"]) == ("INVALID_RESPONSE", False)


async def test_missing_usage_is_estimated(respx_mock: respx.MockRouter) -> None:
    body = answer(text="A short answer of forty characters long.")
    del body["usageMetadata"]
    respx_mock.post(FLASH_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("gemini-2.5-flash", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert turn["providerMetadata"]["tokensEstimated"] is True
    assert turn["outputTokens"] > 0 and turn["inputTokens"] > 0
    assert turn["providerMetadata"]["rawUsage"] is None


# -- secrets --------------------------------------------------------------------------


async def test_the_api_key_never_appears_in_the_failure_document(respx_mock: respx.MockRouter) -> None:
    body = copy.deepcopy(ERRORS["api_key_invalid"])
    # Gemini can echo the key back in a google.rpc.DebugInfo detail (google/timesketch#3703).
    body["error"]["details"].append(
        {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"Invalid API key: {FAKE_KEY}"}
    )
    respx_mock.post(FLASH_URL).mock(return_value=httpx.Response(400, json=body))
    printed = render(await run_once(PROBE, probe_job("gemini-2.5-flash")))
    assert json.loads(printed)["error"]["code"] == "AUTH_ERROR"
    assert FAKE_KEY not in printed and "[REDACTED]" in printed


# -- model listing (health checks) ----------------------------------------------------


async def test_list_models_returns_the_ids_the_key_can_see(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{API}/models").mock(return_value=httpx.Response(200, json=fixture("models_list")))
    provider = build_provider("google")
    try:
        models = await provider.list_models(5.0)
    finally:
        await provider.aclose()
    assert models == ["gemini-2.5-flash", "gemini-2.5-pro"]
    request = route.calls[0].request
    assert request.headers["x-goog-api-key"] == FAKE_KEY
    assert request.url.params["pageSize"] == "1000"
    assert request.extensions["timeout"]["read"] == 5.0


async def test_list_models_with_a_bad_key_is_an_auth_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{API}/models").mock(return_value=error(400, "api_key_invalid"))
    provider = build_provider("google")
    try:
        with pytest.raises(Exception) as caught:
            await provider.list_models(5.0)
        problem = provider.classify(caught.value)
    finally:
        await provider.aclose()
    assert (problem.code.value, problem.retryable, problem.status_code) == ("AUTH_ERROR", False, 400)


async def test_usage_without_a_prompt_count_is_estimated_and_kept_as_given(respx_mock: respx.MockRouter) -> None:
    usage = {"totalTokenCount": 1035, "thoughtsTokenCount": 661}
    respx_mock.post(FLASH_URL).mock(return_value=ok(usageMetadata=usage))
    turn = wire(await run(probe_job("gemini-2.5-flash", followups=0)))["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    assert meta["tokensEstimated"] is True and turn["inputTokens"] > 0 and turn["outputTokens"] > 0
    assert (meta["reasoningTokens"], meta["cachedInputTokens"]) == (0, 0)  # no counts are taken from a partial report
    assert meta["rawUsage"] == usage


# A stand-in for an installed aiohttp: importable (so google-genai's `has_aiohttp` is true),
# but any use of it raises, so a request sent through it fails the job.
FAKE_AIOHTTP = """
class _Unusable(Exception):
    def __init__(self, *args, **kwargs):
        raise AssertionError("google-genai used aiohttp")


class ClientSession(_Unusable):
    async def _request(self, method, str_or_url, **kwargs):  # the SDK inspects its parameters
        raise AssertionError("google-genai used aiohttp")


def __getattr__(name):
    return _Unusable
"""


def test_gemini_requests_stay_on_httpx2_when_aiohttp_is_importable(tmp_path: Path, fake_provider: FakeProvider) -> None:
    """Installing aiohttp for anything else must not move the adapter's requests to it (the SDK
    prefers aiohttp whenever it can import it, unless given an httpx async client)."""
    (tmp_path / "aiohttp").mkdir()
    (tmp_path / "aiohttp" / "__init__.py").write_text(FAKE_AIOHTTP)
    env = {"PYTHONPATH": str(tmp_path), "GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": fake_provider.url}
    bare_sdk = "from google import genai; print(genai.Client(api_key='k')._api_client._use_aiohttp())"
    assert run_python("-c", bare_sdk, env=env).out.strip() == "True"  # the stand-in is what the SDK sees
    done = run_script(PROBE_PY, probe_job("google:gemini-2.5-flash", followups=1), env=env, timeout_s=60)
    assert done.document["success"] is True, done.document
    assert len(fake_provider.received()) == 2
