"""The one run path: a decoded job in, exactly one result document out, in every mode.

One-shot (`oneshot.run_worker`), serve (`serve.Server`), batch (`batch.runner`) and the
distributed worker (`distributed.task`) all hand a decoded job to `run_job` (or parse it
with `parse_job` and run it with `run_parsed`), so validation, the provider pool,
cancellation and the mapping of every exception onto a failure document are written once,
and the same job gives the same document whichever mode ran it (`tests/test_run_modes.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from common.contract.probe import WorkerFailure
from common.errors.codes import WorkerError, cancelled_error, unexpected_error
from common.io.job_clock import JOB_STARTED
from common.io.json_input import DEFAULT_MAX_INPUT_BYTES
from common.io.log import bind_job, get_logger

if TYPE_CHECKING:
    from common.providers.pool import ProviderPool

J = TypeVar("J")

# Job fields that identify a job in every log line (the host's ids), when a job has them.
_JOB_ID_FIELDS = ("runId", "scenarioId", "modelId", "jobId")


@dataclass(frozen=True)
class Worker(Generic[J]):
    """One kind of job: how a decoded document becomes its job, and how the job is run."""

    name: str
    parse: Callable[[dict[str, Any]], J]  # raises WorkerError (VALIDATION_ERROR) for a bad job
    run: Callable[[J, ProviderPool], Awaitable[BaseModel]]
    allow_empty_input: bool = False
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    # One-shot only, both optional. `parse_bytes`: the job straight from the bytes read, in
    # place of `decode_object` + `parse` (for a job too large to build as dicts first); it
    # raises WorkerError(VALIDATION_ERROR) with the messages those two give. `render`: the
    # document as its line of JSON, in place of `io.render.render` (same text, faster).
    # Serve and batch decode their lines and use `parse` and `render` as always.
    parse_bytes: Callable[[bytes], J] | None = None
    render: Callable[[BaseModel], str] | None = None
    # One-shot only: True for a job that never waits (no provider, no I/O: analysis). Its
    # coroutine is then stepped to its end without an event loop, and asyncio and the
    # providers are never imported (~30 ms of a one-shot analysis). Awaiting anything that
    # suspends is a bug it answers with an UNKNOWN error document. Other modes run it on
    # their loop as any job.
    synchronous: bool = False


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is asyncio's CancelledError, without importing asyncio to ask.

    A process that never imported asyncio (a synchronous one-shot job) has no event loop
    and so no cancellation to tell apart.
    """
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def failure_for(exc: BaseException) -> WorkerFailure:
    """The failure document for anything a job can raise; logged once, here."""
    log = get_logger()
    if isinstance(exc, WorkerError):
        log.warning("job failed", code=exc.code.value, message=exc.message)
        return WorkerFailure.from_error(exc)
    if isinstance(exc, KeyboardInterrupt) or is_cancellation(exc):
        # Stopped before the conversation started (or while closing): nothing was paid for.
        return WorkerFailure.from_error(cancelled_error())
    log.error("unexpected error", exc_info=exc)
    return WorkerFailure.from_error(unexpected_error(exc))


def bind_job_ids(document: dict[str, Any]) -> None:
    """Puts the job's ids on every later log line of this context, the failure line included."""
    bind_job(**{name: document[name] for name in _JOB_ID_FIELDS if isinstance(document.get(name), str)})


def parse_job(worker: Worker[J], document: dict[str, Any]) -> J | WorkerFailure:
    """The job, or the failure document that says why the document is not one."""
    bind_job_ids(document)
    try:
        return worker.parse(document)
    except Exception as exc:
        return failure_for(exc)


async def run_parsed(worker: Worker[J], job: J, pool: ProviderPool, *, started: float | None = None) -> BaseModel:
    """Exactly one result document for a parsed job; never raises (except to exit the process).

    `started` (monotonic) is when the host handed the job over; the job's deadline counts
    from it (`common.io.job_clock`). None: from when the job's own work starts.
    """
    token = JOB_STARTED.set(started)
    try:
        return await worker.run(job, pool)
    except BaseException as exc:
        if isinstance(exc, Exception) or is_cancellation(exc):
            return failure_for(exc)
        raise
    finally:
        JOB_STARTED.reset(token)


async def run_job(
    worker: Worker[J], document: dict[str, Any], pool: ProviderPool, *, started: float | None = None
) -> BaseModel:
    """Exactly one result document for a decoded job: parse, then run."""
    parsed = parse_job(worker, document)
    if isinstance(parsed, WorkerFailure):
        return parsed
    return await run_parsed(worker, parsed, pool, started=started)


async def run_once(worker: Worker[J], document: dict[str, Any], *, started: float | None = None) -> BaseModel:
    """One job with providers of its own, closed before its document is returned (one-shot mode)."""
    parsed = parse_job(worker, document)
    if isinstance(parsed, WorkerFailure):
        return parsed
    return await run_parsed_once(worker, parsed, started=started)


async def run_parsed_once(worker: Worker[J], job: J, *, started: float | None = None) -> BaseModel:
    """`run_once` for a job already parsed (by `Worker.parse_bytes`)."""
    from common.providers.pool import ProviderPool  # only now: see `Worker.synchronous`

    pool = ProviderPool()
    try:
        return await run_parsed(worker, job, pool, started=started)
    finally:
        await pool.aclose()
