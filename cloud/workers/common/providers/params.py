"""Our generation parameters -> a provider's own parameters: pure functions of its record.

No SDK client is involved, so every mapping can be tested (and the parameters a
resumed job must carry over can be worked out) from the record alone. What is not sent
as asked is said in `ParamNote`s, which end up in the turn's `paramNotes`; what a host
or an admin should know about (a value outside the provider's documented range, an
unknown token-limit name, a limit the provider requires) is also a transcript warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from common.contract.probe import DEFAULT_MAX_TOKENS, ParamNote, TranscriptWarning, TranscriptWarningCode
from common.providers.base import SAMPLING_PARAMS, GenerationParams, ParamMapping
from common.providers.reasoning import apply_reasoning
from common.providers.records import PROVIDERS, ProviderRecord, Range

# Every name any provider documents for its token limit: a `maxTokensParam` outside this
# set is a typo rather than another provider's name, and says so in a warning.
KNOWN_MAX_TOKENS_NAMES: frozenset[str] = frozenset(
    name
    for record in PROVIDERS
    for name in (
        *record.params.max_tokens_names,
        record.params.max_tokens,
        *(family_name for _, family_name in record.params.max_tokens_by_family),
    )
)


@dataclass(frozen=True)
class JobParams(GenerationParams):
    """GenerationParams plus whether the job set a token limit at all.

    `no_explicit_limit` is `modelConfig.maxTokens: null`, which the original worker
    documented as "no explicit limit": the limit is omitted where the provider allows it,
    and the model's documented maximum is sent where the provider requires one.
    `max_tokens` then still holds `config.maxTokens` (or the default), which estimates
    (batch spend) read.
    """

    no_explicit_limit: bool = False


def with_limit(params: GenerationParams, max_tokens: int) -> GenerationParams:
    """The same parameters with an explicit token limit (after a provider stated its maximum)."""
    if isinstance(params, JobParams):
        return replace(params, max_tokens=max_tokens, no_explicit_limit=False)
    return replace(params, max_tokens=max_tokens)


@dataclass(frozen=True)
class MappedParams:
    """A provider's parameters for one request, and the warnings they call for."""

    mapping: ParamMapping
    warnings: tuple[TranscriptWarning, ...] = ()


def max_tokens_name(record: ProviderRecord, model: str, requested: str | None) -> tuple[str, ParamNote | None]:
    """The provider's name for the token limit, for this model (and a note if it was renamed)."""
    rules = record.params
    if requested and requested in rules.max_tokens_names:
        return requested, None
    native = next((name for family, name in rules.max_tokens_by_family if family.match(model)), rules.max_tokens)
    if requested and requested != native:
        if requested in KNOWN_MAX_TOKENS_NAMES:
            reason = f"{record.name} takes its token limit as {native}"
        else:
            reason = (
                f"{requested!r} is not a token-limit parameter of {record.name}"
                f" ({', '.join(sorted(rules.max_tokens_names))}): sent as {native}"
            )
        return native, ParamNote(param=requested, action="renamed", reason=reason)
    return native, None


def native_name(record: ProviderRecord, model: str, generic: str) -> tuple[str | None, str]:
    """The provider's name for `generic` for this model, or None and the reason why it is not sent."""
    for rule in record.params.model_rules:
        if generic in rule.params and rule.models.match(model):
            return None, rule.reason.format(model=model, param=generic)
    return record.params.names.get(generic), f"{record.name} has no {generic} parameter"


def generic_name(record: ProviderRecord, model: str, native: str) -> str | None:
    """Our name for one of the provider's parameters, if it is a sampling parameter we send."""
    for generic in SAMPLING_PARAMS:
        if native_name(record, model, generic)[0] == native:
            return generic
    return None


def documented_max_output(record: ProviderRecord, model: str) -> int | None:
    """The model's documented maximum output tokens, if the record lists it."""
    return next((cap for pattern, cap in record.params.max_output_tokens if pattern.match(model)), None)


def _out_of_range(record: ProviderRecord, generic: str, value: float, bounds: Range) -> str:
    low = "-inf" if bounds.low is None else f"{bounds.low:g}"
    high = "inf" if bounds.high is None else f"{bounds.high:g}"
    closing = ")" if bounds.high_exclusive else "]"
    return f"{generic} {value:g} is outside {record.name}'s documented range [{low}, {high}{closing}"


def _within(value: float, bounds: Range) -> bool:
    if bounds.low is not None and value < bounds.low:
        return False
    if bounds.high is not None:
        return value < bounds.high if bounds.high_exclusive else value <= bounds.high
    return True


def _clamped(value: float, bounds: Range) -> float:
    if bounds.low is not None and value < bounds.low:
        return bounds.low
    assert bounds.high is not None  # only reached when the value is above the range
    return math.nextafter(bounds.high, -math.inf) if bounds.high_exclusive else bounds.high


