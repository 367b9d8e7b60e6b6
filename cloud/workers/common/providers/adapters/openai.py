"""OpenAI Chat Completions, and the base of every OpenAI-compatible provider (xAI, DeepSeek, local)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import openai
from openai.types.chat import ChatCompletion

from common.contract.probe import FinishReason, ParamNote
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import CHAT_COMPLETIONS_PARAM_NAMES, ModelRequest, ModelResponse, Provider
from common.providers.settings import ProviderSettings

# o-series and gpt-5 reject max_tokens and want max_completion_tokens.
_COMPLETION_TOKENS_FAMILIES = re.compile(r"^(ft:)?(o\d|gpt-5)")


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"
    PARAM_NAMES: ClassVar[dict[str, str | None]] = dict(CHAT_COMPLETIONS_PARAM_NAMES)
    PLACEHOLDER_KEY: ClassVar[str] = "unused"  # SDK demands a key even where the server wants none

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key or self.PLACEHOLDER_KEY,
            base_url=settings.base_url,
            max_retries=0,  # common.errors.retry owns retries
            timeout=600.0,  # replaced per request by the time left before the deadline
        )

    def max_tokens_param(self, model: str, requested: str | None) -> tuple[str, ParamNote | None]:
        if requested:
            return requested, None
        if self.name == "openai" and _COMPLETION_TOKENS_FAMILIES.match(model):
            return "max_completion_tokens", None
        return "max_tokens", None

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        kwargs = dict(request.params.sent)
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        # The SDK's own POST with the body as JSON: `chat.completions.create` would first walk
        # the whole history through its TypedDict transform (~0.5 ms a turn, a warm worker's
        # largest cost) to produce the same JSON. The answer is still parsed as ChatCompletion.
        completion = await self.client.post(
            "/chat/completions",
            body={"model": request.model, "messages": messages, **kwargs},
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
        input_tokens = output_tokens = None
        reasoning = cached = 0
        raw_usage: dict[str, Any] | None = None
        if usage is not None:
            raw_usage = usage.model_dump(exclude_none=True)
            input_tokens = _int(usage.prompt_tokens)
            output_tokens = _int(usage.completion_tokens)
            details = usage.completion_tokens_details
            reasoning = _int(details.reasoning_tokens) if details is not None else 0
            prompt_details = usage.prompt_tokens_details
            cached = _int(prompt_details.cached_tokens) if prompt_details is not None else 0
            cached = cached or _int(raw_usage.get("prompt_cache_hit_tokens"))  # DeepSeek's name
            # xAI reports reasoning tokens beside completion tokens (total = prompt +
            # completion + reasoning); OpenAI counts them inside. Ours are always inside.
            if reasoning and _int(usage.total_tokens) == input_tokens + output_tokens + reasoning:
                output_tokens += reasoning
        return ModelResponse(
            text=text,
            model_version=completion.model or None,
            response_id=completion.id or None,
            raw_finish_reason=choice.finish_reason,
            finish_reason=finish,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning,
            cached_input_tokens=cached,
            system_fingerprint=getattr(completion, "system_fingerprint", None),
            raw_usage=raw_usage,
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        page = await self.client.models.list(timeout=timeout_s)
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        await self.client.close()

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        if isinstance(exc, openai.APITimeoutError):
            return ErrorFacts(self.name, kind="timeout", message=str(exc))
        if isinstance(exc, openai.APIConnectionError):
            return ErrorFacts(self.name, kind="connect", message=str(exc))
        if isinstance(exc, openai.APIResponseValidationError):
            return ErrorFacts(self.name, kind="invalid_response", status=exc.status_code, message=str(exc))
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            message = exc.message
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                message = body["message"]
            elif isinstance(body, str):
                message = body  # xAI puts the message in a bare "error" string
            return ErrorFacts(
                self.name,
                status=exc.status_code,
                error_type=exc.type if isinstance(exc.type, str) else None,
                error_code=exc.code,
                param=exc.param if isinstance(exc.param, str) else None,
                message=message,
                headers=dict(exc.response.headers),
                body=body,
            )
        return super().error_facts(exc)
