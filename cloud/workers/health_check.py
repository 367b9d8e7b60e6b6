#!/usr/bin/env python3
"""Health-check worker: can this deployment run probes?

    python3 cloud/workers/health_check.py < /dev/null          # Python, packages (metadata), keys
    echo '{"live": true}' | python3 cloud/workers/health_check.py   # + one cheap call per provider
    echo '{"deep": true}' | python3 cloud/workers/health_check.py   # + every package really imported
    python3 cloud/workers/health_check.py --live --deep < /dev/null

Prints {success, contractVersion, health: {..., workers: {probe, analyze_basic, batch, serve}}}
(or success false with an ENVIRONMENT_ERROR when the probe worker cannot run: Python or a
package probes need is unusable); exits 0. The default check imports no SDK, numpy or scipy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from common.contract.health import HealthJob
from common.health.check import check_health
from common.io.json_input import validate_job
from common.runs.oneshot import exit_process, run_worker
from common.runs.run_path import Worker


def main(argv: list[str] | None = None) -> int:
    flags = argv if argv is not None else sys.argv[1:]
    forced = {name: True for name in ("live", "deep") if f"--{name}" in flags}

    def parse(document: dict[str, object]) -> HealthJob:
        job = validate_job(document, HealthJob)
        return job.model_copy(update=forced) if forced else job

    stdin = None if not sys.stdin or not sys.stdin.isatty() else open("/dev/null", "rb")  # noqa: SIM115
    worker = Worker(name="health_check", parse=parse, run=check_health, allow_empty_input=True)
    return run_worker(worker, stdin=stdin)


if __name__ == "__main__":
    exit_process(main())  # no shutdown collections over what the job left alive
