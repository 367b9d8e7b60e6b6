"""The conversation a job asks for: turns, labels, the preamble, and the parameters sent.

The plan and parameter tests need no network; the end-to-end ones run the mock provider
through `run_worker` so they assert the transcript a host receives.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from common.contract.probe import ProbeJob
from common.io.log import configure_logging
from common.probe.conversation import plan_conversation
from common.probe.job_params import resolve_params
from common.providers.params import map_params
from common.providers.records import BY_NAME
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from tests.helpers import probe_job


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


def job(**overrides: Any) -> ProbeJob:
    return ProbeJob.model_validate(probe_job("mock:echo", **overrides))


def scenario(
    *, prompt: str = "Is it ever right to lie?", followups: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"prompt": prompt, "followups": followups or [], **extra}


def run_job(document: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    stdout = io.StringIO()
    assert run_worker(PROBE, stdin=io.BytesIO(json.dumps(document).encode()), stdout=stdout) == 0
    capsys.readouterr()
    out: dict[str, Any] = json.loads(stdout.getvalue())
    return out


# ------------------------------------------------------------ turns and labels


def test_labels_are_scenario_prompt_then_each_followups_label_or_its_number() -> None:
    followups: list[dict[str, Any]] = [
        {"label": "push_back", "prompt": "Are you sure?"},
        {"prompt": "Why?"},
        {"label": "", "prompt": "And if nobody finds out?"},
        {"label": None, "prompt": "Final answer?"},
    ]
    plan = plan_conversation(job(scenario=scenario(followups=followups)))
    assert [(t.number, t.label) for t in plan.turns] == [
        (1, "scenario_prompt"),
        (2, "push_back"),
        (3, "followup_2"),
        (4, "followup_3"),
        (5, "followup_4"),
    ]
    assert [t.prompt for t in plan.turns[1:]] == [f["prompt"] for f in followups]


def test_max_turns_cuts_the_conversation() -> None:
    followups = [{"prompt": f"q{i}"} for i in range(1, 6)]
    plan = plan_conversation(job(scenario=scenario(followups=followups), config={"maxTurns": 3}))
    assert [t.label for t in plan.turns] == ["scenario_prompt", "followup_1", "followup_2"]


def test_max_turns_one_sends_only_the_prompt() -> None:
    plan = plan_conversation(job(scenario=scenario(followups=[{"prompt": "q"}]), config={"maxTurns": 1}))
    assert [t.label for t in plan.turns] == ["scenario_prompt"]


def test_max_turns_defaults_to_ten() -> None:
    followups = [{"prompt": f"q{i}"} for i in range(1, 15)]
    plan = plan_conversation(job(scenario=scenario(followups=followups), config=None))
    assert len(plan.turns) == 10
    assert plan.turns[-1].label == "followup_9"


def test_fewer_turns_than_max_turns_runs_them_all() -> None:
    plan = plan_conversation(job(scenario=scenario(followups=[{"prompt": "q"}]), config={"maxTurns": 10}))
    assert len(plan.turns) == 2


# ------------------------------------------------------------ the preamble


def test_the_preamble_is_prepended_to_the_first_message_by_default() -> None:
    plan = plan_conversation(
        job(scenario=scenario(preamble="You are a careful ethicist.", followups=[{"prompt": "Why?"}]))
    )
    assert plan.system is None
    assert plan.turns[0].prompt == "You are a careful ethicist.\n\nIs it ever right to lie?"
    assert plan.turns[1].prompt == "Why?"


def test_preamble_mode_prepend_is_the_same_as_the_default() -> None:
    with_mode = plan_conversation(job(scenario=scenario(preamble="P"), config={"preambleMode": "prepend"}))
    without = plan_conversation(job(scenario=scenario(preamble="P")))
    assert with_mode == without


def test_preamble_mode_system_sends_it_through_the_system_channel() -> None:
    plan = plan_conversation(
        job(scenario=scenario(preamble="You are a careful ethicist."), config={"preambleMode": "system"})
    )
    assert plan.system == "You are a careful ethicist."
    assert plan.turns[0].prompt == "Is it ever right to lie?"


@pytest.mark.parametrize("preamble", [None, "", "   \n"])
def test_no_preamble_leaves_the_prompt_alone(preamble: str | None) -> None:
    for mode in ("prepend", "system"):
        plan = plan_conversation(job(scenario=scenario(preamble=preamble), config={"preambleMode": mode}))
        assert plan.system is None
        assert plan.turns[0].prompt == "Is it ever right to lie?"


def test_turn_one_probe_prompt_shows_the_combined_text(capsys: pytest.CaptureFixture[str]) -> None:
    document = probe_job(
        "mock:echo", scenario=scenario(preamble="Answer briefly.", followups=[{"label": "why", "prompt": "Why?"}])
    )
    turns = run_job(document, capsys)["transcript"]["turns"]
    assert turns[0]["probePrompt"] == "Answer briefly.\n\nIs it ever right to lie?"
    assert turns[0]["promptLabel"] == "scenario_prompt"
    assert turns[1]["probePrompt"] == "Why?" and turns[1]["promptLabel"] == "why"


def test_system_mode_probe_prompt_is_the_bare_prompt_and_the_answer_differs(capsys: pytest.CaptureFixture[str]) -> None:
    prepend = probe_job("mock:echo", scenario=scenario(preamble="Answer briefly."))
    system = probe_job("mock:echo", scenario=scenario(preamble="Answer briefly."), config={"preambleMode": "system"})
    prepended = run_job(prepend, capsys)["transcript"]["turns"][0]
    sent_as_system = run_job(system, capsys)["transcript"]["turns"][0]
    assert sent_as_system["probePrompt"] == "Is it ever right to lie?"
    # the mock's answer is derived from what it was sent, so the preamble really moved
    assert sent_as_system["targetResponse"] != prepended["targetResponse"]


def test_max_turns_cut_is_what_the_transcript_holds(capsys: pytest.CaptureFixture[str]) -> None:
    document = probe_job("mock:echo", followups=4, config={"maxTurns": 2})
    turns = run_job(document, capsys)["transcript"]["turns"]
    assert [t["promptLabel"] for t in turns] == ["scenario_prompt", "push_1"]


# ------------------------------------------------------------ parameters


def test_max_tokens_defaults_to_8192() -> None:
    assert resolve_params(job(config=None)).max_tokens == 8192
    assert resolve_params(job(config={"temperature": 0.2})).max_tokens == 8192


def test_temperature_absent_is_not_sent() -> None:
    params = resolve_params(job(config={"maxTokens": 100}))
    assert params.temperature is None
    assert params.max_tokens == 100


def test_model_config_overrides_config() -> None:
    params = resolve_params(
        job(
            config={"temperature": 0.7, "maxTokens": 512, "seed": 42},
            modelConfig={
                "maxTokens": 2048,
                "temperature": 0.1,
                "topP": 0.9,
                "frequencyPenalty": 0.5,
                "presencePenalty": -0.5,
                "stopSequences": ["END"],
                "maxTokensParam": "max_completion_tokens",
            },
        )
    )
    assert params.max_tokens == 2048
    assert params.temperature == 0.1
    assert params.top_p == 0.9
    assert params.frequency_penalty == 0.5
    assert params.presence_penalty == -0.5
    assert params.stop_sequences == ("END",)
    assert params.max_tokens_param == "max_completion_tokens"
    assert params.seed == 42  # seed comes from config


def test_a_temperature_of_zero_in_model_config_still_overrides() -> None:
    assert resolve_params(job(config={"temperature": 0.7}, modelConfig={"temperature": 0.0})).temperature == 0.0


@pytest.mark.parametrize("model_config", [None, {}, {"temperature": None, "topP": None, "stopSequences": None}])
def test_an_empty_or_null_model_config_changes_nothing(model_config: dict[str, Any] | None) -> None:
    # `maxTokens: null` is not in this list: it asks for no explicit limit (test_lenient_params).
    base = resolve_params(job(config={"temperature": 0.7, "maxTokens": 512}))
    assert resolve_params(job(config={"temperature": 0.7, "maxTokens": 512}, modelConfig=model_config)) == base


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys: constructing a provider makes no HTTP call."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    monkeypatch.setenv("XAI_API_KEY", "test-key-not-real")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "test-key-not-real")
    for var in ("OPENAI_BASE_URL", "XAI_BASE_URL", "DEEPSEEK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("provider", "model", "param"),
    [
        ("openai", "o1", "max_completion_tokens"),
        ("openai", "o1-mini", "max_completion_tokens"),
        ("openai", "o3", "max_completion_tokens"),
        ("openai", "o3-mini", "max_completion_tokens"),
        ("openai", "o4-mini", "max_completion_tokens"),
        ("openai", "gpt-5", "max_completion_tokens"),
        ("openai", "gpt-5-mini", "max_completion_tokens"),
        ("openai", "gpt-5-nano-2025-08-07", "max_completion_tokens"),
        ("openai", "gpt-4o", "max_tokens"),
        ("openai", "gpt-4.1-mini", "max_tokens"),
        ("openai", "chatgpt-4o-latest", "max_tokens"),
        ("xai", "grok-4", "max_tokens"),
        ("deepseek", "deepseek-chat", "max_tokens"),
    ],
)
def test_the_max_tokens_parameter_defaults_by_model_family(provider: str, model: str, param: str) -> None:
    params = resolve_params(job(modelId=f"{provider}:{model}", config={"maxTokens": 300}))
    assert map_params(BY_NAME[provider], model, params).sent == {param: 300}


def test_model_config_max_tokens_param_wins_over_the_family_default() -> None:
    for model, asked in (("o3-mini", "max_tokens"), ("gpt-4o", "max_completion_tokens")):
        params = resolve_params(job(config={"maxTokens": 64}, modelConfig={"maxTokensParam": asked}))
        assert map_params(BY_NAME["openai"], model, params).sent == {asked: 64}


def test_the_default_job_sends_8192_under_the_right_name_with_its_sampling_settings() -> None:
    params = resolve_params(
        job(config={"temperature": 0.7, "seed": 3}, modelConfig={"topP": 0.5, "stopSequences": ["X"]})
    )
    mapping = map_params(BY_NAME["openai"], "gpt-5", params)
    assert mapping.sent == {"max_completion_tokens": 8192, "temperature": 0.7, "top_p": 0.5, "stop": ["X"], "seed": 3}
    assert mapping.notes == ()


def test_a_parameter_the_provider_lacks_is_dropped_with_a_note() -> None:
    mapping = map_params(BY_NAME["deepseek"], "deepseek-chat", resolve_params(job(config={"seed": 5, "maxTokens": 10})))
    assert mapping.sent == {"max_tokens": 10}
    assert [(n.param, n.action) for n in mapping.notes] == [("seed", "dropped")]


def test_a_requested_max_tokens_name_is_renamed_where_the_provider_has_one_name() -> None:
    params = resolve_params(job(config={"maxTokens": 10}, modelConfig={"maxTokensParam": "max_completion_tokens"}))
    mapping = map_params(BY_NAME["google"], "gemini-2.5-flash", params)
    assert mapping.sent == {"max_output_tokens": 10}
    assert [(n.param, n.action) for n in mapping.notes] == [("max_completion_tokens", "renamed")]


def test_deepseek_reasoner_drops_the_sampling_settings_it_ignores() -> None:
    params = resolve_params(job(config={"temperature": 0.5, "maxTokens": 10}))
    mapping = map_params(BY_NAME["deepseek"], "deepseek-reasoner", params)
    assert mapping.sent == {"max_tokens": 10}
    assert [(n.param, n.action, n.reason) for n in mapping.notes] == [
        ("temperature", "dropped", "deepseek-reasoner ignores temperature (DeepSeek API docs)")
    ]


def test_params_sent_are_recorded_per_turn(capsys: pytest.CaptureFixture[str]) -> None:
    document = probe_job("mock:echo", config={"temperature": 0.3}, modelConfig={"maxTokens": 99})
    turns = run_job(document, capsys)["transcript"]["turns"]
    assert all(t["providerMetadata"]["paramsSent"] == {"max_tokens": 99, "temperature": 0.3} for t in turns)
