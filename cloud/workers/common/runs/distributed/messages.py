"""The wire shapes of a distributed run: the task message, and a result waiting in Redis.

The message carries the job as JSON text, not as an object, so the worker decodes it with
the one decoder (`io/json_input.py`): a job that cannot be decoded becomes a
VALIDATION_ERROR result like any other bad job, never a message the broker redelivers.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from common.contract.probe import ProbeResult
from common.runs.lines import JobId

TASK_NAME = "probe.run"


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class LimitWire(_Wire):
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)


class TaskMessage(_Wire):
    """One submission of one job: which run, which job, which generation of it."""

    run: str = Field(min_length=1)
    id: JobId
    gen: int = Field(ge=1)
    job: str  # the probe job document as JSON text (with priorTurns when it resumes)
    limits: dict[str, LimitWire] = Field(default_factory=dict)  # provider -> the run's shared limits


class ResultEnvelope(_Wire):
    """A published result: the document one-shot mode would print, and what the driver needs to account it."""

    id: JobId
    gen: int
    replayed: int = 0  # turns resumed from priorTurns or a checkpoint (paid for by an earlier run)
    worker: str = ""
    result: ProbeResult


def job_field(job_id: JobId) -> str:
    """A job id as the field name of the run's hashes (its JSON text: 7 and "7" stay apart)."""
    return json.dumps(job_id, ensure_ascii=False)
