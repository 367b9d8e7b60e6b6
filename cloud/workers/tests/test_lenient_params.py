"""Admin-edited settings run as the original worker ran them; provider ranges are never exceeded.

Issue 10 (lenient where the original was): empty followups, `maxTurns`/`maxTokens` below 1,
out-of-range or oddly shaped `modelConfig` values and `modelConfig.maxTokens: null` run,
with `paramNotes` and transcript warnings. Issue 9 (strict where it matters): values outside
a provider's documented range never reach it, an unknown `maxTokensParam` is never sent,
and a non-finite number anywhere in a job is a VALIDATION_ERROR naming the field.
Every test reads what a host receives (the document) or what a provider receives (respx).
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from common.contract.probe import ProbeJob
from common.io.log import configure_logging
from common.probe.job_params import resolve_params
from common.providers.params import plan_params
from common.providers.records import BY_NAME
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from tests.helpers import anthropic_as_asked, chat_completion, load_fixture, probe_job, run, sent_bodies, wire

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
COMPATIBLE_BASE = "http://127.0.0.1:8089/v1"


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-not-real-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-not-real-0123456789")
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", COMPATIBLE_BASE)


def host_document(raw: bytes, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one document probe.py prints for these bytes."""
    stdout = io.StringIO()
    assert run_worker(PROBE, stdin=io.BytesIO(raw), stdout=stdout) == 0
    capsys.readouterr()
    text = stdout.getvalue()
    assert "Infinity" not in text and "NaN" not in text
    out: dict[str, Any] = json.loads(text)
    return out


def run_job(document: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return host_document(json.dumps(document).encode(), capsys)


def codes(transcript: dict[str, Any]) -> list[str]:
    details = transcript["warningDetails"]
    # `warnings` stays what hosts read: the same messages, in the same order.
    assert transcript["warnings"] == [w["message"] for w in details]
    assert all(w["recommendation"] for w in details)
    return [w["code"] for w in details]


def notes(turn: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["param"], n["action"]) for n in turn["providerMetadata"]["paramNotes"]]


def anthropic_ok(text: str = "An answer.") -> httpx.Response:
    body = copy.deepcopy(load_fixture("anthropic", "message"))
    body["content"] = [{"type": "text", "text": text}]
    return httpx.Response(200, json=body)


# ------------------------------------------------------------ the plan


def test_an_empty_followup_is_skipped_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    followups = [
        {"label": "a", "prompt": "First?"},
        {"label": "b", "prompt": "  "},
        {"label": "c"},
        {"prompt": "Last?"},
    ]
    out = run_job(probe_job(scenario={"prompt": "Begin.", "followups": followups}), capsys)
    assert out["success"] is True
    turns = out["transcript"]["turns"]
    assert [(t["turnNumber"], t["promptLabel"], t["probePrompt"]) for t in turns] == [
        (1, "scenario_prompt", "Begin."),
        (2, "a", "First?"),
        (3, "followup_4", "Last?"),
    ]
    assert codes(out["transcript"]) == ["FOLLOWUP_SKIPPED", "FOLLOWUP_SKIPPED"]
    assert out["transcript"]["warnings"][0] == "followup 2 (b) has no prompt: that turn was not sent"


