"""Turns what a provider said about a failure into one of our error codes.

Every provider adapter reduces its SDK's exception to `ErrorFacts` (status, the
provider's own type/code/status strings, message, headers, body). `RULES` below is then
read top to bottom and the first matching row decides the code. To support a new error
shape, add a row here (most specific first) and a test case with the provider's real
error body; do not branch on errors inside provider modules.

Its input, `ErrorFacts`, lives in `common.errors.facts`, which provider modules import:
a job loads this module only when one of its requests fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common.errors import retry_hints
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import SCANNED_TEXT_CHARS, ErrorFacts, FailureKind
from common.errors.retry_hints import daily_quota, retry_hint_ms

OPENAI_FAMILY = frozenset({"openai", "xai", "deepseek", "openai-compatible"})
# A provider's own words are kept up to this many characters: a gateway's error page can be
# megabytes of HTML, and a host needs its first lines, not all of it in every document.
MAX_PROVIDER_TEXT = 4000


@dataclass(frozen=True)
class Rule:
    """One row: every criterion given must match; `tokens` match type or code exactly."""

    code: ErrorCode
    why: str
    kinds: frozenset[FailureKind] = frozenset({"http"})
    providers: frozenset[str] | None = None
    statuses: frozenset[int] | None = None
    tokens: frozenset[str] = frozenset()
    message: re.Pattern[str] | None = None

    def matches(self, facts: ErrorFacts) -> bool:
        if facts.kind not in self.kinds:
            return False
        if self.providers is not None and facts.provider not in self.providers:
            return False
        if self.statuses is not None and facts.status not in self.statuses:
            return False
        if self.tokens:
            said = {s.lower() for s in (facts.error_type, facts.error_code) if s}
            if not said & self.tokens:
                return False
        return self.message is None or self.message.search(facts.message, 0, SCANNED_TEXT_CHARS) is not None


def _s(*values: int) -> frozenset[int]:
    return frozenset(values)


def _t(*values: str) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SERVER_STATUSES = frozenset(range(500, 600)) - {503, 504, 529}

RULES: tuple[Rule, ...] = (
    # Transport failures: no HTTP status at all.
    Rule(ErrorCode.TIMEOUT, "request timed out", kinds=frozenset({"timeout"})),
    Rule(ErrorCode.NETWORK_ERROR, "connection failed", kinds=frozenset({"connect"})),
    Rule(ErrorCode.INVALID_RESPONSE, "unparseable response", kinds=frozenset({"invalid_response"})),
    # A redirect loop at the base URL (see providers.base.redirect_facts): the configuration
    # is wrong, and no retry can change where the URL points.
    Rule(ErrorCode.BAD_REQUEST, "the base URL redirects without end", tokens=_t("TooManyRedirects")),
    # Gemini's 429 says "exceeded your current quota" even for per-minute limits and carries
    # RetryInfo: it is a rate limit, so it must be read before the quota-message row.
    Rule(ErrorCode.RATE_LIMIT, "Gemini RESOURCE_EXHAUSTED", providers=frozenset({"google"}), statuses=_s(429)),
    # Money, not time: retrying cannot help.
    Rule(
        ErrorCode.QUOTA_EXCEEDED,
        "OpenAI-style quota codes",
        tokens=_t(
            "insufficient_quota",
            "billing_hard_limit_reached",
            "billing_not_active",
            "insufficient_balance",
            "spending_limit_reached",
        ),
    ),
    Rule(ErrorCode.QUOTA_EXCEEDED, "402 Payment Required (DeepSeek Insufficient Balance)", statuses=_s(402)),
    Rule(
        ErrorCode.QUOTA_EXCEEDED,
        "billing wording",
        statuses=_s(400, 401, 403, 429),
        message=_re(
            r"credit balance is too low|insufficient balance|exceeded your current quota"
            r"|used all available credits|monthly spending limit|billing details|out of credits"
            r"|(doesn't|does not) have any credits"  # xAI, a new team: "...doesn't have any credits (or licenses) yet"
        ),
    ),
    # Anthropic spend caps: a 429 rate_limit_error whose error.details.error_code names a
    # monthly or contract cap (no retry helps until the period resets), a 402 billing_error,
    # and a 400 when the workspace's own usage limit is reached.
    Rule(
        ErrorCode.QUOTA_EXCEEDED,
        "Anthropic spend-limit codes",
        tokens=_t(
            "billing_error",
            "enforced_spend_limit_reached",
            "contract_spend_limit_reached",
            "linked_organization_spend_limit_reached",
            "linked_organization_billing_unavailable",
        ),
    ),
    Rule(
        ErrorCode.QUOTA_EXCEEDED,
        "Anthropic workspace usage limit",
        statuses=_s(400, 429),
        message=_re(r"reached your specified api usage limits"),
    ),
    # The request is too long for the model.
    Rule(ErrorCode.CONTEXT_LENGTH, "context-length codes", tokens=_t("context_length_exceeded")),
    Rule(
        ErrorCode.CONTEXT_LENGTH,
        "context-length wording",
        statuses=_s(400, 413, 422),
        message=_re(
            r"context length|context window|maximum context|prompt is too long"
            r"|input token count.*exceeds|exceeds the maximum number of tokens"
            r"|too large for model with"
            r"|maximum prompt length is \d+ but the request contains"  # xAI
        ),
    ),
    # The provider's safety system refused the input.
    Rule(
        ErrorCode.CONTENT_FILTERED,
        "content-policy codes",
        tokens=_t("content_filter", "content_policy_violation", "content_policy"),
    ),
    # A Responses API response that ended `failed` (HTTP 200, so no status): its `error.code`
    # (the openai SDK's ResponseError codes). Safety refusals first, then the request's own
    # content (images, files, data residency), which no retry changes; `server_error` and
    # `rate_limit_exceeded` are read by the type-string rows below.
    Rule(
        ErrorCode.CONTENT_FILTERED,
        "a failed response's safety codes",
        providers=OPENAI_FAMILY,
        tokens=_t("invalid_prompt", "bio_policy", "misalignment_policy_violation", "image_content_policy_violation"),
    ),
    Rule(
        ErrorCode.BAD_REQUEST,
        "a failed response's input codes",
        providers=OPENAI_FAMILY,
        tokens=_t(
            "data_residency_mismatch",
            "invalid_image",
            "invalid_image_format",
            "invalid_base64_image",
            "invalid_image_url",
            "image_too_large",
            "image_too_small",
            "image_parse_error",
            "invalid_image_mode",
            "image_file_too_large",
            "unsupported_image_media_type",
            "empty_image_file",
            "failed_to_download_image",
            "image_file_not_found",
        ),
    ),
    Rule(ErrorCode.TIMEOUT, "a failed response's vector_store_timeout", tokens=_t("vector_store_timeout")),
    Rule(
        ErrorCode.CONTENT_FILTERED,
        "content-policy wording (xAI refuses content with a 403 permission code)",
        statuses=_s(400, 403),
        message=_re(
            r"content management policy|flagged by (our|the) safety|content filter"
            r"|flagged as potentially violating our usage policy"  # OpenAI o-series `invalid_prompt`
            r"|content exists risk"  # DeepSeek's safety refusal (a 400 invalid_request_error)
            r"|violates usage guidelines"  # xAI: "Content violates usage guidelines. ... Failed check: ..."
        ),
    ),
    # Credentials. Gemini answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
    Rule(
        ErrorCode.AUTH_ERROR,
        "Gemini invalid key",
        providers=frozenset({"google"}),
        statuses=_s(400),
        message=_re(r"api key not valid|api_key_invalid"),
    ),
    # Expired ("API key expired. Please renew the API key.") and unknown ("API Key not
    # found.") keys get other wording but the same google.rpc.ErrorInfo reason.
    Rule(
        ErrorCode.AUTH_ERROR,
        "Gemini ErrorInfo reason API_KEY_INVALID",
        providers=frozenset({"google"}),
        tokens=_t("API_KEY_INVALID"),
    ),
    # xAI answers a bad key with 400 and "Incorrect API key provided".
    Rule(
        ErrorCode.AUTH_ERROR,
        "bad-key wording on a 400",
        statuses=_s(400),
        message=_re(r"incorrect api key|invalid api key|invalid x-api-key"),
    ),
    Rule(ErrorCode.AUTH_ERROR, "401/403", statuses=_s(401, 403)),
    Rule(
        ErrorCode.AUTH_ERROR,
        "auth type strings",
        tokens=_t(
            "authentication_error", "permission_error", "invalid_api_key", "unauthenticated", "permission_denied"
        ),
    ),
    # An unknown model is NOT_FOUND whichever way a provider says it: a 404, Mistral's 400
    # {"type":"invalid_model","code":"1500"}, DeepSeek's 400 "Model Not Exist".
    Rule(ErrorCode.NOT_FOUND, "404 (unknown model or route)", statuses=_s(404)),
    Rule(ErrorCode.NOT_FOUND, "unknown-model codes", tokens=_t("invalid_model", "model_not_found")),
    Rule(
        ErrorCode.NOT_FOUND,
        "unknown-model wording on a 400",
        statuses=_s(400),
        message=_re(r"^\s*model not exist\b|^\s*invalid model\b|\bmodel \S+ does not exist\b"),
    ),
    Rule(ErrorCode.TIMEOUT, "408 Request Timeout", statuses=_s(408)),
    Rule(ErrorCode.SERVER_ERROR, "409 lock conflict (OpenAI asks to retry)", statuses=_s(409)),
    Rule(ErrorCode.BAD_REQUEST, "413 request too large", statuses=_s(413)),
    Rule(ErrorCode.RATE_LIMIT, "429 Too Many Requests", statuses=_s(429)),
    Rule(ErrorCode.RATE_LIMIT, "rate-limit type strings", tokens=_t("rate_limit_error", "rate_limit_exceeded")),
    # Capacity: the provider is up but shedding load.
    Rule(ErrorCode.OVERLOADED, "Anthropic 529 / overloaded strings", statuses=_s(529)),
    Rule(ErrorCode.OVERLOADED, "overloaded type strings", tokens=_t("overloaded_error", "unavailable")),
    Rule(ErrorCode.OVERLOADED, "503 Service Unavailable", statuses=_s(503)),
    Rule(ErrorCode.TIMEOUT, "504 / DEADLINE_EXCEEDED", statuses=_s(504)),
    Rule(ErrorCode.TIMEOUT, "deadline strings", tokens=_t("deadline_exceeded", "timeout_error")),
    Rule(ErrorCode.SERVER_ERROR, "other 5xx", statuses=_SERVER_STATUSES),
    Rule(ErrorCode.SERVER_ERROR, "server error type strings", tokens=_t("api_error", "internal", "server_error")),
    Rule(ErrorCode.BAD_REQUEST, "other 4xx: the provider rejected the request", statuses=frozenset(range(400, 500))),
)


def classify_facts(facts: ErrorFacts) -> ErrorCode:
    for rule in RULES:
        if rule.matches(facts):
            return rule.code
    return ErrorCode.UNKNOWN


def _clip(text: str) -> str:
    if len(text) <= MAX_PROVIDER_TEXT:
        return text
    return f"{text[:MAX_PROVIDER_TEXT]}... [{len(text) - MAX_PROVIDER_TEXT} more characters]"


def to_worker_error(facts: ErrorFacts, *, now: float | None = None) -> WorkerError:
    """The failure a host receives; `now` (the wall clock, default `retry_hints.clock`) dates a quota reset."""
    at = retry_hints.clock() if now is None else now
    code = classify_facts(facts)
    label = " ".join(str(p) for p in (facts.provider, facts.status, facts.error_type or facts.error_code) if p)
    said = _clip(facts.message)
    message = f"{label}: {said}" if said else label
    details: dict[str, Any] = {"provider": facts.provider, "kind": facts.kind}
    for key, value in (
        ("providerErrorType", facts.error_type),
        ("providerErrorCode", facts.error_code),
        ("param", facts.param),
        ("providerBody", _clip(facts.body) if isinstance(facts.body, str) else facts.body),
    ):
        if value is not None:
            details[key] = value
    quota = daily_quota(facts.body, now=at) if code is ErrorCode.RATE_LIMIT else None
    if quota is not None:  # a wall until the daily reset: the host (and batch) must not retry sooner
        details.update(quotaWindow=quota.window, quotaId=quota.quota_id, quotaResetsAt=quota.resets_at)
        if quota.quota_metric is not None:
            details["quotaMetric"] = quota.quota_metric
    return WorkerError(
        code,
        message,  # redacted where it leaves the process: documents and log lines
        details=details,
        status_code=facts.status,
        retry_after_ms=retry_hint_ms(facts.headers, facts.body, now=at),
    )
