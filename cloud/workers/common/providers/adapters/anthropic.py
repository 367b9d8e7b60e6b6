"""Anthropic Messages API (Claude models) through the official `anthropic` SDK."""

from __future__ import annotations

from typing import Any, ClassVar

import anthropic

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import Message, ModelRequest, ModelResponse, Provider, redirect_facts
from common.providers.settings import ProviderSettings
from common.providers.usage import Usage

# The Models API pages at most this many ids per request; one page is all a health check needs.
_MODELS_PAGE_LIMIT = 1000
# Parameters the SDK's messages.create() takes by name; the rest go in extra_body.
_SDK_KWARGS = frozenset({"max_tokens", "stop_sequences", "system"})


def _message_param(message: Message) -> anthropic.types.MessageParam:
    if message.role == "user":
        return anthropic.types.UserMessageParam(role="user", content=message.content)
    return anthropic.types.AssistantMessageParam(role="assistant", content=message.content)


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
        )

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        kwargs: dict[str, Any] = dict(request.params.sent)
        if request.system:
            kwargs["system"] = request.system  # Anthropic has no system role in `messages`
        extra_body = {key: kwargs.pop(key) for key in list(kwargs) if key not in _SDK_KWARGS}
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

    def read_message(self, message: anthropic.types.Message) -> ModelResponse:
        # Only `text` blocks are the answer; thinking and redacted_thinking blocks are not.
        text = "".join(block.text for block in message.content or [] if block.type == "text")
        usage = message.usage
        return ModelResponse(
            text=text,
            model_version=message.model or None,
            response_id=message.id or None,
            raw_finish_reason=message.stop_reason,
            usage=self.usage_of(usage) if usage is not None else Usage.unreported(),
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