def _range_warning(note: ParamNote, record: ProviderRecord) -> TranscriptWarning:
    return TranscriptWarning(
        code=TranscriptWarningCode.PARAM_OUT_OF_RANGE,
        message=note.reason,
        recommendation=f"set {note.param} within {record.name}'s documented range in config or modelConfig",
    )


class _Mapper:
    """Builds one request's parameters, collecting notes and warnings as it goes."""

    def __init__(self, record: ProviderRecord, model: str) -> None:
        self.record = record
        self.model = model
        self.sent: dict[str, Any] = {}
        self.notes: list[ParamNote] = []
        self.warnings: list[TranscriptWarning] = []

    def token_limit(self, params: GenerationParams) -> None:
        native, note = max_tokens_name(self.record, self.model, params.max_tokens_param)
        if note is not None:
            self.notes.append(note)
            if params.max_tokens_param not in KNOWN_MAX_TOKENS_NAMES:
                self.warnings.append(
                    TranscriptWarning(
                        code=TranscriptWarningCode.MAX_TOKENS_PARAM_UNKNOWN,
                        message=f"modelConfig.maxTokensParam: {note.reason}",
                        recommendation="set modelConfig.maxTokensParam to a documented name, or remove it",
                    )
                )
        if not (isinstance(params, JobParams) and params.no_explicit_limit):
            self.sent[native] = params.max_tokens
            return
        if not self.record.params.max_tokens_required:
            return  # omitted: the provider's own limit for the model applies
        documented = documented_max_output(self.record, self.model)
        limit = documented or DEFAULT_MAX_TOKENS
        source = f"{self.model}'s documented maximum" if documented else "the default (no documented maximum listed)"
        reason = (
            f"modelConfig.maxTokens is null (no explicit limit) but {self.record.name} requires one:"
            f" sent {source} {limit}"
        )
        self.sent[native] = limit
        self.notes.append(ParamNote(param="maxTokens", action="defaulted", reason=reason))
        self.warnings.append(
            TranscriptWarning(
                code=TranscriptWarningCode.TOKEN_LIMIT_REQUIRED,
                message=reason,
                recommendation="set modelConfig.maxTokens to the limit you want for this model",
            )
        )

    def sampling(self, generic: str, value: Any) -> None:
        native, reason = native_name(self.record, self.model, generic)
        if native is None:
            self.notes.append(ParamNote(param=generic, action="dropped", reason=reason))
            return
        value = self._stop_sequences(list(value)) if generic == "stop_sequences" else self._in_range(generic, value)
        if value is not None:
            self.sent[native] = value

    def _in_range(self, generic: str, value: float) -> float | None:
        bounds = self.record.params.ranges.get(generic)
        if bounds is None or _within(value, bounds):
            return value
        problem = _out_of_range(self.record, generic, value, bounds)
        if not bounds.clamp:
            note = ParamNote(param=generic, action="dropped", reason=f"{problem}: not sent")
            self.notes.append(note)
            self.warnings.append(_range_warning(note, self.record))
            return None
        clamped = _clamped(value, bounds)
        note = ParamNote(param=generic, action="clamped", reason=f"{problem}: sent {clamped:g}")
        self.notes.append(note)
        self.warnings.append(_range_warning(note, self.record))
        return int(clamped) if isinstance(value, int) else clamped

    def _stop_sequences(self, stops: list[str]) -> list[str]:
        limit = self.record.params.max_stop_sequences
        if limit is None or len(stops) <= limit:
            return stops
        note = ParamNote(
            param="stop_sequences",
            action="clamped",
            reason=f"{len(stops)} stop sequences, {self.record.name} documents at most {limit}: sent the first {limit}",
        )
        self.notes.append(note)
        self.warnings.append(
            TranscriptWarning(
                code=TranscriptWarningCode.PARAM_OUT_OF_RANGE,
                message=note.reason,
                recommendation=f"give this model at most {limit} stop sequences",
            )
        )
        return stops[:limit]


def plan_params(record: ProviderRecord, model: str, params: GenerationParams) -> MappedParams:
    """The parameters to send for one request, with the notes and warnings they call for."""
    mapper = _Mapper(record, model)
    mapper.token_limit(params)
    for generic in SAMPLING_PARAMS:
        value = getattr(params, generic)
        if value is not None:
            mapper.sampling(generic, value)
    # Reasoning last: thinking may constrain what was just mapped (common.providers.reasoning).
    applied = apply_reasoning(
        record,
        model,
        params.reasoning,
        mapper.sent,
        max_tokens_name=max_tokens_name(record, model, params.max_tokens_param)[0],
        documented_max=documented_max_output(record, model),
        api=record.api,  # a Responses API view of the record (ProviderRecord.for_api) maps `reasoning: {...}`
    )
    mapping = ParamMapping(sent=applied.sent, notes=(*mapper.notes, *applied.notes), reasoning=applied.reasoning_sent)
    return MappedParams(mapping, (*mapper.warnings, *applied.warnings))


def map_params(record: ProviderRecord, model: str, params: GenerationParams) -> ParamMapping:
    return plan_params(record, model, params).mapping
