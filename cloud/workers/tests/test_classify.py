"""The classification table, case by case, through the real provider adapters.

Each case is one HTTP answer (status, headers and body as the provider sends it) served
by respx to the provider's real SDK call inside its adapter's `complete`; the SDK raises
its own exception and `adapter.classify` turns it into the `WorkerError` a host receives.
So a case fails if the adapter's body parsing regresses, not only if the rule table does.

The cases are data (`fixtures/errors/classification.json`, see `fixtures/errors/SOURCES.md`):
a key naming an entry of `provider_errors.json` takes its provider, status, headers and
body from there; `<provider>/<name>` takes the body of `fixtures/<provider>/errors.json`
entry `<name>`; any entry may instead carry `provider`, `status`, `headers` and `body`
itself, so a new real body is one JSON entry. `"xfail": "<why>"` marks a case the adapter
gets wrong today (strict: it fails once fixed, so the mark is then removed).

Only the rule table's own logic (transport kinds first, status fallbacks, the RETRYABLE
table) is still tested on `ErrorFacts` directly.

Every respx case runs on both HTTP transports the adapters send on (`http_transport`):
httpx2's own (respx answers inside it) and ours on aiohttp, the warm modes' (the answer
comes over a real socket from `testkit.respx_server`, which asks the same respx routes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from common.contract.probe import WorkerFailure
from common.errors import retry_hints
from common.errors.classify import RULES, classify_facts, to_worker_error
from common.errors.codes import RETRYABLE, ErrorCode, WorkerError
from common.errors.facts import SCANNED_TEXT_CHARS, ErrorFacts
from common.io.render import render
from common.providers.adapters.anthropic import AnthropicProvider
from common.providers.adapters.deepseek import DeepSeekProvider
from common.providers.adapters.google import GoogleProvider
from common.providers.adapters.mistral import MistralProvider
from common.providers.adapters.openai import OpenAIProvider
from common.providers.adapters.openai_compatible import OpenAICompatibleProvider
from common.providers.adapters.xai import XAIProvider
from common.providers.base import Message, ModelRequest, ParamMapping, Provider
from common.providers.settings import HttpTransport, ProviderSettings
from testkit.respx_server import RespxServer

FIXTURES = Path(__file__).parent / "fixtures"
PROVIDER_ERRORS: dict[str, dict[str, Any]] = json.loads((FIXTURES / "errors" / "provider_errors.json").read_text())
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "errors" / "classification.json").read_text())
# The per-provider error bodies (kept beside each provider's other payloads).
PROVIDER_FIXTURES = ("openai", "anthropic", "google", "mistral")
# The wall clock every case is classified at: 2026-03-10 08:00 PDT (daylight saving time began
# on March 8), so a per-day Gemini quota resets in 16 h, at 2026-03-11 07:00 UTC.
NOW = 1_773_154_800.0


def _provider_bodies(provider: str) -> dict[str, Any]:
    bodies: dict[str, Any] = json.loads((FIXTURES / provider / "errors.json").read_text())
    return bodies


# ------------------------------------------------------------ each provider's real endpoint


@dataclass(frozen=True)
class Endpoint:
    """Where an adapter's `complete` sends its one request, with fake credentials."""

    adapter: Callable[[ProviderSettings], Provider]
    base_url: str
    url: str
    model: str
    key: str
    max_tokens_param: str = "max_tokens"

    def build(self, provider: str) -> Provider:
        settings = ProviderSettings(provider, self.key, self.base_url, http_transport=TRANSPORT.chosen)
        if TRANSPORT.server is not None:  # aiohttp: the answers come over a socket (see the module docstring)
            settings = replace(settings, base_url=TRANSPORT.server.base_url_for(self.base_url))
        return self.adapter(settings)

    def request(self) -> ModelRequest:
        params = ParamMapping(sent={self.max_tokens_param: 64})
        return ModelRequest(self.model, (Message("user", "Hello"),), None, params)


