"""Google Gemini (Gemini Developer API) through the official `google-genai` SDK."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, ClassVar

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import Message, ModelRequest, ModelResponse, Provider, ResponseReasoning
from common.providers.settings import ProviderSettings
from common.providers.usage import Usage

# Gemini's canonical status strings (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...). For a
# non-JSON error body the SDK puts the HTTP reason phrase ("Bad Gateway") there instead.
_CANONICAL_STATUS = re.compile(r"^[A-Z][A-Z_]+$")
# Gemini 2.5 and later refuse both penalties with one message that names neither field.
_PENALTY_REFUSED = re.compile(r"penalty is not enabled", re.IGNORECASE)
_PENALTIES = ("presence_penalty", "frequency_penalty")
# Attribute set on an SDK error by `complete`, naming the parameters that request sent.
_SENT_ATTR = "_probe_params_sent"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_MODELS_PAGE_SIZE = 1000  # the largest page models.list serves; one page is enough for a health check
_ROLES = {"user": "user", "assistant": "model"}


def _ms(timeout_s: float) -> int:
    # HttpOptions.timeout is whole milliseconds, and 0 means "no timeout" to the SDK.
    return max(1, int(timeout_s * 1000))


def _content(message: Message) -> types.Content:
    return types.Content(role=_ROLES[message.role], parts=[types.Part(text=message.content)])


def _enum_text(value: Any) -> str | None:
    """The wire string of an SDK enum; unknown values arrive as ad-hoc members named after it."""
    if value is None:
        return None
    text = value.value if isinstance(value, Enum) else value
    return str(text) if text else None


def _error_info_reason(body: Any) -> str | None:
    """`reason` of the google.rpc.ErrorInfo detail (e.g. API_KEY_INVALID), if the body has one."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("@type") == _ERROR_INFO and isinstance(detail.get("reason"), str):
            reason: str = detail["reason"]
            return reason
    return None


def _http_clients(settings: ProviderSettings) -> tuple[httpx2.Client, httpx2.AsyncClient]:
    """httpx2 clients for the SDK, sharing one TLS context: they pin its transport.

    Left to itself, google-genai sends async requests through aiohttp whenever aiohttp is
    importable, on its own aiohttp code path, which respx cannot see and which maps errors
    and timeouts differently; an explicit `httpx_async_client` turns that off (and aiohttp
    is hidden from its import unless loaded: common.providers.adapter_import). In the warm
    modes the async client sends on our aiohttp transport, under httpx2 like every other
    SDK's. These have
    the settings the SDK gives its own: `follow_redirects=True`, no client-wide timeout
    (every request carries one), the TLS context of `httpx2.create_ssl_context()` (which
    honours SSL_CERT_FILE / SSL_CERT_DIR like the SDK). Passing both also spares the SDK
    loading the CA store for a sync client of its own.
    """
    tls = httpx2.create_ssl_context()
    transport = settings.async_transport(verify=tls)
    return (
        httpx2.Client(follow_redirects=True, verify=tls, timeout=None),
        httpx2.AsyncClient(follow_redirects=True, verify=tls, timeout=None, transport=transport),
    )


