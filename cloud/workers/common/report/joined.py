"""One row per job: its result joined with its job line, and the model and scenario it belongs to.

Results do not name their scenario and a failure before the first turn does not name its
model, so both come from the jobs file when there is one. Without it the model is the
transcript's `requestedModel` (or what the error names) and the scenario is recognised by
its first prompt, which every model of one scenario is sent: the side-by-side view still
lines up a scenario's answers, and a note says how scenarios were found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from common.contract.probe import ProbeSuccess, Transcript, WorkerFailure
from common.errors.codes import WorkerError
from common.providers.registry import resolve_model
from common.report.sources import Decision, JobInfo, Note, ResultRecord, RunSources
from common.runs.lines import JobId

UNKNOWN_MODEL = "(unknown model)"
UNKNOWN_PROVIDER = "(unknown provider)"
UNKNOWN_SCENARIO = "(unknown scenario)"
SCENARIO_NAME_CHARS = 80


class Outcome(IntEnum):
    """The outcomes a job can have, in the order the page lists them."""

    SUCCEEDED = 0
    FAILED_RETRYABLE = 1
    FAILED = 2
    NO_RESULT = 3


OUTCOME_LABELS = ["succeeded", "failed (retryable)", "failed", "no result"]


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    prompt: str | None  # the scenario's first prompt as sent (preamble included when prepended)


@dataclass
class JobRow:
    id: JobId | None
    model: str
    provider: str
    scenario: Scenario
    outcome: Outcome
    result: ProbeSuccess | WorkerFailure | None
    job: JobInfo | None
    decision: Decision

    @property
    def transcript(self) -> Transcript | None:
        """The turns this job has: a success's transcript or a failure's partial one."""
        if isinstance(self.result, ProbeSuccess):
            return self.result.transcript
        if isinstance(self.result, WorkerFailure):
            return self.result.partial_transcript
        return None

    @property
    def failure(self) -> WorkerFailure | None:
        return self.result if isinstance(self.result, WorkerFailure) else None


def _outcome(result: ProbeSuccess | WorkerFailure | None) -> Outcome:
    if result is None:
        return Outcome.NO_RESULT
    if isinstance(result, ProbeSuccess):
        return Outcome.SUCCEEDED
    return Outcome.FAILED_RETRYABLE if result.retryable else Outcome.FAILED


def _model(result: ProbeSuccess | WorkerFailure | None, job: JobInfo | None) -> str:
    if job is not None and job.model_id and job.model_id.strip():
        return job.model_id.strip()
    transcript = (
        result.transcript
        if isinstance(result, ProbeSuccess)
        else result.partial_transcript
        if isinstance(result, WorkerFailure)
        else None
    )
    if transcript is not None:
        return transcript.requested_model
    if isinstance(result, WorkerFailure):
        named = result.error.details.get("modelId")
        if isinstance(named, str) and named.strip():
            return named.strip()
    return UNKNOWN_MODEL


def _provider(model: str, transcript: Transcript | None) -> str:
    if transcript is not None:
        return transcript.provider
    if model == UNKNOWN_MODEL:
        return UNKNOWN_PROVIDER
    try:
        return resolve_model(model).provider
    except WorkerError:
        return UNKNOWN_PROVIDER


def _first_prompt(transcript: Transcript | None) -> str | None:
    return transcript.turns[0].probe_prompt if transcript is not None and transcript.turns else None


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SCENARIO_NAME_CHARS else flat[: SCENARIO_NAME_CHARS - 1] + "…"


class _Scenarios:
    """Scenario identities, one object per scenario, from job lines or first prompts."""

    def __init__(self) -> None:
        self.by_key: dict[str, Scenario] = {}
        self.inferred = 0

    def of(self, job: JobInfo | None, transcript: Transcript | None) -> Scenario:
        prompt = _first_prompt(transcript)
        if job is not None and job.scenario_id:
            key = job.scenario_id
            if key not in self.by_key:
                scenario = job.scenario
                name = (scenario.name if scenario and scenario.name else None) or key
                shown = prompt or (scenario.prompt if scenario else None)
                self.by_key[key] = Scenario(key, name, shown)
            elif self.by_key[key].prompt is None and prompt is not None:
                known = self.by_key[key]
                self.by_key[key] = Scenario(key, known.name, prompt)
            return self.by_key[key]
        if prompt is None:
            return self.by_key.setdefault(UNKNOWN_SCENARIO, Scenario(UNKNOWN_SCENARIO, UNKNOWN_SCENARIO, None))
        key = "prompt:" + hashlib.sha256(prompt.encode()).hexdigest()[:12]
        if key not in self.by_key:
            self.inferred += 1
            self.by_key[key] = Scenario(key, _short(prompt), prompt)
        return self.by_key[key]


def join(sources: RunSources) -> tuple[list[JobRow], list[Note]]:
    """Every job of the run once: results in file order, then jobs of the jobs file without a result."""
    scenarios = _Scenarios()
    jobs = sources.jobs or {}
    rows: list[JobRow] = []
    seen: set[JobId] = set()
    unknown_ids = 0
    for record in sources.results:
        info = jobs.get(record.id) if record.id is not None else None
        if sources.jobs is not None and record.id is not None and info is None:
            unknown_ids += 1
        rows.append(_row(record, info, scenarios))
        if record.id is not None:
            seen.add(record.id)
    for job_id in sources.job_order:
        if job_id not in seen:
            info = jobs[job_id]
            model = info.model_id.strip() if info.model_id and info.model_id.strip() else UNKNOWN_MODEL
            rows.append(
                JobRow(
                    job_id,
                    model,
                    _provider(model, None),
                    scenarios.of(info, None),
                    Outcome.NO_RESULT,
                    None,
                    info,
                    Decision(),
                )
            )
    for row in rows:  # one Scenario per key, with the prompt found by any of its jobs
        row.scenario = scenarios.by_key[row.scenario.key]
    notes: list[Note] = []
    waiting = sum(1 for row in rows if row.outcome is Outcome.NO_RESULT)
    if waiting:
        notes.append(Note("warning", f"{waiting} job(s) of the jobs file have no result yet (outcome 'no result')"))
    if unknown_ids:
        notes.append(Note("warning", f"{unknown_ids} result(s) have an id the jobs file does not list"))
    if sources.jobs is None and scenarios.inferred:
        notes.append(
            Note(
                "info",
                "no jobs file was given: scenarios are recognised by their first prompt"
                f" ({scenarios.inferred} found); pass --jobs for their ids and names",
            )
        )
    return rows, notes


def _row(record: ResultRecord, info: JobInfo | None, scenarios: _Scenarios) -> JobRow:
    result = record.result
    transcript = result.transcript if isinstance(result, ProbeSuccess) else result.partial_transcript
    model = _model(result, info)
    return JobRow(
        record.id,
        model,
        _provider(model, transcript),
        scenarios.of(info, transcript),
        _outcome(result),
        result,
        info,
        record.decision,
    )
