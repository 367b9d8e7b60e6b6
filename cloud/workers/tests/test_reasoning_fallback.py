"""A reasoning parameter the provider refuses: the turn is retried once without it, and it stays off.

Each refusal is a real provider body (tests/fixtures/errors/reasoning_rejections.json, with
its source), served by respx through the real SDK and adapter. What a host would notice:
the first request carries the reasoning field, the retry does not, the turn's paramNotes
say `retried_without` `reasoning`, the transcript has one REASONING_UNSUPPORTED warning,
later turns never send it again, and a resumed job (priorTurns) does not either.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from tests.helpers import FIXTURES, chat_completion, load_fixture, probe_job, run, sent_bodies, wire

REJECTIONS: dict[str, Any] = json.loads((FIXTURES / "errors" / "reasoning_rejections.json").read_text())
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1/models/{model}:generateContent"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"


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
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-not-real-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyD-test-key-not-real-0123456789ab")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-not-real-0123456789")


def rejection(name: str) -> httpx.Response:
    entry = REJECTIONS[name]
    return httpx.Response(entry["status"], json=entry["body"])


def job(model: str, reasoning: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return probe_job(model, followups=2, config={"maxTokens": 512, "reasoning": reasoning}, **changes)


def reasoning_warnings(out: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in out["transcript"]["warningDetails"] if w["code"] == "REASONING_UNSUPPORTED"]


def assert_retried_without_reasoning(out: dict[str, Any], bodies: list[dict[str, Any]], field: str) -> None:
    assert out["success"] is True
    # Turn 1 twice (refused, then without the field), then turns 2 and 3 without it.
    assert len(bodies) == 4
    assert field in bodies[0] and all(field not in body for body in bodies[1:])
    first, *later = out["transcript"]["turns"]
    notes = first["providerMetadata"]["paramNotes"]
    assert [(n["param"], n["action"]) for n in notes if n["param"] == "reasoning"] == [("reasoning", "retried_without")]
    assert first["providerMetadata"]["reasoning"]["sent"] is None
    assert field not in first["providerMetadata"]["paramsSent"]
    assert all(not t["providerMetadata"]["paramNotes"] for t in later)
    assert len(reasoning_warnings(out)) == 1


async def test_openai_refused_reasoning_effort_is_retried_without_and_kept_off(respx_mock: respx.MockRouter) -> None:
    # A model id the record's gpt-5.1 family matches (none documented there); this model refuses none.
    route = respx_mock.post(OPENAI_URL).mock(
        side_effect=[rejection("openai_reasoning_effort_value")]
        + [httpx.Response(200, json=chat_completion("openai"))] * 3
    )
    out = wire(await run(job("gpt-5.1-mini", {"effort": "none"})))
    bodies = sent_bodies(route)
    assert bodies[0]["reasoning_effort"] == "none"
    assert_retried_without_reasoning(out, bodies, "reasoning_effort")
    note = out["transcript"]["turns"][0]["providerMetadata"]["paramNotes"][-1]
    assert "reasoning_effort not sent" in note["reason"] and "does not support 'none'" in note["reason"]


async def test_anthropic_refused_thinking_is_retried_without_it(respx_mock: respx.MockRouter) -> None:
    # A newer model the record's budget family still matches, answering as the adaptive-only models do.
    route = respx_mock.post(ANTHROPIC_URL).mock(
        side_effect=[rejection("anthropic_thinking_enabled")]
        + [httpx.Response(200, json=load_fixture("anthropic", "message"))] * 3
    )
    out = wire(await run(job("claude-opus-4-9", {"budgetTokens": 2048})))
    bodies = sent_bodies(route)
    assert bodies[0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert bodies[0]["max_tokens"] == 2048 + 512 and bodies[1]["max_tokens"] == 512  # the raise goes with it
    assert_retried_without_reasoning(out, bodies, "thinking")


@pytest.mark.parametrize(
    ("fixture", "model", "reasoning", "native"),
    [
        ("google_thinking_level", "gemini-3-pro-image-preview", {"effort": "high"}, {"thinking_level": "HIGH"}),
        ("google_thinking_not_supported", "gemini-2.5-flash-image", {"effort": "low"}, {"thinking_budget": 1024}),
    ],
)
async def test_gemini_refused_thinking_config_is_retried_without_it(
    respx_mock: respx.MockRouter, fixture: str, model: str, reasoning: dict[str, Any], native: dict[str, Any]
) -> None:
    route = respx_mock.post(GEMINI_URL.format(model=model)).mock(
        side_effect=[rejection(fixture)] + [httpx.Response(200, json=load_fixture("google", "generate_content"))] * 3
    )
    out = wire(await run(job(model, reasoning)))
    configs = [body.get("generationConfig", {}) for body in sent_bodies(route)]
    assert configs[0]["thinkingConfig"] == native
    assert_retried_without_reasoning(
        out, [{"thinking": c["thinkingConfig"]} if "thinkingConfig" in c else {} for c in configs], "thinking"
    )


async def test_a_resumed_job_does_not_send_the_refused_reasoning_again(respx_mock: respx.MockRouter) -> None:
    ok = httpx.Response(200, json=load_fixture("anthropic", "message"))
    route = respx_mock.post(ANTHROPIC_URL).mock(side_effect=[rejection("anthropic_thinking_enabled")] + [ok] * 3)
    whole = wire(await run(job("claude-opus-4-9", {"budgetTokens": 2048})))
    uninterrupted = sent_bodies(route)[2:]  # turns 2 and 3
    prior = whole["transcript"]["turns"][:1]
    route.side_effect = [ok] * 2
    resumed = wire(await run(job("claude-opus-4-9", {"budgetTokens": 2048}, priorTurns=prior)))
    assert resumed["success"] is True
    assert sent_bodies(route)[4:] == uninterrupted and all("thinking" not in b for b in uninterrupted)
    assert reasoning_warnings(resumed) == reasoning_warnings(whole)


async def test_a_refusal_that_names_no_reasoning_field_is_not_retried(respx_mock: respx.MockRouter) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: at least one message is required"},
    }
    route = respx_mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(400, json=body))
    out = wire(await run(job("claude-opus-4-9", {"budgetTokens": 2048})))
    assert out["success"] is False and out["error"]["code"] == "BAD_REQUEST" and len(route.calls) == 1
