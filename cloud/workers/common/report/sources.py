"""Reading a run's files as typed records, keeping every line the report cannot use as a note.

A results file is read the way batch reads it back (`ResultLine`: `{id, result}` with the
result as `ProbeSuccess | WorkerFailure`), but a report must never stop at a bad line: a
torn last line (a crash mid-write), a line of some other file, or a repeated id (a rerun
before compaction; the last line wins, as `compact` keeps it) each becomes a note and the
rest of the run is still shown. The jobs file is optional and read leniently: it supplies
what results do not carry (scenario id, name, dimensions, the prompt) and the jobs that
have no result yet.

Decisions are not part of the probe contract: a host that scores transcripts may write
`decisionModelV2` / `summary` / `sampleIndex` beside `id` and `result` on a result line,
the fields analyze_basic reads; they are kept as given and validated by analyze_basic
itself. Each line is parsed once, by pydantic straight from its bytes (the report reads
100,000 lines; `json.loads` and a second validation pass cost twice as long).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from common.contract.probe import ProbeSuccess, WorkerFailure
from common.runs.lines import JobId, ResultLine, readable_id

SHOWN_LINE_NUMBERS = 10  # a note names this many bad lines, then says how many more
SHARED_SETS_PER_CLASS = 32  # distinct fields-sets kept for sharing per model class (a run has a few)

_set_attribute = object.__setattr__


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, alias_generator=to_camel)


class JobScenario(_Lenient):
    """The parts of a job's scenario the report shows; `name`/`dimensions` are the host's extras."""

    preamble: str | None = None
    prompt: str | None = None
    name: str | None = None
    dimensions: dict[str, Any] | None = None  # as given: analyze_basic validates the levels


class JobInfo(_Lenient):
    """One line of the jobs file, as far as it can be read (every field optional)."""

    id: Any = None
    run_id: str | None = None
    scenario_id: str | None = None
    model_id: str | None = None
    scenario: JobScenario | None = None
    sample_index: int | None = None


@dataclass
class Decision:
    """What a host recorded about one transcript's decision, exactly as given (analyze_basic validates)."""

    decision_model_v2: Any = None
    summary: Any = None
    sample_index: Any = None

    @property
    def present(self) -> bool:
        return self.decision_model_v2 is not None or self.summary is not None