ENDPOINTS: dict[str, Endpoint] = {
    "openai": Endpoint(
        OpenAIProvider,
        "https://api.openai.com/v1",
        "https://api.openai.com/v1/chat/completions",
        "gpt-4o",
        "sk-test-openai-not-real-0123456789",
    ),
    "xai": Endpoint(
        XAIProvider,
        "https://api.x.ai/v1",
        "https://api.x.ai/v1/chat/completions",
        "grok-4",
        "xai-test-key-not-real-0123456789",
    ),
    "deepseek": Endpoint(
        DeepSeekProvider,
        "https://api.deepseek.com",
        "https://api.deepseek.com/chat/completions",
        "deepseek-chat",
        "sk-test-deepseek-not-real-0123",
    ),
    # Groq's OpenAI-compatible endpoint: the server the per-day rate-limit body came from.
    "openai-compatible": Endpoint(
        OpenAICompatibleProvider,
        "https://api.groq.com/openai/v1",
        "https://api.groq.com/openai/v1/chat/completions",
        "llama-3.3-70b-versatile",
        "gsk-test-key-not-real-0123456789",
    ),
    "anthropic": Endpoint(
        AnthropicProvider,
        "https://api.anthropic.com",
        "https://api.anthropic.com/v1/messages",
        "claude-opus-4-5",
        "sk-ant-test-key-not-real-0123456789",
    ),
    "google": Endpoint(
        GoogleProvider,
        "https://generativelanguage.googleapis.com",
        "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:generateContent",
        "gemini-2.5-flash",
        "AIzaSyD-test-key-not-real-0123456789ab",
        max_tokens_param="max_output_tokens",
    ),
    "mistral": Endpoint(
        MistralProvider,
        "https://api.mistral.ai",
        "https://api.mistral.ai/v1/chat/completions",
        "mistral-small-latest",
        "mistral-test-key-not-real-0123456789",
    ),
}


@dataclass
class _Transport:
    """The transport the current test's adapters send on (set by the `respx_mock` fixture below)."""

    chosen: HttpTransport = "httpx2"
    server: RespxServer | None = None


TRANSPORT = _Transport()


@pytest.fixture(scope="module")
def respx_server() -> Iterator[RespxServer]:
    with RespxServer().running() as server:
        yield server


@pytest.fixture(params=["httpx2", "aiohttp"])
def respx_mock(
    request: pytest.FixtureRequest, respx_mock: respx.MockRouter, respx_server: RespxServer
) -> Iterator[respx.MockRouter]:
    """respx's own fixture, once per transport: on aiohttp the adapters send to `respx_server`."""
    TRANSPORT.chosen = request.param
    TRANSPORT.server = respx_server if request.param == "aiohttp" else None
    respx_server.router = respx_mock
    try:
        yield respx_mock
    finally:
        TRANSPORT.chosen, TRANSPORT.server = "httpx2", None


@pytest.fixture(autouse=True)
def no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read base URLs, keys and Vertex switches from the environment; none may leak in."""
    for var in (
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def pinned_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hints measured against the wall clock (a quota's daily reset) are the same on every run."""
    monkeypatch.setattr(retry_hints, "clock", lambda: NOW)


def http_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """The provider's answer: a JSON document, or (a str body) the bare text it sent."""
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


async def sdk_exception(
    respx_mock: respx.MockRouter, provider: str, answer: httpx.Response | Exception
) -> tuple[Provider, Exception]:
    """Serves `answer` to one `complete` call of the real adapter: (adapter, the exception its SDK raised)."""
    endpoint = ENDPOINTS[provider]
    route = respx_mock.post(endpoint.url)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    adapter = endpoint.build(provider)
    raised: Exception | None = None
    # A timeout is one: on aiohttp the server really holds the request until the client gives up.
    timeout_s = 1.0 if isinstance(answer, httpx.TimeoutException) else 30.0
    try:
        await adapter.complete(endpoint.request(), timeout_s)
    except Exception as exc:  # whatever the SDK raises is what classify must read
        raised = exc
    finally:
        await adapter.aclose()
    assert raised is not None, f"{provider} accepted the answer instead of raising"
    assert route.call_count == 1  # one request: the SDK's own retries are off
    assert not isinstance(raised, WorkerError), f"{provider} raised {raised!r}, not its SDK's exception"
    return adapter, raised