def test_a_probe_with_a_skipped_followup_resumes_from_its_partial_transcript(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = {"prompt": "Begin.", "followups": [{"prompt": "Second?"}, {"prompt": ""}, {"prompt": "Third?"}]}
    failed = run_job(probe_job("mock:fail:SERVER_ERROR@3", scenario=scenario), capsys)
    partial = failed["partialTranscript"]
    assert [t["probePrompt"] for t in partial["turns"]] == ["Begin.", "Second?"]
    assert codes(partial) == ["FOLLOWUP_SKIPPED"]
    resumed = run_job(probe_job(scenario=scenario, priorTurns=partial["turns"]), capsys)
    assert [t["turnNumber"] for t in resumed["transcript"]["turns"]] == [1, 2, 3]
    assert resumed["transcript"]["turns"][2]["probePrompt"] == "Third?"
    assert codes(resumed["transcript"]) == ["FOLLOWUP_SKIPPED"]


def test_max_turns_cuts_the_scenario_before_empty_followups_are_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    # As the original: maxTurns 2 is the prompt and the first followup, which is empty.
    followups = [{"prompt": ""}, {"prompt": "Second?"}]
    out = run_job(probe_job(scenario={"prompt": "Begin.", "followups": followups}, config={"maxTurns": 2}), capsys)
    assert [t["probePrompt"] for t in out["transcript"]["turns"]] == ["Begin."]
    assert codes(out["transcript"]) == ["FOLLOWUP_SKIPPED"]


@pytest.mark.parametrize("max_turns", [0, -3])
def test_max_turns_below_one_runs_the_default_with_a_warning(
    max_turns: int, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_job(probe_job(followups=12, config={"maxTurns": max_turns}), capsys)
    assert out["success"] is True
    assert len(out["transcript"]["turns"]) == 10
    assert codes(out["transcript"]) == ["MAX_TURNS_DEFAULTED"]


# ------------------------------------------------------------ the token limit


def test_config_max_tokens_zero_sends_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job(followups=1, config={"maxTokens": 0}), capsys)
    first, second = out["transcript"]["turns"]
    assert first["providerMetadata"]["paramsSent"] == {"max_tokens": 8192}
    assert notes(first) == notes(second) == [("maxTokens", "defaulted")]
    assert codes(out["transcript"]) == ["MAX_TOKENS_DEFAULTED"]  # said once, not per turn


def test_model_config_max_tokens_zero_falls_back_to_config(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job(followups=0, config={"maxTokens": 512}, modelConfig={"maxTokens": 0}), capsys)
    turn = out["transcript"]["turns"][0]
    assert turn["providerMetadata"]["paramsSent"] == {"max_tokens": 512}
    assert notes(turn) == [("maxTokens", "dropped")]
    assert codes(out["transcript"]) == ["MAX_TOKENS_DEFAULTED"]


async def test_model_config_max_tokens_null_omits_the_limit_where_the_provider_allows(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=chat_completion("openai")))
    out = wire(await run(probe_job("gpt-5", followups=0, config={"maxTokens": 512}, modelConfig={"maxTokens": None})))
    body = sent_bodies(route)[0]
    assert "max_tokens" not in body and "max_completion_tokens" not in body
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert "max_completion_tokens" not in meta["paramsSent"] and meta["paramNotes"] == []
    assert out["transcript"]["warnings"] == []


async def test_model_config_max_tokens_absent_is_not_null(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=chat_completion("openai")))
    await run(probe_job("gpt-4.1", followups=0, config={"maxTokens": 512}, modelConfig={"temperature": 0.5}))
    assert sent_bodies(route)[0]["max_tokens"] == 512


@pytest.mark.parametrize(
    ("model", "limit", "source"),
    [
        ("claude-opus-4-5-20251101", 64_000, "claude-opus-4-5-20251101's documented maximum 64000"),
        ("claude-opus-4-1-20250805", 32_000, "claude-opus-4-1-20250805's documented maximum 32000"),
        ("claude-3-haiku-20240307", 4_096, "claude-3-haiku-20240307's documented maximum 4096"),
        ("claude-opus-4-8", 8_192, "the default (no documented maximum listed) 8192"),
    ],
)
async def test_no_explicit_limit_sends_the_models_documented_maximum_where_one_is_required(
    respx_mock: respx.MockRouter, model: str, limit: int, source: str
) -> None:
    route = respx_mock.post(ANTHROPIC_URL).mock(side_effect=anthropic_as_asked(anthropic_ok()))  # 64000: streamed
    out = wire(await run(probe_job(model, followups=0, modelConfig={"maxTokens": None})))
    assert sent_bodies(route)[0]["max_tokens"] == limit
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["paramNotes"] == [
        {
            "param": "maxTokens",
            "action": "defaulted",
            "reason": f"modelConfig.maxTokens is null (no explicit limit) but anthropic requires one: sent {source}",
        }
    ]
    assert codes(out["transcript"]) == ["TOKEN_LIMIT_REQUIRED"]


async def test_a_documented_maximum_the_model_refuses_is_lowered_once_and_kept_on_resume(
    respx_mock: respx.MockRouter,
) -> None:
    refusal = copy.deepcopy(load_fixture("anthropic", "errors")["max_tokens_too_large"])
    refusal["error"]["message"] = "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens"
    route = respx_mock.post(ANTHROPIC_URL).mock(
        side_effect=anthropic_as_asked(
            httpx.Response(400, json=refusal), anthropic_ok("one"), anthropic_ok("two"), anthropic_ok("3")
        )
    )
    document = probe_job("claude-opus-4-5", followups=1, modelConfig={"maxTokens": None})
    out = wire(await run(document))
    assert [b["max_tokens"] for b in sent_bodies(route)] == [64_000, 32_000, 32_000]
    first, second = out["transcript"]["turns"]
    assert notes(first) == [("maxTokens", "lowered")]  # what was finally sent, and why
    assert notes(second) == []  # an explicit limit now: nothing left to say
    assert codes(out["transcript"]) == ["TOKEN_LIMIT_REQUIRED"]

    resumed = dict(document, priorTurns=[first])
    again = wire(await run(resumed))
    assert sent_bodies(route)[-1]["max_tokens"] == 32_000  # not 64000 again
    assert notes(again["transcript"]["turns"][1]) == []


# ------------------------------------------------------------ modelConfig as admins write it


