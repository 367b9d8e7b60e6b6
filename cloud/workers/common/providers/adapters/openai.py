"""OpenAI Chat Completions, and the base of every OpenAI-compatible provider (xAI, DeepSeek, local).

The Responses API is this family's second transport (`openai_responses`): `using_api`
gives a view of the provider, on the same client, that sends its requests there.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

from common.contract.probe import FinishReason
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import (
    ModelRequest,
    ModelResponse,
    Provider,
    ResponseReasoning,
    chat_completions_body,
    redirect_facts,
)
from common.providers.records import ProviderRecord
from common.providers.settings import ProviderSettings
from common.providers.usage import Usage

if TYPE_CHECKING:
    from common.providers.adapters.openai_responses import ResponsesTransport


def reasoning_content(message: Any) -> ResponseReasoning | None:
    """`message.reasoning_content`: the reasoning DeepSeek, xAI and compatible servers return
    beside `content` (OpenAI's own Chat Completions returns none). Never sent back: the
    history carries only the answers (README, reasoning)."""
    text = getattr(message, "reasoning_content", None)
    return ResponseReasoning(text=text) if isinstance(text, str) and text else None


class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"
    PLACEHOLDER_KEY: ClassVar[str] = "unused"  # SDK demands a key even where the server wants none

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key or self.PLACEHOLDER_KEY,
            base_url=settings.base_url,
            max_retries=0,  # common.errors.retry owns retries
            timeout=600.0,  # replaced per request by the time left before the deadline
            http_client=self._warm_http_client(settings),
        )
        self.api = "chat"
        self.responses: ResponsesTransport | None = None

    @staticmethod
    def _warm_http_client(settings: ProviderSettings) -> openai.DefaultAsyncHttpxClient | None:
        """The SDK's own client (its timeout, limits and redirects) on our aiohttp transport in
        the warm modes; None (the SDK builds its default) otherwise."""
        transport = settings.async_transport(limits=openai.DEFAULT_CONNECTION_LIMITS)
        return None if transport is None else openai.DefaultAsyncHttpxClient(transport=transport)

    @property
    def record(self) -> ProviderRecord:
        return super().record.for_api(self.api)

    def using_api(self, api: str) -> Provider:
        """A view on the same client for the Responses API (imported only by jobs that use it)."""
        if api == self.api or api != "responses" or super().record.responses is None:
            return self
        from common.providers.adapters.openai_responses import ResponsesTransport

        view = copy.copy(self)  # shares the client: the pool closes the provider, never the view
        view.api = api
        view.responses = ResponsesTransport(view)
        return view

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        if self.responses is not None:
            return await self.responses.complete(request, timeout_s)
        # The SDK's own POST with the body as JSON: `chat.completions.create` would first walk
        # the whole history through its TypedDict transform (~0.5 ms a turn, a warm worker's
        # largest cost) to produce the same JSON. The answer is still parsed as ChatCompletion.
        completion = await self.client.post(
            "/chat/completions",
            body=self.chat_body(request),
            cast_to=ChatCompletion,
            options={"timeout": timeout_s},
        )
        if not hasattr(completion, "choices"):
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} answered 200 with a body that is not a chat completion",
                details={"provider": self.name, "body": str(completion)[:500]},
            )
        return self.read_completion(completion)

    chat_body = staticmethod(chat_completions_body)  # also one line of a Batch API input file

    def read_completion(self, completion: Any) -> ModelResponse:
        choices = completion.choices or []
        if not choices:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} returned a completion with no choices",
                details={"provider": self.name, "responseId": completion.id, "modelVersion": completion.model},
            )
        choice = choices[0]
        message = choice.message
        text = message.content or ""
        refusal = getattr(message, "refusal", None)
        finish: FinishReason | None = None
        if not text and refusal:
            text, finish = refusal, "refusal"
        usage = completion.usage
        return ModelResponse(
            text=text,
            model_version=completion.model or None,
            response_id=completion.id or None,
            raw_finish_reason=choice.finish_reason,
            finish_reason=finish,
            usage=self.usage_of(usage) if usage is not None else Usage.unreported(),
            system_fingerprint=getattr(completion, "system_fingerprint", None),
            reasoning=reasoning_content(message),
        )

    def usage_of(self, usage: CompletionUsage) -> Usage:
        """Our Usage from a completion's `usage`, in OpenAI's documented fields only.

        OpenAI counts reasoning inside `completion_tokens` and cache hits inside
        `prompt_tokens`, as we do. Compatible providers with other fields or another
        convention override this (DeepSeekProvider, XAIProvider).
        """
        reasoning = usage.completion_tokens_details
        prompt = usage.prompt_tokens_details
        return Usage.reasoning_inside_output(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            reasoning_tokens=reasoning.reasoning_tokens if reasoning is not None else 0,
            cached_input_tokens=prompt.cached_tokens if prompt is not None else 0,
            raw=usage.model_dump(exclude_none=True),
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        page = await self.client.models.list(timeout=timeout_s)
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        await self.client.close()

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        if isinstance(exc, openai.APITimeoutError):
            return ErrorFacts(self.name, kind="timeout", message=str(exc))
        if isinstance(exc, openai.APIConnectionError):  # also wraps httpx's redirect loop
            return redirect_facts(self.name, exc) or ErrorFacts(self.name, kind="connect", message=str(exc))
        if isinstance(exc, openai.APIResponseValidationError):
            return ErrorFacts(self.name, kind="invalid_response", status=exc.status_code, message=str(exc))
        if isinstance(exc, openai.APIStatusError):
            return ErrorFacts(
                self.name,
                status=exc.status_code,
                error_type=exc.type if isinstance(exc.type, str) else None,
                error_code=exc.code,
                param=exc.param if isinstance(exc.param, str) else None,
                message=self.error_message(exc),
                headers=dict(exc.response.headers),
                body=exc.body,
            )
        return super().error_facts(exc)

    def error_message(self, exc: openai.APIStatusError) -> str:
        """The provider's own message: `error.message` (the SDK keeps `error` as `body`).

        A body that is not JSON (a gateway's page) is its own message; the SDK's
        "Error code: <status>" otherwise.
        """
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message: str = body["message"]
            return message
        if isinstance(body, str) and body == exc.response.text.strip():
            return body
        return exc.message
