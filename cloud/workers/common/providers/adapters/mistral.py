"""Mistral La Plateforme chat completions through the official `mistralai` 3.x SDK.

The SDK raises one error class for every HTTP failure (`MistralError`, with the body as
raw text), so this module parses Mistral's error bodies into `ErrorFacts`; the code is
then decided by `common.errors.classify.RULES` like for every other provider.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx2
from mistralai.client import Mistral, utils
from mistralai.client._hooks import HookContext
from mistralai.client.errors import (
    HTTPValidationError,
    HTTPValidationErrorData,
    MistralError,
    NoResponseError,
    SDKError,
)
from mistralai.client.models import ChatCompletionResponse, Security, TextChunk, ThinkChunk, UsageInfo
from mistralai.client.utils.unmarshal_json_response import unmarshal_json_response
from pydantic import ValidationError

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.base import ModelRequest, ModelResponse, Provider, ResponseReasoning, chat_completions_body
from common.providers.settings import ProviderSettings
from common.providers.usage import Usage, as_count

# The SDK appends /v1/... to its server URL; people often write the base URL with /v1.
_API_SUFFIX = "/v1"
# Mistral's own error bodies can be long (a 422 echoes the input); keep what is useful.
_MAX_BODY_CHARS = 4000
_CHAT_PATH = "/v1/chat/completions"
_CHAT_OPERATION = "chat_completion_v1_chat_completions_post"  # the SDK's name for it (hooks see it)


def server_url(base_url: str | None) -> str | None:
    """The SDK's server URL for a configured base URL: without a trailing `/v1`."""
    if not base_url:
        return None
    url = base_url.rstrip("/")
    return url[: -len(_API_SUFFIX)] if url.endswith(_API_SUFFIX) else url


def _http_clients(settings: ProviderSettings) -> tuple[httpx2.Client, httpx2.AsyncClient]:
    """The sync and async HTTP clients the SDK would build for itself, sharing one TLS context.

    Left to itself the SDK builds both, each loading the CA store into its own SSL context
    (~40 ms apiece), though only the async one is ever used here. These have the SDK's
    own settings: `follow_redirects=True`, certificates and proxies from the environment;
    in the warm modes the async one sends on our aiohttp transport.
    """
    tls = httpx2.create_ssl_context()
    transport = settings.async_transport(verify=tls)
    return (
        httpx2.Client(follow_redirects=True, verify=tls),
        httpx2.AsyncClient(follow_redirects=True, verify=tls, transport=transport),
    )


def sdk_wire_body(body: dict[str, Any]) -> dict[str, Any]:
    """A chat body as the SDK's `ChatCompletionRequest` serializes it: `stream: false` and each
    assistant message's `prefix: false` added (the defaults it always sends)."""
    messages = [{**m, "prefix": False} if m["role"] == "assistant" else m for m in body["messages"]]
    return {**body, "messages": messages, "stream": False}


def _timeout_ms(timeout_s: float) -> int:
    return max(1, int(timeout_s * 1000))


