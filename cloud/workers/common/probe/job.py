"""One probe job: route its model to a provider, lease the provider, run the conversation."""

from __future__ import annotations

from common.contract.probe import ProbeJob, ProbeSuccess, WorkerFailure
from common.io.job_clock import JOB_STARTED
from common.io.log import bind_job
from common.probe.conversation import ProbeRunner
from common.providers.pool import ProviderPool
from common.providers.registry import resolve_model


async def run_probe(job: ProbeJob, pool: ProviderPool) -> ProbeSuccess | WorkerFailure:
    bind_job(runId=job.run_id, scenarioId=job.scenario_id, modelId=job.model_id)
    route = resolve_model(job.model_id)
    async with pool.lease(route.provider) as provider:
        return await ProbeRunner(job, route, provider, started=JOB_STARTED.get()).run()