class GoogleProvider(Provider):
    name: ClassVar[str] = "google"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        # Ours to close (the SDK leaves clients it was given open); see _http_clients.
        self.http_client, self.async_http_client = _http_clients(settings)
        # Kept on the instance: a garbage-collected Client closes its HTTP client.
        self.client = genai.Client(
            api_key=settings.api_key,
            enterprise=False,  # GOOGLE_GENAI_USE_ENTERPRISE/VERTEXAI must not re-route to Vertex AI
            http_options=types.HttpOptions(
                base_url=settings.base_url or None,
                timeout=600_000,  # replaced per request by the time left before the deadline
                # One attempt: common.errors.retry owns retries.
                retry_options=types.HttpRetryOptions(attempts=1),
                httpx_client=self.http_client,
                httpx_async_client=self.async_http_client,
            ),
        )

    @staticmethod
    def content_request(request: ModelRequest) -> tuple[list[types.Content], types.GenerateContentConfig]:
        """The contents and config of one request (pure): what `complete` sends, and a batch's inlined request."""
        config = types.GenerateContentConfig(**request.params.sent, system_instruction=request.system or None)
        return [_content(m) for m in request.messages], config

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        contents, config = self.content_request(request)
        config.http_options = types.HttpOptions(timeout=_ms(timeout_s))
        try:
            response = await self.client.aio.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            # error_facts cannot see the request; this says which penalty a refusal is about.
            setattr(exc, _SENT_ATTR, tuple(request.params.sent))
            raise
        return self.read_response(response)

    def read_response(self, response: types.GenerateContentResponse) -> ModelResponse:
        common: dict[str, Any] = {
            "model_version": response.model_version or None,
            "response_id": response.response_id or None,
            "usage": self.usage_of(response.usage_metadata),
        }
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            block = _enum_text(feedback.block_reason) if feedback is not None else None
            if block:
                # The prompt itself was refused: an empty, filtered answer (CONTENT_FILTERED).
                return ModelResponse(
                    text="", raw_finish_reason=f"PROMPT_BLOCKED:{block}", finish_reason="content_filter", **common
                )
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} returned neither a candidate nor a reason for blocking the prompt",
                details={
                    "provider": self.name,
                    "modelVersion": response.model_version,
                    "responseId": response.response_id,
                },
            )
        candidate = candidates[0]
        parts = candidate.content.parts if candidate.content is not None else None
        # Thought-summary parts (`thought: true`) are the model's reasoning, not its answer.
        text = "".join(part.text for part in parts or [] if part.text and not part.thought)
        thoughts = "".join(part.text for part in parts or [] if part.text and part.thought)
        return ModelResponse(
            text=text,
            raw_finish_reason=_enum_text(candidate.finish_reason),
            # Returned with include_thoughts; never sent back (README, reasoning).
            reasoning=ResponseReasoning(summary=thoughts) if thoughts else None,
            **common,
        )

    @staticmethod
    def usage_of(usage: types.GenerateContentResponseUsageMetadata | None) -> Usage:
        """Gemini reports thinking tokens (`thoughtsTokenCount`) beside candidate tokens.

        `promptTokenCount` already includes cached content. Zero counts are left out of
        the JSON, so a missing `candidatesTokenCount` beside a prompt count is 0; without
        a prompt count the usage is unreported (`raw` keeps what there was).
        """
        if usage is None:
            return Usage.unreported()
        raw = usage.model_dump(mode="json", exclude_none=True, by_alias=True) or None
        if usage.prompt_token_count is None:
            return Usage.unreported(raw)
        return Usage.reasoning_beside_output(
            input_tokens=usage.prompt_token_count,
            output_tokens=usage.candidates_token_count,
            reasoning_tokens=usage.thoughts_token_count,
            cached_input_tokens=usage.cached_content_token_count,
            raw=raw,
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        pager = await self.client.aio.models.list(
            config=types.ListModelsConfig(
                page_size=_MODELS_PAGE_SIZE, http_options=types.HttpOptions(timeout=_ms(timeout_s))
            )
        )
        return [model.name.removeprefix("models/") for model in pager.page if model.name]

    async def aclose(self) -> None:
        await self.client.aio.aclose()
        self.client.close()
        await self.async_http_client.aclose()
        self.http_client.close()

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        if isinstance(exc, genai_errors.APIError):
            body = exc.details  # the whole JSON: {"error": {"code", "message", "status", "details": [...]}}
            status = exc.status if isinstance(exc.status, str) and _CANONICAL_STATUS.match(exc.status) else None
            message = exc.message if isinstance(exc.message, str) else str(exc)
            headers = getattr(exc.response, "headers", None)
            return ErrorFacts(
                self.name,
                status=exc.code if isinstance(exc.code, int) else None,
                error_type=status,
                error_code=_error_info_reason(body),
                param=self._refused_param(message, getattr(exc, _SENT_ATTR, ())),
                message=message,
                headers=dict(headers) if headers is not None else {},
                body=body,
            )
        # A 200 whose body is not JSON (JSONDecodeError, UnknownApiResponseError) and a
        # redirect loop are recognised for every provider alike by `transport_facts`.
        return super().error_facts(exc)

    @staticmethod
    def _refused_param(message: str, sent: tuple[str, ...]) -> str | None:
        """The penalty to drop when Gemini says penalties are not enabled for the model."""
        if not _PENALTY_REFUSED.search(message):
            return None
        return next((name for name in _PENALTIES if name in sent), None)