def answer_text(content: Any) -> str:
    """The answer: a plain string, or the text chunks of a chunk list (thinking left out)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(chunk.text for chunk in content if isinstance(chunk, TextChunk))
    return ""


def thinking_text(content: Any) -> ResponseReasoning | None:
    """The text of a chunk list's thinking chunks (magistral 2507+ and adjustable models). Never
    sent back: the history carries only the answers (README, reasoning)."""
    if not isinstance(content, list):
        return None
    parts = [
        part.text
        for chunk in content
        if isinstance(chunk, ThinkChunk)
        for part in chunk.thinking
        if isinstance(part, TextChunk) and part.text
    ]
    return ResponseReasoning(text="".join(parts)) if parts else None


def _detail_text(detail: list[Any]) -> tuple[str, str | None]:
    """A FastAPI-style 422 `detail` list as one message, and the body field it blames."""
    parts: list[str] = []
    param: str | None = None
    for item in detail:
        if not isinstance(item, dict):
            parts.append(str(item))
            continue
        loc = [str(p) for p in item.get("loc") or []]
        if param is None and len(loc) == 2 and loc[0] == "body":
            param = loc[1]
        parts.append(f"{'.'.join(loc)}: {item.get('msg', '')}".strip(": "))
    return "; ".join(parts), param


def parse_error_body(text: str) -> tuple[Any, str | None, str | None, str | None, str | None]:
    """(body, message, type, code, param) from a Mistral error body.

    Shapes seen: `{"object":"error","message":"...","type":"...","param":null,"code":"1300"}`,
    `{"message":"Unauthorized","request_id":"..."}`, `{"detail":"Not Found"}` and the 422
    `{"detail":[{"type":..., "loc":[...], "msg":...}]}`. Anything else is kept as text.
    """
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        snippet = text[:_MAX_BODY_CHARS] if text else None
        return snippet, (snippet.strip() or None) if snippet else None, None, None, None
    message: str | None = None
    param = data.get("param") if isinstance(data.get("param"), str) else None
    raw_message = data.get("message")
    if isinstance(raw_message, str):
        message = raw_message
    elif isinstance(raw_message, dict) and isinstance(raw_message.get("detail"), list):
        message, param = _detail_text(raw_message["detail"])  # older proxies wrapped the 422
    elif raw_message is not None:
        message = json.dumps(raw_message)
    detail = data.get("detail")
    if message is None and isinstance(detail, str):
        message = detail
    elif message is None and isinstance(detail, list):
        message, blamed = _detail_text(detail)
        param = param or blamed
    error_type = data.get("type") if isinstance(data.get("type"), str) else None
    code = data.get("code")
    error_code = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None
    return data, message, error_type, error_code, param


def completion_from_200(exc: MistralError) -> ChatCompletionResponse | None:
    """A chat completion the SDK refused although the server answered 200 with one.

    The SDK refuses a completion served with another content type than
    `application/json` (`text/plain` from some gateways; every other provider's SDK reads
    the body whatever its type) and one without `usage` (some gateways omit it; its usage
    is then left unreported, so the runner estimates the tokens). Anything that is not a
    chat completion stays refused (INVALID_RESPONSE).
    """
    if exc.status_code != 200:
        return None
    try:
        data = json.loads(exc.body or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("usage") is None:
        data = {**data, "usage": {}}
    try:
        return ChatCompletionResponse.model_validate(data)
    except ValidationError:
        return None


class MistralProvider(Provider):
    name: ClassVar[str] = "mistral"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        sync_http, async_http = _http_clients(settings)
        self.client = Mistral(
            api_key=settings.api_key,
            server_url=server_url(settings.base_url),
            client=sync_http,
            async_client=async_http,
            retry_config=None,  # common.errors.retry owns retries (the SDK default is none; keep it so)
            timeout_ms=600_000,  # replaced per request by the time left before the deadline
        )

    chat_body = staticmethod(chat_completions_body)  # what `complete` sends, and a batch line's `body`

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        try:
            completion = await self.send_chat(self.chat_body(request), _timeout_ms(timeout_s))
        except MistralError as exc:  # ResponseValidationError, or SDKError for another content type
            refused = completion_from_200(exc)
            if refused is None:
                raise
            completion = refused
        return self.read_completion(completion)

    async def send_chat(self, body: dict[str, Any], timeout_ms: int) -> ChatCompletionResponse:
        """`chat.complete_async`'s own steps (the SDK's request builder, auth, hooks, timeout and
        errors), with the body as JSON instead of a `ChatCompletionRequest`.

        The SDK's `chat` module evaluates every chat method's signature at import, building some
        30 pydantic models (tools, guardrails, prediction, ...), and serializes the request
        through a model made on each call: ~45 ms of a one-shot job's first request (of ~65).
        The JSON sent is what the SDK sends (`sdk_wire_body`; keys may come in another order),
        with the same headers and timeout: tests/test_provider_mistral.py compares the two.
        """
        config = self.client.sdk_configuration
        content = json.dumps(sdk_wire_body(body), separators=(",", ":")).encode()
        http_request = self.client._build_request_async(  # the SDK's own builder (see above)
            method="POST",
            path=_CHAT_PATH,
            base_url=None,
            url_variables=None,
            request=None,  # ChatCompletionRequest has no path, query or header fields
            request_body_required=True,
            request_has_path_params=False,
            request_has_query_params=False,
            user_agent_header="user-agent",
            accept_header_value="application/json",
            security=config.security,
            get_serialized_body=lambda: utils.SerializedRequestBody(media_type="application/json", content=content),
            timeout_ms=timeout_ms,
        )
        response = await self.client.do_request_async(
            hook_ctx=HookContext(
                config=config,
                base_url="",
                operation_id=_CHAT_OPERATION,
                oauth2_scopes=None,
                security_source=utils.get_security_from_env(config.security, Security),
                tags=["chat"],
                extensions=None,
            ),
            request=http_request,
            is_error_status_code=lambda code: utils.match_status_codes(["4XX", "5XX"], code),
            retry_config=None,  # common.errors.retry owns retries
        )
        if utils.match_response(response, "200", "application/json"):
            return unmarshal_json_response(ChatCompletionResponse, response)
        if utils.match_response(response, "422", "application/json"):
            raise HTTPValidationError(unmarshal_json_response(HTTPValidationErrorData, response), response)
        if utils.match_response(response, ["4XX", "5XX"], "*"):
            raise SDKError("API error occurred", response, await utils.stream_to_text_async(response))
        raise SDKError("Unexpected response received", response)

    def read_completion(self, completion: ChatCompletionResponse) -> ModelResponse:
        if not completion.choices:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} returned a completion with no choices",
                details={"provider": self.name, "responseId": completion.id, "modelVersion": completion.model},
            )
        choice = completion.choices[0]
        message = choice.message
        text = answer_text(message.content) if message is not None else ""
        return ModelResponse(
            text=text,
            model_version=completion.model or None,
            response_id=completion.id or None,
            raw_finish_reason=str(choice.finish_reason) if choice.finish_reason else None,
            usage=self.usage_of(completion.usage),
            reasoning=thinking_text(message.content) if message is not None else None,
        )

    @staticmethod
    def usage_of(usage: UsageInfo | None) -> Usage:
        """Mistral counts reasoning inside `completion_tokens` (and rarely reports it apart).

        When it does report reasoning tokens, the total says whether they are inside or
        beside `completion_tokens`. Cache hits come as `prompt_tokens_details.cached_tokens`
        (older responses: `num_cached_tokens` or `prompt_token_details`), which the SDK
        keeps only as extra fields.
        """
        if usage is None:
            return Usage.unreported()
        raw: dict[str, Any] = usage.model_dump(mode="json", exclude_none=True)
        reported = usage.model_fields_set | set(usage.additional_properties or {})
        if not {"prompt_tokens", "completion_tokens"} <= reported:
            return Usage.unreported(raw or None)
        details = raw.get("completion_tokens_details")
        cached = 0
        for key in ("prompt_tokens_details", "prompt_token_details"):
            block = raw.get(key)
            if isinstance(block, dict):
                cached = cached or as_count(block.get("cached_tokens"))
        return Usage.reasoning_placed_by_total(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            reasoning_tokens=details.get("reasoning_tokens") if isinstance(details, dict) else 0,
            total_tokens=usage.total_tokens,
            cached_input_tokens=cached or raw.get("num_cached_tokens"),
            raw=raw,
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        page = await self.client.models.list_async(timeout_ms=_timeout_ms(timeout_s))
        ids = (getattr(model, "id", None) for model in page.data or [])
        return [model_id for model_id in ids if isinstance(model_id, str)]

    async def aclose(self) -> None:
        # Both HTTP clients were made here (see _http_clients), so closing them is ours too.
        config = self.client.sdk_configuration
        if config.async_client is not None:
            await config.async_client.aclose()
        if config.client is not None:
            config.client.close()
        config.async_client = None
        config.client = None

    def error_facts(self, exc: BaseException) -> ErrorFacts | None:
        if isinstance(exc, NoResponseError):
            return ErrorFacts(self.name, kind="connect", message=exc.message)
        if isinstance(exc, MistralError):
            status = exc.status_code
            headers = dict(exc.headers) if exc.headers is not None else {}
            if status < 400:
                # A 2xx that is not a chat completion: "Unexpected response received" (not
                # JSON) or "Response validation failed" (JSON of another shape).
                return ErrorFacts(
                    self.name,
                    kind="invalid_response",
                    status=status,
                    message=exc.message[:_MAX_BODY_CHARS],
                    headers=headers,
                    body=(exc.body or "")[:_MAX_BODY_CHARS] or None,
                )
            body, message, error_type, error_code, param = parse_error_body(exc.body or "")
            return ErrorFacts(
                self.name,
                status=status,
                error_type=error_type,
                error_code=error_code,
                param=param,
                message=message or f"HTTP {status}",
                headers=headers,
                body=body,
            )
        return super().error_facts(exc)
