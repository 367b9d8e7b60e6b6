"""Wire shapes of the probe worker: camelCase on the wire, snake_case in Python.

These models are the contract with the host. Input models accept what existing hosts
send (null and absent alike for optional fields, unknown keys ignored); output models
say exactly what a host receives.

Annotations here are evaluated when each class is defined (no `from __future__ import
annotations`): pydantic would otherwise evaluate every one of them from its string at
start-up, which every worker pays before reading its job.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from common.errors.codes import ErrorCode, WorkerError

CONTRACT_VERSION = "1.0"

DEFAULT_MAX_TOKENS = 8192
DEFAULT_MAX_TURNS = 10
DEFAULT_DEADLINE_MS = 240_000


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


# ---------------------------------------------------------------- input


class Followup(WireModel):
    label: str | None = None
    prompt: str

    _check_prompt = field_validator("prompt")(_require_text)


class Scenario(WireModel):
    preamble: str | None = None
    prompt: str
    followups: list[Followup] | None = None

    _check_prompt = field_validator("prompt")(_require_text)


class ProbeConfig(WireModel):
    temperature: float | None = Field(default=None, ge=0)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_turns: int | None = Field(default=None, ge=1)
    preamble_mode: Literal["prepend", "system"] | None = None
    deadline_ms: int | None = Field(default=None, ge=1000, le=3_600_000)


class ModelCost(WireModel):
    cost_input_per_million: float = Field(ge=0)
    cost_output_per_million: float = Field(ge=0)


class ModelSettings(WireModel):
    """The host's `modelConfig`: per-model API settings that override `config`."""

    max_tokens_param: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: list[str] | None = None


class ProbeJob(WireModel):
    run_id: str
    scenario_id: str
    model_id: NonEmptyText
    scenario: Scenario
    config: ProbeConfig | None = None
    model_cost: ModelCost | None = None
    model_settings: ModelSettings | None = Field(default=None, alias="modelConfig")
    prior_turns: "list[Turn] | None" = None  # Turn is defined below; see model_rebuild()


# ---------------------------------------------------------------- output

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "refusal", "other"]


class Timing(WireModel):
    request_ms: int
    total_ms: int


class ParamNote(WireModel):
    """A parameter the worker did not send as asked, and why."""

    param: str
    action: Literal["dropped", "renamed", "retried_without", "lowered"]
    reason: str


class RetryRecord(WireModel):
    attempt: int
    code: ErrorCode
    status_code: int | None = Field(default=None, exclude_if=_omit_if_none)
    waited_ms: int


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


class Turn(WireModel):
    turn_number: int = Field(ge=1)
    prompt_label: str
    probe_prompt: str
    target_response: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    provider_metadata: ProviderMetadata


class CostSnapshot(WireModel):
    cost_input_per_million: float
    cost_output_per_million: float
    input_tokens: int
    output_tokens: int
    estimated_cost: float


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
    warnings: list[str] = Field(default_factory=_empty_list)


class ErrorInfo(WireModel):
    message: str
    code: ErrorCode
    retryable: bool
    details: dict[str, Any] = Field(default_factory=_empty_dict)
    status_code: int | None = Field(default=None, exclude_if=_omit_if_none)
    retry_after_ms: int | None = Field(default=None, exclude_if=_omit_if_none)


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

    success: Literal[False] = False
    contract_version: str = CONTRACT_VERSION
    error: ErrorInfo
    partial_transcript: Transcript | None = Field(default=None, exclude_if=_omit_if_none)

    @classmethod
    def from_error(cls, error: WorkerError, partial: Transcript | None = None) -> "WorkerFailure":
        return cls(
            error=ErrorInfo(
                message=error.message,
                code=error.code,
                retryable=error.retryable,
                details=error.details,
                status_code=error.status_code,
                retry_after_ms=error.retry_after_ms,
            ),
            partial_transcript=partial,
        )

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
