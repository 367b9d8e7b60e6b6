"""The provider vocabulary: a Provider turns a ModelRequest into a ModelResponse.

An adapter module does two small things: make one request with its official SDK
(`complete`, with parameters already mapped from its record by `common.providers.params`)
and reduce its SDK's exceptions to `ErrorFacts` (`error_facts`). Retrying, classification,
token estimation and the transcript live elsewhere and are the same for every provider.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from common.contract.probe import FinishReason, ParamNote
from common.errors.codes import WorkerError, unexpected_error
from common.errors.facts import ErrorFacts
from common.providers.reasoning import ReasoningSetting
from common.providers.records import BY_NAME, ProviderRecord
from common.providers.settings import ProviderSettings
from common.providers.turn_context import TurnContext
from common.providers.usage import Usage

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
    reasoning: ReasoningSetting | None = None  # None: the job set no reasoning (provider default)

    def without(self, name: str) -> GenerationParams:
        if name not in SAMPLING_PARAMS:
            raise ValueError(f"{name} is not an optional sampling parameter")
        return replace(self, **{name: None})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ParamMapping:
    """The provider-native parameters to send, and what was not sent as asked."""

    sent: dict[str, Any]
    notes: tuple[ParamNote, ...] = ()
    reasoning: dict[str, Any] | None = None  # the reasoning fields among `sent`, as sent (None: none)

    def native_to_generic(self, names: dict[str, str | None]) -> dict[str, str]:
        return {native: generic for generic, native in names.items() if native and native in self.sent}


@dataclass(frozen=True)
class ModelRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None
    params: ParamMapping
    # The turn this request belongs to (the same object across its attempts): see
    # common.providers.turn_context. None: a request outside a probe turn.
    context: TurnContext | None = field(default=None, compare=False)


def chat_completions_body(request: ModelRequest) -> dict[str, Any]:
    """The Chat Completions request body of one request (pure): the system preamble as the first
    message, then the history, then the mapped parameters. OpenAI's family and Mistral send it,
    and it is a batch line's `body` for both."""
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend({"role": message.role, "content": message.content} for message in request.messages)
    return {"model": request.model, "messages": messages, **request.params.sent}


@dataclass(frozen=True)
class ResponseReasoning:
    """The reasoning a provider returned beside the answer, as it gave it.

    `text`: the reasoning itself (Anthropic thinking blocks, `reasoning_content`, Mistral
    thinking chunks); `summary`: a summary of it (Gemini thought parts); `redacted_blocks`:
    Anthropic `redacted_thinking` blocks, counted, never decoded.
    """

    text: str | None = None
    summary: str | None = None
    redacted_blocks: int = 0


@dataclass
class ModelResponse:
    """One answer, with the provider's own facts about it kept as given.

    `usage` is in our accounting whatever the provider's convention (see
    common.providers.usage); `Usage.unreported()` means the runner estimates the tokens.
    """

    text: str
    model_version: str | None
    response_id: str | None
    raw_finish_reason: str | None
    usage: Usage
    system_fingerprint: str | None = None
    finish_reason: FinishReason | None = None  # set when the raw reason alone is not enough
    reasoning: ResponseReasoning | None = None  # None: the provider returned none
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


# What every SDK raises, whatever wraps it, for a 200 whose body is not JSON: an HTML page,
# a body cut off mid-JSON within its own Content-Length, or only keep-alive blank lines.
_UNPARSEABLE_BODY = {"JSONDecodeError", "UnknownApiResponseError"}
# httpx's "Exceeded maximum allowed redirects": the base URL answers with redirects that
# never end. The token is ours (the provider said nothing); classify reads it as a
# configuration error, which no retry can fix.
TOO_MANY_REDIRECTS = "TooManyRedirects"


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it (an SDK's APIConnectionError wraps httpx's own exception)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 8:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def redirect_facts(provider: str, exc: BaseException) -> ErrorFacts | None:
    """A redirect loop at the base URL, found anywhere in the exception's chain."""
    for link in _chain(exc):
        if TOO_MANY_REDIRECTS in {klass.__name__ for klass in type(link).__mro__}:
            return ErrorFacts(
                provider,
                error_code=TOO_MANY_REDIRECTS,
                message=f"the base URL keeps redirecting ({link}): check the provider's base-URL variable",
            )
    return None


def transport_facts(provider: str, exc: BaseException) -> ErrorFacts | None:
    """Recognises httpx/httpx2 transport failures by class name, without importing either.

    A connection lost before the body's declared end (Content-Length or the last chunk)
    is a transport failure (`connect`, retryable: the next attempt may get the whole
    answer). A message that arrived whole but is not JSON is `invalid_response`: the
    server sent exactly that, and sending the same request again buys the same page.
    """
    redirect = redirect_facts(provider, exc)
    if redirect is not None:
        return redirect
    names = {klass.__name__ for klass in type(exc).__mro__}
    if names & _TRANSPORT_TIMEOUT:
        return ErrorFacts(provider, kind="timeout", message=str(exc) or type(exc).__name__)
    if names & _TRANSPORT_CONNECT or isinstance(exc, ConnectionError):
        return ErrorFacts(provider, kind="connect", message=str(exc) or type(exc).__name__)
    if names & _UNPARSEABLE_BODY:
        return ErrorFacts(provider, kind="invalid_response", message=f"{provider} answered with non-JSON: {exc}")
    return None


class Provider(ABC):
    name: ClassVar[str]

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    @property
    def record(self) -> ProviderRecord:
        """What the workers know about this provider: its parameters, variables, capabilities."""
        return BY_NAME[self.name]

    # -- requests ---------------------------------------------------------------------

    @abstractmethod
    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        """One HTTP request, no retries, at most `timeout_s` long."""

    def using_api(self, api: str) -> Provider:
        """This provider as a job on `api` uses it ("chat" or "responses", see common.providers.apis).

        Most providers have one API and return themselves; the OpenAI family returns a view
        on the same client whose `record` and `complete` are those of the Responses API.
        """
        return self

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
        return unexpected_error(exc, source=self.name)
