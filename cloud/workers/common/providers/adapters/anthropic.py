"""Anthropic Messages API (Claude models) through the official `anthropic` SDK."""

from __future__ import annotations

from typing import Any, ClassVar

import anthropic

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import Message, ModelRequest, ModelResponse, Provider, ResponseReasoning, redirect_facts
from common.providers.settings import ProviderSettings
from common.providers.turn_context import TurnContext
from common.providers.usage import Usage

# The Models API pages at most this many ids per request; one page is all a health check needs.
_MODELS_PAGE_LIMIT = 1000
# Parameters the SDK's messages.create() takes by name; the rest go in extra_body.
_SDK_KWARGS = frozenset({"max_tokens", "stop_sequences", "system"})
# Long generations are streamed. The SDK refuses a non-streaming request it expects to run
# past 10 minutes (expected 3600 s x max_tokens / 128 000 > 600 s: max_tokens above 21 333,
# or above a model's own non-streaming limit, the SDK's MODEL_NONSTREAMING_TOKENS) unless
# a timeout is passed, and Anthropic's docs recommend streaming for such requests: a long
# non-streamed answer holds a silent connection for minutes and is lost whole if cut.
# Streamed, it is assembled into the same turn, and the text and thinking received so far are
# kept in the turn's context (common.providers.turn_context) for the failure document.
STREAM_ABOVE_MAX_TOKENS = 21_333
_NONSTREAMING_LIMITS: dict[str, int] = dict(getattr(anthropic._constants, "MODEL_NONSTREAMING_TOKENS", {}))
STREAMED = "messages_stream"


def streams(model: str, max_tokens: object) -> bool:
    """Whether a request for `max_tokens` is streamed (see STREAM_ABOVE_MAX_TOKENS)."""
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return False
    limit = _NONSTREAMING_LIMITS.get(model)
    return max_tokens > STREAM_ABOVE_MAX_TOKENS or (limit is not None and max_tokens > limit)


def _message_param(message: Message) -> anthropic.types.MessageParam:
    if message.role == "user":
        return anthropic.types.UserMessageParam(role="user", content=message.content)
    return anthropic.types.AssistantMessageParam(role="assistant", content=message.content)


