"""Wire shapes of the health-check worker."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from common.contract.probe import CONTRACT_VERSION, WireModel, WorkerFailure

ProviderStatus = Literal[
    "ok",
    "auth_error",
    "quota_exceeded",
    "rate_limited",
    "unreachable",
    "timeout",
    "not_found",
    "server_error",
    "misconfigured",
    "error",
]


class HealthJob(WireModel):
    live: bool = False
    # Overall budget of the live checks; providers are checked concurrently within it.
    timeout_ms: int = Field(default=10_000, ge=500, le=60_000)


class ProviderHealth(WireModel):
    status: ProviderStatus
    latency_ms: int | None = None
    base_url: str | None = None
    model_count: int | None = None
    error_code: str | None = None
    message: str | None = None


class PackageHealth(WireModel):
    version: str | None
    required: bool
    checked_by: Literal["import", "metadata", "missing"]
    error: str | None = None


class Health(WireModel):
    python_version: str
    python_required: str
    packages: dict[str, str | None]
    package_checks: dict[str, PackageHealth]
    api_keys: dict[str, bool]
    providers: dict[str, ProviderHealth]
    warnings: list[str]


class HealthSuccess(WireModel):
    success: Literal[True] = True
    contract_version: str = CONTRACT_VERSION
    health: Health


class HealthFailure(WorkerFailure):
    """A deployment that cannot run probes: the error says why, `health` says what was found."""

    health: Health
