"""The reasoning mapping table, case by case, from the provider records alone (no SDK, no network).

Each case is one row of README's reasoning table: what a job asks (`config.reasoning`,
`modelConfig.reasoning`) and exactly what the provider is sent, with the notes and warnings
that explain every change. The peers' known mapping bugs are cases too: an effort that never
reached Gemini's thinking budget, conflicting reasoning parameters sent together, `none`
hiding thoughts while the model still thought and billed them, and a reasoning parameter
sent to a model that rejects it.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.contract.probe import ProbeJob, TranscriptWarningCode
from common.errors.codes import ErrorCode, WorkerError
from common.io.json_input import validate_job
from common.probe.job_params import resolve_params
from common.providers.params import JobParams, MappedParams, plan_params
from common.providers.reasoning import ReasoningSetting, map_reasoning, resolve_reasoning
from common.providers.records import BY_NAME
from tests.helpers import probe_job

REASONING_KEYS = ("reasoning_effort", "thinking", "output_config", "thinking_config", "prompt_mode", "reasoning")


def plan(provider: str, model: str, *, max_tokens: int = 512, no_limit: bool = False, **sampling: Any) -> Any:
    def planned(**reasoning: Any) -> MappedParams:
        setting = ReasoningSetting(**reasoning) if reasoning else None
        params = JobParams(max_tokens=max_tokens, reasoning=setting, no_explicit_limit=no_limit, **sampling)
        return plan_params(BY_NAME[provider], model, params)

    return planned


def reasoning_sent(mapped: MappedParams) -> dict[str, Any]:
    return {key: value for key, value in mapped.mapping.sent.items() if key in REASONING_KEYS}


def notes(mapped: MappedParams) -> dict[str, tuple[str, str]]:
    return {note.param: (note.action, note.reason) for note in mapped.mapping.notes}


def codes(mapped: MappedParams) -> list[TranscriptWarningCode]:
    return [warning.code for warning in mapped.warnings]


# -- nothing asked, nothing sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "o3-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("google", "gemini-2.5-pro"),
        ("xai", "grok-3-mini"),
        ("deepseek", "deepseek-reasoner"),
        ("mistral", "magistral-medium-2509"),
    ],
)
def test_no_reasoning_setting_sends_nothing_and_records_none(provider: str, model: str) -> None:
    mapped = plan(provider, model)()
    assert reasoning_sent(mapped) == {} and mapped.mapping.reasoning is None
    assert not [note for note in mapped.mapping.notes if note.param.startswith("reasoning")]
    # capture alone asks the provider for nothing either
    assert plan(provider, model)(capture=False).mapping.reasoning is None


# -- OpenAI Chat Completions ---------------------------------------------------------------


def test_openai_effort_is_sent_as_reasoning_effort_on_reasoning_families() -> None:
    mapped = plan("openai", "o3-mini")(effort="high")
    assert reasoning_sent(mapped) == {"reasoning_effort": "high"}
    assert mapped.mapping.reasoning == {"reasoning_effort": "high"} and mapped.mapping.notes == ()
    assert mapped.mapping.sent["max_completion_tokens"] == 512


@pytest.mark.parametrize(
    ("model", "effort", "sent", "action"),
    [
        ("o3", "max", "high", "converted"),  # the highest o-series documents
        ("gpt-5.2", "max", "xhigh", "converted"),
        ("gpt-5", "minimal", "minimal", None),
        ("o4-mini", "minimal", "low", "converted"),  # nearest documented level at or above
        ("gpt-5.1", "none", "none", None),  # gpt-5.1 can stop reasoning
        ("gpt-5-pro", "low", "high", "converted"),  # only high
    ],
)
def test_openai_efforts_map_to_the_models_documented_levels(
    model: str, effort: str, sent: str, action: str | None
) -> None:
    mapped = plan("openai", model)(effort=effort)
    assert reasoning_sent(mapped) == {"reasoning_effort": sent}
    assert notes(mapped).get("reasoning.effort", (None,))[0] == action


def test_openai_none_on_a_model_that_cannot_stop_reasoning_says_it_still_reasons_and_bills() -> None:
    mapped = plan("openai", "gpt-5-mini")(effort="none")
    assert reasoning_sent(mapped) == {"reasoning_effort": "minimal"}
    action, reason = notes(mapped)["reasoning.effort"]
    assert action == "converted" and "cannot switch reasoning off" in reason and "bills" in reason
    assert codes(mapped) == [TranscriptWarningCode.REASONING_UNSUPPORTED]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-5-chat-latest", "o1-mini"])
def test_openai_models_without_reasoning_effort_get_a_note_and_no_request_change(model: str) -> None:
    plain = plan("openai", model)()
    mapped = plan("openai", model)(effort="high")
    assert mapped.mapping.sent == plain.mapping.sent and mapped.mapping.reasoning is None
    assert notes(mapped)["reasoning.effort"][0] == "dropped"
    assert codes(mapped) == [TranscriptWarningCode.REASONING_UNSUPPORTED]


def test_openai_takes_no_budget_and_chat_completions_no_summary() -> None:
    mapped = plan("openai", "o3")(effort="low", budget_tokens=4000, summary="auto")
    assert reasoning_sent(mapped) == {"reasoning_effort": "low"}
    assert notes(mapped)["reasoning.budgetTokens"][0] == "dropped"
    assert notes(mapped)["reasoning.summary"][0] == "dropped"


def test_the_responses_api_gets_one_reasoning_object_with_effort_and_summary() -> None:
    setting = ReasoningSetting(effort="max", summary="detailed")
    mapping = map_reasoning(BY_NAME["openai"], "gpt-5.2", setting, api="responses")
    assert mapping.sent == {"reasoning": {"effort": "xhigh", "summary": "detailed"}}


# -- Anthropic extended thinking -----------------------------------------------------------


def test_anthropic_budget_raises_max_tokens_and_thinking_drops_temperature_and_clamps_top_p() -> None:
    mapped = plan("anthropic", "claude-sonnet-4-5", temperature=0.7, top_p=0.5)(budget_tokens=2000)
    sent = mapped.mapping.sent
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert sent["max_tokens"] == 2512  # budget + the asked 512: the answer keeps its allowance
    assert "temperature" not in sent and sent["top_p"] == 0.95
    found = notes(mapped)
    assert found["maxTokens"][0] == "raised"
    assert found["temperature"][0] == "dropped" and found["top_p"][0] == "clamped"
    assert mapped.mapping.reasoning == {"thinking": {"type": "enabled", "budget_tokens": 2000}}


def test_anthropic_temperature_one_and_top_p_within_range_are_kept_while_thinking() -> None:
    mapped = plan("anthropic", "claude-opus-4-5", max_tokens=16000, temperature=1, top_p=0.97)(budget_tokens=4096)
    assert mapped.mapping.sent["temperature"] == 1 and mapped.mapping.sent["top_p"] == 0.97
    assert mapped.mapping.sent["max_tokens"] == 16000 and "maxTokens" not in notes(mapped)


def test_anthropic_effort_becomes_the_published_budget_and_the_budget_wins_when_both_are_given() -> None:
    by_effort = plan("anthropic", "claude-sonnet-4-5", max_tokens=32000)(effort="medium")
    assert by_effort.mapping.sent["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    both = plan("anthropic", "claude-sonnet-4-5", max_tokens=32000)(effort="high", budget_tokens=3000)
    assert both.mapping.sent["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert notes(both)["reasoning.effort"][0] == "dropped"


def test_anthropic_budget_that_does_not_fit_the_models_maximum_is_clamped() -> None:
    # claude-opus-4-1 documents 32000 output tokens: 32000 + 8192 does not fit.
    mapped = plan("anthropic", "claude-opus-4-1", max_tokens=8192)(budget_tokens=32000)
    assert mapped.mapping.sent["max_tokens"] == 32000
    assert mapped.mapping.sent["thinking"] == {"type": "enabled", "budget_tokens": 32000 - 8192}
    assert notes(mapped)["reasoning.budgetTokens"][0] == "clamped"


def test_anthropic_budget_below_the_documented_minimum_changes_nothing() -> None:
    plain = plan("anthropic", "claude-sonnet-4-5", temperature=0.7)()
    mapped = plan("anthropic", "claude-sonnet-4-5", temperature=0.7)(budget_tokens=500)
    assert mapped.mapping.sent == plain.mapping.sent and mapped.mapping.reasoning is None
    assert notes(mapped)["reasoning.budgetTokens"][0] == "dropped"
    assert codes(mapped) == [TranscriptWarningCode.PARAM_OUT_OF_RANGE]


def test_anthropic_none_disables_thinking_explicitly_and_keeps_sampling() -> None:
    mapped = plan("anthropic", "claude-sonnet-4-5", temperature=0.3)(effort="none")
    assert mapped.mapping.sent["thinking"] == {"type": "disabled"} and mapped.mapping.sent["temperature"] == 0.3


def test_anthropic_models_without_extended_thinking_are_not_sent_thinking() -> None:
    mapped = plan("anthropic", "claude-3-5-haiku-20241022")(effort="high")
    assert reasoning_sent(mapped) == {} and notes(mapped)["reasoning.effort"][0] == "dropped"


# -- Anthropic adaptive thinking (Opus/Sonnet 4.6 and later) -------------------------------


@pytest.mark.parametrize(
    ("model", "effort", "sent"),
    [
        ("claude-opus-4-6", "medium", "medium"),
        ("claude-sonnet-4-6", "max", "max"),
        ("claude-opus-4-7", "max", "max"),
        ("claude-opus-4-8", "high", "high"),
    ],
)
def test_anthropic_adaptive_models_take_the_effort_as_output_config_effort(model: str, effort: str, sent: str) -> None:
    mapped = plan("anthropic", model, max_tokens=4096)(effort=effort)
    assert reasoning_sent(mapped) == {"thinking": {"type": "adaptive"}, "output_config": {"effort": sent}}
    assert mapped.mapping.sent["max_tokens"] == 4096  # no budget inside the limit: nothing raised
    assert mapped.mapping.reasoning == reasoning_sent(mapped) and notes(mapped) == {}


def test_anthropic_adaptive_minimal_becomes_low_the_lowest_documented_effort() -> None:
    mapped = plan("anthropic", "claude-opus-4-7")(effort="minimal")
    assert mapped.mapping.sent["output_config"] == {"effort": "low"}
    assert notes(mapped)["reasoning.effort"][0] == "converted"


def test_anthropic_adaptive_thinking_still_constrains_temperature_and_top_p() -> None:
    mapped = plan("anthropic", "claude-sonnet-4-6", temperature=0.7, top_p=0.5)(effort="low")
    sent = mapped.mapping.sent
    assert "temperature" not in sent and sent["top_p"] == 0.95
    assert notes(mapped)["temperature"][0] == "dropped"


def test_anthropic_4_6_still_takes_a_budget_and_none_switches_thinking_off() -> None:
    budget = plan("anthropic", "claude-opus-4-6", max_tokens=16000)(effort="high", budget_tokens=4096)
    assert reasoning_sent(budget) == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert notes(budget)["reasoning.effort"][0] == "dropped"  # the budget wins
    off = plan("anthropic", "claude-sonnet-4-6", temperature=0.3)(effort="none")
    assert reasoning_sent(off) == {"thinking": {"type": "disabled"}} and off.mapping.sent["temperature"] == 0.3


def test_anthropic_adaptive_only_models_are_sent_no_budget_and_no_disabled_thinking() -> None:
    plain = plan("anthropic", "claude-opus-4-7", temperature=0.3)()
    budget = plan("anthropic", "claude-opus-4-7", temperature=0.3)(budget_tokens=4096)
    assert budget.mapping.sent == plain.mapping.sent and budget.mapping.reasoning is None
    assert notes(budget)["reasoning.budgetTokens"][0] == "dropped"
    assert codes(budget) == [TranscriptWarningCode.REASONING_UNSUPPORTED]
    off = plan("anthropic", "claude-opus-4-7", temperature=0.3)(effort="none")
    assert off.mapping.sent == plain.mapping.sent  # "disabled" is a 400 on this model
    assert notes(off)["reasoning.effort"][0] == "dropped"
    assert codes(off) == [TranscriptWarningCode.REASONING_UNSUPPORTED]


def test_anthropic_models_before_4_6_keep_the_budget_form() -> None:
    mapped = plan("anthropic", "claude-opus-4-5", max_tokens=32000)(effort="medium")
    assert reasoning_sent(mapped) == {"thinking": {"type": "enabled", "budget_tokens": 8192}}


# -- Gemini thinking_config ----------------------------------------------------------------


def test_gemini_effort_reaches_the_thinking_budget() -> None:
    # The peers' bug: reasoning_effort never reached Gemini's thinkingBudget.
    mapped = plan("google", "gemini-2.5-flash")(effort="high")
    assert mapped.mapping.sent["thinking_config"] == {"thinking_budget": 24576}


def test_gemini_none_switches_thinking_off_rather_than_hiding_the_thoughts() -> None:
    # The peers' bug: `none` sent include_thoughts false, which hides the thoughts but still bills them.
    mapped = plan("google", "gemini-2.5-flash")(effort="none", summary="auto")
    assert mapped.mapping.sent["thinking_config"] == {"thinking_budget": 0}
    assert notes(mapped)["reasoning.summary"][0] == "dropped"


def test_gemini_pro_cannot_stop_thinking_so_none_is_its_minimum_budget_with_a_warning() -> None:
    mapped = plan("google", "gemini-2.5-pro")(effort="none")
    assert mapped.mapping.sent["thinking_config"] == {"thinking_budget": 128}
    assert codes(mapped) == [TranscriptWarningCode.REASONING_UNSUPPORTED]
    zero = plan("google", "gemini-2.5-pro")(budget_tokens=0)
    assert "thinking_config" not in zero.mapping.sent and codes(zero) == [TranscriptWarningCode.REASONING_UNSUPPORTED]


@pytest.mark.parametrize(
    ("model", "budget", "sent"),
    [
        ("gemini-2.5-flash", "dynamic", -1),
        ("gemini-2.5-flash", 0, 0),
        ("gemini-2.5-pro", 32768, 32768),
        ("gemini-2.5-flash-lite", 512, 512),
    ],
)
def test_gemini_budgets_within_the_documented_ranges_are_sent_as_given(model: str, budget: Any, sent: int) -> None:
    assert plan("google", model)(budget_tokens=budget).mapping.sent["thinking_config"] == {"thinking_budget": sent}


@pytest.mark.parametrize(
    ("model", "budget"), [("gemini-2.5-flash", 30000), ("gemini-2.5-pro", 64), ("gemini-2.5-flash-lite", 100)]
)
def test_gemini_budgets_outside_the_documented_range_change_nothing(model: str, budget: int) -> None:
    mapped = plan("google", model)(budget_tokens=budget)
    assert "thinking_config" not in mapped.mapping.sent
    assert codes(mapped) == [TranscriptWarningCode.PARAM_OUT_OF_RANGE]


def test_gemini_3_takes_a_thinking_level_and_never_both_level_and_budget() -> None:
    # The peers' bug: conflicting reasoning parameters sent together (Gemini answers 400).
    mapped = plan("google", "gemini-3-pro-preview")(effort="medium", budget_tokens=2048, summary="auto")
    assert mapped.mapping.sent["thinking_config"] == {"thinking_level": "HIGH", "include_thoughts": True}
    assert notes(mapped)["reasoning.budgetTokens"][0] == "dropped"
    assert notes(mapped)["reasoning.effort"][0] == "converted"  # 3 Pro documents LOW and HIGH
    flash = plan("google", "gemini-3-flash-preview")(effort="minimal")
    assert flash.mapping.sent["thinking_config"] == {"thinking_level": "MINIMAL"}


def test_gemini_summary_asks_for_thought_summaries() -> None:
    mapped = plan("google", "gemini-2.5-pro")(summary="detailed")
    assert mapped.mapping.sent["thinking_config"] == {"include_thoughts": True}
    assert notes(mapped)["reasoning.summary"][0] == "converted"


def test_gemini_models_that_do_not_think_get_nothing() -> None:
    mapped = plan("google", "gemini-2.0-flash")(effort="low")
    assert "thinking_config" not in mapped.mapping.sent and notes(mapped)["reasoning.effort"][0] == "dropped"


# -- xAI, DeepSeek, Mistral ----------------------------------------------------------------


def test_xai_reasoning_effort_only_where_the_model_accepts_it() -> None:
    mini = plan("xai", "grok-3-mini")(effort="medium")
    assert reasoning_sent(mini) == {"reasoning_effort": "high"}  # grok-3-mini documents low and high
    grok4 = plan("xai", "grok-4-0709")(effort="high")
    assert reasoning_sent(grok4) == {} and grok4.mapping.sent == plan("xai", "grok-4-0709")().mapping.sent
    action, reason = notes(grok4)["reasoning.effort"]
    assert action == "dropped" and "rejects reasoning_effort" in reason


def test_deepseek_reasons_through_the_model_and_is_sent_nothing() -> None:
    mapped = plan("deepseek", "deepseek-reasoner")(effort="high", budget_tokens=1000)
    assert reasoning_sent(mapped) == {} and mapped.mapping.reasoning is None
    assert {notes(mapped)[p][0] for p in ("reasoning.effort", "reasoning.budgetTokens")} == {"dropped"}
    chat = plan("deepseek", "deepseek-chat")(effort="high")
    assert "does not reason" in notes(chat)["reasoning.effort"][1]


def test_mistral_magistral_takes_its_reasoning_prompt_mode_and_cannot_stop() -> None:
    mapped = plan("mistral", "magistral-medium-2509")(effort="high")
    assert reasoning_sent(mapped) == {"prompt_mode": "reasoning"}
    stop = plan("mistral", "magistral-small-2509")(effort="none")
    assert reasoning_sent(stop) == {} and codes(stop) == [TranscriptWarningCode.REASONING_UNSUPPORTED]


def test_mistral_none_on_adjustable_models_says_it_only_hides_the_thinking() -> None:
    mapped = plan("mistral", "mistral-small-2603")(effort="none")
    assert reasoning_sent(mapped) == {"reasoning_effort": "none"}
    assert "omits the thinking chunk" in notes(mapped)["reasoning.effort"][1]
    assert reasoning_sent(plan("mistral", "mistral-small-2603")(effort="low")) == {"reasoning_effort": "high"}


@pytest.mark.parametrize("provider", ["openai-compatible", "mock"])
def test_providers_without_reasoning_rules_send_nothing(provider: str) -> None:
    mapped = plan(provider, "some-model")(effort="high")
    assert reasoning_sent(mapped) == {} and notes(mapped)["reasoning.effort"][0] == "dropped"


# -- the job's reasoning setting -----------------------------------------------------------


def test_model_config_reasoning_overrides_config_field_by_field() -> None:
    job = ProbeJob.model_validate(
        probe_job(
            "claude-sonnet-4-5",
            config={"maxTokens": 512, "reasoning": {"effort": "high", "summary": "auto", "capture": False}},
            modelConfig={"reasoning": {"budgetTokens": 3000, "capture": True}},
        )
    )
    assert resolve_params(job).reasoning == ReasoningSetting(
        effort="high", budget_tokens=3000, summary="auto", capture=True
    )
    assert resolve_reasoning(None, None) is None


@pytest.mark.parametrize("where", ["config", "modelConfig"])
@pytest.mark.parametrize(
    ("reasoning", "field"),
    [
        ({"effort": "extreme"}, "reasoning.effort"),
        ({"budgetTokens": -1}, "reasoning.budgetTokens"),
        ({"budgetTokens": "lots"}, "reasoning.budgetTokens"),
        ({"summary": "verbose"}, "reasoning.summary"),
    ],
)
def test_a_reasoning_value_the_job_cannot_mean_is_a_validation_error_naming_the_field(
    where: str, reasoning: dict[str, Any], field: str
) -> None:
    document = probe_job("o3-mini")
    document[where] = {"reasoning": reasoning}
    with pytest.raises(WorkerError) as caught:
        validate_job(document, ProbeJob)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["field"] == f"{where}.{field}"