async def classified(respx_mock: respx.MockRouter, provider: str, answer: httpx.Response | Exception) -> WorkerError:
    adapter, raised = await sdk_exception(respx_mock, provider, answer)
    error = adapter.classify(raised)
    rendered = render(WorkerFailure.from_error(error))  # what a host receives
    assert ENDPOINTS[provider].key not in rendered
    return error


# ------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    name: str
    provider: str
    status: int
    body: Any
    code: ErrorCode
    retryable: bool
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    xfail: str | None = None

    def answer(self) -> httpx.Response:
        return http_answer(self.status, self.body, self.headers)


def _case(name: str, expected: dict[str, Any]) -> Case:
    if "body" in expected:
        source: dict[str, Any] = {}
    elif "/" in name:
        folder, entry = name.split("/", 1)
        source = {"provider": folder, "body": _provider_bodies(folder)[entry]}
    else:
        source = PROVIDER_ERRORS[name]
    merged = {**source, **expected}
    return Case(
        name=name,
        provider=merged["provider"],
        status=merged["status"],
        body=merged["body"],
        headers=merged.get("headers", {}),
        code=ErrorCode(merged["code"]),
        retryable=merged["retryable"],
        message=merged["message"],
        retry_after_ms=merged.get("retryAfterMs"),
        details=merged.get("details", {}),
        xfail=merged.get("xfail"),
    )


CASES: dict[str, Case] = {name: _case(name, expected) for name, expected in EXPECTED.items()}


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.name, marks=marks)


def test_every_real_error_body_has_a_case() -> None:
    """A body added to any error fixture file without an expected outcome fails here."""
    assert set(PROVIDER_ERRORS) <= set(CASES)
    covered = [case.body for case in CASES.values()]
    for provider in PROVIDER_FIXTURES:
        for name, body in _provider_bodies(provider).items():
            assert body in covered, f"fixtures/{provider}/errors.json {name} has no case in classification.json"


def test_every_provider_adapter_has_cases() -> None:
    assert {case.provider for case in CASES.values()} == set(ENDPOINTS)


@pytest.mark.parametrize("case", [_param(case) for case in CASES.values()])
async def test_real_provider_error_bodies_through_the_adapters(respx_mock: respx.MockRouter, case: Case) -> None:
    error = await classified(respx_mock, case.provider, case.answer())
    assert error.code is case.code
    assert error.retryable is case.retryable
    assert error.status_code == case.status
    assert error.retry_after_ms == case.retry_after_ms
    assert error.message == case.message
    assert error.details["provider"] == case.provider
    assert {key: error.details.get(key) for key in case.details} == case.details


@pytest.mark.parametrize(
    ("name", "retryable"),
    [
        ("openai_insufficient_quota", False),
        ("openai_rate_limit_tokens", True),
        ("gemini_rate_limited", True),
        ("anthropic_overloaded", True),
        ("deepseek_insufficient_balance", False),
        ("xai_credits_exhausted_429", False),
    ],
)
async def test_the_issues_named_cases_say_truthfully_whether_a_retry_helps(
    respx_mock: respx.MockRouter, name: str, retryable: bool
) -> None:
    case = CASES[name]
    assert (await classified(respx_mock, case.provider, case.answer())).retryable is retryable


