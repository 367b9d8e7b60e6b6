"""Turns the parsed job into columns (numpy arrays), checking the input contract on the way.

A run can hold 100,000 transcripts, so this makes one pass over the parsed JSON with
plain type checks instead of building a pydantic object per transcript. It enforces the
same rules as `AnalyzeBasicJob` (a test holds the two together) and names the offending
field and transcript id of every problem it finds, up to `MAX_PROBLEMS`.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from common.analysis.scoring import (
    BUCKET_SCORE,
    DECISION_BUCKET,
    DIRECTIONS,
    MISSING,
    STRENGTHS,
    VALUE_OUTCOME_CODE,
    VALUE_OUTCOMES,
)
from common.contract.analysis import AnalysisOptions
from common.errors.codes import ErrorCode, WorkerError
from common.io.json_input import validate_job

MAX_PROBLEMS: Final = 20

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_JSON_TYPES: Final[dict[type, str]] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Columns:
    """The run as arrays: one entry per transcript, plus the sorted labels its codes index."""

    run_id: str
    options: AnalysisOptions
    models: list[str]  # sorted; `model` holds indices into it
    scenarios: list[str]  # sorted; `scenario` holds indices into it
    scenario_names: list[str | None]
    scenario_dimensions: list[dict[str, str]]  # dimension -> level label, per scenario
    scenario_levels: list[dict[str, str | int | float]]  # dimension -> level as sent, per scenario
    model: IntArray
    scenario: IntArray
    bucket: IntArray  # scoring.BUCKET_NAMES index
    score: FloatArray  # NaN when unscored
    flipped: npt.NDArray[np.bool_]  # orientationFlipped
    runs: list[str]  # sorted source run ids (transcript runId); `run` holds indices, -1 when absent
    run: IntArray
    value_names: list[str]  # sorted; `value_code` holds indices into it
    value_row: IntArray  # transcript row of each value outcome
    value_code: IntArray
    value_outcome: IntArray  # scoring.VALUE_OUTCOMES index
    duplicate_ids: int
    conflicting_dimension_scenarios: list[str]

    @property
    def size(self) -> int:
        return int(self.model.shape[0])


class Problems:
    """Collects validation problems; the first one names the error."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, problem: str, transcript_id: str | None = None) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append({"field": field, "problem": problem, "transcriptId": transcript_id})

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        where = f' (transcript "{first["transcriptId"]}")' if first["transcriptId"] is not None else ""
        more = f" (and {len(self.items) - 1} more problem(s))" if len(self.items) > 1 else ""
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"invalid job: {first['field']}: {first['problem']}{where}{more}",
            details={"field": first["field"], "transcriptId": first["transcriptId"], "problems": self.items},
        )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text_problem(value: object) -> str:
    if value is None:
        return "field required (a non-empty string)"
    if type(value) is str:
        return "must not be empty"
    return f"must be a string, not {json_type(value)}"


def _enum_problem(value: object, allowed: tuple[str, ...]) -> str:
    if value is None:
        return f"field required (one of {', '.join(allowed)})"
    return f"must be one of {', '.join(allowed)}, not {_show(value)}"


def level_label(level: str | int | float) -> str:
    """A dimension level as a group label: 3 and 3.0 are the same level."""
    if type(level) is str:
        return level
    if type(level) is float and level.is_integer():
        return str(int(level))
    return str(level)


