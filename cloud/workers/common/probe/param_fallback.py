"""What to change when a provider rejects a parameter for a model, so the probe can go on.

Two cases, both recorded in the turn's `paramNotes` and kept for later turns:
- a sampling parameter the model does not take (e.g. `temperature` on OpenAI o-series,
  `temperature` with `top_p` on newer Claude models): retry without it;
- a token limit above the model's maximum (the default 8192 on e.g. claude-3-haiku, which
  allows 4096): retry with the maximum the provider stated;
- a reasoning parameter the model does not take although its record says it does (OpenAI
  `Unsupported parameter: 'reasoning_effort'`, Anthropic `"thinking.type.enabled" is not
  supported for this model`, Gemini `thinking is not supported by this model`): retry once
  without the reasoning setting (the provider's default applies), with a
  REASONING_UNSUPPORTED warning.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from common.contract.probe import ParamNote, TranscriptWarning, TranscriptWarningCode, Turn
from common.errors.codes import ErrorCode, WorkerError
from common.providers.base import SAMPLING_PARAMS, GenerationParams, Provider
from common.providers.params import generic_name, max_tokens_name, plan_params, with_limit
from common.providers.reasoning import ReasoningSetting

# How a provider says it will not take a sampling parameter for this model.
_REJECTION_WORDING = re.compile(
    r"unsupported (parameter|value)|not supported|does not support|only the default|is not allowed"
    r"|cannot both be specified|unrecognized request argument|extra inputs are not permitted",
    re.IGNORECASE,
)
# The note's `param` when the reasoning setting was retried without (see README: reasoning).
REASONING_PARAM = "reasoning"
# How a provider says it will not take the reasoning fields it was sent: a rejection wording
# (the sampling ones, and Gemini's "not enabled" / "not configurable" / "only enabled when" /
# "Unknown name") that names a reasoning field (tests/fixtures/errors/reasoning_rejections.json).
_REASONING_REJECTION = re.compile(
    _REJECTION_WORDING.pattern + r"|is not enabled|not configurable|only (?:supported|enabled) when|unknown name",
    re.IGNORECASE,
)
_REASONING_NAMES = re.compile(
    r"\b(reasoning[_.]effort|reasoning|thinking(?:[_.]?config|_level|_budget|\.type(?:\.\w+)?)?"
    r"|include_thoughts|output_config(?:\.effort)?|prompt_mode)\b",
    re.IGNORECASE,
)
# How providers state the largest token limit a model accepts.
_MAX_TOKENS_CAP = (
    re.compile(r"> ?(\d+), which is the maximum allowed", re.IGNORECASE),  # Anthropic
    re.compile(r"supports at most (\d+) completion tokens", re.IGNORECASE),  # OpenAI
    re.compile(r"valid range of max_tokens is \[1, ?(\d+)\]", re.IGNORECASE),  # DeepSeek
    re.compile(
        r"max_?(?:output_)?tokens\D{0,40}(?:must be|should be) (?:less than or equal to|<=|at most) (\d+)",
        re.IGNORECASE,
    ),
)


def rejected_param(error: WorkerError, provider: Provider, model: str, sent: dict[str, Any]) -> str | None:
    """Our name of a sampling parameter the provider refused for this model, if that is the error."""
    if error.code is not ErrorCode.BAD_REQUEST:
        return None
    blamed = error.details.get("param")
    if isinstance(blamed, str) and blamed in sent:
        generic = generic_name(provider.record, model, blamed)
        if generic:
            return generic
    if not _REJECTION_WORDING.search(error.message):
        return None
    for native in sent:
        generic = generic_name(provider.record, model, native)
        if generic and re.search(rf"\b{re.escape(native)}\b", error.message):
            return generic
    return None


def max_tokens_cap(error: WorkerError, requested: int | None) -> int | None:
    """The model's maximum output tokens as the provider stated it, if lower than requested.

    `requested` None: the request carried no limit (the job asked for none), so any
    maximum the provider states is lower.
    """
    if error.code is not ErrorCode.BAD_REQUEST:
        return None
    for pattern in _MAX_TOKENS_CAP:
        match = pattern.search(error.message)
        if match:
            cap = int(match.group(1))
            return cap if cap > 0 and (requested is None or cap < requested) else None
    return None


def rejected_reasoning(error: WorkerError, reasoning_sent: dict[str, Any] | None) -> bool:
    """True when the provider refused the reasoning fields this request carried."""
    if error.code is not ErrorCode.BAD_REQUEST or not reasoning_sent:
        return False
    blamed = error.details.get("param")
    if isinstance(blamed, str) and blamed.split(".")[0] in reasoning_sent:
        return True
    return bool(_REASONING_REJECTION.search(error.message) and _REASONING_NAMES.search(error.message))


def without_reasoning(params: GenerationParams) -> GenerationParams:
    """The parameters with nothing asked of the provider's reasoning (capture is kept)."""
    if params.reasoning is None or not params.reasoning.asks:
        return params
    return replace(params, reasoning=ReasoningSetting(capture=params.reasoning.capture))


