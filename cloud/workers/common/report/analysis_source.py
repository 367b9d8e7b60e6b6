"""The run's analysis: read from `--analysis`, or computed by analyze_basic from the results' decisions.

Computing goes through analyze_basic's public entry (`common.analysis.report.analyze`) with
the input the README describes, one transcript per succeeded job: `{id, modelId,
scenarioId, sampleIndex?, decisionModelV2?, summary?, scenario?: {name, dimensions}}`. A
run whose results carry no decision has nothing to score, so it gets no analysis (and a
note), never an empty one; an analysis that cannot be read or computed is a note too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.analysis.report import analyze
from common.contract.analysis import Analysis, AnalyzeBasicSuccess
from common.errors.codes import WorkerError
from common.report.joined import JobRow, Outcome
from common.report.sources import Note


def analysis_input(rows: list[JobRow], run_id: str) -> dict[str, Any] | None:
    """analyze_basic's job for the succeeded jobs, or None when no result carries a decision."""
    succeeded = [row for row in rows if row.outcome is Outcome.SUCCEEDED]
    if not any(row.decision.present for row in succeeded):
        return None
    transcripts: list[dict[str, Any]] = []
    for index, row in enumerate(succeeded):
        item: dict[str, Any] = {
            "id": str(row.id) if row.id is not None else f"line-{index}",
            "modelId": row.model,
            "scenarioId": row.scenario.key,
        }
        sample = row.decision.sample_index
        if sample is None and row.job is not None:
            sample = row.job.sample_index
        if sample is not None:
            item["sampleIndex"] = sample
        if row.decision.decision_model_v2 is not None:
            item["decisionModelV2"] = row.decision.decision_model_v2
        if row.decision.summary is not None:
            item["summary"] = row.decision.summary
        scenario = row.job.scenario if row.job is not None else None
        if scenario is not None and (scenario.name is not None or scenario.dimensions is not None):
            item["scenario"] = {
                key: value
                for key, value in (("name", scenario.name), ("dimensions", scenario.dimensions))
                if value is not None
            }
        transcripts.append(item)
    return {"runId": run_id, "transcripts": transcripts}


def computed_analysis(rows: list[JobRow], run_id: str) -> tuple[Analysis | None, list[Note]]:
    document = analysis_input(rows, run_id)
    if document is None:
        return None, [
            Note(
                "info",
                "no result carries a decision (decisionModelV2) and no --analysis was given: the report has"
                " no analysis charts",
            )
        ]
    try:
        return analyze(document).analysis, [
            Note("info", f"analysis computed by analyze_basic from {len(document['transcripts'])} transcript(s)")
        ]
    except WorkerError as error:
        return None, [Note("warning", f"the results' decisions cannot be analysed: {error.message}")]


def read_analysis(path: Path) -> tuple[Analysis | None, list[Note]]:
    """An analyze_basic document (or its `analysis` object alone) from a file; problems become notes."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        return None, [Note("warning", f"the analysis file {path} cannot be read ({exc.strerror}): no analysis shown")]
    except ValueError as exc:
        return None, [Note("warning", f"the analysis file {path} is not JSON ({exc}): no analysis shown")]
    if isinstance(document, dict) and document.get("success") is False:
        error = document.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        return None, [Note("warning", f"the analysis file {path} holds a failed analysis: {message or 'no message'}")]
    try:
        if isinstance(document, dict) and "analysis" in document:
            return AnalyzeBasicSuccess.model_validate(document).analysis, []
        return Analysis.model_validate(document), []
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        return None, [
            Note("warning", f"the analysis file {path} is not an analyze_basic document ({where}: {error['msg']})")
        ]
