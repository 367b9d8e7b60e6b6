"""One reasoning setting -> each provider's own reasoning controls: pure functions of its record.

A job says how much a model may reason once (`config.reasoning`, `modelConfig.reasoning`:
an `effort` level, or a `budgetTokens` budget, and whether to ask for a summary). Which
models reason, through which control, with which documented values and ranges is data in
the provider record (`ReasoningRules`); this module only applies it, so every mapping can
be tested from the record alone and any transport can reuse it (`map_reasoning(record,
model, setting, api="responses")` gives the Responses API's `reasoning: {effort, summary}`).

The rules, for every provider alike:
- nothing asked, nothing sent: the provider's default applies, and the turn says so;
- a budget wins over an effort where the family takes a budget; elsewhere the budget is
  not sent (budgets are never guessed into levels), with a note;
- an effort the family does not document becomes the nearest documented one at or above
  it (`max`: the highest), with a `converted` note; where reasoning cannot be switched off,
  `none` becomes the lowest setting and the note and a `REASONING_UNSUPPORTED` warning say
  that the model still reasons and bills those tokens (never "off" while it still thinks);
- a budget outside the family's documented range, a model that cannot reason, a control the
  family does not take: not sent (the request is as without it), with a note and a warning;
- what thinking constrains (Anthropic: temperature, top_p, a budget below max_tokens) is
  applied to the mapped request by `apply_reasoning`, each change with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from common.contract.probe import (
    ParamAction,
    ParamNote,
    ReasoningConfig,
    TranscriptWarning,
    TranscriptWarningCode,
)
from common.providers.records import EFFORT_BUDGETS, EFFORT_LEVELS, ProviderRecord, Range, ReasoningFamily

Api = Literal["chat", "responses"]

# The native effort values beyond our `high`, in the order they reason more.
_NATIVE_RANK: dict[str, int] = {**{level: rank for rank, level in enumerate(EFFORT_LEVELS)}, "xhigh": 5}
_NATIVE_RANK["max"] = 6


@dataclass(frozen=True)
class ReasoningSetting:
    """What the job asked for, `modelConfig.reasoning` over `config.reasoning`, field by field."""

    effort: str | None = None
    budget_tokens: int | str | None = None  # a whole number >= 0, or "dynamic"
    summary: str | None = None
    capture: bool = True

    @property
    def asks(self) -> bool:
        """True when the setting asks the provider for something (capture alone does not)."""
        return self.effort is not None or self.budget_tokens is not None or self.summary is not None

    def to_wire(self) -> ReasoningConfig:
        return ReasoningConfig.model_validate(
            {
                "effort": self.effort,
                "budgetTokens": self.budget_tokens,
                "summary": self.summary,
                "capture": self.capture,
            }
        )


def resolve_reasoning(base: ReasoningConfig | None, override: ReasoningConfig | None) -> ReasoningSetting | None:
    """`modelConfig.reasoning` over `config.reasoning`: each field given (not null) in the override wins.

    None when neither says anything: no reasoning setting at all.
    """
    merged: dict[str, Any] = {}
    for source in (base, override):
        if source is None:
            continue
        for name in ("effort", "budget_tokens", "summary", "capture"):
            value = getattr(source, name)
            if value is not None:
                merged[name] = value
    if not merged:
        return None
    capture = merged.pop("capture", True)
    return ReasoningSetting(capture=bool(capture), **merged)


@dataclass(frozen=True)
class ReasoningMapping:
    """The provider-native reasoning fields for one request, before they meet the other parameters."""

    sent: dict[str, Any]
    notes: tuple[ParamNote, ...] = ()
    warnings: tuple[TranscriptWarning, ...] = ()
    # A thinking budget that must stay below the request's token limit (Anthropic).
    thinking_budget: int | None = None
    budget_low: int | None = None
    # Sampling parameters thinking constrains, by our name (see ReasoningRules.sampling_while_thinking).
    sampling: dict[str, Range] = field(default_factory=dict)


@dataclass(frozen=True)
class AppliedReasoning:
    """The request's parameters with reasoning applied, and the reasoning fields as sent."""

    sent: dict[str, Any]
    reasoning_sent: dict[str, Any] | None
    notes: tuple[ParamNote, ...] = ()
    warnings: tuple[TranscriptWarning, ...] = ()


