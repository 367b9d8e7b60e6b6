"""analyze_basic input checking: every bad input names its field and transcript id.

The worker checks transcripts column by column instead of through pydantic; the last
tests hold that fast path and the published `AnalyzeBasicJob` model to the same rules.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from common.analysis.extract import MAX_PROBLEMS
from common.analysis.report import analyze
from common.contract.analysis import AnalyzeBasicJob, AnalyzeBasicSuccess
from common.errors.codes import ErrorCode, WorkerError


def good_transcript(tid: str = "t-1") -> dict[str, Any]:
    return {
        "id": tid,
        "modelId": "openai:gpt-4o",
        "scenarioId": "scn-1",
        "sampleIndex": 0,
        "decisionModelV2": {"canonical": {"direction": "favor_first", "strength": "lean"}},
        "summary": {"values": {"autonomy": "prioritized", "safety": "neutral"}},
        "scenario": {"name": "Trolley", "dimensions": {"stakes": "high", "distance": 2, "weight": 0.5, "x": None}},
    }


def job_with(change: Any, tid: str = "t-7") -> dict[str, Any]:
    """A valid two-transcript job whose second transcript is modified by `change(t)`."""
    second = good_transcript(tid)
    change(second)
    return {"runId": "run-1", "transcripts": [good_transcript("t-1"), second]}


def failure_of(document: dict[str, Any]) -> WorkerError:
    with pytest.raises(WorkerError) as caught:
        analyze(document)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and caught.value.retryable is False
    return caught.value


def set_path(path: tuple[str, ...], value: Any) -> Any:
    def change(transcript: dict[str, Any]) -> None:
        target = transcript
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def drop(key: str) -> Any:
    return lambda transcript: transcript.pop(key)


# (change to transcript "t-7" at index 1, field named, words in the problem)
BAD_TRANSCRIPTS = [
    (drop("modelId"), "transcripts[1].modelId", "field required"),
    (set_path(("modelId",), 5), "transcripts[1].modelId", "not an integer"),
    (set_path(("modelId",), ""), "transcripts[1].modelId", "must not be empty"),
    (drop("scenarioId"), "transcripts[1].scenarioId", "field required"),
    (set_path(("scenarioId",), ["s"]), "transcripts[1].scenarioId", "not an array"),
    (set_path(("sampleIndex",), "1"), "transcripts[1].sampleIndex", "non-negative integer"),
    (set_path(("sampleIndex",), -1), "transcripts[1].sampleIndex", "non-negative integer"),
    (set_path(("sampleIndex",), True), "transcripts[1].sampleIndex", "non-negative integer"),
    (set_path(("decisionModelV2",), "favor_first"), "transcripts[1].decisionModelV2", "not a string"),
    (set_path(("decisionModelV2", "canonical"), []), "transcripts[1].decisionModelV2.canonical", "not an array"),
    (
        set_path(("decisionModelV2", "canonical", "direction"), "favour_first"),
        "transcripts[1].decisionModelV2.canonical.direction",
        "one of favor_first",
    ),
    (
        set_path(("decisionModelV2", "canonical"), {"direction": "neutral"}),
        "transcripts[1].decisionModelV2.canonical.strength",
        "field required",
    ),
    (set_path(("summary",), []), "transcripts[1].summary", "not an array"),
    (set_path(("summary", "values"), "x"), "transcripts[1].summary.values", "not a string"),
    (set_path(("summary", "values", "autonomy"), "won"), "transcripts[1].summary.values.autonomy", "prioritized"),
    (set_path(("scenario",), 3), "transcripts[1].scenario", "not an integer"),
    (set_path(("scenario", "name"), 3), "transcripts[1].scenario.name", "not an integer"),
    (set_path(("scenario", "dimensions"), ["high"]), "transcripts[1].scenario.dimensions", "not an array"),
    (set_path(("scenario", "dimensions", "stakes"), {"v": 1}), "transcripts[1].scenario.dimensions.stakes", "object"),
    (set_path(("scenario", "dimensions", "stakes"), False), "transcripts[1].scenario.dimensions.stakes", "boolean"),
]


@pytest.mark.parametrize(("change", "field", "problem"), BAD_TRANSCRIPTS)
def test_bad_transcript_names_field_and_transcript_id(change: Any, field: str, problem: str) -> None:
    error = failure_of(job_with(change))
    assert error.details["field"] == field
    assert error.details["transcriptId"] == "t-7"
    assert field in error.message and '"t-7"' in error.message and problem in error.message


@pytest.mark.parametrize(("change", "field", "problem"), BAD_TRANSCRIPTS)
def test_the_published_model_rejects_the_same_transcripts(change: Any, field: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AnalyzeBasicJob.model_validate(job_with(change))
    locations = [".".join(str(part) for part in err["loc"]) for err in caught.value.errors()]
    assert any(loc.startswith("transcripts.1.") or loc == "transcripts.1" for loc in locations)


def test_the_fast_path_and_the_model_accept_the_same_optional_shapes() -> None:
    variants = [
        good_transcript(),
        {"id": "bare", "modelId": "m", "scenarioId": "s"},
        {"id": "nulls", "modelId": "m", "scenarioId": "s", "sampleIndex": None, "decisionModelV2": None,
         "summary": None, "scenario": None},
        {"id": "empty-parts", "modelId": "m", "scenarioId": "s", "decisionModelV2": {"canonical": None},
         "summary": {"values": None}, "scenario": {"name": None, "dimensions": None}, "extra": "ignored"},
    ]  # fmt: skip
    document = {"runId": "run-1", "transcripts": variants}
    AnalyzeBasicJob.model_validate(copy.deepcopy(document))
    assert analyze(document).analysis.totals.transcripts == 4


def test_transcript_without_id_is_named_by_index() -> None:
    error = failure_of(job_with(drop("id")))
    assert error.details["field"] == "transcripts[1].id" and error.details["transcriptId"] is None


def test_a_transcript_that_is_not_an_object() -> None:
    error = failure_of({"runId": "r", "transcripts": [good_transcript(), "t-2"]})
    assert error.details["field"] == "transcripts[1]" and "must be an object, not a string" in error.message


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        ({"runId": "r"}, "transcripts", "field required"),
        ({"runId": "r", "transcripts": {"t-1": good_transcript()}}, "transcripts", "not an object"),
        ({"runId": "r", "transcripts": "none"}, "transcripts", "not a string"),
        ({"transcripts": []}, "runId", "field required"),
        ({"runId": 12, "transcripts": []}, "runId", "not an integer"),
    ],
)
def test_bad_document_names_the_top_level_field(document: dict[str, Any], field: str, problem: str) -> None:
    error = failure_of(document)
    assert error.details["field"] == field and problem in error.message


def test_every_problem_is_listed_up_to_a_cap() -> None:
    transcripts = [good_transcript(f"t-{i}") for i in range(MAX_PROBLEMS + 10)]
    for t in transcripts:
        del t["modelId"]
    error = failure_of({"runId": "r", "transcripts": transcripts})
    problems = error.details["problems"]
    assert len(problems) == MAX_PROBLEMS
    assert problems[3] == {"field": "transcripts[3].modelId", "problem": "field required (a non-empty string)",
                           "transcriptId": "t-3"}  # fmt: skip
    assert f"and {MAX_PROBLEMS - 1} more" in error.message


def test_output_schema_is_camel_case_and_complete() -> None:
    schema = AnalyzeBasicSuccess.model_json_schema(by_alias=True, mode="serialization")
    definitions = schema["$defs"]
    assert {"perModel", "modelAgreement", "dimensionAnalysis", "varianceAnalysis", "mostContestedScenarios",
            "visualizationData", "methodsUsed", "warnings", "computedAt", "durationMs"} <= set(
        definitions["Analysis"]["properties"])  # fmt: skip
    assert "pValueAdjusted" in definitions["PairAgreement"]["properties"]
    assert "contractVersion" in schema["properties"]
    input_schema = AnalyzeBasicJob.model_json_schema(by_alias=True)
    assert "decisionModelV2" in input_schema["$defs"]["AnalysisTranscript"]["properties"]
