"""The probe job kind, as every run mode (one-shot, serve, batch) runs it."""

from __future__ import annotations

from typing import Any

from common.contract.probe import ProbeJob
from common.io.json_input import validate_job
from common.probe.job import run_probe
from common.runs.run_path import Worker


def parse_probe_job(document: dict[str, Any]) -> ProbeJob:
    return validate_job(document, ProbeJob)


PROBE = Worker(name="probe", parse=parse_probe_job, run=run_probe)