class Coder:
    """Gives each distinct label a code in first-seen order; `sorted_codes` reorders them."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, label: str) -> int:
        found = self.codes.get(label)
        if found is None:
            found = self.codes[label] = len(self.codes)
        return found

    def sorted_labels(self) -> tuple[list[str], IntArray]:
        """Sorted labels and, for each first-seen code, its index among them."""
        labels = sorted(self.codes)
        remap = np.empty(len(labels), dtype=np.int64)
        for position, label in enumerate(labels):
            remap[self.codes[label]] = position
        return labels, remap


class Reader:
    """One pass over the transcripts; each method checks one nested part of a transcript."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.values = Coder()
        self.value_rows: MutableSequence[int] = []
        self.value_codes: MutableSequence[int] = []
        self.value_outcomes: MutableSequence[int] = []
        self.scenario_names: dict[int, str] = {}
        self.scenario_dims: dict[int, dict[str, Any]] = {}
        self.conflicts: set[int] = set()

    def bucket(self, decision: object, row: int, tid: str | None) -> int:
        if decision is None:
            return MISSING
        if type(decision) is not dict:
            self.problems.add(
                f"transcripts[{row}].decisionModelV2", f"must be an object or null, not {json_type(decision)}", tid
            )
            return MISSING
        canonical = decision.get("canonical")
        if canonical is None:
            return MISSING
        if type(canonical) is dict:
            direction = canonical.get("direction")
            strength = canonical.get("strength")
            if type(direction) is str and type(strength) is str:
                found = DECISION_BUCKET.get((direction, strength))
                if found is not None:
                    return found
            if direction not in DIRECTIONS:
                self.problems.add(
                    f"transcripts[{row}].decisionModelV2.canonical.direction", _enum_problem(direction, DIRECTIONS), tid
                )
            if strength not in STRENGTHS:
                self.problems.add(
                    f"transcripts[{row}].decisionModelV2.canonical.strength", _enum_problem(strength, STRENGTHS), tid
                )
            return MISSING
        self.problems.add(
            f"transcripts[{row}].decisionModelV2.canonical",
            f"must be an object or null, not {json_type(canonical)}",
            tid,
        )
        return MISSING

    def summary(self, summary: object, row: int, tid: str | None) -> None:
        if summary is None:
            return
        if type(summary) is not dict:
            self.problems.add(
                f"transcripts[{row}].summary", f"must be an object or null, not {json_type(summary)}", tid
            )
            return
        values = summary.get("values")
        if values is None:
            return
        if type(values) is not dict:
            self.problems.add(
                f"transcripts[{row}].summary.values", f"must be an object or null, not {json_type(values)}", tid
            )
            return
        known = self.values.codes
        for name, outcome in values.items():
            code = VALUE_OUTCOME_CODE.get(outcome) if type(outcome) is str else None
            if code is None:
                self.problems.add(
                    f"transcripts[{row}].summary.values.{name}", _enum_problem(outcome, VALUE_OUTCOMES), tid
                )
                continue
            value_code = known.get(name)
            self.value_rows.append(row)
            self.value_codes.append(self.values.code(name) if value_code is None else value_code)
            self.value_outcomes.append(code)

    def scenario(self, scenario: object, scenario_code: int, row: int, tid: str | None) -> None:
        if scenario is None:
            return
        if type(scenario) is not dict:
            self.problems.add(
                f"transcripts[{row}].scenario", f"must be an object or null, not {json_type(scenario)}", tid
            )
            return
        name = scenario.get("name")
        if name is not None:
            if type(name) is str:
                self.scenario_names.setdefault(scenario_code, name)
            else:
                self.problems.add(
                    f"transcripts[{row}].scenario.name", f"must be a string or null, not {json_type(name)}", tid
                )
        dims = scenario.get("dimensions")
        if dims is None:
            return
        known = self.scenario_dims.get(scenario_code)
        if known is not None and dims == known:  # the common case: already checked for this scenario
            return
        if type(dims) is not dict:
            self.problems.add(
                f"transcripts[{row}].scenario.dimensions", f"must be an object or null, not {json_type(dims)}", tid
            )
            return
        for dim, level in dims.items():
            if level is not None and type(level) not in (str, int, float):
                self.problems.add(
                    f"transcripts[{row}].scenario.dimensions.{dim}",
                    f"must be a string, a number or null, not {json_type(level)}",
                    tid,
                )
                return
        if known is None:
            self.scenario_dims[scenario_code] = dims
        else:
            self.conflicts.add(scenario_code)


OPTION_FIELDS: Final = ("emitVignetteSemantics", "aggregateSemantics", "valuePair", "targetCompanionRunId")


def options_of(document: dict[str, Any]) -> AnalysisOptions:
    """The job-level options, validated by their model (VALIDATION_ERROR naming the field)."""
    return validate_job({key: document[key] for key in OPTION_FIELDS if key in document}, AnalysisOptions)


def _transcript_list(document: dict[str, Any], problems: Problems) -> list[Any]:
    run_id = document.get("runId")
    if type(run_id) is not str or not run_id:
        problems.add("runId", _text_problem(run_id))
    transcripts = document.get("transcripts")
    if type(transcripts) is list:
        return transcripts
    if transcripts is None:
        problems.add("transcripts", "field required (an array of transcripts)")
    else:
        problems.add("transcripts", f"must be an array of transcripts, not {json_type(transcripts)}")
    problems.raise_if_any()
    return []


