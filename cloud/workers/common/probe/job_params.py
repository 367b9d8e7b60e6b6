"""Resolves the generation parameters of a job: `modelConfig` overrides `config`."""

from __future__ import annotations

from common.contract.probe import DEFAULT_MAX_TOKENS, ModelSettings, ProbeConfig, ProbeJob
from common.providers.base import GenerationParams


def resolve_params(job: ProbeJob) -> GenerationParams:
    config = job.config or ProbeConfig()
    model = job.model_settings or ModelSettings()

    def pick(override: float | None, base: float | None) -> float | None:
        return override if override is not None else base

    stops = tuple(model.stop_sequences) if model.stop_sequences else None
    return GenerationParams(
        max_tokens=model.max_tokens or config.max_tokens or DEFAULT_MAX_TOKENS,
        max_tokens_param=model.max_tokens_param or None,
        temperature=pick(model.temperature, config.temperature),
        top_p=model.top_p,
        frequency_penalty=model.frequency_penalty,
        presence_penalty=model.presence_penalty,
        stop_sequences=stops,
        seed=config.seed,
    )