# ------------------------------------------------------------ status and transport fallbacks


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, ErrorCode.SERVER_ERROR),
        (502, ErrorCode.SERVER_ERROR),
        (503, ErrorCode.OVERLOADED),
        (504, ErrorCode.TIMEOUT),
        (520, ErrorCode.SERVER_ERROR),
        (529, ErrorCode.OVERLOADED),
        (408, ErrorCode.TIMEOUT),
        (409, ErrorCode.SERVER_ERROR),
        (413, ErrorCode.BAD_REQUEST),
        (422, ErrorCode.BAD_REQUEST),
        (400, ErrorCode.BAD_REQUEST),
        (418, ErrorCode.BAD_REQUEST),
        (401, ErrorCode.AUTH_ERROR),
        (403, ErrorCode.AUTH_ERROR),
        (404, ErrorCode.NOT_FOUND),
        (429, ErrorCode.RATE_LIMIT),
        (402, ErrorCode.QUOTA_EXCEEDED),
    ],
)
@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_a_bare_status_without_a_json_body_still_gets_a_code(
    respx_mock: respx.MockRouter, provider: str, status: int, code: ErrorCode
) -> None:
    """A gateway or proxy in front of the provider answers with its own HTML page."""
    page = "<html><body><h1>gateway page</h1></body></html>"
    answer = httpx.Response(status, text=page, headers={"content-type": "text/html"})
    error = await classified(respx_mock, provider, answer)
    assert error.code is code
    assert error.retryable is RETRYABLE[code]
    assert error.status_code == status


@pytest.mark.parametrize("status", [None, 302, 600, 999])
def test_an_unknown_status_is_unknown_and_not_retried(status: int | None) -> None:
    error = to_worker_error(ErrorFacts("openai", status=status, message="something odd"))
    assert error.code is ErrorCode.UNKNOWN
    assert error.retryable is False


@pytest.mark.parametrize(
    ("failure", "code", "kind"),
    [
        (httpx.ReadTimeout("timed out"), ErrorCode.TIMEOUT, "timeout"),
        (httpx.ConnectError("connection refused"), ErrorCode.NETWORK_ERROR, "connect"),
    ],
    ids=["timeout", "connect"],
)
@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_transport_failures_through_the_adapters(
    respx_mock: respx.MockRouter, provider: str, failure: Exception, code: ErrorCode, kind: str
) -> None:
    error = await classified(respx_mock, provider, failure)
    assert error.code is code
    assert error.retryable is True
    assert error.status_code is None
    assert error.details["kind"] == kind


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("timeout", ErrorCode.TIMEOUT),
        ("connect", ErrorCode.NETWORK_ERROR),
        ("invalid_response", ErrorCode.INVALID_RESPONSE),
    ],
)
def test_transport_kinds_are_read_before_any_status(kind: Any, code: ErrorCode) -> None:
    error = to_worker_error(ErrorFacts("anthropic", kind=kind, message="Request timed out."))
    assert error.code is code
    assert error.status_code is None
    assert error.details["kind"] == kind


def test_a_timeout_is_a_timeout_even_if_a_stale_status_is_attached() -> None:
    assert classify_facts(ErrorFacts("google", kind="timeout", status=400)) is ErrorCode.TIMEOUT


@pytest.mark.parametrize("padding", [100, SCANNED_TEXT_CHARS + 100])
def test_only_the_head_of_a_megabyte_error_page_is_read(padding: int) -> None:
    # A gateway's page can be megabytes; scanning all of it with every rule held a serve loop
    # for seconds per attempt. Words past the scanned head are not read (they would not be
    # shown either: the message keeps its first 4,000 characters).
    page = "<html><pre>" + "x" * padding + " maximum context length. Please try again in 5s</pre></html>"
    error = to_worker_error(ErrorFacts("openai", status=400, message=page, body=page))
    if padding < SCANNED_TEXT_CHARS:
        assert (error.code, error.retry_after_ms) == (ErrorCode.CONTEXT_LENGTH, 5000)
    else:
        assert (error.code, error.retry_after_ms) == (ErrorCode.BAD_REQUEST, None)


# ------------------------------------------------------------ the codes themselves


