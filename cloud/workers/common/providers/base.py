"""The provider vocabulary: a Provider turns a ModelRequest into a ModelResponse.

A provider module does three small things: map our generation parameters onto its own
names (`PARAM_NAMES`), make one request with its official SDK (`complete`), and reduce
its SDK's exceptions to `ErrorFacts` (`error_facts`). Retrying, classification,
token estimation and the transcript live elsewhere and are the same for every provider.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from common.contract.probe import FinishReason, ParamNote
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.io.redaction import redact_text
from common.providers.settings import ProviderSettings

Role = Literal["user", "assistant"]

# Our names for the generation parameters a job can set, in the order they are mapped.
SAMPLING_PARAMS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop_sequences",
    "seed",
)

# The Chat Completions names, which most providers (and the mock) share.
CHAT_COMPLETIONS_PARAM_NAMES: dict[str, str | None] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "stop_sequences": "stop",
    "seed": "seed",
}


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """What the job asked for, after `modelConfig` overrides `config` (see common.probe.job_params)."""

    max_tokens: int
    max_tokens_param: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: tuple[str, ...] | None = None
    seed: int | None = None

    def without(self, name: str) -> GenerationParams:
        if name not in SAMPLING_PARAMS:
            raise ValueError(f"{name} is not an optional sampling parameter")
        return replace(self, **{name: None})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ParamMapping:
    """The provider-native parameters to send, and what was not sent as asked."""

    sent: dict[str, Any]
    notes: tuple[ParamNote, ...] = ()

    def native_to_generic(self, names: dict[str, str | None]) -> dict[str, str]:
        return {native: generic for generic, native in names.items() if native and native in self.sent}


@dataclass(frozen=True)
class ModelRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None
    params: ParamMapping


@dataclass
class ModelResponse:
    """One answer, with the provider's own facts about it kept as given.

    `output_tokens` always includes reasoning (thinking) tokens: they are billed as
    output by every provider. Providers that report them apart (Gemini, xAI) add them.
    `None` for a token count means the provider gave none and the runner estimates it.
    """

    text: str
    model_version: str | None
    response_id: str | None
    raw_finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0
    system_fingerprint: str | None = None
    finish_reason: FinishReason | None = None  # set when the raw reason alone is not enough
    raw_usage: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_TRANSPORT_TIMEOUT = {"TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout"}
_TRANSPORT_CONNECT = {
    "ConnectError",
    "NetworkError",
    "ReadError",
    "WriteError",
    "RemoteProtocolError",
    "TransportError",
    "ProtocolError",
    "CloseError",
}


def transport_facts(provider: str, exc: BaseException) -> ErrorFacts | None:
    """Recognises httpx/httpx2 transport failures by class name, without importing either."""
    names = {klass.__name__ for klass in type(exc).__mro__}
    if names & _TRANSPORT_TIMEOUT:
        return ErrorFacts(provider, kind="timeout", message=str(exc) or type(exc).__name__)
    if names & _TRANSPORT_CONNECT or isinstance(exc, ConnectionError):
        return ErrorFacts(provider, kind="connect", message=str(exc) or type(exc).__name__)
    return None


class Provider(ABC):
    name: ClassVar[str]
    # Our parameter name -> this provider's name for it; None means it has no such parameter.
    PARAM_NAMES: ClassVar[dict[str, str | None]] = {}
    MAX_TOKENS_PARAM: ClassVar[str] = "max_tokens"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    # -- parameters -------------------------------------------------------------------

    def max_tokens_param(self, model: str, requested: str | None) -> tuple[str, ParamNote | None]:
        """The provider's max-tokens parameter; most providers have exactly one name."""
        if requested and requested != self.MAX_TOKENS_PARAM:
            note = ParamNote(
                param=requested,
                action="renamed",
                reason=f"{self.name} takes its token limit as {self.MAX_TOKENS_PARAM}",
            )
            return self.MAX_TOKENS_PARAM, note
        return self.MAX_TOKENS_PARAM, None

    def param_name(self, model: str, generic: str) -> tuple[str | None, str]:
        """This provider's name for `generic` for this model, or None and the reason why not."""
        native = self.PARAM_NAMES.get(generic)
        return native, f"{self.name} has no {generic} parameter"

    def map_params(self, model: str, params: GenerationParams) -> ParamMapping:
        native_max, max_note = self.max_tokens_param(model, params.max_tokens_param)
        sent: dict[str, Any] = {native_max: params.max_tokens}
        notes: list[ParamNote] = [max_note] if max_note else []
        for generic in SAMPLING_PARAMS:
            value = getattr(params, generic)
            if value is None:
                continue
            native, reason = self.param_name(model, generic)
            if native is None:
                notes.append(ParamNote(param=generic, action="dropped", reason=reason))
            else:
                sent[native] = list(value) if isinstance(value, tuple) else value
        return ParamMapping(sent=sent, notes=tuple(notes))

    def generic_name(self, model: str, native: str) -> str | None:
        for generic in SAMPLING_PARAMS:
            if self.param_name(model, generic)[0] == native:
                return generic
        return None

    # -- requests ---------------------------------------------------------------------

    @abstractmethod
    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        """One HTTP request, no retries, at most `timeout_s` long."""

    async def list_models(self, timeout_s: float) -> list[str]:
        """A cheap authenticated call (for health checks): the model ids the key can see."""
        raise NotImplementedError(f"{self.name} has no model listing")

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Releases the SDK client's connections."""

    # -- errors -----------------------------------------------------------------------

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        """Reduces an SDK exception to ErrorFacts; None if it is not one we recognise."""
        return transport_facts(self.name, exc)

    def classify(self, exc: BaseException) -> WorkerError:
        if isinstance(exc, WorkerError):
            return exc
        facts = self.error_facts(exc)
        if facts is not None:
            from common.errors.classify import to_worker_error  # the rule table is loaded on the first failure only

            return to_worker_error(facts)
        logging.getLogger(__name__).debug("unrecognised provider exception", exc_info=exc)
        return WorkerError(
            ErrorCode.UNKNOWN,
            redact_text(f"unexpected {type(exc).__name__} from {self.name}: {exc}"),
            details={"provider": self.name, "exception": type(exc).__name__},
        )
