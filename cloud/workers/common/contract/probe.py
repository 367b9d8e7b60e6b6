"""Wire shapes of the probe worker: camelCase on the wire, snake_case in Python.

These models are the contract with the host. Input models accept what existing hosts
send (null and absent alike for optional fields, unknown keys ignored); output models
say exactly what a host receives.

Annotations here are evaluated when each class is defined (no `from __future__ import
annotations`): pydantic would otherwise evaluate every one of them from its string at
start-up, which every worker pays before reading its job.
"""

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from common.errors.codes import ErrorCode, WorkerError

CONTRACT_VERSION = "2.0"

DEFAULT_MAX_TOKENS = 8192
DEFAULT_MAX_TURNS = 10
DEFAULT_DEADLINE_MS = 240_000
# Ceilings that keep every figure a document carries finite (and exact in JavaScript):
# token counts up to Number.MAX_SAFE_INTEGER, prices up to a billion per million tokens.
MAX_TOKEN_COUNT = 2**53 - 1
MAX_PRICE_PER_MILLION = 1e9


def _omit_if_none(value: Any) -> bool:
    return value is None


# Default factories are plain functions rather than the `list` and `dict` builtins:
# pydantic inspects a factory's signature, and for a builtin that means parsing its text
# signature with `tokenize`, whose first use compiles a large regex (~10 ms of start-up).
def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


NonEmptyText = Annotated[str, Field(min_length=1)]


def _require_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class InputModel(WireModel):
    """A shape a host sends: every number in it must be finite.

    JSON has no Infinity, but Python's reader turns `1e400` into one; echoed back (a cost
    rate in `costSnapshot`) it would make the document unreadable to `JSON.parse`.
    """

    model_config = ConfigDict(allow_inf_nan=False)


ParamAction = Literal["dropped", "renamed", "retried_without", "lowered", "clamped", "converted", "defaulted", "raised"]


class ParamNote(WireModel):
    """A parameter the worker did not send as asked, and why.

    Actions: `dropped` (not sent: the provider has no such parameter, the model ignores
    it, or the value is unusable), `renamed` (sent under the provider's name), `clamped`
    (moved into the provider's documented range, or a list cut to its documented length),
    `converted` (a value of another shape made usable, e.g. one stop string -> a list),
    `defaulted` (an unusable or absent value replaced by the documented default),
    `retried_without` / `lowered` (the provider rejected it; the turn was retried),
    `raised` (a token limit raised to leave room for a thinking budget inside it).
    """

    param: str
    action: ParamAction
    reason: str


# ---------------------------------------------------------------- input


class Followup(InputModel):
    """One followup turn. An empty or absent prompt is skipped with a transcript warning
    (as the original worker skipped it), not refused: admins edit scenarios freely."""

    label: str | None = None
    prompt: str | None = None


class Scenario(InputModel):
    preamble: str | None = None
    prompt: str
    followups: list[Followup] | None = None

    _check_prompt = field_validator("prompt")(_require_text)


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "max"]
ReasoningSummary = Literal["auto", "concise", "detailed"]


def _check_budget(value: Any) -> Any:
    if value is None or value == "dynamic":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKEN_COUNT:
        raise ValueError('must be a whole number of tokens, 0 or more, or "dynamic"')
    return value


class ReasoningConfig(InputModel):
    """How much a reasoning model may think: `config.reasoning`, overridden field by field
    by `modelConfig.reasoning`, mapped per provider (common.providers.reasoning).

    `effort` is a level; `budgetTokens` a thinking budget in tokens (`0`: off, `"dynamic"`:
    the model decides), which wins over `effort` where the provider takes a budget.
    `summary` asks for a reasoning summary where the provider offers one; `capture`
    (default on) records the reasoning text a provider returns in each turn. A value the
    job cannot mean (an unknown effort, a negative budget) is a VALIDATION_ERROR, in
    `config` and in `modelConfig` alike.
    """

    effort: ReasoningEffort | None = None
    budget_tokens: int | Literal["dynamic"] | None = None
    summary: ReasoningSummary | None = None
    capture: bool | None = None

    _check_budget = field_validator("budget_tokens", mode="before")(_check_budget)