def test_every_code_has_a_fixed_retryable_entry() -> None:
    assert set(RETRYABLE) == set(ErrorCode)
    assert all(isinstance(flag, bool) for flag in RETRYABLE.values())


def test_the_retryable_flags_the_issue_fixes() -> None:
    retryable = {code for code, flag in RETRYABLE.items() if flag}
    for code in (
        ErrorCode.RATE_LIMIT,
        ErrorCode.TIMEOUT,
        ErrorCode.NETWORK_ERROR,
        ErrorCode.SERVER_ERROR,
        ErrorCode.OVERLOADED,
    ):
        assert code in retryable
    for code in (
        ErrorCode.QUOTA_EXCEEDED,
        ErrorCode.AUTH_ERROR,
        ErrorCode.MISSING_API_KEY,
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.BAD_REQUEST,
        ErrorCode.CONTEXT_LENGTH,
        ErrorCode.CONTENT_FILTERED,
        ErrorCode.NOT_FOUND,
        ErrorCode.UNSUPPORTED_PROVIDER,
        ErrorCode.INVALID_RESPONSE,
        ErrorCode.UNKNOWN,
    ):
        assert code not in retryable
    assert WorkerError(ErrorCode.QUOTA_EXCEEDED, "x").retryable is False


def test_every_rule_can_produce_only_known_codes_and_says_why() -> None:
    assert all(rule.code in RETRYABLE and rule.why for rule in RULES)


# ------------------------------------------------------------ what the host receives


async def _case_error(respx_mock: respx.MockRouter, name: str) -> WorkerError:
    case = CASES[name]
    return await classified(respx_mock, case.provider, case.answer())


async def test_the_worker_error_names_the_provider_and_keeps_its_own_words(respx_mock: respx.MockRouter) -> None:
    error = await _case_error(respx_mock, "openai_insufficient_quota")
    assert error.message.startswith("openai 429 insufficient_quota: You exceeded your current quota")
    assert error.details["provider"] == "openai"
    assert error.details["providerErrorType"] == "insufficient_quota"
    assert error.details["providerErrorCode"] == "insufficient_quota"
    assert error.details["providerBody"]["code"] == "insufficient_quota"


async def test_anthropic_spend_limit_reports_its_error_code(respx_mock: respx.MockRouter) -> None:
    error = await _case_error(respx_mock, "anthropic_spend_limit")
    assert error.details["providerErrorCode"] == "enforced_spend_limit_reached"


async def test_the_blamed_parameter_is_kept_for_the_parameter_fallback(respx_mock: respx.MockRouter) -> None:
    error = await _case_error(respx_mock, "openai_context_length")
    assert error.details["param"] == "messages"


async def test_a_key_echoed_in_the_body_or_headers_is_redacted(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "gw-live-0123456789abcdefXYZ"  # no well-known prefix: only the environment knows it
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setitem(ENDPOINTS, "openai", replace(ENDPOINTS["openai"], key=key))
    body = {
        "error": {
            "message": f"Incorrect API key provided: {key}",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
            "echo": {"Authorization": f"Bearer {key}"},
        },
    }
    answer = http_answer(401, body, {"www-authenticate": f"Bearer {key}"})
    error = await classified(respx_mock, "openai", answer)
    rendered = render(WorkerFailure.from_error(error))  # what a host receives
    assert key not in rendered
    assert "[REDACTED]" in rendered
    assert error.code is ErrorCode.AUTH_ERROR
    assert error.details["providerErrorCode"] == "invalid_api_key"


# ------------------------------------------------------------ answers that are not a provider's JSON


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body><h1>Welcome to the proxy</h1></body></html>", "text/html"),
        ("<html><body><h1>Welcome to the proxy</h1></body></html>", "application/json"),
        ('{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "mess', "application/json"),
        ("\n\n\n", "application/json"),
    ],
    ids=["html-page", "html-as-json", "cut-off-mid-json", "keep-alive-blank-lines"],
)
@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_a_200_whose_whole_body_is_not_json_is_invalid_response_everywhere(
    respx_mock: respx.MockRouter, provider: str, body: str, content_type: str
) -> None:
    """The server sent exactly this (its Content-Length says the body is whole): another
    attempt buys the same page, so it is INVALID_RESPONSE, not retried. A body the transport
    lost before its declared end is NETWORK_ERROR (see test_hostile_provider)."""
    endpoint = ENDPOINTS[provider]
    respx_mock.post(endpoint.url).mock(
        return_value=httpx.Response(200, content=body.encode(), headers={"content-type": content_type})
    )
    adapter = endpoint.build(provider)
    try:
        with pytest.raises(Exception) as raised:
            await adapter.complete(endpoint.request(), 30.0)
    finally:
        await adapter.aclose()
    error = adapter.classify(raised.value)
    assert (error.code, error.retryable) == (ErrorCode.INVALID_RESPONSE, False)
    assert error.details["provider"] == provider