def _note(param: str, action: ParamAction, reason: str) -> ParamNote:
    return ParamNote(param=param, action=action, reason=reason)


class _Builder:
    def __init__(self, record: ProviderRecord, model: str, setting: ReasoningSetting, api: Api) -> None:
        self.record = record
        self.model = model
        self.setting = setting
        self.api = api
        self.notes: list[ParamNote] = []
        self.warnings: list[TranscriptWarning] = []

    def text(self, template: str) -> str:
        return template.format(model=self.model, provider=self.record.name)

    def unsupported(self, param: str, reason: str, *, warn: bool = True) -> None:
        self.notes.append(_note(param, "dropped", reason))
        if warn:
            self.warnings.append(
                TranscriptWarning(
                    code=TranscriptWarningCode.REASONING_UNSUPPORTED,
                    message=reason,
                    recommendation="set a reasoning value this model documents (README: reasoning), or remove it",
                )
            )

    def out_of_range(self, reason: str) -> None:
        self.notes.append(_note("reasoning.budgetTokens", "dropped", reason))
        self.warnings.append(
            TranscriptWarning(
                code=TranscriptWarningCode.PARAM_OUT_OF_RANGE,
                message=reason,
                recommendation=f"set reasoning.budgetTokens within {self.model}'s documented range",
            )
        )

    def still_reasons(self, sent_as: str) -> None:
        reason = (
            f"{self.model} cannot switch reasoning off: reasoning.effort none sent as {sent_as}, the lowest it"
            " documents; it still reasons and bills those tokens (see reasoningTokens)"
        )
        self.notes.append(_note("reasoning.effort", "converted", reason))
        self.warnings.append(
            TranscriptWarning(
                code=TranscriptWarningCode.REASONING_UNSUPPORTED,
                message=reason,
                recommendation="compare this model's answers knowing it reasoned; choose a model that can stop",
            )
        )

    # -- levels -----------------------------------------------------------------------

    def level(self, family: ReasoningFamily, effort: str) -> str:
        """The documented level for our effort: the same, or the nearest at or above it."""
        native = {value.lower(): value for value in family.efforts}
        if effort == "none" and "none" not in native:
            lowest = family.efforts[0]
            self.still_reasons(lowest)
            return lowest
        if effort in native and effort != "max":
            chosen = native[effort]
            if effort == "none" and family.none_caveat:
                self.notes.append(_note("reasoning.effort", "converted", f"{family.none_caveat} ({self.model})"))
            return chosen
        if effort == "max":
            chosen = family.efforts[-1]
            if chosen.lower() == "max":  # the family's own max (Anthropic's output_config.effort)
                return chosen
        else:
            asked = _NATIVE_RANK[effort]
            chosen = next((v for v in family.efforts if _NATIVE_RANK[v.lower()] >= asked), family.efforts[-1])
        documented = ", ".join(family.efforts)
        self.notes.append(
            _note(
                "reasoning.effort",
                "converted",
                f"{self.model} documents {documented}: reasoning.effort {effort} sent as {chosen}",
            )
        )
        return chosen

    def budget_ignored(self, why: str) -> None:
        if self.setting.budget_tokens is not None:
            self.unsupported("reasoning.budgetTokens", f"{why}: reasoning.budgetTokens not sent")

    # -- budgets ----------------------------------------------------------------------

    def budget(self, family: ReasoningFamily) -> int | None:
        """The budget to send (0: off, -1: dynamic), or None when nothing can be sent."""
        setting = self.setting
        budget = setting.budget_tokens
        if budget is not None:
            if setting.effort is not None:
                self.notes.append(
                    _note(
                        "reasoning.effort",
                        "dropped",
                        f"reasoning.budgetTokens wins where {self.record.name} takes a budget: effort not sent",
                    )
                )
            if budget == "dynamic":
                if family.dynamic:
                    return -1
                self.unsupported(
                    "reasoning.budgetTokens",
                    f"{self.model} takes a fixed thinking budget, not a dynamic one: reasoning.budgetTokens not sent",
                )
                return None
            assert isinstance(budget, int)
            if budget == 0:
                if family.can_disable:
                    return 0
                self.unsupported(
                    "reasoning.budgetTokens",
                    f"{self.text(family.reason)}: a budget of 0 (off) is not accepted, so none was sent",
                )
                return None
            low = family.budget_low or 1
            if budget < low or (family.budget_high is not None and budget > family.budget_high):
                high = "its output limit" if family.budget_high is None else str(family.budget_high)
                self.out_of_range(
                    f"reasoning.budgetTokens {budget} is outside {self.model}'s documented range [{low}, {high}]:"
                    " not sent"
                )
                return None
            return budget
        effort = setting.effort
        if effort is None:
            return None
        if effort == "none":
            if family.can_disable:
                return 0
            lowest = family.budget_low or 1
            self.still_reasons(f"a thinking budget of {lowest}")
            return lowest
        chosen = family.budgets.get(effort, EFFORT_BUDGETS.get(effort))
        assert chosen is not None  # every level but none has a budget (records: EFFORT_BUDGETS + budgets)
        if family.budget_high is not None:
            chosen = min(chosen, family.budget_high)
        self.notes.append(
            _note("reasoning.effort", "converted", f"reasoning.effort {effort} sent as a thinking budget of {chosen}")
        )
        return chosen

    # -- summaries --------------------------------------------------------------------

    def summary_dropped(self, why: str) -> None:
        if self.setting.summary is not None:
            self.notes.append(_note("reasoning.summary", "dropped", f"{why}: reasoning.summary not sent"))