class ProbeConfig(InputModel):
    """The run's settings. Ranges are the provider's (applied per provider, with a
    `paramNote`); `maxTokens`/`maxTurns` below 1 fall back to the default with a warning."""

    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    max_turns: int | None = None
    preamble_mode: Literal["prepend", "system"] | None = None
    deadline_ms: int | None = Field(default=None, ge=1000, le=3_600_000)
    reasoning: ReasoningConfig | None = None


class ModelCost(InputModel):
    cost_input_per_million: float = Field(ge=0, le=MAX_PRICE_PER_MILLION)
    cost_output_per_million: float = Field(ge=0, le=MAX_PRICE_PER_MILLION)


_SETTINGS_PARAM = {  # modelConfig field -> the name a note uses (our generic parameter names)
    "maxTokensParam": "maxTokensParam",
    "maxTokens": "maxTokens",
    "temperature": "temperature",
    "topP": "top_p",
    "frequencyPenalty": "frequency_penalty",
    "presencePenalty": "presence_penalty",
    "stopSequences": "stop_sequences",
}


def _wire_name(key: str) -> str:
    return key if key in _SETTINGS_PARAM else to_camel(key)


def _unusable_note(key: str, reason: str) -> ParamNote:
    return ParamNote(param=_SETTINGS_PARAM.get(_wire_name(key), key), action="dropped", reason=reason)


