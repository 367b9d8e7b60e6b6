"""The closed set of error codes every worker reports, and whether a retry can help.

Retryability is a property of the code, never of the call site: a host queue reads
`retryable` and trusts it, so one table decides it for every provider and worker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    RATE_LIMIT = "RATE_LIMIT"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    AUTH_ERROR = "AUTH_ERROR"
    MISSING_API_KEY = "MISSING_API_KEY"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    CONTEXT_LENGTH = "CONTEXT_LENGTH"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    NOT_FOUND = "NOT_FOUND"
    UNSUPPORTED_PROVIDER = "UNSUPPORTED_PROVIDER"
    INVALID_RESPONSE = "INVALID_RESPONSE"
    TIMEOUT = "TIMEOUT"
    NETWORK_ERROR = "NETWORK_ERROR"
    SERVER_ERROR = "SERVER_ERROR"
    OVERLOADED = "OVERLOADED"
    CANCELLED = "CANCELLED"
    ENVIRONMENT_ERROR = "ENVIRONMENT_ERROR"  # the deployment itself cannot run jobs (health check)
    UNKNOWN = "UNKNOWN"


# The one place that says whether a retry can help. UNKNOWN is not retryable: it means
# an exception we did not recognise (most often a bug or an unexpected SDK change), and
# re-running a job into the same bug spends money without a new answer.
RETRYABLE: dict[ErrorCode, bool] = {
    ErrorCode.RATE_LIMIT: True,
    ErrorCode.QUOTA_EXCEEDED: False,
    ErrorCode.AUTH_ERROR: False,
    ErrorCode.MISSING_API_KEY: False,
    ErrorCode.VALIDATION_ERROR: False,
    ErrorCode.BAD_REQUEST: False,
    ErrorCode.CONTEXT_LENGTH: False,
    ErrorCode.CONTENT_FILTERED: False,
    ErrorCode.NOT_FOUND: False,
    ErrorCode.UNSUPPORTED_PROVIDER: False,
    ErrorCode.INVALID_RESPONSE: False,
    ErrorCode.TIMEOUT: True,
    ErrorCode.NETWORK_ERROR: True,
    ErrorCode.SERVER_ERROR: True,
    ErrorCode.OVERLOADED: True,
    ErrorCode.CANCELLED: True,
    ErrorCode.ENVIRONMENT_ERROR: False,
    ErrorCode.UNKNOWN: False,
}


def is_retryable(code: ErrorCode) -> bool:
    return RETRYABLE[code]


class WorkerError(Exception):
    """A handled failure: it becomes the `error` object of a worker's output."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.status_code = status_code
        self.retry_after_ms = retry_after_ms

    @property
    def retryable(self) -> bool:
        return is_retryable(self.code)

    def __repr__(self) -> str:
        return f"WorkerError({self.code.value}, {self.message!r}, status={self.status_code})"


# The one wording of a cancellation, whichever mode or moment it happens in.
CANCELLED_MESSAGE = "the worker was asked to stop"


def cancelled_error() -> WorkerError:
    """The job was stopped (SIGTERM, SIGINT, a serve or batch shutdown): retryable, it was not its fault."""
    return WorkerError(ErrorCode.CANCELLED, CANCELLED_MESSAGE)


def unexpected_error(exc: BaseException, *, source: str | None = None) -> WorkerError:
    """An exception nobody recognised (UNKNOWN, not retryable: most often a bug or an SDK change)."""
    where = f" from {source}" if source else ""
    details: dict[str, Any] = {"exception": type(exc).__name__}
    if source:
        details["provider"] = source
    else:
        import traceback  # loaded on this rare path only

        details["trace"] = traceback.format_exception_only(exc)[-1].strip()
    return WorkerError(ErrorCode.UNKNOWN, f"unexpected {type(exc).__name__}{where}: {exc}", details=details)