def reasoning_rejected_warning(note: ParamNote) -> TranscriptWarning | None:
    """The warning a transcript carries once its reasoning setting was retried without."""
    if note.param != REASONING_PARAM or note.action != "retried_without":
        return None
    return TranscriptWarning(
        code=TranscriptWarningCode.REASONING_UNSUPPORTED,
        message=f"the reasoning setting was not accepted and was left off from then on: {note.reason}",
        recommendation="choose a reasoning value this model documents (README: reasoning), or remove it",
    )


def adjust_after_rejection(
    error: WorkerError,
    params: GenerationParams,
    provider: Provider,
    model: str,
    sent: dict[str, Any],
    *,
    reasoning_sent: dict[str, Any] | None = None,
) -> tuple[GenerationParams, ParamNote] | None:
    """New parameters and the note that explains them, or None if the error is not about a parameter.

    `reasoning_sent`: the reasoning fields among `sent` (`ParamMapping.reasoning`).
    """
    reason = f"{provider.name} rejected it for {model}: {error.message[:300]}"
    native_max, _ = max_tokens_name(provider.record, model, params.max_tokens_param)
    requested = sent.get(native_max)
    cap = max_tokens_cap(error, requested if isinstance(requested, int) else None)
    if cap is not None:
        note = ParamNote(param="maxTokens", action="lowered", reason=f"lowered to {cap}; {reason}")
        return with_limit(params, cap), note
    generic = rejected_param(error, provider, model, sent)
    if generic is not None:
        return params.without(generic), ParamNote(param=generic, action="retried_without", reason=reason)
    if rejected_reasoning(error, reasoning_sent):
        fields = ", ".join(sorted(reasoning_sent or {}))
        note = ParamNote(param=REASONING_PARAM, action="retried_without", reason=f"{fields} not sent; {reason}")
        return without_reasoning(params), note
    return None


def carried_over(params: GenerationParams, prior_turns: list[Turn], provider: Provider, model: str) -> GenerationParams:
    """The parameters a resumed probe goes on with: the changes its earlier turns had to make.

    Without this, the first new turn would send the rejected parameter again, be refused
    again and record a note an uninterrupted run would not have.
    """
    for turn in prior_turns:
        for note in turn.provider_metadata.param_notes or []:
            if note.action == "retried_without" and note.param in SAMPLING_PARAMS:
                params = params.without(note.param)
            elif note.action == "retried_without" and note.param == REASONING_PARAM:
                params = without_reasoning(params)
            elif note.action == "lowered":
                native, _ = max_tokens_name(provider.record, model, params.max_tokens_param)
                sent = (turn.provider_metadata.params_sent or {}).get(native)
                current = plan_params(provider.record, model, params).mapping.sent.get(native)
                if isinstance(sent, int) and sent > 0 and (not isinstance(current, int) or sent < current):
                    params = with_limit(params, sent)
    return params