def extract(document: dict[str, Any]) -> Columns:
    """Validates the job and returns it as columns; raises VALIDATION_ERROR naming field and transcript."""
    problems = Problems()
    transcripts = _transcript_list(document, problems)
    run_required = document.get("aggregateSemantics") is not None
    reader = Reader(problems)
    runs = Coder()
    run_col: list[int] = []
    flipped_col: list[bool] = []
    models = Coder()
    scenarios = Coder()
    model_col: list[int] = []
    scenario_col: list[int] = []
    bucket_col: list[int] = []
    ids: set[str] = set()
    duplicates = 0
    for row, item in enumerate(transcripts):
        if type(item) is not dict:
            problems.add(f"transcripts[{row}]", f"must be an object, not {json_type(item)}")
            if problems.full:
                break
            continue
        tid = item.get("id")
        if type(tid) is not str or not tid:
            problems.add(f"transcripts[{row}].id", _text_problem(tid))
            tid = None
        elif tid in ids:
            duplicates += 1
        else:
            ids.add(tid)
        model_id = item.get("modelId")
        if type(model_id) is str and model_id:
            model_col.append(models.code(model_id))
        else:
            problems.add(f"transcripts[{row}].modelId", _text_problem(model_id), tid)
        scenario_id = item.get("scenarioId")
        scenario_code = 0
        if type(scenario_id) is str and scenario_id:
            scenario_code = scenarios.code(scenario_id)
            scenario_col.append(scenario_code)
        else:
            problems.add(f"transcripts[{row}].scenarioId", _text_problem(scenario_id), tid)
        sample_index = item.get("sampleIndex")
        if sample_index is not None and (type(sample_index) is not int or sample_index < 0):
            problems.add(f"transcripts[{row}].sampleIndex", "must be a non-negative integer or null", tid)
        source_run = item.get("runId")
        if type(source_run) is str and source_run:
            run_col.append(runs.code(source_run))
        elif source_run is None and not run_required:
            run_col.append(-1)
        else:
            problem = "field required in aggregate mode (aggregateSemantics)" if source_run is None else None
            problems.add(f"transcripts[{row}].runId", problem or _text_problem(source_run), tid)
        flipped = item.get("orientationFlipped")
        if flipped is None or type(flipped) is bool:
            flipped_col.append(flipped is True)
        else:
            problems.add(
                f"transcripts[{row}].orientationFlipped", f"must be a boolean or null, not {json_type(flipped)}", tid
            )
        bucket_col.append(reader.bucket(item.get("decisionModelV2"), row, tid))
        reader.summary(item.get("summary"), row, tid)
        reader.scenario(item.get("scenario"), scenario_code, row, tid)
        if problems.full:
            break
    problems.raise_if_any()
    options = options_of(document)
    built = Built(
        models, scenarios, runs, model_col, scenario_col, bucket_col, run_col, flipped_col, reader, duplicates
    )
    return finish(document["runId"], options, built)


@dataclass
class Built:
    """What one pass over the transcripts collected: the coders and the columns as lists."""

    models: Coder
    scenarios: Coder
    runs: Coder
    model_col: Sequence[int]  # a list, or an array("q") (decode)
    scenario_col: Sequence[int]
    bucket_col: Sequence[int]
    run_col: Sequence[int]
    flipped_col: Sequence[bool]
    reader: Reader
    duplicates: int


def finish(run_id: str, options: AnalysisOptions, built: Built) -> Columns:
    """The columns of a validated pass (this module's, or `decode`'s over typed structs)."""
    columns = _columns(
        run_id,
        built.models,
        built.scenarios,
        built.model_col,
        built.scenario_col,
        built.bucket_col,
        built.reader,
        built.duplicates,
    )
    run_labels, run_remap = built.runs.sorted_labels()
    codes = np.asarray(built.run_col, dtype=np.int64)
    run = np.full(codes.shape[0], -1, dtype=np.int64)
    present = codes >= 0
    run[present] = run_remap[codes[present]]
    flipped = np.asarray(built.flipped_col, dtype=np.bool_)
    return replace(columns, options=options, runs=run_labels, run=run, flipped=flipped)


def _columns(
    run_id: str,
    models: Coder,
    scenarios: Coder,
    model_col: Sequence[int],
    scenario_col: Sequence[int],
    bucket_col: Sequence[int],
    reader: Reader,
    duplicates: int,
) -> Columns:
    model_labels, model_remap = models.sorted_labels()
    scenario_labels, scenario_remap = scenarios.sorted_labels()
    value_labels, value_remap = reader.values.sorted_labels()
    bucket = np.asarray(bucket_col, dtype=np.int64)
    names: list[str | None] = [None] * len(scenario_labels)
    dimensions: list[dict[str, str]] = [{} for _ in scenario_labels]
    levels: list[dict[str, str | int | float]] = [{} for _ in scenario_labels]
    for code, name in reader.scenario_names.items():
        names[int(scenario_remap[code])] = name
    for code, dims in reader.scenario_dims.items():
        levels[int(scenario_remap[code])] = {dim: level for dim, level in dims.items() if level is not None}
        dimensions[int(scenario_remap[code])] = {
            dim: level_label(level) for dim, level in dims.items() if level is not None
        }
    return Columns(
        run_id=run_id,
        options=AnalysisOptions(),
        models=model_labels,
        scenarios=scenario_labels,
        scenario_names=names,
        scenario_dimensions=dimensions,
        scenario_levels=levels,
        model=model_remap[np.asarray(model_col, dtype=np.int64)],
        scenario=scenario_remap[np.asarray(scenario_col, dtype=np.int64)],
        bucket=bucket,
        score=BUCKET_SCORE[bucket],
        flipped=np.zeros(bucket.shape[0], dtype=np.bool_),
        runs=[],
        run=np.full(bucket.shape[0], -1, dtype=np.int64),
        value_names=value_labels,
        value_row=np.asarray(reader.value_rows, dtype=np.int64),
        value_code=value_remap[np.asarray(reader.value_codes, dtype=np.int64)],
        value_outcome=np.asarray(reader.value_outcomes, dtype=np.int64),
        duplicate_ids=duplicates,
        conflicting_dimension_scenarios=sorted(scenario_labels[int(scenario_remap[c])] for c in reader.conflicts),
    )