@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_a_redirect_loop_is_a_configuration_error_never_retried(
    respx_mock: respx.MockRouter, provider: str
) -> None:
    endpoint = ENDPOINTS[provider]
    route = respx_mock.post(endpoint.url).mock(
        return_value=httpx.Response(307, headers={"location": endpoint.url})  # to itself, for ever
    )
    adapter = endpoint.build(provider)
    try:
        with pytest.raises(Exception) as raised:
            await adapter.complete(endpoint.request(), 30.0)
    finally:
        await adapter.aclose()
    assert route.call_count > 1  # the SDK followed the redirects until httpx gave up
    error = adapter.classify(raised.value)
    assert (error.code, error.retryable) == (ErrorCode.BAD_REQUEST, False)
    assert "base URL keeps redirecting" in error.message
    assert error.details["providerErrorCode"] == "TooManyRedirects"


# ------------------------------------------------------------ a per-day quota and its reset


@pytest.mark.parametrize(
    ("now_utc", "reset_in_ms", "resets_at"),
    [
        ("2026-03-10T15:00:00", 16 * 3_600_000, "2026-03-11T07:00:00Z"),  # PDT: midnight is 07:00 UTC
        ("2026-01-15T20:30:00", 11 * 3_600_000 + 30 * 60_000, "2026-01-16T08:00:00Z"),  # PST: 08:00 UTC
        ("2026-11-01T06:59:59", 1000, "2026-11-01T07:00:00Z"),  # a second before midnight PDT, the day DST ends
        ("2026-03-08T07:30:00", 30 * 60_000, "2026-03-08T08:00:00Z"),  # 23:30 PST on March 7
        ("2026-03-08T09:30:00", 21 * 3_600_000 + 30 * 60_000, "2026-03-09T07:00:00Z"),  # 01:30 PST: a 23-hour day
    ],
)
async def test_a_per_day_gemini_quota_waits_for_midnight_pacific(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, now_utc: str, reset_in_ms: int, resets_at: str
) -> None:
    from datetime import UTC, datetime

    now = datetime.fromisoformat(now_utc).replace(tzinfo=UTC).timestamp()
    monkeypatch.setattr(retry_hints, "clock", lambda: now)
    error = await _case_error(respx_mock, "gemini_quota_per_day")
    assert (error.code, error.retryable, error.retry_after_ms) == (ErrorCode.RATE_LIMIT, True, reset_in_ms)
    assert error.details["quotaWindow"] == "day"
    assert error.details["quotaResetsAt"] == resets_at
    assert error.details["quotaMetric"] == "generativelanguage.googleapis.com/generate_content_free_tier_requests"


async def test_a_per_minute_gemini_quota_keeps_its_retry_info(respx_mock: respx.MockRouter) -> None:
    error = await _case_error(respx_mock, "gemini_rate_limited")
    assert error.retry_after_ms == 26_000
    assert "quotaWindow" not in error.details
