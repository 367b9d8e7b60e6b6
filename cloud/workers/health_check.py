#!/usr/bin/env python3
"""Health-check worker: can this deployment run probes?

    python3 cloud/workers/health_check.py < /dev/null          # Python, packages, keys
    echo '{"live": true}' | python3 cloud/workers/health_check.py   # + one cheap call per provider
    python3 cloud/workers/health_check.py --live < /dev/null

Prints {success, contractVersion, health: {...}} (or success false with an
ENVIRONMENT_ERROR when Python or a required package is unusable); exits 0.
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
    live_flag = "--live" in (argv if argv is not None else sys.argv[1:])

    def parse(document: dict[str, object]) -> HealthJob:
        job = validate_job(document, HealthJob)
        return job.model_copy(update={"live": True}) if live_flag else job

    stdin = None if not sys.stdin or not sys.stdin.isatty() else open("/dev/null", "rb")  # noqa: SIM115
    worker = Worker(name="health_check", parse=parse, run=check_health, allow_empty_input=True)
    return run_worker(worker, stdin=stdin)


if __name__ == "__main__":
    exit_process(main())  # no shutdown collections over what the job left alive
