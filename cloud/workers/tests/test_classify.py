"""The classification table, case by case, with the error bodies providers really send.

Each case is reduced to `ErrorFacts` the way its provider adapter does it (see each
provider's `error_facts`), then run through `classify.to_worker_error`: the code, the
retryable flag and the wait a host receives are what is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.errors.classify import RULES, classify_facts, to_worker_error
from common.errors.codes import RETRYABLE, ErrorCode, WorkerError
from common.errors.facts import ErrorFacts

BODIES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "errors" / "provider_errors.json").read_text()
)

OPENAI_FAMILY = {"openai", "xai", "deepseek", "openai-compatible"}


def _openai_facts(provider: str, status: int, body: Any, headers: dict[str, str]) -> ErrorFacts:
    # The openai SDK keeps `body["error"]` when there is one (a string for xAI's
    # {"code", "error"} shape) and reads type/code/param/message from it.
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict):
        code = inner.get("code")
        return ErrorFacts(
            provider,
            status=status,
            error_type=inner.get("type"),
            error_code=str(code) if code is not None else None,
            param=inner.get("param"),
            message=inner.get("message") or f"Error code: {status}",
            headers=headers,
            body=inner,
        )
    return ErrorFacts(provider, status=status, message=str(inner), headers=headers, body=inner)


def _anthropic_facts(status: int, body: dict[str, Any], headers: dict[str, str]) -> ErrorFacts:
    error = body["error"]
    details = error.get("details") or {}
    return ErrorFacts(
        "anthropic",
        status=status,
        error_type=error["type"],
        error_code=details.get("error_code"),
        message=error["message"],
        headers=headers,
        body=body,
    )


def _google_facts(status: int, body: dict[str, Any], headers: dict[str, str]) -> ErrorFacts:
    error = body["error"]
    reasons = [d["reason"] for d in error.get("details", []) if d.get("@type", "").endswith("google.rpc.ErrorInfo")]
    return ErrorFacts(
        "google",
        status=status,
        error_type=error["status"],
        error_code=reasons[0] if reasons else None,
        message=error["message"],
        headers=headers,
        body=body,
    )


def _mistral_facts(status: int, body: dict[str, Any], headers: dict[str, str]) -> ErrorFacts:
    detail = body.get("detail")
    message = body.get("message")
    if message is None and isinstance(detail, list):
        message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
    return ErrorFacts(
        "mistral",
        status=status,
        error_type=body.get("type"),
        error_code=body.get("code"),
        message=message or f"HTTP {status}",
        headers=headers,
        body=body,
    )


def facts_for(name: str) -> ErrorFacts:
    case = BODIES[name]
    provider, status, body = case["provider"], case["status"], case["body"]
    headers: dict[str, str] = case.get("headers", {})
    if provider in OPENAI_FAMILY:
        return _openai_facts(provider, status, body, headers)
    if provider == "anthropic":
        return _anthropic_facts(status, body, headers)
    if provider == "google":
        return _google_facts(status, body, headers)
    return _mistral_facts(status, body, headers)


# (fixture, code, retryAfterMs the host is told)
TABLE: list[tuple[str, ErrorCode, int | None]] = [
    # OpenAI: same 429 status, different meaning
    ("openai_rate_limit_tokens", ErrorCode.RATE_LIMIT, 2114),
    ("openai_rate_limit_requests", ErrorCode.RATE_LIMIT, 20_000),
    ("openai_rate_limit_per_day", ErrorCode.RATE_LIMIT, 937_440),
    ("openai_insufficient_quota", ErrorCode.QUOTA_EXCEEDED, None),
    ("openai_invalid_api_key", ErrorCode.AUTH_ERROR, None),
    ("openai_context_length", ErrorCode.CONTEXT_LENGTH, None),
    ("openai_content_policy_violation", ErrorCode.CONTENT_FILTERED, None),
    ("openai_invalid_prompt_usage_policy", ErrorCode.CONTENT_FILTERED, None),
    ("openai_model_not_found", ErrorCode.NOT_FOUND, None),
    ("openai_server_error", ErrorCode.SERVER_ERROR, None),
    ("openai_engine_overloaded", ErrorCode.OVERLOADED, None),
    # DeepSeek
    ("deepseek_insufficient_balance", ErrorCode.QUOTA_EXCEEDED, None),
    ("deepseek_content_exists_risk", ErrorCode.CONTENT_FILTERED, None),
    ("deepseek_server_overloaded", ErrorCode.OVERLOADED, None),
    ("deepseek_rate_limit_reached", ErrorCode.RATE_LIMIT, None),
    # xAI: {"code": <gRPC status text>, "error": <message>}
    ("xai_invalid_key", ErrorCode.AUTH_ERROR, None),
    ("xai_credits_exhausted_429", ErrorCode.QUOTA_EXCEEDED, None),
    ("xai_credits_exhausted_403", ErrorCode.QUOTA_EXCEEDED, None),
    ("xai_at_capacity", ErrorCode.RATE_LIMIT, None),
    ("xai_not_found", ErrorCode.NOT_FOUND, None),
    ("xai_invalid_argument", ErrorCode.BAD_REQUEST, None),
    # Anthropic
    ("anthropic_overloaded", ErrorCode.OVERLOADED, None),
    ("anthropic_rate_limit", ErrorCode.RATE_LIMIT, 7000),
    ("anthropic_credit_balance", ErrorCode.QUOTA_EXCEEDED, None),
    ("anthropic_usage_limits", ErrorCode.QUOTA_EXCEEDED, None),
    ("anthropic_spend_limit", ErrorCode.QUOTA_EXCEEDED, None),
    ("anthropic_authentication", ErrorCode.AUTH_ERROR, None),
    ("anthropic_permission", ErrorCode.AUTH_ERROR, None),
    ("anthropic_not_found", ErrorCode.NOT_FOUND, None),
    ("anthropic_prompt_too_long", ErrorCode.CONTEXT_LENGTH, None),
    ("anthropic_request_too_large", ErrorCode.BAD_REQUEST, None),
    ("anthropic_api_error", ErrorCode.SERVER_ERROR, None),
    # Gemini: a 429 that says "quota" is still a rate limit, and RetryInfo is honoured
    ("gemini_rate_limited", ErrorCode.RATE_LIMIT, 26_000),
    ("gemini_rate_limited_retry_in_wording", ErrorCode.RATE_LIMIT, 47_313),
    ("gemini_resource_exhausted_plain", ErrorCode.RATE_LIMIT, None),
    ("gemini_api_key_invalid", ErrorCode.AUTH_ERROR, None),
    ("gemini_api_key_expired", ErrorCode.AUTH_ERROR, None),
    ("gemini_permission_denied", ErrorCode.AUTH_ERROR, None),
    ("gemini_model_not_found", ErrorCode.NOT_FOUND, None),
    ("gemini_context_length", ErrorCode.CONTEXT_LENGTH, None),
    ("gemini_overloaded", ErrorCode.OVERLOADED, None),
    ("gemini_internal", ErrorCode.SERVER_ERROR, None),
    ("gemini_deadline_exceeded", ErrorCode.TIMEOUT, None),
    # Mistral
    ("mistral_rate_limited", ErrorCode.RATE_LIMIT, None),
    ("mistral_requests_rate_limit", ErrorCode.RATE_LIMIT, None),
    ("mistral_unauthorized", ErrorCode.AUTH_ERROR, None),
    ("mistral_invalid_model", ErrorCode.NOT_FOUND, None),
    ("mistral_context_length", ErrorCode.CONTEXT_LENGTH, None),
    ("mistral_extra_forbidden", ErrorCode.BAD_REQUEST, None),
    ("mistral_server_error", ErrorCode.SERVER_ERROR, None),
    ("mistral_unreachable_backend", ErrorCode.OVERLOADED, None),
]


def test_every_fixture_is_in_the_table() -> None:
    assert sorted(name for name, _, _ in TABLE) == sorted(BODIES)


@pytest.mark.parametrize(("name", "code", "retry_after_ms"), TABLE, ids=[row[0] for row in TABLE])
def test_real_provider_error_bodies(name: str, code: ErrorCode, retry_after_ms: int | None) -> None:
    facts = facts_for(name)
    error = to_worker_error(facts)
    assert error.code is code
    assert error.retryable is RETRYABLE[code]
    assert error.status_code == BODIES[name]["status"]
    assert error.retry_after_ms == retry_after_ms
    assert classify_facts(facts) is code


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
def test_the_issues_named_cases_say_truthfully_whether_a_retry_helps(name: str, retryable: bool) -> None:
    assert to_worker_error(facts_for(name)).retryable is retryable


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
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "mistral", "xai", "deepseek"])
def test_a_bare_status_without_a_body_still_gets_a_code(provider: str, status: int, code: ErrorCode) -> None:
    error = to_worker_error(ErrorFacts(provider, status=status, message="<html>gateway page</html>"))
    assert error.code is code
    assert error.retryable is RETRYABLE[code]


@pytest.mark.parametrize("status", [None, 302, 600, 999])
def test_an_unknown_status_is_unknown_and_not_retried(status: int | None) -> None:
    error = to_worker_error(ErrorFacts("openai", status=status, message="something odd"))
    assert error.code is ErrorCode.UNKNOWN
    assert error.retryable is False


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("timeout", ErrorCode.TIMEOUT),
        ("connect", ErrorCode.NETWORK_ERROR),
        ("invalid_response", ErrorCode.INVALID_RESPONSE),
    ],
)
def test_transport_failures(kind: Any, code: ErrorCode) -> None:
    error = to_worker_error(ErrorFacts("anthropic", kind=kind, message="Request timed out."))
    assert error.code is code
    assert error.status_code is None
    assert error.details["kind"] == kind


def test_a_timeout_is_a_timeout_even_if_a_stale_status_is_attached() -> None:
    assert classify_facts(ErrorFacts("google", kind="timeout", status=400)) is ErrorCode.TIMEOUT


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


def test_the_worker_error_names_the_provider_and_keeps_its_own_words() -> None:
    error = to_worker_error(facts_for("openai_insufficient_quota"))
    assert error.message.startswith("openai 429 insufficient_quota: You exceeded your current quota")
    assert error.details["provider"] == "openai"
    assert error.details["providerErrorType"] == "insufficient_quota"
    assert error.details["providerErrorCode"] == "insufficient_quota"
    assert error.details["providerBody"]["code"] == "insufficient_quota"


def test_anthropic_spend_limit_reports_its_error_code() -> None:
    error = to_worker_error(facts_for("anthropic_spend_limit"))
    assert error.details["providerErrorCode"] == "enforced_spend_limit_reached"


def test_the_blamed_parameter_is_kept_for_the_parameter_fallback() -> None:
    error = to_worker_error(facts_for("openai_context_length"))
    assert error.details["param"] == "messages"


def test_a_key_echoed_in_the_body_or_headers_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "gw-live-0123456789abcdefXYZ"  # no well-known prefix: only the environment knows it
    monkeypatch.setenv("OPENAI_API_KEY", key)
    facts = ErrorFacts(
        "openai",
        status=401,
        error_type="invalid_request_error",
        error_code="invalid_api_key",
        message=f"Incorrect API key provided: {key}",
        headers={"www-authenticate": f"Bearer {key}"},
        body={"message": f"Incorrect API key provided: {key}", "echo": {"Authorization": f"Bearer {key}"}},
    )
    error = to_worker_error(facts)
    rendered = json.dumps({"message": error.message, "details": error.details})
    assert key not in rendered
    assert "[REDACTED]" in rendered
    assert error.code is ErrorCode.AUTH_ERROR
