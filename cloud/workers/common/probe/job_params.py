"""Resolves the generation parameters of a job: `modelConfig` overrides `config`.

The token limit, as the original worker read it (`resolve_max_tokens` in its adapters):
- `modelConfig.maxTokens` absent: `config.maxTokens`, else the default 8192;
- `modelConfig.maxTokens: null`: no explicit limit (omitted where the provider allows it,
  the model's documented maximum where the provider requires one; see providers.params);
- a number >= 1 in either: that limit. A number below 1 cannot be a limit: it falls back
  (modelConfig's to config's, config's to the default) with a note and a warning.
`config.maxTokens: null` is the same as absent: only `modelConfig` can ask for no limit.

Ranges are not checked here: they are the provider's (providers.records), applied when
the parameters are mapped for a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.contract.probe import (
    DEFAULT_MAX_TOKENS,
    ModelSettings,
    ParamNote,
    ProbeConfig,
    ProbeJob,
    TranscriptWarning,
    TranscriptWarningCode,
)
from common.providers.params import JobParams
from common.providers.reasoning import resolve_reasoning


@dataclass(frozen=True)
class ResolvedParams:
    params: JobParams
    notes: tuple[ParamNote, ...] = ()  # said in every turn's paramNotes
    warnings: tuple[TranscriptWarning, ...] = ()  # said once in the transcript


def _warning_for(note: ParamNote) -> TranscriptWarning:
    """The transcript warning of a note about the job's own values."""
    if note.param == "maxTokens":
        return TranscriptWarning(
            code=TranscriptWarningCode.MAX_TOKENS_DEFAULTED,
            message=note.reason,
            recommendation="set maxTokens to a positive limit, or modelConfig.maxTokens to null for no explicit limit",
        )
    if note.action == "converted":
        return TranscriptWarning(
            code=TranscriptWarningCode.PARAM_CONVERTED,
            message=note.reason,
            recommendation='write modelConfig.stopSequences as a list of strings, e.g. ["END"]',
        )
    return TranscriptWarning(
        code=TranscriptWarningCode.PARAM_UNUSABLE,
        message=note.reason,
        recommendation="fix or remove this value in the model's settings (modelConfig)",
    )


def resolve_job_params(job: ProbeJob) -> ResolvedParams:
    config = job.config or ProbeConfig()
    model = job.model_settings or ModelSettings()
    notes = list(model.input_notes)

    def pick(override: float | None, base: float | None) -> float | None:
        return override if override is not None else base

    max_tokens = DEFAULT_MAX_TOKENS
    if config.max_tokens is not None and config.max_tokens >= 1:
        max_tokens = config.max_tokens
    elif config.max_tokens is not None:
        notes.append(
            ParamNote(
                param="maxTokens",
                action="defaulted",
                reason=f"config.maxTokens {config.max_tokens} is not a positive limit:"
                f" the default {DEFAULT_MAX_TOKENS} applies",
            )
        )
    no_explicit_limit = "max_tokens" in model.model_fields_set and model.max_tokens is None
    if model.max_tokens is not None:
        max_tokens = model.max_tokens
    stops = tuple(model.stop_sequences) if model.stop_sequences else None
    params = JobParams(
        max_tokens=max_tokens,
        max_tokens_param=model.max_tokens_param or None,
        temperature=pick(model.temperature, config.temperature),
        top_p=model.top_p,
        frequency_penalty=model.frequency_penalty,
        presence_penalty=model.presence_penalty,
        stop_sequences=stops,
        seed=config.seed,
        reasoning=resolve_reasoning(config.reasoning, model.reasoning),
        no_explicit_limit=no_explicit_limit,
    )
    return ResolvedParams(params, tuple(notes), tuple(_warning_for(note) for note in notes))


def resolve_params(job: ProbeJob) -> JobParams:
    """The parameters alone (batch estimates read `max_tokens`)."""
    return resolve_job_params(job).params