def api_of(record: ProviderRecord) -> Api:
    """The API a record describes: its Responses API view (`ProviderRecord.for_api("responses")`)
    names that API's reasoning control in place of the Chat Completions one."""
    responses = getattr(record, "responses", None)
    if responses is not None and record.reasoning_control == responses.reasoning_control:
        return "responses"
    return "chat"


def map_reasoning(
    record: ProviderRecord, model: str, setting: ReasoningSetting | None, *, api: Api | None = None
) -> ReasoningMapping:
    """The provider-native reasoning fields for this model (empty when nothing is to be sent).

    `api`: "responses" gives the Responses API's `reasoning: {effort, summary}` for effort
    families; None: the API the record describes (`api_of`).
    """
    api = api or api_of(record)
    if setting is None or not setting.asks:
        return ReasoningMapping(sent={})
    rules = record.reasoning
    family = rules.family(model)
    b = _Builder(record, model, setting, api)
    sent: dict[str, Any] = {}
    thinking_budget: int | None = None
    sampling: dict[str, Range] = {}
    if family is None or family.control in ("unsupported", "model"):
        reason = b.text(family.reason if family is not None else rules.unknown_reason)
        for param, value in (
            ("reasoning.effort", setting.effort),
            ("reasoning.budgetTokens", setting.budget_tokens),
            ("reasoning.summary", setting.summary),
        ):
            if value is not None:
                b.unsupported(param, f"{reason}: {param} not sent")
        return ReasoningMapping(sent={}, notes=tuple(b.notes), warnings=_distinct(b.warnings))
    if family.control == "effort":
        b.budget_ignored(f"{model} takes an effort level ({rules.effort_param}), not a token budget")
        effort = b.level(family, setting.effort) if setting.effort is not None else None
        if api == "responses":
            reasoning: dict[str, Any] = {}
            if effort is not None:
                reasoning["effort"] = effort
            if setting.summary is not None:
                reasoning["summary"] = setting.summary
            if reasoning:
                sent["reasoning"] = reasoning
        else:
            b.summary_dropped("Chat Completions returns no reasoning summary")
            if effort is not None:
                sent[rules.effort_param] = effort
    elif family.control == "prompt_mode":
        b.budget_ignored(b.text(family.reason))
        b.summary_dropped(b.text(family.reason))
        if setting.effort == "none":
            b.unsupported("reasoning.effort", f"{b.text(family.reason)}: it cannot be switched off, nothing sent")
        elif setting.effort is not None:
            b.notes.append(
                _note(
                    "reasoning.effort",
                    "converted",
                    f"{model} has no effort levels: reasoning.effort {setting.effort} sent as"
                    ' prompt_mode "reasoning" (its documented reasoning mode)',
                )
            )
            sent["prompt_mode"] = "reasoning"
    elif family.control in ("anthropic_thinking", "anthropic_adaptive"):
        b.summary_dropped(
            "Anthropic returns the thinking (summarized on Claude 4 models) whenever thinking is on: nothing to ask"
        )
        # The budget form: the only one of the older models; on an adaptive family that still
        # documents it, a budget is sent as asked (it wins over an effort).
        budget_only = family.control == "anthropic_thinking"
        budget_asked = setting.budget_tokens is not None and family.budget_low is not None
        if budget_only or budget_asked:
            budget = b.budget(family)
            if budget == 0:
                sent["thinking"] = {"type": "disabled"}
            elif budget is not None:
                sent["thinking"] = {"type": "enabled", "budget_tokens": budget}
                thinking_budget = budget
                sampling = dict(rules.sampling_while_thinking)
        else:
            b.budget_ignored(b.text(family.reason) + ", not a token budget (output_config.effort sets the depth)")
            effort = setting.effort
            if effort == "none":
                if family.can_disable:
                    sent["thinking"] = {"type": "disabled"}
                else:
                    b.unsupported(
                        "reasoning.effort",
                        f"{b.text(family.reason)}: reasoning.effort none cannot be sent, the model's default applies",
                    )
            elif effort is not None:
                sent["thinking"] = {"type": "adaptive"}
                sent["output_config"] = {"effort": b.level(family, effort)}
                sampling = dict(rules.sampling_while_thinking)
    elif family.control in ("gemini_budget", "gemini_level"):
        config: dict[str, Any] = {}
        if family.control == "gemini_budget":
            budget = b.budget(family)
            if budget is not None:
                config["thinking_budget"] = budget
            thinking_off = budget == 0
        else:
            b.budget_ignored(f"{model} takes thinking_level, not thinking_budget (never both)")
            if setting.effort is not None:
                config["thinking_level"] = b.level(family, setting.effort)
            thinking_off = False
        if setting.summary is not None:
            if thinking_off:
                b.summary_dropped("thinking is off")
            else:
                config["include_thoughts"] = True
                if setting.summary != "auto":
                    b.notes.append(
                        _note(
                            "reasoning.summary",
                            "converted",
                            f"Gemini has no summary detail levels: reasoning.summary {setting.summary}"
                            " sent as include_thoughts true",
                        )
                    )
        if config:
            sent["thinking_config"] = config
    return ReasoningMapping(
        sent=sent,
        notes=tuple(b.notes),
        warnings=_distinct(b.warnings),
        thinking_budget=thinking_budget,
        budget_low=family.budget_low,
        sampling=sampling,
    )