def _normalise_settings(data: dict[str, Any]) -> tuple[dict[str, Any], list[ParamNote]]:
    """The usable shape of `modelConfig` values an admin may have typed another way."""
    data = dict(data)
    notes: list[ParamNote] = []
    for key in ("stopSequences", "stop_sequences"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = [value] if value else None
            action: ParamAction = "converted" if value else "dropped"
            notes.append(
                ParamNote(
                    param="stop_sequences",
                    action=action,
                    reason=(
                        "modelConfig.stopSequences is one string: sent as a one-element list"
                        if value
                        else "modelConfig.stopSequences is an empty string: no stop sequence sent"
                    ),
                )
            )
        elif isinstance(value, list) and "" in value:
            data[key] = [item for item in value if item != ""] or None
            notes.append(
                ParamNote(
                    param="stop_sequences", action="dropped", reason="empty stop sequences in modelConfig are not sent"
                )
            )
    for key in ("maxTokens", "max_tokens"):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value < 1:
            del data[key]
            notes.append(
                ParamNote(
                    param="maxTokens",
                    action="dropped",
                    reason=(
                        f"modelConfig.maxTokens {value} is not a positive limit:"
                        " config.maxTokens (or the default) applies"
                    ),
                )
            )
    return data, notes


class ModelSettings(InputModel):
    """The host's `modelConfig`: per-model API settings that override `config`.

    Admins edit it freely, so it is read as leniently as the original worker read it: a
    value of the wrong type (or a `maxTokens` below 1) is dropped with a note and the job
    goes on (`config`'s value, or the default, applies); one stop string is a one-element
    list. Only a non-finite number is refused. `maxTokens: null` is not the same as an
    absent `maxTokens`: null means "no explicit limit" (see `common.probe.job_params`).
    """

    max_tokens_param: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: list[str] | None = None
    reasoning: ReasoningConfig | None = None
    # Which of the provider's APIs to call: "responses" (OpenAI's Responses API, also offered
    # by xAI and some OpenAI-compatible servers) or "chat" (Chat Completions). Absent: the
    # provider record decides (its Responses-only models go to "responses").
    api: Literal["chat", "responses"] | None = None
    # Responses API background mode (`background: true`, polled): absent, the record decides
    # (models whose answers take minutes); only meaningful on the Responses API.
    background: bool | None = None
    # What a background response becomes when the job stops before it is done (SIGTERM, or
    # the deadline near): "cancel" (default: `POST /responses/{id}/cancel`, no more spend)
    # or "detach" (left running; the failure gives `resumeResponseId` to re-attach to).
    background_on_stop: Literal["cancel", "detach"] | None = None

    # What reading the settings changed, said in every turn's `paramNotes`.
    _input_notes: list[ParamNote] = PrivateAttr(default_factory=_empty_list)

    @property
    def input_notes(self) -> list[ParamNote]:
        return self._input_notes

    @model_validator(mode="wrap")
    @classmethod
    def _read_leniently(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> "ModelSettings":
        if not isinstance(data, dict):
            settings: ModelSettings = handler(data)
            return settings
        data, notes = _normalise_settings(data)
        try:
            settings = handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            unusable = {str(err["loc"][0]) for err in errors if err["loc"]}
            if any(err["type"] == "finite_number" for err in errors) or not unusable:
                raise
            if "reasoning" in unusable:  # read strictly: an unknown effort is a VALIDATION_ERROR
                raise
            for key in sorted(unusable):
                problem = next(e["msg"] for e in errors if e["loc"] and str(e["loc"][0]) == key)
                notes.append(_unusable_note(key, f"modelConfig.{_wire_name(key)} is unusable ({problem}): ignored"))
            data = {k: v for k, v in data.items() if k not in unusable and _wire_name(k) not in unusable}
            settings = handler(data)
        settings._input_notes = notes
        return settings


def _first_non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite number inside `value`, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_non_finite(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_non_finite(item, f"{path}[{index}]")
            if found:
                return found
    return None


class ProbeJob(InputModel):
    # Built once, by the `model_rebuild()` at the end of this module (it refers to `Turn`,
    # defined below): an attempt at class creation would only fail on that name.
    model_config = ConfigDict(defer_build=True)

    run_id: str
    scenario_id: str
    model_id: NonEmptyText
    scenario: Scenario
    config: ProbeConfig | None = None
    model_cost: ModelCost | None = None
    model_settings: ModelSettings | None = Field(default=None, alias="modelConfig")
    prior_turns: "list[Turn] | None" = None  # Turn is defined below; see model_rebuild()
    # A Responses API response still running for the first turn after `priorTurns` (a
    # failure's `error.details.resumeResponseId`): that turn re-attaches to it (polls it)
    # instead of asking, and paying, again. Ignored, with a warning, where it cannot be used.
    resume_response_id: str | None = None

    @field_validator("prior_turns", mode="before")
    @classmethod
    def _finite_prior_turns(cls, value: Any) -> Any:
        # Free-form parts of a turn (`paramsSent`, `rawUsage`) are echoed back as given.
        found = _first_non_finite(value, "priorTurns")
        if found:
            raise ValueError(f"{found} is not a finite number")
        return value


# ---------------------------------------------------------------- output

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "refusal", "other"]


class Timing(WireModel):
    request_ms: int
    total_ms: int


class RetryRecord(WireModel):
    attempt: int
    code: ErrorCode
    status_code: int | None = Field(default=None, exclude_if=_omit_if_none)
    waited_ms: int


class TurnReasoningSetting(WireModel):
    """The reasoning setting of one turn: what the job asked (`config` + `modelConfig`, merged)
    and the provider-native fields sent for it (also in `paramsSent`); null and null when
    the job set none, so the provider's own default applied."""

    requested: ReasoningConfig | None = None
    sent: dict[str, Any] | None = None


class TurnReasoning(WireModel):
    """The reasoning a provider returned with the answer (recorded when `capture` is on).

    `text`: the reasoning as returned (Anthropic thinking blocks, DeepSeek and xAI
    `reasoning_content`, Mistral thinking chunks); `summary`: a reasoning summary
    (Gemini thought summaries); `redactedBlocks`: Anthropic `redacted_thinking` blocks,
    counted, never decoded.
    """

    text: str | None = None
    summary: str | None = None
    redacted_blocks: int = Field(default=0, ge=0)


class ProviderMetadata(WireModel):
    provider: str
    requested_model: str
    model_version: str | None
    response_id: str | None
    system_fingerprint: str | None = Field(default=None, exclude_if=_omit_if_none)
    finish_reason: FinishReason
    raw_finish_reason: str | None
    truncated: bool = False
    reasoning_tokens: int
    cached_input_tokens: int
    tokens_estimated: bool = False
    attempts: int
    retries: list[RetryRecord] = Field(default_factory=_empty_list)
    timing: Timing
    params_sent: dict[str, Any]
    param_notes: list[ParamNote] = Field(default_factory=_empty_list)
    raw_usage: dict[str, Any] | None = None
    # "responses" when the turn was answered on the Responses API; absent on Chat Completions
    # and every other provider's own API.
    api: str | None = Field(default=None, exclude_if=_omit_if_none)
    # True when the turn's answer came from re-attaching to `resumeResponseId`.
    reattached: bool | None = Field(default=None, exclude_if=_omit_if_none)
    # Absent only in turns recorded before reasoning settings existed (old `priorTurns`).
    reasoning: TurnReasoningSetting | None = Field(default=None, exclude_if=_omit_if_none)
    # "batch" when the turn was sent through the provider's batch API (`batch.py --via
    # provider-batch`); absent for an online request. Then `batchId` is the provider's batch,
    # `batchRequestId` the provider's id of this request in it (OpenAI `batch_req_...`;
    # Anthropic, which has none, the custom id) and `batchCustomId` the id we gave it.
    via: Literal["batch"] | None = Field(default=None, exclude_if=_omit_if_none)
    batch_id: str | None = Field(default=None, exclude_if=_omit_if_none)
    batch_request_id: str | None = Field(default=None, exclude_if=_omit_if_none)
    batch_custom_id: str | None = Field(default=None, exclude_if=_omit_if_none)


class Turn(WireModel):
    turn_number: int = Field(ge=1)
    prompt_label: str
    probe_prompt: str
    target_response: str
    input_tokens: int = Field(ge=0, le=MAX_TOKEN_COUNT)
    output_tokens: int = Field(ge=0, le=MAX_TOKEN_COUNT)
    provider_metadata: ProviderMetadata
    reasoning: TurnReasoning | None = Field(default=None, exclude_if=_omit_if_none)


class CostSnapshot(WireModel):
    cost_input_per_million: float
    cost_output_per_million: float
    input_tokens: int
    output_tokens: int
    estimated_cost: float
    # Set when turns went through a provider's batch API: the share of the online price
    # those turns cost (the provider's documented batch discount, 0.5: half price; its
    # record's `batch_price_factor`), and what the whole conversation would have cost
    # online. `estimatedCost` is what was paid: batch turns at the batch price.
    batch_price_factor: float | None = Field(default=None, exclude_if=_omit_if_none)
    online_estimated_cost: float | None = Field(default=None, exclude_if=_omit_if_none)


class TranscriptWarningCode(StrEnum):
    """The closed set of transcript warning codes; README lists what each one means."""

    TRUNCATED = "TRUNCATED"  # a turn stopped at the token limit: its answer is cut off
    ANSWER_CUT = "ANSWER_CUT"  # an answer longer than PROBE_MAX_ANSWER_CHARS: only its start is kept
    MODEL_VERSION_CHANGED = "MODEL_VERSION_CHANGED"  # turns were served by different model versions
    FOLLOWUP_SKIPPED = "FOLLOWUP_SKIPPED"  # a followup had no prompt: that turn was not sent
    MAX_TURNS_DEFAULTED = "MAX_TURNS_DEFAULTED"  # config.maxTurns below 1: the default applied
    MAX_TOKENS_DEFAULTED = "MAX_TOKENS_DEFAULTED"  # a maxTokens below 1: config's or the default applied
    TOKEN_LIMIT_REQUIRED = "TOKEN_LIMIT_REQUIRED"  # no explicit limit asked; the provider needs one
    PARAM_UNUSABLE = "PARAM_UNUSABLE"  # a modelConfig value of the wrong type: not sent
    PARAM_CONVERTED = "PARAM_CONVERTED"  # a value of another shape made usable (one stop string)
    PARAM_OUT_OF_RANGE = "PARAM_OUT_OF_RANGE"  # outside the provider's documented range: clamped or dropped
    MAX_TOKENS_PARAM_UNKNOWN = "MAX_TOKENS_PARAM_UNKNOWN"  # maxTokensParam is no token-limit name: renamed
    # the reasoning setting cannot be applied as asked: the model cannot reason, takes no such
    # control, or cannot switch reasoning off (then it still reasons, and bills it)
    REASONING_UNSUPPORTED = "REASONING_UNSUPPORTED"
    # resumeResponseId could not be re-attached (cancelled, failed, expired, or not a
    # Responses API job): the turn was asked anew
    RESUME_RESPONSE_UNUSABLE = "RESUME_RESPONSE_UNUSABLE"


class TranscriptWarning(WireModel):
    """One transcript warning, in the shape the host's other warnings have."""

    code: TranscriptWarningCode
    message: str  # the same text as the matching entry of `warnings`
    recommendation: str  # what the host or an admin can do about it


class Transcript(WireModel):
    turns: list[Turn]
    total_input_tokens: int
    total_output_tokens: int
    total_reasoning_tokens: int
    model_version: str | None
    provider: str
    requested_model: str
    started_at: str
    completed_at: str
    cost_snapshot: CostSnapshot | None = Field(default=None, exclude_if=_omit_if_none)
    warnings: list[str] = Field(default_factory=_empty_list)  # the messages of `warning_details`, in order
    warning_details: list[TranscriptWarning] = Field(default_factory=_empty_list)


class ErrorInfo(WireModel):
    model_config = ConfigDict(defer_build=True)  # failure-only: built at a job's first failure

    message: str
    code: ErrorCode
    retryable: bool
    details: dict[str, Any] = Field(default_factory=_empty_dict)
    status_code: int | None = Field(default=None, exclude_if=_omit_if_none)
    retry_after_ms: int | None = Field(default=None, exclude_if=_omit_if_none)

    @classmethod
    def from_error(cls, error: WorkerError) -> "ErrorInfo":
        return cls(
            message=error.message,
            code=error.code,
            retryable=error.retryable,
            details=error.details,
            status_code=error.status_code,
            retry_after_ms=error.retry_after_ms,
        )

    def to_error(self) -> WorkerError:
        """The failure again, as raised (e.g. one read back from a saved state)."""
        return WorkerError(
            self.code,
            self.message,
            details=dict(self.details),
            status_code=self.status_code,
            retry_after_ms=self.retry_after_ms,
        )


class ProbeSuccess(WireModel):
    success: Literal[True] = True
    contract_version: str = CONTRACT_VERSION
    transcript: Transcript

    @property
    def retryable(self) -> bool:
        return False

    def turns_to_resume(self) -> "list[Turn] | None":
        return None


class WorkerFailure(WireModel):
    """The failure document every worker prints; probe adds the turns that completed."""

    # Its validator and serializer are built at the first failure, not at start-up: a job
    # that succeeds never needs them (the docstring above is the schema's description).
    model_config = ConfigDict(defer_build=True)

    success: Literal[False] = False
    contract_version: str = CONTRACT_VERSION
    error: ErrorInfo
    partial_transcript: Transcript | None = Field(default=None, exclude_if=_omit_if_none)

    @classmethod
    def from_error(cls, error: WorkerError, partial: Transcript | None = None) -> "WorkerFailure":
        return cls(error=ErrorInfo.from_error(error), partial_transcript=partial)

    @property
    def retryable(self) -> bool:
        return self.error.retryable

    def turns_to_resume(self) -> "list[Turn] | None":
        """The paid-for turns a retry goes on from (`priorTurns`), if a retry can help."""
        if not self.retryable or self.partial_transcript is None or not self.partial_transcript.turns:
            return None
        return list(self.partial_transcript.turns)


# What a probe job ends in: the host (and batch) reads `success` to tell them apart.
ProbeResult = Annotated[ProbeSuccess | WorkerFailure, Field(discriminator="success")]


ProbeJob.model_rebuild()
