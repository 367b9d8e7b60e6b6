"""Our generation parameters -> a provider's own parameters: pure functions of its record.

No SDK client is involved, so every mapping can be tested (and the parameters a
resumed job must carry over can be worked out) from the record alone. What is not sent
as asked is said in `ParamNote`s, which end up in the turn's `paramNotes`.
"""

from __future__ import annotations

from typing import Any

from common.contract.probe import ParamNote
from common.providers.base import SAMPLING_PARAMS, GenerationParams, ParamMapping
from common.providers.records import ProviderRecord


def max_tokens_name(record: ProviderRecord, model: str, requested: str | None) -> tuple[str, ParamNote | None]:
    """The provider's name for the token limit, for this model (and a note if it was renamed)."""
    rules = record.params
    if requested and rules.honours_requested_max_tokens_name:
        return requested, None
    for family, name in rules.max_tokens_by_family:
        if family.match(model):
            return name, None
    if requested and requested != rules.max_tokens:
        note = ParamNote(
            param=requested,
            action="renamed",
            reason=f"{record.name} takes its token limit as {rules.max_tokens}",
        )
        return rules.max_tokens, note
    return rules.max_tokens, None


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


def map_params(record: ProviderRecord, model: str, params: GenerationParams) -> ParamMapping:
    native_max, max_note = max_tokens_name(record, model, params.max_tokens_param)
    sent: dict[str, Any] = {native_max: params.max_tokens}
    notes: list[ParamNote] = [max_note] if max_note else []
    for generic in SAMPLING_PARAMS:
        value = getattr(params, generic)
        if value is None:
            continue
        native, reason = native_name(record, model, generic)
        if native is None:
            notes.append(ParamNote(param=generic, action="dropped", reason=reason))
        else:
            sent[native] = list(value) if isinstance(value, tuple) else value
    return ParamMapping(sent=sent, notes=tuple(notes))