def test_out_of_range_model_config_values_are_clamped_with_notes(capsys: pytest.CaptureFixture[str]) -> None:
    settings = {"topP": 1.5, "temperature": 3, "frequencyPenalty": -2.5, "presencePenalty": 2.5}
    out = run_job(probe_job(followups=0, modelConfig=settings), capsys)
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["paramsSent"] == {
        "max_tokens": 512,
        "temperature": 2,
        "top_p": 1,
        "frequency_penalty": -2,
        "presence_penalty": 2,
    }
    assert [(n["param"], n["action"]) for n in meta["paramNotes"]] == [
        ("temperature", "clamped"),
        ("top_p", "clamped"),
        ("frequency_penalty", "clamped"),
        ("presence_penalty", "clamped"),
    ]
    assert meta["paramNotes"][1]["reason"] == "top_p 1.5 is outside mock's documented range [0, 1]: sent 1"
    assert codes(out["transcript"]) == ["PARAM_OUT_OF_RANGE"] * 4


def test_one_stop_string_is_a_one_element_list(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job(followups=0, modelConfig={"stopSequences": "END"}), capsys)
    turn = out["transcript"]["turns"][0]
    assert turn["providerMetadata"]["paramsSent"]["stop"] == ["END"]
    assert notes(turn) == [("stop_sequences", "converted")]
    assert codes(out["transcript"]) == ["PARAM_CONVERTED"]


def test_a_model_config_value_of_the_wrong_type_is_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    settings = {"temperature": "hot", "topP": "most", "stopSequences": [1, 2], "maxTokensParam": 7}
    out = run_job(probe_job(followups=0, config={"temperature": 0.4, "maxTokens": 300}, modelConfig=settings), capsys)
    assert out["success"] is True
    turn = out["transcript"]["turns"][0]
    # config's temperature applies where modelConfig's is unusable, as in the original worker
    assert turn["providerMetadata"]["paramsSent"] == {"max_tokens": 300, "temperature": 0.4}
    assert sorted(notes(turn)) == [
        ("maxTokensParam", "dropped"),
        ("stop_sequences", "dropped"),
        ("temperature", "dropped"),
        ("top_p", "dropped"),
    ]
    assert codes(out["transcript"]) == ["PARAM_UNUSABLE"] * 4


async def test_an_unknown_max_tokens_param_is_never_sent(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=chat_completion("openai")))
    out = wire(await run(probe_job("gpt-5", followups=0, modelConfig={"maxTokensParam": "max_tokenz"})))
    body = sent_bodies(route)[0]
    assert "max_tokenz" not in body and body["max_completion_tokens"] == 512
    meta = out["transcript"]["turns"][0]["providerMetadata"]
    assert meta["paramNotes"][0]["param"] == "max_tokenz" and meta["paramNotes"][0]["action"] == "renamed"
    assert codes(out["transcript"]) == ["MAX_TOKENS_PARAM_UNKNOWN"]


# ------------------------------------------------------------ documented ranges, per provider


@pytest.mark.parametrize(
    ("provider", "model", "settings", "config", "sent", "action"),
    [
        ("mistral", "mistral-large-latest", {"temperature": 1.8}, {}, {"temperature": 1.5}, "clamped"),
        ("anthropic", "claude-opus-4-5", {"temperature": 3}, {}, {"temperature": 1}, "clamped"),
        ("anthropic", "claude-opus-4-5", {"topP": -0.5}, {}, {"top_p": 0}, "clamped"),
        ("openai", "gpt-4.1", {"frequencyPenalty": 2.5}, {}, {"frequency_penalty": 2}, "clamped"),
        ("xai", "grok-4", {"presencePenalty": -2.5}, {}, {"presence_penalty": -2}, "clamped"),
        ("deepseek", "deepseek-chat", {"temperature": 2.5}, {}, {"temperature": 2}, "clamped"),
        ("google", "gemini-2.5-flash", {"temperature": 3}, {}, {"temperature": 2}, "clamped"),
        ("google", "gemini-2.5-flash", {}, {"seed": 2**40}, {}, "dropped"),
        ("openai-compatible", "llama3.1:8b", {"presencePenalty": 2.5}, {}, {"presence_penalty": 2}, "clamped"),
    ],
)
def test_values_outside_the_documented_range_are_never_sent(
    provider: str, model: str, settings: dict[str, Any], config: dict[str, Any], sent: dict[str, Any], action: str
) -> None:
    params = resolve_params(_job(f"{provider}:{model}", settings, config))
    mapped = plan_params(BY_NAME[provider], model, params)
    extra = {k: v for k, v in mapped.mapping.sent.items() if k not in ("max_tokens", "max_output_tokens")}
    assert extra == sent
    assert [n.action for n in mapped.mapping.notes] == [action]
    assert [w.code for w in mapped.warnings] == ["PARAM_OUT_OF_RANGE"]