def thinking_of(blocks: list[Any]) -> ResponseReasoning | None:
    """The thinking blocks' text (Claude 4 models return it summarized) and how many blocks were
    redacted (`redacted_thinking`: encrypted, counted, never decoded). Neither is sent back: the
    history carries only the answers (README, reasoning)."""
    thoughts = [block.thinking for block in blocks if block.type == "thinking" and block.thinking]
    redacted = sum(1 for block in blocks if block.type == "redacted_thinking")
    if not thoughts and not redacted:
        return None
    return ResponseReasoning(text="\n\n".join(thoughts) or None, redacted_blocks=redacted)


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    # SDK 2.x sends API version 2026-10-21 by default, which rejects temperature, top_p and
    # top_k (400 even at their defaults) and has no SDK arguments for them. A probe asks
    # for a temperature, so requests pin 2023-06-01, which still honours it (and sends the
    # sampling parameters in the body). Models that refuse a parameter on this version get
    # the usual retry without it (common.probe.param_fallback), recorded in paramNotes.
    API_VERSION: ClassVar[str] = "2023-06-01"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = anthropic.AsyncAnthropic(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=0,  # common.errors.retry owns retries
            # Replaced per request by the time left before the deadline. Passing a timeout
            # on every call also stops the SDK refusing large max_tokens without streaming.
            timeout=600.0,
            default_headers={"anthropic-version": self.API_VERSION},
            http_client=self._warm_http_client(settings),
        )

    @staticmethod
    def _warm_http_client(settings: ProviderSettings) -> anthropic.DefaultAsyncHttpxClient | None:
        """The SDK's own client (its timeout, limits and redirects) on our aiohttp transport in
        the warm modes; None (the SDK builds its default) otherwise."""
        transport = settings.async_transport(limits=anthropic.DEFAULT_CONNECTION_LIMITS)
        return None if transport is None else anthropic.DefaultAsyncHttpxClient(transport=transport)

    @staticmethod
    def message_body(request: ModelRequest) -> dict[str, Any]:
        """The Messages API request body (also the `params` of a Message Batches request)."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_param(m) for m in request.messages],
            **request.params.sent,
        }
        if request.system:
            body["system"] = request.system  # Anthropic has no system role in `messages`
        return body

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        kwargs = self.message_body(request)
        del kwargs["model"], kwargs["messages"]  # passed by name below
        extra_body = {key: kwargs.pop(key) for key in list(kwargs) if key not in _SDK_KWARGS}
        if streams(request.model, kwargs.get("max_tokens")):
            message: Any = await self._streamed(request, kwargs, extra_body, timeout_s)
        else:
            message = await self.client.messages.create(
                model=request.model,
                messages=[_message_param(m) for m in request.messages],
                timeout=timeout_s,
                extra_body=extra_body or None,
                **kwargs,
            )
        if not isinstance(message, anthropic.types.Message):
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} answered 200 with a body that is not a message",
                details={"provider": self.name, "body": str(message)[:500]},
            )
        return self.read_message(message)

    async def _streamed(
        self, request: ModelRequest, kwargs: dict[str, Any], extra_body: dict[str, Any], timeout_s: float
    ) -> anthropic.types.Message:
        """The same request streamed (`messages.stream`), its answer and thinking text noted in the turn's
        context as they arrive (thinking is billed too); redacted thinking blocks are counted."""
        context = request.context or TurnContext()
        context.begin(STREAMED)
        async with self.client.messages.stream(
            model=request.model,
            messages=[_message_param(m) for m in request.messages],
            timeout=timeout_s,
            extra_body=extra_body or None,
            **kwargs,
        ) as stream:
            started = stopped = False
            async for event in stream:
                if event.type == "message_start":
                    started = True
                    context.response_id = event.message.id or None
                    context.model_version = event.message.model or None
                    context.status = "streaming"
                elif event.type == "content_block_start" and event.content_block.type == "redacted_thinking":
                    context.received_redacted_block()
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    context.received(event.delta.text)
                elif event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                    context.received_thinking(event.index, event.delta.thinking)
                elif event.type == "message_stop":
                    stopped = True
            # A stream closed before `message_stop` is a cut answer, never a finished one: the
            # text so far goes to the failure (incompleteTurn), and the turn is asked again.
            if not started:
                raise WorkerError(
                    ErrorCode.INVALID_RESPONSE,
                    f"{self.name} answered a streamed request without a message stream (a server that"
                    " does not stream? a smaller maxTokens is sent unstreamed: README, long generations)",
                    details={"provider": self.name},
                )
            if not stopped:
                raise WorkerError(
                    ErrorCode.NETWORK_ERROR,
                    f"{self.name}'s message stream ended before message_stop: the answer is incomplete",
                    details={"provider": self.name, "responseId": context.response_id},
                )
            message = await stream.get_final_message()
        context.status = "completed"
        return message

    def read_message(self, message: anthropic.types.Message) -> ModelResponse:
        # Only `text` blocks are the answer; thinking and redacted_thinking blocks are not.
        blocks = message.content or []
        text = "".join(block.text for block in blocks if block.type == "text")
        usage = message.usage
        return ModelResponse(
            text=text,
            model_version=message.model or None,
            response_id=message.id or None,
            raw_finish_reason=message.stop_reason,
            usage=self.usage_of(usage) if usage is not None else Usage.unreported(),
            reasoning=thinking_of(blocks),
        )

    @staticmethod
    def usage_of(usage: anthropic.types.Usage) -> Usage:
        """Anthropic's `input_tokens` is only the uncached part of the prompt; cache writes and reads are beside it.

        `output_tokens` already includes thinking tokens. Older API versions and compatible
        servers do not report thinking tokens apart; then reasoning stays 0 although
        thinking is inside the output count.
        """
        details = usage.output_tokens_details
        return Usage.cache_beside_input(
            uncached_input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=details.thinking_tokens if details is not None else 0,
            raw=usage.model_dump(exclude_none=True),
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        page = await self.client.models.list(limit=_MODELS_PAGE_LIMIT, timeout=timeout_s)
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        await self.client.close()

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        if isinstance(exc, anthropic.APITimeoutError):  # a subclass of APIConnectionError
            return ErrorFacts(self.name, kind="timeout", message=str(exc))
        if isinstance(exc, anthropic.APIConnectionError):  # also wraps httpx's redirect loop
            return redirect_facts(self.name, exc) or ErrorFacts(self.name, kind="connect", message=str(exc))
        if isinstance(exc, anthropic.APIResponseValidationError):
            return ErrorFacts(self.name, kind="invalid_response", status=exc.status_code, message=str(exc))
        if isinstance(exc, anthropic.APIStatusError):
            # e.body is the whole document: {"type": "error", "error": {"type", "message",
            # "details": {"error_code"}}, "request_id"}.
            body = exc.body
            error = body.get("error") if isinstance(body, dict) else None
            error = error if isinstance(error, dict) else {}
            error_type = error.get("type")
            message = error.get("message")
            if not isinstance(message, str):
                message = body if isinstance(body, str) and body else exc.message
            return ErrorFacts(
                self.name,
                status=exc.status_code,
                error_type=error_type if isinstance(error_type, str) else None,
                error_code=exc.error_code,  # error.details.error_code, e.g. enforced_spend_limit_reached
                message=message,
                headers=dict(exc.response.headers),
                body=body,
            )
        return super().error_facts(exc)