class AnnotatedResultLine(ResultLine):
    """A result line as batch reads it, plus the decision a host may have written beside it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    decision_model_v2: Any = Field(default=None, alias="decisionModelV2")
    summary: Any = None
    sample_index: Any = Field(default=None, alias="sampleIndex")


@dataclass
class ResultRecord:
    id: JobId | None
    line: int
    result: ProbeSuccess | WorkerFailure
    decision: Decision


@dataclass
class Note:
    level: str  # "warning" (something is missing or was skipped) or "info"
    message: str


@dataclass
class RunSources:
    results: list[ResultRecord]
    jobs: dict[JobId, JobInfo] | None  # None when no jobs file was given
    job_order: list[JobId] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(argument) for argument in get_args(annotation))


class SharedFieldSets:
    """Every parsed model instance given the one fields-set object of its class that equals its own.

    Validation gives each instance its own set of the field names the line had (~700 bytes for
    a turn's metadata): 40% of what a parsed result line holds, 0.5 GB of a 100,000-job
    report's peak, while a run has a few distinct sets per class. The report never assigns to a
    result's field (pydantic would add the name to the shared set), so instances can share
    one, as `analysis.trusted` does for the models it builds.
    """

    def __init__(self) -> None:
        self._sets: dict[type[BaseModel], list[set[str]]] = {}
        self._nested: dict[type[BaseModel], tuple[str, ...]] = {}

    def share(self, root: BaseModel) -> None:
        """`root` and every model inside it (one loop, no call per instance: ~10 models a line)."""
        sets, nested = self._sets, self._nested
        stack: list[Any] = [root]
        while stack:
            model = stack.pop()
            if not isinstance(model, BaseModel):
                continue
            cls = type(model)
            known = sets.get(cls)
            if known is None:
                known = sets[cls] = []
                nested[cls] = tuple(name for name, f in cls.model_fields.items() if _holds_models(f.annotation))
            own = model.__pydantic_fields_set__
            for candidate in known:
                if candidate == own:
                    _set_attribute(model, "__pydantic_fields_set__", candidate)
                    break
            else:
                if len(known) < SHARED_SETS_PER_CLASS:
                    known.append(own)
            values = model.__dict__
            for name in nested[cls]:
                value = values[name]
                if type(value) is list:
                    stack.extend(value)
                elif value is not None:
                    stack.append(value)


def _shown(numbers: list[int]) -> str:
    head = ", ".join(str(n) for n in numbers[:SHOWN_LINE_NUMBERS])
    more = len(numbers) - SHOWN_LINE_NUMBERS
    return head + (f" and {more} more" if more > 0 else "")


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "the line"
    return f"{where}: {error['msg']}"


def read_results(path: Path) -> tuple[list[ResultRecord], list[Note]]:
    """Every usable result line (the last one per id) and notes on the lines that were not."""
    by_id: dict[str, ResultRecord] = {}
    anonymous: list[ResultRecord] = []
    torn: list[int] = []
    foreign: list[int] = []
    first_foreign = ""
    superseded = 0
    shared = SharedFieldSets()
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                line = AnnotatedResultLine.model_validate_json(raw_line)
            except ValidationError as exc:
                if exc.errors()[0]["type"] == "json_invalid":
                    torn.append(number)
                else:
                    foreign.append(number)
                    first_foreign = first_foreign or _first_problem(exc)
                continue
            shared.share(line.result)
            decision = Decision(line.decision_model_v2, line.summary, line.sample_index)
            record = ResultRecord(readable_id(line.id), number, line.result, decision)
            if record.id is None:
                anonymous.append(record)
                continue
            key = json.dumps(record.id)
            superseded += key in by_id
            by_id[key] = record
    notes: list[Note] = []
    if torn:
        notes.append(
            Note("warning", f"{len(torn)} line(s) of the results file are not JSON (torn?): line {_shown(torn)}")
        )
    if foreign:
        notes.append(
            Note(
                "warning",
                f"{len(foreign)} line(s) of the results file are not result lines and were skipped: line"
                f" {_shown(foreign)} (first problem: {first_foreign})",
            )
        )
    if superseded:
        notes.append(
            Note("info", f"{superseded} result line(s) were superseded by a later line for the same id (a rerun)")
        )
    if anonymous:
        notes.append(Note("info", f"{len(anonymous)} result line(s) have no id; shown without one"))
    records = sorted(by_id.values(), key=lambda r: r.line) + anonymous
    return records, notes


def read_jobs(path: Path) -> tuple[dict[JobId, JobInfo], list[JobId], list[Note]]:
    """The jobs file by id (first line per id, as batch runs it); unreadable lines are noted."""
    jobs: dict[JobId, JobInfo] = {}
    order: list[JobId] = []
    bad: list[int] = []
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                info = JobInfo.model_validate_json(raw_line)
            except ValidationError:
                bad.append(number)
                continue
            job_id = readable_id(info.id)
            if job_id is None:
                bad.append(number)
                continue
            if job_id not in jobs:
                jobs[job_id] = info
                order.append(job_id)
    notes = [Note("warning", f"{len(bad)} line(s) of the jobs file cannot be read: line {_shown(bad)}")] if bad else []
    return jobs, order, notes


def read_sources(results: Path, jobs: Path | None) -> RunSources:
    """The results (required) and the jobs file (optional) of one run, with notes on both."""
    records, notes = read_results(results)
    if jobs is None:
        return RunSources(records, None, [], notes)
    try:
        by_id, order, job_notes = read_jobs(jobs)
    except OSError as exc:
        notes.append(Note("warning", f"the jobs file {jobs} cannot be read ({exc.strerror}): shown without it"))
        return RunSources(records, None, [], notes)
    return RunSources(records, by_id, order, notes + job_notes)