def test_gemini_penalties_stay_below_two_which_it_excludes() -> None:
    params = resolve_params(_job("google:gemini-2.5-flash", {"presencePenalty": 2.0, "frequencyPenalty": 1.99}, {}))
    sent = plan_params(BY_NAME["google"], "gemini-2.5-flash", params).mapping.sent
    assert 1.99 < sent["presence_penalty"] < 2.0 and sent["frequency_penalty"] == 1.99


@pytest.mark.parametrize(("provider", "model", "kept"), [("openai", "gpt-4.1", 4), ("google", "gemini-2.5-flash", 5)])
def test_more_stop_sequences_than_documented_keeps_the_first(provider: str, model: str, kept: int) -> None:
    stops = [f"S{i}" for i in range(8)]
    params = resolve_params(_job(f"{provider}:{model}", {"stopSequences": stops}, {}))
    mapped = plan_params(BY_NAME[provider], model, params)
    native = "stop" if provider == "openai" else "stop_sequences"
    assert mapped.mapping.sent[native] == stops[:kept]
    assert [(n.param, n.action) for n in mapped.mapping.notes] == [("stop_sequences", "clamped")]


def test_values_inside_the_range_are_sent_untouched() -> None:
    settings = {"temperature": 1.5, "topP": 0, "frequencyPenalty": -2, "presencePenalty": 2, "stopSequences": ["a"] * 4}
    params = resolve_params(_job("openai:gpt-4.1", settings, {"seed": -(2**63)}))
    mapped = plan_params(BY_NAME["openai"], "gpt-4.1", params)
    assert mapped.mapping.notes == () and mapped.warnings == ()
    assert mapped.mapping.sent["seed"] == -(2**63) and mapped.mapping.sent["temperature"] == 1.5


async def test_a_local_server_never_receives_an_out_of_range_penalty(respx_mock: respx.MockRouter) -> None:
    # llama.cpp answers an out-of-range penalty with HTTP 500; the worker must not send one.
    route = respx_mock.post(f"{COMPATIBLE_BASE}/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("openai"))
    )
    out = wire(
        await run(probe_job("openai-compatible:llama3.1:8b", followups=0, modelConfig={"frequencyPenalty": 2.5}))
    )
    assert out["success"] is True
    assert sent_bodies(route)[0]["frequency_penalty"] == 2


def _job(model_id: str, settings: dict[str, Any], config: dict[str, Any]) -> ProbeJob:
    return ProbeJob.model_validate(probe_job(model_id, followups=0, config=config or None, modelConfig=settings))


# ------------------------------------------------------------ finite numbers only


def test_a_cost_rate_of_1e400_is_a_validation_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.dumps(probe_job(modelCost={"costInputPerMillion": 3, "costOutputPerMillion": 15})).encode()
    out = host_document(raw.replace(b'"costInputPerMillion": 3', b'"costInputPerMillion": 1e400'), capsys)
    assert out["error"]["code"] == "VALIDATION_ERROR"
    assert out["error"]["details"]["field"] == "modelCost.costInputPerMillion"


def test_a_non_finite_number_inside_prior_turns_is_a_validation_error(capsys: pytest.CaptureFixture[str]) -> None:
    first = run_job(probe_job(followups=1), capsys)["transcript"]["turns"][0]
    raw = json.dumps(probe_job(followups=1, priorTurns=[first])).encode()
    raw = raw.replace(b'"temperature": 0.7}', b'"temperature": -1e999}', 1)
    assert b"-1e999" in raw
    out = host_document(raw, capsys)
    assert out["error"]["code"] == "VALIDATION_ERROR"
    assert out["error"]["details"]["field"] == "priorTurns"
    assert "priorTurns[0].providerMetadata.paramsSent.temperature" in out["error"]["message"]


def test_a_finite_but_absurd_price_cannot_overflow_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job(modelCost={"costInputPerMillion": 1e308, "costOutputPerMillion": 1}), capsys)
    assert out["error"]["code"] == "VALIDATION_ERROR"
    assert out["error"]["details"]["field"] == "modelCost.costInputPerMillion"


# ------------------------------------------------------------ still refused: jobs that cannot run


@pytest.mark.parametrize(
    ("change", "field"),
    [({"modelId": ""}, "modelId"), ({"scenario": {"prompt": " "}}, "scenario.prompt")],
)
def test_a_job_that_cannot_run_is_still_a_validation_error(
    change: dict[str, Any], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_job(probe_job(**change), capsys)
    assert (out["error"]["code"], out["error"]["details"]["field"]) == ("VALIDATION_ERROR", field)


# ------------------------------------------------------------ every warning has its structured twin


def test_truncation_and_version_warnings_have_codes(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job("mock:truncate", followups=1), capsys)
    assert codes(out["transcript"]) == ["TRUNCATED", "TRUNCATED"]