def apply_reasoning(
    record: ProviderRecord,
    model: str,
    setting: ReasoningSetting | None,
    sent: dict[str, Any],
    *,
    max_tokens_name: str,
    documented_max: int | None,
    api: Api | None = None,
) -> AppliedReasoning:
    """`sent` (the mapped sampling parameters and token limit) with the reasoning fields added.

    Where thinking constrains the other parameters (Anthropic), they are changed here, each
    with a note: a temperature other than the default is not sent, top_p is clamped into
    0.95-1, and a budget must stay below max_tokens: max_tokens is raised to budget + the
    asked limit (so the answer keeps its allowance), at most to the model's documented
    maximum; if that maximum leaves less, the budget is clamped to leave the answer its
    asked limit (or half the maximum), and thinking is not sent if even that is below the
    minimum budget.
    """
    mapping = map_reasoning(record, model, setting, api=api)
    if not mapping.sent:
        return AppliedReasoning(dict(sent), None, mapping.notes, mapping.warnings)
    result = dict(sent)
    notes = list(mapping.notes)
    warnings = list(mapping.warnings)
    reasoning_sent = {key: _copy(value) for key, value in mapping.sent.items()}
    budget = mapping.thinking_budget
    if budget is not None:
        limit = result.get(max_tokens_name)
        if isinstance(limit, int):
            low = mapping.budget_low or 1
            new_limit, new_budget = _fit(budget, limit, documented_max, low)
            if new_budget is None:
                del reasoning_sent["thinking"]
                reason = (
                    f"a thinking budget must be at least {low} and below {max_tokens_name}, which is at most"
                    f" {max(limit, documented_max or limit)} for {model}: thinking not sent"
                )
                notes.append(_note("reasoning.budgetTokens", "dropped", reason))
                warnings.append(
                    TranscriptWarning(
                        code=TranscriptWarningCode.PARAM_OUT_OF_RANGE,
                        message=reason,
                        recommendation="raise maxTokens or lower reasoning.budgetTokens",
                    )
                )
            else:
                if new_limit != limit:
                    result[max_tokens_name] = new_limit
                    capped = " (the model's documented maximum)" if new_limit < budget + limit else ""
                    notes.append(
                        _note(
                            "maxTokens",
                            "raised",
                            f"a thinking budget of {budget} must be below {max_tokens_name}: {limit} raised to"
                            f" {new_limit}{capped}, so the answer keeps its allowance",
                        )
                    )
                if new_budget != budget:
                    reasoning_sent["thinking"] = {"type": "enabled", "budget_tokens": new_budget}
                    notes.append(
                        _note(
                            "reasoning.budgetTokens",
                            "clamped",
                            f"a thinking budget of {budget} does not fit below {max_tokens_name} {new_limit}"
                            f" ({model}'s documented maximum) with the asked allowance: sent {new_budget}",
                        )
                    )
    for generic, bounds in (mapping.sampling if "thinking" in reasoning_sent else {}).items():
        native = record.params.names.get(generic)
        if native is None or native not in result:
            continue
        value = result[native]
        if bounds.low is not None and bounds.high is not None and bounds.low <= value <= bounds.high:
            continue
        if not bounds.clamp:
            del result[native]
            notes.append(
                _note(
                    generic,
                    "dropped",
                    f"{generic} {value:g} cannot be changed while {model} thinks"
                    f" ({record.name} allows only {bounds.low:g}): not sent",
                )
            )
            continue
        assert bounds.low is not None and bounds.high is not None
        clamped = min(max(value, bounds.low), bounds.high)
        result[native] = clamped
        notes.append(
            _note(
                generic,
                "clamped",
                f"{generic} {value:g} is outside {bounds.low:g}-{bounds.high:g}, what {record.name} allows"
                f" while thinking: sent {clamped:g}",
            )
        )
    result.update(reasoning_sent)
    return AppliedReasoning(result, reasoning_sent or None, tuple(notes), _distinct(warnings))


def _fit(budget: int, limit: int, documented_max: int | None, low: int) -> tuple[int, int | None]:
    """(token limit, budget) with the budget below the limit; budget None: no budget fits."""
    if budget < limit:
        return limit, budget
    wanted = budget + limit
    if documented_max is not None and wanted > documented_max:
        wanted = max(documented_max, limit)
    if budget < wanted:
        return wanted, budget
    room = wanted - limit if wanted - limit >= low else wanted // 2
    if room < low:
        return limit, None
    return wanted, room


def _distinct(warnings: list[TranscriptWarning]) -> tuple[TranscriptWarning, ...]:
    kept: list[TranscriptWarning] = []
    for warning in warnings:
        if warning not in kept:
            kept.append(warning)
    return tuple(kept)


def _copy(value: Any) -> Any:
    return {key: _copy(item) for key, item in value.items()} if isinstance(value, dict) else value
