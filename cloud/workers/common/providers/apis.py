"""Which of a provider's APIs a job uses, from its record and `modelConfig`: a pure function.

Most providers have one API. The OpenAI family (OpenAI, xAI, OpenAI-compatible servers)
has two: Chat Completions and the Responses API (`/v1/responses`). A model the record
lists as Responses-only goes to the Responses API; `modelConfig.api` forces either. On
the Responses API every request is stateless (the full history is sent as `input`
items, `store: false`), except in background mode, which needs the response stored
so it can be polled (`background: true, store: true`). These transport fields are sent
with every request and recorded in `paramsSent` like any other parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.contract.probe import ModelSettings, ParamNote
from common.providers.records import ApiName, ProviderRecord


@dataclass(frozen=True)
class ApiChoice:
    api: ApiName
    background: bool = False
    transport_params: Mapping[str, Any] = field(default_factory=dict)  # added to every request's parameters
    notes: tuple[ParamNote, ...] = ()  # what was asked and could not be done (every turn says it)


def choose_api(record: ProviderRecord, model: str, settings: ModelSettings | None) -> ApiChoice:
    settings = settings or ModelSettings()
    responses = record.responses
    notes: list[ParamNote] = []
    if settings.api == "responses" and responses is None:
        notes.append(
            ParamNote(
                param="api",
                action="dropped",
                reason=f'modelConfig.api "responses": {record.name} offers no Responses API, its own API was used',
            )
        )
    if responses is None or settings.api == "chat":
        api: ApiName = "chat"
    elif settings.api == "responses":
        api = "responses"
    else:
        api = "responses" if responses.only is not None and responses.only.match(model) else "chat"
    if api == "chat":
        if settings.background:
            notes.append(
                ParamNote(
                    param="background",
                    action="dropped",
                    reason="modelConfig.background is a Responses API mode: not used on this API",
                )
            )
        return ApiChoice("chat", notes=tuple(notes))
    assert responses is not None
    background = (
        settings.background
        if settings.background is not None
        else responses.background is not None and bool(responses.background.match(model))
    )
    transport: dict[str, Any] = {"background": True, "store": True} if background else {"store": False}
    return ApiChoice("responses", background=background, transport_params=transport, notes=tuple(notes))
