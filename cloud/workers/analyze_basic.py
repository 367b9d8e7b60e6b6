#!/usr/bin/env python3
"""Analysis worker: a completed run's transcripts -> Tier 1 statistics.

    python3 cloud/workers/analyze_basic.py < run.json

Reads {runId, transcripts: [...]} on stdin, prints {success: true, contractVersion,
analysis: {...}} (or success false with a VALIDATION_ERROR naming the field and the
transcript id) on stdout, logs JSON lines on stderr, exits 0.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from common.contract.analysis import AnalyzeBasicSuccess
from common.runs.oneshot import exit_process, run_worker
from common.runs.run_path import Worker, bind_job_ids


def answer_unusable(exc: ImportError) -> NoReturn:
    """numpy or msgspec is missing or broken: the host still gets one document, not a traceback.

    An ENVIRONMENT_ERROR (not retryable: the same install fails the same way), exit code 0,
    as health_check reports it (`workers.analyze_basic.ready` false, probes unaffected).
    """
    from common.errors.codes import ErrorCode, WorkerError

    package = exc.name or "a package it needs"
    error = WorkerError(
        ErrorCode.ENVIRONMENT_ERROR,
        f"analyze_basic cannot run here: {package} cannot be imported ({type(exc).__name__}: {exc});"
        " reinstall the workers' packages: pip install -r cloud/workers/requirements.txt",
        details={"package": exc.name, "error": f"{type(exc).__name__}: {exc}"},
    )

    def refuse(_: dict[str, Any]) -> Any:
        raise error

    async def never(_: Any, __: ProviderPool) -> AnalyzeBasicSuccess:
        raise error

    exit_process(run_worker(Worker(name="analyze_basic", parse=refuse, run=never, synchronous=True)))


try:
    from common.analysis.decode import decode_columns
    from common.analysis.extract import Columns, extract
    from common.analysis.report import analyze_columns
    from common.analysis.wire import render_document
except ImportError as unusable:
    if __name__ != "__main__":
        raise
    answer_unusable(unusable)

if TYPE_CHECKING:
    from common.providers.pool import ProviderPool

# A run of 100,000 transcripts is about 40 MB of JSON; probe jobs keep the 16 MB default.
MAX_INPUT_BYTES = 512 * 1024 * 1024


def parse(document: dict[str, Any]) -> Columns:
    return extract(document)  # validates as it reads, naming the field and the transcript id


def parse_bytes(raw: bytes) -> Columns:
    # Straight into typed arrays (no dict per transcript); bad input falls back to the one
    # JSON decoder and `extract`, so its VALIDATION_ERROR is word for word the same.
    return decode_columns(raw, seen=bind_job_ids)


async def run(columns: Columns, _: ProviderPool) -> AnalyzeBasicSuccess:
    return analyze_columns(columns)


ANALYZE_BASIC = Worker(
    name="analyze_basic",
    parse=parse,
    run=run,
    max_input_bytes=MAX_INPUT_BYTES,
    parse_bytes=parse_bytes,
    render=render_document,
    synchronous=True,  # no provider, no I/O: one-shot runs it without asyncio (`Worker.synchronous`)
)


def main() -> int:
    # One short-lived process that decodes ~10^5 typed structs and builds ~10^5 result
    # models it keeps: the cyclic collector would re-scan them again and again and could
    # free nothing; reference counting still frees everything else.
    gc.disable()
    return run_worker(ANALYZE_BASIC)


if __name__ == "__main__":
    exit_process(main())  # no shutdown collections over what the job left alive
