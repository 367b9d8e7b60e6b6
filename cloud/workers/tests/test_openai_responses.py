"""The OpenAI Responses API transport at the HTTP layer: routing, the request sent, the answer read.

respx answers `POST /v1/responses` with documented response objects
(tests/fixtures/openai/responses_sources.md), so the real openai SDK parses real shapes.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import respx

from common.contract.probe import ModelSettings
from common.providers.apis import choose_api
from common.providers.records import BY_NAME
from tests.helpers import FakeClock, load_fixture, probe_job, run, sent_bodies, wire

RESPONSES_URL = "https://api.openai.com/v1/responses"
CHAT_URL = "https://api.openai.com/v1/chat/completions"
XAI_RESPONSES_URL = "https://api.x.ai/v1/responses"


def fixture(name: str, text: str | None = None, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(load_fixture("openai", name))
    if text is not None:
        message = next(item for item in body["output"] if item["type"] == "message")
        message["content"][0]["text"] = text
    body.update(changes)
    return body


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "XAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-not-real-0123456789")
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-not-real-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real-0123456789")


# -- routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "api", "background"),
    [
        ("o1-pro", "responses", False),
        ("o3-pro", "responses", True),
        ("o3-pro-2025-06-10", "responses", True),
        ("gpt-5-pro", "responses", True),
        ("gpt-5.2-pro", "responses", True),
        ("o3-deep-research", "responses", True),
        ("o4-mini-deep-research-2025-06-26", "responses", True),
        ("codex-mini-latest", "responses", False),
        ("gpt-5-codex", "responses", False),
        ("computer-use-preview", "responses", False),
        ("o3", "chat", False),
        ("gpt-4.1", "chat", False),
        ("gpt-5", "chat", False),
        ("o3-mini", "chat", False),
    ],
)
def test_the_record_routes_responses_only_models_and_runs_the_slow_ones_in_background(
    model: str, api: str, background: bool
) -> None:
    choice = choose_api(BY_NAME["openai"], model, None)
    assert (choice.api, choice.background) == (api, background)
    if api == "responses":
        expected = {"background": True, "store": True} if background else {"store": False}
        assert dict(choice.transport_params) == expected


def test_model_config_forces_either_api_and_notes_what_a_provider_cannot_do() -> None:
    openai = BY_NAME["openai"]
    assert choose_api(openai, "o3-pro", ModelSettings(api="chat")).api == "chat"
    assert choose_api(openai, "gpt-4.1", ModelSettings(api="responses")).api == "responses"
    assert choose_api(openai, "o3-pro", ModelSettings(background=False)).transport_params == {"store": False}
    assert choose_api(BY_NAME["deepseek"], "deepseek-chat", ModelSettings(api="responses")).notes[0].param == "api"
    on_chat = choose_api(openai, "gpt-4.1", ModelSettings(background=True))
    assert on_chat.api == "chat" and on_chat.notes[0].param == "background"


async def test_a_responses_only_model_sends_the_whole_history_statelessly_and_records_the_served_model(
    respx_mock: respx.MockRouter,
) -> None:
    chat = respx_mock.post(CHAT_URL).mock(return_value=httpx.Response(500))
    route = respx_mock.post(RESPONSES_URL).mock(
        side_effect=[httpx.Response(200, json=fixture("responses_completed", f"answer {i}")) for i in (1, 2, 3)]
    )
    document = probe_job("o1-pro", config={"temperature": 0.7, "maxTokens": 512, "preambleMode": "system"})
    document["scenario"]["preamble"] = "You advise a hospital."
    out = wire(await run(document))

    assert out["success"] is True, out
    assert not chat.called
    bodies = sent_bodies(route)
    prompt = document["scenario"]["prompt"]
    assert bodies[0] == {
        "model": "o1-pro",
        "input": [{"role": "user", "content": prompt}],
        "instructions": "You advise a hospital.",
        "max_output_tokens": 512,
        "temperature": 0.7,
        "store": False,
    }
    assert bodies[2]["input"] == [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "Follow-up question 1?"},
        {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": "Follow-up question 2?"},
    ]
    assert all("previous_response_id" not in body and "messages" not in body for body in bodies)
    transcript = out["transcript"]
    meta = transcript["turns"][0]["providerMetadata"]
    assert transcript["modelVersion"] == meta["modelVersion"] == "o3-pro-2025-06-10"
    assert meta["responseId"] == "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41"
    assert meta["api"] == "responses"
    assert meta["paramsSent"] == {"max_output_tokens": 512, "temperature": 0.7, "store": False}
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("stop", "completed", False)
    assert meta["reasoningTokens"] == 832 and meta["cachedInputTokens"] == 0
    assert transcript["turns"][0]["outputTokens"] == 1035 and transcript["turns"][0]["inputTokens"] == 81
    assert transcript["totalReasoningTokens"] == 3 * 832


async def test_the_reasoning_summary_is_captured_and_the_parameters_the_responses_api_lacks_are_noted(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(RESPONSES_URL).mock(return_value=httpx.Response(200, json=fixture("responses_completed")))
    document = probe_job("o1-pro", followups=0, config={"seed": 7, "maxTokens": 400})
    document["modelConfig"] = {"stopSequences": ["END"], "maxTokensParam": "max_completion_tokens"}
    out = wire(await run(document))
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"]["summary"].startswith("**Weighing loyalty against harm**")
    meta = turn["providerMetadata"]
    assert meta["paramsSent"] == {"max_output_tokens": 400, "store": False}
    noted = {(note["param"], note["action"]) for note in meta["paramNotes"]}
    assert {("seed", "dropped"), ("stop_sequences", "dropped"), ("max_completion_tokens", "renamed")} <= noted


async def test_the_reasoning_setting_is_sent_as_the_responses_reasoning_object(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(RESPONSES_URL).mock(return_value=httpx.Response(200, json=fixture("responses_completed")))
    document = probe_job(
        "o1-pro", followups=0, config={"maxTokens": 400, "reasoning": {"effort": "high", "summary": "auto"}}
    )
    out = wire(await run(document))
    assert sent_bodies(route)[0]["reasoning"] == {"effort": "high", "summary": "auto"}
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["paramsSent"]["reasoning"] == {"effort": "high", "summary": "auto"}
    assert "reasoning_effort" not in meta["paramsSent"]


async def test_model_config_api_chat_forces_chat_completions_even_for_a_responses_only_model(
    respx_mock: respx.MockRouter,
) -> None:
    responses = respx_mock.post(RESPONSES_URL).mock(return_value=httpx.Response(500))
    chat = respx_mock.post(CHAT_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("openai", "reasoning_completion"))
    )
    out = wire(await run(probe_job("o1-pro", followups=0, modelConfig={"api": "chat"})))
    assert out["success"] is True and chat.called and not responses.called
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert "api" not in meta and "max_completion_tokens" in meta["paramsSent"]


async def test_model_config_api_responses_sends_any_model_there_also_on_xai(respx_mock: respx.MockRouter) -> None:
    openai = respx_mock.post(RESPONSES_URL).mock(return_value=httpx.Response(200, json=fixture("responses_completed")))
    xai = respx_mock.post(XAI_RESPONSES_URL).mock(
        return_value=httpx.Response(200, json=fixture("responses_completed", model="grok-4-0709"))
    )
    for model, route in (("gpt-4.1", openai), ("grok-4", xai)):
        out = wire(await run(probe_job(model, followups=0, modelConfig={"api": "responses"})))
        assert out["success"] is True, out
        assert sent_bodies(route)[-1]["model"] == model
        assert out["transcript"]["turns"][0]["providerMetadata"]["api"] == "responses"


async def test_a_provider_without_a_responses_api_keeps_its_own_and_says_so(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("https://api.anthropic.com/v1/messages").mock(
        return_value=httpx.Response(200, json=load_fixture("anthropic", "message"))
    )
    out = wire(await run(probe_job("claude-opus-4-5", followups=0, modelConfig={"api": "responses"})))
    notes = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"]
    assert any(note["param"] == "api" and note["action"] == "dropped" for note in notes)


# -- statuses ---------------------------------------------------------------------------


async def test_incomplete_at_max_output_tokens_is_a_truncated_answer(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(RESPONSES_URL).mock(
        return_value=httpx.Response(200, json=fixture("responses_incomplete_max_output_tokens"))
    )
    out = wire(await run(probe_job("o1-pro", followups=0)))
    turn = out["transcript"]["turns"][0]
    meta = turn["providerMetadata"]
    assert turn["targetResponse"] == "I would weigh the"
    assert (meta["finishReason"], meta["rawFinishReason"], meta["truncated"]) == ("length", "max_output_tokens", True)
    assert meta["reasoningTokens"] == 480
    assert any(w["code"] == "TRUNCATED" for w in out["transcript"]["warningDetails"])


async def test_incomplete_for_content_filter_is_content_filtered(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(RESPONSES_URL).mock(
        return_value=httpx.Response(200, json=fixture("responses_incomplete_content_filter"))
    )
    out = wire(await run(probe_job("o1-pro", followups=0)))
    assert out["success"] is False
    assert (out["error"]["code"], out["error"]["retryable"]) == ("CONTENT_FILTERED", False)
    assert out["error"]["details"]["rawFinishReason"] == "content_filter"


async def test_a_failed_response_is_classified_by_the_one_table(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(RESPONSES_URL).mock(return_value=httpx.Response(200, json=fixture("responses_failed")))
    clock = FakeClock()
    out = wire(await run(probe_job("o1-pro", followups=0), clock))
    error = out["error"]
    assert (error["code"], error["retryable"]) == ("SERVER_ERROR", True)
    assert error["details"]["providerErrorCode"] == "server_error"
    assert error["details"]["responseId"] == "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41"
    assert route.call_count == error["details"]["attempts"] == 5  # retried by the one policy, on the fake clock
    assert len(clock.sleeps) == 4


async def test_a_failed_response_flagged_by_safety_is_content_filtered_and_not_retried(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(RESPONSES_URL).mock(
        return_value=httpx.Response(200, json=fixture("responses_failed_invalid_prompt"))
    )
    out = wire(await run(probe_job("o1-pro", followups=0)))
    assert (out["error"]["code"], out["error"]["retryable"]) == ("CONTENT_FILTERED", False)
    assert route.call_count == 1


async def test_an_http_error_on_the_responses_api_goes_through_the_same_adapter_facts(
    respx_mock: respx.MockRouter,
) -> None:
    body = load_fixture("openai", "errors")["rate_limit"]
    route = respx_mock.post(RESPONSES_URL).mock(
        side_effect=[
            httpx.Response(429, json=body, headers={"retry-after-ms": "20"}),
            httpx.Response(200, json=fixture("responses_completed")),
        ]
    )
    out = wire(await run(probe_job("o1-pro", followups=0)))
    assert out["success"] is True and route.call_count == 2
    assert out["transcript"]["turns"][0]["providerMetadata"]["retries"][0]["code"] == "RATE_LIMIT"
