"""Runs one probe job inside a long-lived process and always returns its document.

A one-shot worker turns every outcome into one document in `worker.run_worker`; a warm
worker or a batch runs many jobs in one process, so the same mapping is applied per job
here: a handled failure, a cancellation and an unexpected exception each become the
failure document that one-shot mode would print, and the process goes on.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from common.contract.probe import ProbeSuccess, WorkerFailure
from common.errors.codes import ErrorCode, WorkerError
from common.io.log import get_logger
from common.probe.job import run_probe_job
from common.runs.oneshot import failure

CANCELLED_MESSAGE = "the worker was asked to stop"


async def run_job_document(document: dict[str, Any]) -> ProbeSuccess | WorkerFailure:
    """The job's result document; SDK clients are shared with other jobs of the same provider."""
    try:
        return await run_probe_job(document, reuse_clients=True)
    except WorkerError as error:
        get_logger().warning("job failed", code=error.code.value, message=error.message)
        return failure(error)
    except asyncio.CancelledError:
        # Cancelled before the conversation started (or while closing): nothing was paid for.
        return failure(WorkerError(ErrorCode.CANCELLED, CANCELLED_MESSAGE))
    except Exception as exc:
        get_logger().error("unexpected error", exc_info=exc)
        return failure(
            WorkerError(
                ErrorCode.UNKNOWN,
                f"unexpected {type(exc).__name__}: {exc}",
                details={"exception": type(exc).__name__, "trace": traceback.format_exception_only(exc)[-1].strip()},
            )
        )
