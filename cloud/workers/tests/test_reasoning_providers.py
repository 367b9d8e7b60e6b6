"""Reasoning at the HTTP layer: what each provider is sent, what is recorded, what is sent back.

respx answers with each provider's documented reasoning shapes (tests/fixtures: Anthropic
thinking and redacted_thinking blocks, Gemini thought parts, DeepSeek and xAI
`reasoning_content`, Mistral thinking chunks), through the real SDKs. Every multi-turn
test asserts the history rule (README, reasoning): the next turn sends back the answers
only, never the reasoning (DeepSeek must never get `reasoning_content` back; Anthropic
and Gemini allow omitting thinking without tools, and a resumed job can then send exactly
what an uninterrupted one sent).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import respx

from tests.helpers import chat_completion, load_fixture, probe_job, run, sent_bodies, wire

ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1/models/{model}:generateContent"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
XAI_URL = "https://api.x.ai/v1/chat/completions"
DEEPSEEK_URL = "https://api.deepseek.com/chat/completions"
MISTRAL_URL = "https://api.mistral.ai/v1/chat/completions"


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "GEMINI_BASE_URL",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "OPENAI_BASE_URL",
        "XAI_BASE_URL",
        "DEEPSEEK_BASE_URL",
        "MISTRAL_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-not-real-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyD-test-key-not-real-0123456789ab")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-not-real-0123456789")
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-not-real-0123456789")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-deepseek-not-real-0123")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-test-key-not-real-0123456789")


def job(model: str, reasoning: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"temperature": 0.7, "maxTokens": 512}
    if reasoning is not None:
        config["reasoning"] = reasoning
    return probe_job(model, followups=1, config=config, **changes)


def answer_texts(out: dict[str, Any]) -> list[str]:
    return [turn["targetResponse"] for turn in out["transcript"]["turns"]]


# -- Anthropic --------------------------------------------------------------------------


async def test_anthropic_thinking_is_sent_recorded_and_never_sent_back(respx_mock: respx.MockRouter) -> None:
    body = load_fixture("anthropic", "thinking_message")
    route = respx_mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(job("claude-opus-4-5", {"budgetTokens": 2048})))
    assert out["success"] is True
    first, second = sent_bodies(route)
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first["max_tokens"] == 2048 + 512 and "temperature" not in first
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"] == {"text": "Let me analyze this step by step...", "summary": None, "redactedBlocks": 1}
    assert turn["targetResponse"] == "Based on my analysis..."
    assert turn["providerMetadata"]["reasoning"] == {
        "requested": {"effort": None, "budgetTokens": 2048, "summary": None, "capture": True},
        "sent": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
    }
    assert turn["providerMetadata"]["paramsSent"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert turn["providerMetadata"]["reasoningTokens"] == 1150
    actions = {note["param"]: note["action"] for note in turn["providerMetadata"]["paramNotes"]}
    assert actions == {"maxTokens": "raised", "temperature": "dropped"}
    # Turn 2's history: the answer as plain text, no thinking or redacted_thinking block.
    assert second["messages"][1] == {"role": "assistant", "content": "Based on my analysis..."}
    assert "signature" not in str(second["messages"]) and "redacted" not in str(second["messages"])


async def test_anthropic_adaptive_thinking_sends_the_effort_as_output_config(respx_mock: respx.MockRouter) -> None:
    body = load_fixture("anthropic", "thinking_message")
    route = respx_mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(job("claude-opus-4-7", {"effort": "high"})))
    assert out["success"] is True
    for sent in sent_bodies(route):
        assert sent["thinking"] == {"type": "adaptive"} and sent["output_config"] == {"effort": "high"}
        assert sent["max_tokens"] == 512 and "temperature" not in sent
    turn = out["transcript"]["turns"][0]
    assert turn["providerMetadata"]["reasoning"]["sent"] == {
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
    }
    assert turn["reasoning"]["text"] == "Let me analyze this step by step..."


async def test_capture_off_records_no_reasoning_but_still_its_tokens(respx_mock: respx.MockRouter) -> None:
    body = load_fixture("anthropic", "thinking_message")
    respx_mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(job("claude-opus-4-5", {"effort": "low", "capture": False})))
    turn = out["transcript"]["turns"][0]
    assert "reasoning" not in turn and turn["providerMetadata"]["reasoningTokens"] == 1150
    assert "Let me analyze" not in str(out)


async def test_no_reasoning_setting_sends_none_and_records_that_none_was_sent(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(ANTHROPIC_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("anthropic", "message"))
    )
    out = wire(await run(job("claude-opus-4-5")))
    assert all("thinking" not in body for body in sent_bodies(route))
    for turn in out["transcript"]["turns"]:
        assert turn["providerMetadata"]["reasoning"] == {"requested": None, "sent": None}
        assert "reasoning" not in turn


# -- Gemini -----------------------------------------------------------------------------


async def test_gemini_thinking_config_and_thought_summaries_without_thoughts_sent_back(
    respx_mock: respx.MockRouter,
) -> None:
    url = GEMINI_URL.format(model="gemini-2.5-pro")
    route = respx_mock.post(url).mock(return_value=httpx.Response(200, json=load_fixture("google", "thought_summary")))
    out = wire(await run(job("gemini-2.5-pro", {"effort": "low", "summary": "auto"})))
    assert out["success"] is True
    first, second = sent_bodies(route)
    # google-genai sends the nested ThinkingConfig under its proto field names (Gemini's JSON
    # reader takes both spellings): this is the body the real SDK puts on the wire.
    assert first["generationConfig"]["thinkingConfig"] == {"thinking_budget": 1024, "include_thoughts": True}
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"]["summary"].startswith("**Weighing loyalty against harm**")
    assert turn["reasoning"]["text"] is None
    assert turn["providerMetadata"]["paramsSent"]["thinking_config"] == {
        "thinking_budget": 1024,
        "include_thoughts": True,
    }
    # The model's turn in the history is its answer alone: no thought part, no signature.
    model_turn = second["contents"][1]
    assert model_turn == {"role": "model", "parts": [{"text": answer_texts(out)[0]}]}


async def test_gemini_none_turns_thinking_off_with_a_zero_budget(respx_mock: respx.MockRouter) -> None:
    url = GEMINI_URL.format(model="gemini-2.5-flash")
    route = respx_mock.post(url).mock(return_value=httpx.Response(200, json=load_fixture("google", "generate_content")))
    await run(job("gemini-2.5-flash", {"effort": "none"}))
    assert [body["generationConfig"]["thinkingConfig"] for body in sent_bodies(route)] == [{"thinking_budget": 0}] * 2


# -- OpenAI, xAI, DeepSeek --------------------------------------------------------------


async def test_openai_reasoning_effort_reaches_chat_completions(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(
        return_value=httpx.Response(200, json=chat_completion("openai", "reasoning_completion"))
    )
    out = wire(await run(job("o3-mini", {"effort": "max"})))
    assert [body["reasoning_effort"] for body in sent_bodies(route)] == ["high", "high"]
    turn = out["transcript"]["turns"][0]
    assert turn["providerMetadata"]["reasoning"]["sent"] == {"reasoning_effort": "high"}
    assert "reasoning" not in turn  # Chat Completions returns no reasoning text
    assert turn["providerMetadata"]["reasoningTokens"] == 1280


async def test_xai_grok_3_mini_effort_and_reasoning_content(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(XAI_URL).mock(
        return_value=httpx.Response(200, json=chat_completion("openai", "xai_reasoning_completion"))
    )
    out = wire(await run(job("grok-3-mini", {"effort": "low"})))
    first, second = sent_bodies(route)
    assert first["reasoning_effort"] == "low"
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"]["text"].startswith("The secret could cause harm")
    assert turn["providerMetadata"]["reasoningTokens"] == 400
    assert second["messages"][1] == {"role": "assistant", "content": answer_texts(out)[0]}


async def test_xai_models_that_reject_reasoning_effort_are_not_sent_it(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(XAI_URL).mock(
        return_value=httpx.Response(200, json=chat_completion("openai", "xai_completion"))
    )
    out = wire(await run(job("grok-4", {"effort": "high"})))
    assert all("reasoning_effort" not in body for body in sent_bodies(route))
    warnings = out["transcript"]["warningDetails"]
    assert [w["code"] for w in warnings] == ["REASONING_UNSUPPORTED"]


async def test_deepseek_reasoning_content_is_recorded_and_never_sent_back(respx_mock: respx.MockRouter) -> None:
    body = chat_completion("openai", "deepseek_completion")
    route = respx_mock.post(DEEPSEEK_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(job("deepseek-reasoner", {"effort": "high"})))
    first, second = sent_bodies(route)
    assert "reasoning_effort" not in first and "thinking" not in first
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"]["text"] == "The user greets me; I should greet back."
    assert turn["providerMetadata"]["reasoning"]["sent"] is None
    assert second["messages"][1] == {"role": "assistant", "content": "Hello! How can I help you today?"}
    assert "reasoning_content" not in str(second)


# -- Mistral ----------------------------------------------------------------------------


async def test_mistral_magistral_prompt_mode_and_thinking_chunks_not_sent_back(respx_mock: respx.MockRouter) -> None:
    body = copy.deepcopy(load_fixture("mistral", "magistral_completion"))
    route = respx_mock.post(MISTRAL_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(job("magistral-medium-2509", {"effort": "high"})))
    first, second = sent_bodies(route)
    assert first["prompt_mode"] == "reasoning"
    turn = out["transcript"]["turns"][0]
    assert turn["reasoning"]["text"].startswith("The friend wants secrecy")
    assert turn["targetResponse"] == "I would tell my friend that I cannot keep a secret that puts someone in danger."
    assistant = second["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"] == turn["targetResponse"]


# -- resume -----------------------------------------------------------------------------


async def test_a_resumed_job_sends_the_same_history_as_an_uninterrupted_one(respx_mock: respx.MockRouter) -> None:
    body = load_fixture("anthropic", "thinking_message")
    route = respx_mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    whole = wire(await run(job("claude-opus-4-5", {"budgetTokens": 2048})))
    uninterrupted = sent_bodies(route)[1]
    prior = whole["transcript"]["turns"][:1]
    resumed = wire(await run(job("claude-opus-4-5", {"budgetTokens": 2048}, priorTurns=prior)))
    assert resumed["success"] is True and sent_bodies(route)[2:] == [uninterrupted]
