"""From package results to what a host acts on: each worker's readiness, and the warnings.

Only what stops a worker makes it not ready; an optional package that is unusable, or the
SDK of one configured provider among others, is a warning. The probe worker's readiness
decides the check's `success` (the host gates every probe on it); the other workers'
problems are warnings, so a broken scipy never blocks a probe.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.contract.health import HealthWarning, HealthWarningCode, WorkerName, WorkerReadiness
from common.health.needs import NEEDS, PROVIDER_WORKERS, WORKERS, Need
from common.health.packages import PackageResult

INSTALL_HINT = "reinstall the workers' packages: pip install -r cloud/workers/requirements.txt"

# The recommendation of each code; `warning()` may pass a more specific one.
RECOMMENDATIONS: Mapping[HealthWarningCode, str] = {
    "NO_API_KEY": "set the API key of each provider you probe (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...)",
    "PROVIDER_SDK_UNUSABLE": INSTALL_HINT,
    "WORKER_NOT_READY": INSTALL_HINT,
    "FEATURE_DEGRADED": INSTALL_HINT,
    "LIVE_CHECK_NO_PROVIDER": "set a provider's API key, then run the live check again",
    "PROVIDER_UNHEALTHY": "check the provider's key, quota and base URL (see providers.<name>.errorCode)",
    "IMPORT_CHECK_INCOMPLETE": "run the deep check again with a larger timeoutMs, or when the machine is less busy",
}


def warning(code: HealthWarningCode, message: str, recommendation: str | None = None) -> HealthWarning:
    return HealthWarning(code=code, message=message, recommendation=recommendation or RECOMMENDATIONS[code])


def _why(result: PackageResult) -> str:
    return result.error or "not usable"


def readiness(
    worker: WorkerName,
    results: Mapping[str, PackageResult],
    configured: list[str],
    python_problem: str | None,
    needs: tuple[Need, ...] = NEEDS,
) -> WorkerReadiness:
    problems: list[str] = [python_problem] if python_problem else []
    missing: list[str] = []
    degraded: list[str] = []
    unavailable: list[str] = []
    for need in needs:
        result = results[need.distribution]
        if result.usable:
            continue
        if need.providers:
            if worker in need.required_by:
                unavailable += [name for name in need.providers if name in configured]
        elif worker in need.required_by:
            missing.append(need.distribution)
            problems.append(f"required package {need.distribution} cannot be imported: {_why(result)}")
        elif worker in need.optional_for:
            degraded.append(need.distribution)
    if worker in PROVIDER_WORKERS and configured and set(configured) <= set(unavailable):
        problems.append(f"no configured provider can be used: the SDK of {', '.join(configured)} cannot be imported")
    return WorkerReadiness(
        ready=not problems,
        problems=problems,
        missing=missing,
        degraded=degraded,
        unavailable_providers=unavailable,
    )


def package_warnings(
    results: Mapping[str, PackageResult],
    workers: Mapping[WorkerName, WorkerReadiness],
    configured: list[str],
    needs: tuple[Need, ...] = NEEDS,
) -> list[HealthWarning]:
    """One warning per unusable SDK of a configured provider, per degraded feature, per worker not ready."""
    found: list[HealthWarning] = []
    for need in needs:
        result = results[need.distribution]
        if result.usable:
            continue
        affected = [name for name in need.providers if name in configured]
        if affected:
            found.append(
                warning(
                    "PROVIDER_SDK_UNUSABLE",
                    f"package {need.distribution} cannot be imported ({_why(result)}):"
                    f" probes of {', '.join(affected)} models will fail",
                )
            )
        elif not need.providers and need.optional_for:
            users = ", ".join(w for w in WORKERS if w in need.optional_for)
            found.append(
                warning(
                    "FEATURE_DEGRADED",
                    f"optional package {need.distribution} is not usable ({_why(result)}): {need.without_it} ({users})",
                )
            )
    for name, state in workers.items():
        if name != "probe" and not state.ready:
            found.append(warning("WORKER_NOT_READY", f"{name} cannot run: {'; '.join(state.problems)}"))
    return found
