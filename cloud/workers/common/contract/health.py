"""Wire shapes of the health-check worker.

What ValueRank reads (`queue/handlers/probe-scenario/health-check.ts`,
`services/health/workers.ts`, the web's SystemHealth panel): `success`,
`health.{pythonVersion, packages, apiKeys, warnings}` with `warnings` as strings, and
`error.message`. Those keep their names and types; everything else here is added beside them.
"""

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


# The workers whose readiness is reported (`probe.py --serve` is `serve`).
WorkerName = Literal["probe", "analyze_basic", "batch", "serve"]

# The closed set of warning codes (README, "health_check.py", says what each means).
HealthWarningCode = Literal[
    "NO_API_KEY",  # no provider key is set: only mock: models can run
    "PROVIDER_SDK_UNUSABLE",  # a configured provider's SDK is missing or broken: its models fail
    "WORKER_NOT_READY",  # a worker other than probe cannot run (analyze_basic without numpy)
    "FEATURE_DEGRADED",  # an optional package is unusable: a worker runs with less
    "LIVE_CHECK_NO_PROVIDER",  # live check asked for, no provider configured
    "PROVIDER_UNHEALTHY",  # a provider's live check did not answer ok
    "IMPORT_CHECK_INCOMPLETE",  # the deep check's imports did not all finish within its deadline
]


class HealthJob(WireModel):
    live: bool = False
    # Import every package for real (one subprocess each, one per core at a time) instead of reading
    # package metadata: slower (seconds), and it finds a package that is installed but broken.
    deep: bool = False
    # Overall budget of the live and deep checks; both run concurrently within it.
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
    # True: the probe worker cannot run without it, so the check fails when it is unusable.
    required: bool
    # "import": imported (by this process, or by the deep check); "metadata": installed
    # files found, not imported; "missing": not installed or its import failed (see error).
    checked_by: Literal["import", "metadata", "missing"]
    error: str | None = None
    # The workers that use it (a provider SDK: for the providers in `providers`).
    needed_by: list[WorkerName]
    providers: list[str]


class WorkerReadiness(WireModel):
    """Can this worker run here? `ready` false only for what stops it; the rest are warnings."""

    ready: bool
    problems: list[str]  # why it cannot run (empty when ready)
    missing: list[str]  # distributions it cannot run without that are unusable
    degraded: list[str]  # optional distributions that are unusable: it runs with less
    unavailable_providers: list[str]  # configured providers whose SDK is unusable


class WorkersReadiness(WireModel):
    """One entry per worker, keyed by the script's name (`probe.py --serve` is `serve`)."""

    probe: WorkerReadiness
    analyze_basic: WorkerReadiness = Field(alias="analyze_basic")
    batch: WorkerReadiness
    serve: WorkerReadiness


class HealthWarning(WireModel):
    code: HealthWarningCode
    message: str  # the same text as the matching entry of `warnings`
    recommendation: str  # what an operator can do about it


class Health(WireModel):
    python_version: str
    python_required: str
    packages: dict[str, str | None]
    package_checks: dict[str, PackageHealth]
    api_keys: dict[str, bool]
    providers: dict[str, ProviderHealth]
    warnings: list[str]  # the messages of `warning_details`, in order (hosts read these strings)
    warning_details: list[HealthWarning]
    workers: WorkersReadiness
    # "metadata": packages found by their installed files (the default, no SDK imported);
    # "import": every package imported for real (`deep`).
    checked_by: Literal["metadata", "import"]


class HealthSuccess(WireModel):
    success: Literal[True] = True
    contract_version: str = CONTRACT_VERSION
    health: Health


class HealthFailure(WorkerFailure):
    """A deployment that cannot run probes: the error says why, `health` says what was found."""

    health: Health
