"""One probe job, from its JSON document to its result document.

Shared by the one-shot script (`probe.py`) and anything that runs many jobs in one
process, which pass `reuse_clients=True` to share SDK clients between jobs.
"""

from __future__ import annotations

from typing import Any

from common.contract.probe import ProbeJob, ProbeSuccess, WorkerFailure
from common.io.log import bind_job
from common.probe.conversation import ProbeRunner
from common.providers.registry import get_provider, resolve_model
from common.runs.oneshot import validate_job


async def run_probe_job(document: dict[str, Any], *, reuse_clients: bool = False) -> ProbeSuccess | WorkerFailure:
    job = validate_job(document, ProbeJob)
    bind_job(runId=job.run_id, scenarioId=job.scenario_id, modelId=job.model_id)
    route = resolve_model(job.model_id)
    provider = get_provider(route.provider, reuse=reuse_clients)
    try:
        return await ProbeRunner(job, route, provider).run()
    finally:
        if not reuse_clients:
            await provider.aclose()
