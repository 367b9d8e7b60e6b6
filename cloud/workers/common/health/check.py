"""Can this deployment run probes? Python, packages, keys, each worker's readiness; on request
live provider calls (`live`) and real imports (`deep`).

The default check imports no provider SDK, numpy or scipy: packages are found by their
metadata (`packages.by_metadata`), so with every key set it still answers in a fraction of
a second, far inside the 10 s the host allows it on a loaded machine (the host caches a
failed check for the life of its process, so a timeout there blocks every probe). `deep`
imports each package in its own subprocess, in parallel, within `timeoutMs`. Live checks
make one cheap authenticated call per configured provider (list models), concurrently,
through the same adapters and base-URL variables as probe.py.
"""

from __future__ import annotations

import asyncio
import operator
import re
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from common.contract.health import (
    Health,
    HealthFailure,
    HealthJob,
    HealthSuccess,
    HealthWarning,
    PackageHealth,
    ProviderHealth,
    ProviderStatus,
    WorkerName,
    WorkerReadiness,
    WorkersReadiness,
)
from common.contract.probe import WorkerFailure
from common.errors.codes import ErrorCode, WorkerError
from common.health.needs import NEEDS, WORKERS, Need
from common.health.packages import PackageResult, by_import, by_metadata
from common.health.readiness import package_warnings, readiness, warning
from common.providers.pool import ProviderPool
from common.providers.records import PROVIDERS
from common.providers.settings import api_key_for, is_configured

# Declared in pyproject.toml; used when the deployment ships without it.
FALLBACK_REQUIRES_PYTHON = ">=3.11"
PYPROJECT = Path(__file__).resolve().parents[4] / "pyproject.toml"

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


# One comparison clause of a specifier (">=3.11", "<4"), which for a final release such as
# sys.version_info means comparing zero-padded release tuples, exactly as PEP 440 does.
_PLAIN_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*$")
_COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def python_satisfies(version: tuple[int, int, int], requirement: str) -> bool:
    """Evaluates a PEP 440 specifier such as '>=3.11' or '>=3.11,<4' against a version.

    Plain comparisons are evaluated here; anything else ('~=', wildcards) by `packaging`,
    whose import (~10 ms) every health check would otherwise pay.
    """
    clauses = [_PLAIN_CLAUSE.match(clause) for clause in requirement.split(",")]
    if all(clauses):
        ours = tuple(version)
        for match in clauses:
            assert match is not None
            theirs = tuple(int(part) for part in match[2].split("."))
            width = max(len(ours), len(theirs))
            padded = (ours + (0,) * width)[:width], (theirs + (0,) * width)[:width]
            if not _COMPARE[match[1]](*padded):
                return False
        return True
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requirement).contains(".".join(str(p) for p in version), prereleases=True)


def configured_providers() -> list[str]:
    return [record.name for record in PROVIDERS if is_configured(record)]


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


async def live_checks(
    configured: list[str], budget_s: float, pool: ProviderPool
) -> tuple[dict[str, ProviderHealth], list[HealthWarning]]:
    if not configured:
        return {}, [warning("LIVE_CHECK_NO_PROVIDER", "live check requested but no provider is configured")]
    results = await asyncio.gather(*(check_provider(name, budget_s * 0.9, pool) for name in configured))
    providers = dict(zip(configured, results, strict=True))
    found = [
        warning("PROVIDER_UNHEALTHY", f"{name}: {result.status} ({result.message})")
        for name, result in providers.items()
        if result.status != "ok"
    ]
    return providers, found


async def package_results(
    needs: tuple[Need, ...], deep: bool, budget_s: float
) -> tuple[dict[str, PackageResult], list[HealthWarning]]:
    """Every package by metadata; with `deep`, by a real import wherever that finished in time."""
    results = {need.distribution: by_metadata(need) for need in needs}
    if not deep:
        return results, []
    imported, unfinished = await by_import(needs, budget_s)
    results.update(imported)
    if not unfinished:
        return results, []
    message = (
        f"the deep check's imports of {', '.join(unfinished)} did not finish within {budget_s:.1f}s:"
        " those packages were checked by their metadata only"
    )
    return results, [warning("IMPORT_CHECK_INCOMPLETE", message)]


def package_health(need: Need, result: PackageResult, configured: list[str]) -> PackageHealth:
    for_configured = any(name in configured for name in need.providers)
    return PackageHealth(
        version=result.version,
        # The check fails without it: probes need it (an SDK: for a provider that is configured).
        required="probe" in need.required_by and (not need.providers or for_configured),
        checked_by=result.checked_by,
        error=result.error,
        needed_by=list(need.needed_by),
        providers=list(need.providers),
    )


async def check_health(job: HealthJob, pool: ProviderPool) -> HealthSuccess | HealthFailure:
    version = sys.version_info[:3]
    requirement = required_python()
    python_problem = None
    if not python_satisfies((version[0], version[1], version[2]), requirement):
        python_problem = f"Python {'.'.join(map(str, version))} does not satisfy requires-python {requirement}"

    configured = configured_providers()
    budget_s = job.timeout_ms / 1000
    needs = NEEDS  # read once: tests replace the table
    # Live calls and deep imports wait on the network and on subprocesses: run them together.
    (results, import_warnings), (providers, live_warnings) = await asyncio.gather(
        package_results(needs, job.deep, budget_s),
        live_checks(configured, budget_s, pool) if job.live else _no_live(),
    )
    readiness_by_worker: dict[WorkerName, WorkerReadiness] = {
        w: readiness(w, results, configured, python_problem, needs) for w in WORKERS
    }

    api_keys = {record.health_key: api_key_for(record) is not None for record in PROVIDERS if record.health_key}
    details: list[HealthWarning] = []
    if not any(api_keys.values()):
        details.append(
            warning("NO_API_KEY", "no provider API key is set: only mock: models can run (set e.g. OPENAI_API_KEY)")
        )
    details += package_warnings(results, readiness_by_worker, configured, needs)
    details += import_warnings + live_warnings

    checks = {need.distribution: package_health(need, results[need.distribution], configured) for need in needs}
    health = Health(
        python_version=".".join(map(str, version)),
        python_required=requirement,
        packages={name: check.version for name, check in checks.items()},
        package_checks=checks,
        api_keys=api_keys,
        providers=providers,
        warnings=[detail.message for detail in details],
        warning_details=details,
        workers=WorkersReadiness.model_validate(readiness_by_worker),
        checked_by="import" if job.deep else "metadata",
    )
    probe = readiness_by_worker["probe"]
    if not probe.ready:
        problems = probe.problems
        error = WorkerError(ErrorCode.ENVIRONMENT_ERROR, "; ".join(problems), details={"problems": problems})
        return HealthFailure(error=WorkerFailure.from_error(error).error, health=health)
    return HealthSuccess(health=health)


async def _no_live() -> tuple[dict[str, ProviderHealth], list[HealthWarning]]:
    return {}, []
