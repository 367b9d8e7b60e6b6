"""OpenAI and the OpenAI-compatible providers (xAI, DeepSeek, local servers) at the HTTP layer.

respx answers with the providers' documented payloads, so the real openai SDK parses
real shapes; FakeClock makes retry waits observable without sleeping.
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
from tests.helpers import FakeClock, chat_completion, load_fixture, probe_job, run, sent_bodies, wire

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
FAKE_KEY = "sk-test-key-not-real-0123456789"
ERRORS: dict[str, Any] = json.loads((FIXTURES / "errors.json").read_text())


def fixture(name: str) -> dict[str, Any]:
    return load_fixture("openai", name)


def completion(name: str = "chat_completion", content: str | None = None, **changes: Any) -> dict[str, Any]:
    return chat_completion("openai", name, content, **changes)


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "XAI_BASE_URL", "DEEPSEEK_BASE_URL", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-not-real-0123456789")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-deepseek-not-real-0123")


async def test_multi_turn_conversation_resends_history_and_records_the_served_version(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(OPENAI_URL).mock(
        side_effect=[httpx.Response(200, json=completion(content=f"answer {i}")) for i in (1, 2, 3)]
    )
    document = probe_job("gpt-4.1", config={"temperature": 0.7, "seed": 11, "maxTokens": 300})
    document["scenario"]["preamble"] = "You advise a hospital."
    out = wire(await run(document))

    assert out["success"] is True
    transcript = out["transcript"]
    assert [t["targetResponse"] for t in transcript["turns"]] == ["answer 1", "answer 2", "answer 3"]
    assert [t["promptLabel"] for t in transcript["turns"]] == ["scenario_prompt", "push_1", "push_2"]
    assert transcript["modelVersion"] == "gpt-4.1-2025-04-14"
    meta = transcript["turns"][0]["providerMetadata"]
    assert meta["modelVersion"] == "gpt-4.1-2025-04-14"
    assert meta["systemFingerprint"] == "fp_a1102cf978"
    assert meta["responseId"] == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert meta["paramsSent"] == {"max_tokens": 300, "temperature": 0.7, "seed": 11}
    assert meta["attempts"] == 1
    assert transcript["totalInputTokens"] == 3 * 19
    assert transcript["totalOutputTokens"] == sum(t["outputTokens"] for t in transcript["turns"]) == 30

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
    assert all(b["model"] == "gpt-4.1" and b["temperature"] == 0.7 and b["seed"] == 11 for b in bodies)
    assert route.calls[0].request.headers["authorization"] == f"Bearer {FAKE_KEY}"


async def test_preamble_mode_system_uses_the_system_message(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=completion()))
    document = probe_job("openai:gpt-4o", followups=0, config={"preambleMode": "system"})
    document["scenario"]["preamble"] = "Be brief."
    out = wire(await run(document))
    assert out["transcript"]["turns"][0]["probePrompt"] == document["scenario"]["prompt"]
    assert sent_bodies(route)[0]["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_model_config_overrides_and_maps_every_parameter(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=completion()))
    document = probe_job("gpt-4o", followups=0, config={"temperature": 0.2, "maxTokens": 100})
    document["modelConfig"] = {
        "maxTokensParam": "max_completion_tokens",
        "maxTokens": 777,
        "temperature": 0.9,
        "topP": 0.5,
        "frequencyPenalty": 0.1,
        "presencePenalty": 0.2,
        "stopSequences": ["END"],
    }
    out = wire(await run(document))
    body = sent_bodies(route)[0]
    assert body["max_completion_tokens"] == 777 and "max_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.9, 0.5, ["END"])
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.1, 0.2)
    assert out["transcript"]["turns"][0]["providerMetadata"]["paramsSent"]["max_completion_tokens"] == 777


async def test_reasoning_model_gets_max_completion_tokens_and_a_retry_without_temperature(
    respx_mock: respx.MockRouter,
) -> None:
    rejected = httpx.Response(400, json=ERRORS["temperature_unsupported"])
    ok = httpx.Response(200, json=completion("reasoning_completion"))
    route = respx_mock.post(OPENAI_URL).mock(side_effect=[rejected, ok, ok])
    out = wire(await run(probe_job("o3-mini", followups=1)))

    assert out["success"] is True
    bodies = sent_bodies(route)
    assert bodies[0]["temperature"] == 0.7 and "max_completion_tokens" in bodies[0]
    assert "temperature" not in bodies[1] and "temperature" not in bodies[2]  # later turns too
    first, second = out["transcript"]["turns"]
    notes = first["providerMetadata"]["paramNotes"]
    assert notes[0]["param"] == "temperature" and notes[0]["action"] == "retried_without"
    assert first["providerMetadata"]["attempts"] == 2
    assert second["providerMetadata"]["paramNotes"] == []
    # reasoning tokens are inside outputTokens for every provider
    assert first["outputTokens"] == 1350 and first["providerMetadata"]["reasoningTokens"] == 1280
    assert first["providerMetadata"]["cachedInputTokens"] == 32
    assert out["transcript"]["totalReasoningTokens"] == 2560


async def test_a_resumed_probe_keeps_the_parameter_changes_of_its_prior_turns(respx_mock: respx.MockRouter) -> None:
    rejected = httpx.Response(400, json=ERRORS["temperature_unsupported"])
    ok = httpx.Response(200, json=completion("reasoning_completion"))
    denied = httpx.Response(401, json=ERRORS["invalid_api_key"])
    respx_mock.post(OPENAI_URL).mock(side_effect=[rejected, ok, denied])
    first_try = wire(await run(probe_job("o3-mini", followups=1)))
    assert first_try["error"]["code"] == "AUTH_ERROR"
    prior = first_try["partialTranscript"]["turns"]

    respx_mock.reset()
    route = respx_mock.post(OPENAI_URL).mock(return_value=ok)
    resumed = wire(await run(probe_job("o3-mini", followups=1, priorTurns=prior)))

    assert route.call_count == 1 and "temperature" not in sent_bodies(route)[0]
    last = resumed["transcript"]["turns"][1]["providerMetadata"]
    assert last["paramNotes"] == [] and last["attempts"] == 1


async def test_rate_limit_waits_exactly_the_retry_after_header(respx_mock: respx.MockRouter) -> None:
    limited = httpx.Response(429, json=ERRORS["rate_limit"], headers={"retry-after": "7"})
    respx_mock.post(OPENAI_URL).mock(side_effect=[limited, httpx.Response(200, json=completion())])
    clock = FakeClock()
    out = wire(await run(probe_job("gpt-4o", followups=0), clock))
    assert clock.sleeps == [7.0]
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 7000}]


async def test_rate_limit_without_header_uses_the_try_again_hint(respx_mock: respx.MockRouter) -> None:
    limited = httpx.Response(429, json=ERRORS["rate_limit"])
    respx_mock.post(OPENAI_URL).mock(side_effect=[limited, httpx.Response(200, json=completion())])
    clock = FakeClock()
    await run(probe_job("gpt-4o", followups=0), clock)
    assert clock.sleeps == [2.114]


async def test_insufficient_quota_is_not_retried(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(429, json=ERRORS["insufficient_quota"]))
    out = wire(await run(probe_job("gpt-4o")))
    assert route.call_count == 1
    assert out["success"] is False
    assert out["error"]["code"] == "QUOTA_EXCEEDED" and out["error"]["retryable"] is False
    assert out["error"]["statusCode"] == 429
    assert "partialTranscript" not in out


async def test_server_errors_back_off_then_give_up_retryable(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(500, json=ERRORS["server_error"]))
    clock = FakeClock()
    out = wire(await run(probe_job("gpt-4o"), clock))
    assert route.call_count == 5
    assert out["error"]["code"] == "SERVER_ERROR" and out["error"]["retryable"] is True
    assert out["error"]["details"]["attempts"] == 5
    assert out["error"]["retryAfterMs"] > 0
    # exponential backoff (1, 2, 4, 8 s) shortened by at most 25% jitter
    for waited, base in zip(clock.sleeps, (1, 2, 4, 8), strict=True):
        assert base * 0.75 <= waited <= base


async def test_server_error_then_success_records_two_attempts(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_URL).mock(
        side_effect=[httpx.Response(503, json=ERRORS["overloaded"]), httpx.Response(200, json=completion())]
    )
    out = wire(await run(probe_job("gpt-4o", followups=0)))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["attempts"] == 2 and meta["retries"][0]["code"] == "OVERLOADED"


@pytest.mark.parametrize(
    ("side_effect", "code"),
    [(httpx.ReadTimeout("timed out"), "TIMEOUT"), (httpx.ConnectError("connection refused"), "NETWORK_ERROR")],
)
async def test_transport_failures_are_retryable(
    respx_mock: respx.MockRouter, side_effect: Exception, code: str
) -> None:
    respx_mock.post(OPENAI_URL).mock(side_effect=side_effect)
    out = wire(await run(probe_job("gpt-4o")))
    assert out["error"]["code"] == code and out["error"]["retryable"] is True


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (401, "invalid_api_key", "AUTH_ERROR"),
        (400, "context_length", "CONTEXT_LENGTH"),
        (404, "model_not_found", "NOT_FOUND"),
    ],
)
async def test_permanent_errors_fail_at_once(respx_mock: respx.MockRouter, status: int, body: str, code: str) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(status, json=ERRORS[body]))
    out = wire(await run(probe_job("gpt-4o")))
    assert route.call_count == 1
    assert (out["error"]["code"], out["error"]["retryable"], out["error"]["statusCode"]) == (code, False, status)


async def test_failure_on_turn_two_keeps_turn_one(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_URL).mock(
        side_effect=[httpx.Response(200, json=completion()), httpx.Response(400, json=ERRORS["context_length"])]
    )
    out = wire(await run(probe_job("gpt-4o")))
    assert out["error"]["code"] == "CONTEXT_LENGTH"
    partial = out["partialTranscript"]
    assert [t["turnNumber"] for t in partial["turns"]] == [1]
    assert partial["totalOutputTokens"] == 10 and partial["modelVersion"] == "gpt-4.1-2025-04-14"
    assert out["error"]["details"]["completedTurns"] == 1


@pytest.mark.parametrize(
    ("content", "finish", "code"),
    [("", "stop", "INVALID_RESPONSE"), (None, "content_filter", "CONTENT_FILTERED"), (None, "", "INVALID_RESPONSE")],
)
async def test_an_empty_answer_is_never_a_success(
    respx_mock: respx.MockRouter, content: str | None, finish: str, code: str
) -> None:
    body = completion(finish_reason=finish)
    body["choices"][0]["message"]["content"] = content
    respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("gpt-4o")))
    assert out["success"] is False and out["error"]["code"] == code and out["error"]["retryable"] is False


async def test_length_finish_is_a_truncated_success_with_a_warning(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=completion(finish_reason="length")))
    out = wire(await run(probe_job("gpt-4o", followups=0)))
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "length", True)
    assert any("token limit" in w for w in out["transcript"]["warnings"])


async def test_a_200_that_is_not_json_is_an_invalid_response(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_URL).mock(
        return_value=httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    )
    out = wire(await run(probe_job("gpt-4o")))
    assert out["error"]["code"] == "INVALID_RESPONSE"


async def test_an_error_echoing_the_key_never_prints_it(respx_mock: respx.MockRouter) -> None:
    body = copy.deepcopy(ERRORS["invalid_api_key"])
    body["error"]["message"] = f"Incorrect API key provided: {FAKE_KEY}."
    respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(401, json=body))
    printed = render(await run(probe_job("gpt-4o")))
    assert FAKE_KEY not in printed and "[REDACTED]" in printed


async def test_xai_counts_reasoning_tokens_reported_beside_completion_tokens(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("https://api.x.ai/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion("xai_completion"))
    )
    out = wire(await run(probe_job("grok-4", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert out["transcript"]["modelVersion"] == "grok-4-0709"
    assert turn["providerMetadata"]["provider"] == "xai"
    assert turn["outputTokens"] == 9 + 94 and turn["providerMetadata"]["reasoningTokens"] == 94
    assert turn["providerMetadata"]["cachedInputTokens"] == 6
    assert route.calls[0].request.headers["authorization"].startswith("Bearer xai-")


@pytest.mark.parametrize(
    ("model_id", "url", "fixture_name", "version"),
    [
        ("grok-4", "https://api.x.ai/v1/chat/completions", "xai_completion", "grok-4-0709"),
        ("deepseek-reasoner", "https://api.deepseek.com/chat/completions", "deepseek_completion", "deepseek-reasoner"),
    ],
)
async def test_xai_and_deepseek_multi_turn_resend_history_and_record_the_served_version(
    respx_mock: respx.MockRouter, model_id: str, url: str, fixture_name: str, version: str
) -> None:
    route = respx_mock.post(url).mock(
        side_effect=[httpx.Response(200, json=completion(fixture_name, content=f"answer {i}")) for i in (1, 2, 3)]
    )
    document = probe_job(model_id, config={"preambleMode": "system"})
    document["scenario"] = {
        "preamble": "Answer briefly.",
        "prompt": "First question?",
        "followups": [{"label": "push_1", "prompt": "Second?"}, {"prompt": "Third?"}],
    }
    out = wire(await run(document))

    transcript = out["transcript"]
    assert [t["targetResponse"] for t in transcript["turns"]] == ["answer 1", "answer 2", "answer 3"]
    assert [t["promptLabel"] for t in transcript["turns"]] == ["scenario_prompt", "push_1", "followup_2"]
    assert transcript["modelVersion"] == version
    assert all(t["providerMetadata"]["modelVersion"] == version for t in transcript["turns"])
    assert transcript["totalOutputTokens"] == sum(t["outputTokens"] for t in transcript["turns"])
    assert sent_bodies(route)[2]["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "Second?"},
        {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": "Third?"},
    ]


async def test_xai_bad_key_answered_with_400_is_an_auth_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("https://api.x.ai/v1/chat/completions").mock(
        return_value=httpx.Response(400, json=ERRORS["xai_invalid_key"])
    )
    out = wire(await run(probe_job("xai:grok-3-mini")))
    assert out["error"]["code"] == "AUTH_ERROR" and out["error"]["retryable"] is False


async def test_deepseek_reasoner_drops_ignored_parameters_and_reads_cache_hits(
    respx_mock: respx.MockRouter,
) -> None:
    body = completion("deepseek_completion")
    body["usage"]["prompt_cache_hit_tokens"] = 8
    route = respx_mock.post("https://api.deepseek.com/chat/completions").mock(
        return_value=httpx.Response(200, json=body)
    )
    out = wire(await run(probe_job("deepseek-reasoner", followups=0, config={"temperature": 0.5, "seed": 1})))
    sent = sent_bodies(route)[0]
    assert "temperature" not in sent and "seed" not in sent
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert {n["param"] for n in meta["paramNotes"]} == {"temperature", "seed"}
    assert all(n["action"] == "dropped" for n in meta["paramNotes"])
    assert meta["cachedInputTokens"] == 8
    assert out["transcript"]["modelVersion"] == "deepseek-reasoner"


async def test_deepseek_insufficient_balance_is_quota_exceeded(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("https://api.deepseek.com/chat/completions").mock(
        return_value=httpx.Response(402, json=ERRORS["deepseek_insufficient_balance"])
    )
    out = wire(await run(probe_job("deepseek-chat")))
    assert out["error"]["code"] == "QUOTA_EXCEEDED" and out["error"]["retryable"] is False


async def test_base_url_variables_redirect_each_provider(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_BASE_URL", "http://gateway.internal/xai/v1")
    route = respx_mock.post("http://gateway.internal/xai/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion("xai_completion"))
    )
    out = wire(await run(probe_job("grok-4", followups=0)))
    assert out["success"] is True and route.call_count == 1


async def test_openai_compatible_server_without_usage_gets_estimated_tokens(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:8000/v1")
    body = completion(content="A local answer from a llama.", model="llama3.1:8b")
    del body["usage"]
    route = respx_mock.post("http://127.0.0.1:8000/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=body)
    )
    out = wire(await run(probe_job("openai-compatible:llama3.1:8b", followups=0)))
    turn = out["transcript"]["turns"][0]
    assert sent_bodies(route)[0]["model"] == "llama3.1:8b"
    assert turn["providerMetadata"]["tokensEstimated"] is True
    assert turn["outputTokens"] == 7  # 28 characters at 4 per token
    assert turn["inputTokens"] > 0
    assert out["transcript"]["modelVersion"] == "llama3.1:8b"


async def test_openai_compatible_needs_its_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPATIBLE_BASE_URL", raising=False)
    from common.errors.codes import WorkerError

    with pytest.raises(WorkerError) as caught:
        build_provider("openai-compatible")
    assert "OPENAI_COMPATIBLE_BASE_URL" in caught.value.message


async def test_a_token_limit_above_the_model_maximum_is_lowered_once(respx_mock: respx.MockRouter) -> None:
    too_large = httpx.Response(400, json=ERRORS["max_tokens_too_large"])
    ok = httpx.Response(200, json=completion())
    route = respx_mock.post(OPENAI_URL).mock(side_effect=[too_large, ok, ok])
    out = wire(await run(probe_job("gpt-4", followups=1, config={"maxTokens": 8192})))
    assert [b["max_tokens"] for b in sent_bodies(route)] == [8192, 4096, 4096]
    note = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"][0]
    assert (note["param"], note["action"]) == ("maxTokens", "lowered")
    assert out["transcript"]["turns"][1]["providerMetadata"]["paramsSent"]["max_tokens"] == 4096


async def test_a_resumed_probe_keeps_a_lowered_token_limit(respx_mock: respx.MockRouter) -> None:
    too_large = httpx.Response(400, json=ERRORS["max_tokens_too_large"])
    ok = httpx.Response(200, json=completion())
    respx_mock.post(OPENAI_URL).mock(side_effect=[too_large, ok, httpx.Response(401, json=ERRORS["invalid_api_key"])])
    job = probe_job("gpt-4", followups=1, config={"maxTokens": 8192})
    prior = wire(await run(job))["partialTranscript"]["turns"]

    respx_mock.reset()
    route = respx_mock.post(OPENAI_URL).mock(return_value=ok)
    resumed = wire(await run({**job, "priorTurns": prior}))
    assert [b["max_tokens"] for b in sent_bodies(route)] == [4096]
    assert resumed["transcript"]["turns"][1]["providerMetadata"]["paramNotes"] == []


# -- usage and errors: each compatible provider's convention lives in its own adapter


async def test_xai_reasoning_already_inside_completion_tokens_is_not_added_again(respx_mock: respx.MockRouter) -> None:
    body = completion("xai_completion")
    body["usage"]["completion_tokens"] = 9 + 94  # total 135 = prompt + completion: reasoning is inside
    respx_mock.post("https://api.x.ai/v1/chat/completions").mock(return_value=httpx.Response(200, json=body))
    turn = wire(await run(probe_job("grok-4", followups=0)))["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    assert (turn["outputTokens"], meta["reasoningTokens"]) == (9 + 94, 94)
    assert (turn["inputTokens"], meta["cachedInputTokens"], meta["tokensEstimated"]) == (32, 6, False)
    assert meta["rawUsage"] == body["usage"]  # as xAI sent it


async def test_xai_bare_string_error_is_the_message_a_host_sees(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("https://api.x.ai/v1/chat/completions").mock(
        return_value=httpx.Response(400, json=ERRORS["xai_invalid_key"])
    )
    out = wire(await run(probe_job("xai:grok-3-mini")))
    assert out["error"]["code"] == "AUTH_ERROR"
    assert ERRORS["xai_invalid_key"]["error"] in out["error"]["message"]


async def test_deepseek_cache_hits_are_inside_prompt_tokens_and_reasoning_inside_completion_tokens(
    respx_mock: respx.MockRouter,
) -> None:
    body = completion("deepseek_completion")
    body["usage"].update(prompt_cache_hit_tokens=12, prompt_cache_miss_tokens=4)  # hits + misses = prompt_tokens
    respx_mock.post("https://api.deepseek.com/chat/completions").mock(return_value=httpx.Response(200, json=body))
    turn = wire(await run(probe_job("deepseek-chat", followups=0)))["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    assert (turn["inputTokens"], meta["cachedInputTokens"]) == (16, 12)
    assert (turn["outputTokens"], meta["reasoningTokens"]) == (10, 5)
    assert meta["rawUsage"]["prompt_cache_miss_tokens"] == 4


async def test_an_openai_compatible_server_may_count_like_xai_or_deepseek(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:8000/v1")
    deepseek_like = completion("deepseek_completion")
    deepseek_like["usage"].update(prompt_cache_hit_tokens=12, prompt_cache_miss_tokens=4)
    respx_mock.post("http://127.0.0.1:8000/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(200, json=completion("xai_completion")),
            httpx.Response(200, json=deepseek_like),
            httpx.Response(400, json={"error": "model 'grok-9' not found"}),
        ]
    )
    out = wire(await run(probe_job("openai-compatible:gateway-model", followups=2)))
    first, second = out["partialTranscript"]["turns"]
    assert (first["outputTokens"], first["providerMetadata"]["reasoningTokens"]) == (9 + 94, 94)
    assert (second["inputTokens"], second["providerMetadata"]["cachedInputTokens"]) == (16, 12)
    assert "model 'grok-9' not found" in out["error"]["message"]


async def test_a_gateway_error_page_that_is_not_json_is_its_own_message(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(400, text="<html>request blocked</html>"))
    out = wire(await run(probe_job("gpt-4.1")))
    assert out["error"]["code"] == "BAD_REQUEST"
    assert "<html>request blocked</html>" in out["error"]["message"]
