"""Runs every section over one run and assembles the `analysis` document with its warnings."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from common.analysis.aggregate import aggregate_semantics
from common.analysis.agreement import empty_agreement, model_agreement
from common.analysis.cells import build_cells
from common.analysis.contested import most_contested
from common.analysis.decode import decode_columns
from common.analysis.dimensions import dimension_analysis
from common.analysis.extract import Columns, extract
from common.analysis.methods import METHODS_USED
from common.analysis.per_model import per_model_stats, unscored_counts
from common.analysis.preference import preference_summary
from common.analysis.reliability import reliability_summary
from common.analysis.variance import empty_variance, variance_analysis
from common.analysis.visualization import visualization_data
from common.contract.analysis import (
    AggregateSemanticsResult,
    Analysis,
    AnalysisWarning,
    AnalysisWarningCode,
    AnalyzeBasicSuccess,
    DimensionAnalysis,
    PreferenceSummary,
    ReliabilitySummary,
    RunTotals,
    UnscoredCounts,
    VisualizationData,
)
from common.io.log import bind_job, get_logger


def _totals(columns: Columns) -> RunTotals:
    refusal, unknown, missing = (int(c) for c in unscored_counts(columns).sum(axis=0)) if columns.models else (0, 0, 0)
    return RunTotals(
        transcripts=columns.size,
        scored=columns.size - refusal - unknown - missing,
        unscored=UnscoredCounts(refusal=refusal, unknown=unknown, missing=missing),
        models=len(columns.models),
        scenarios=len(columns.scenarios),
    )


def _input_notes(columns: Columns, totals: RunTotals) -> list[AnalysisWarning]:
    notes: list[AnalysisWarning] = []
    unscored = totals.transcripts - totals.scored
    if unscored:
        reasons = totals.unscored
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.UNSCORED_TRANSCRIPTS,
                message=(
                    f"{unscored} of {totals.transcripts} transcript(s) are unscored (refusal {reasons.refusal}, "
                    f"unknown {reasons.unknown}, missing decision {reasons.missing}); they count in sampleSize "
                    "and unscoredCount but in no score statistic"
                ),
                recommendation="See perModel.unscoredReasons; re-run or re-summarize those transcripts to score them",
            )
        )
    if totals.transcripts and not totals.scored:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.NO_SCORED_TRANSCRIPTS,
                message="no transcript has a scorable decision, so every score-based section is empty",
                recommendation="Check that the transcripts were summarized into a canonical decision",
            )
        )
    if columns.duplicate_ids:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.DUPLICATE_TRANSCRIPT_IDS,
                message=f"{columns.duplicate_ids} transcript id(s) occur more than once; each occurrence is counted",
                recommendation="Send each transcript once",
            )
        )
    return notes


def _empty(columns: Columns, totals: RunTotals) -> Analysis:
    return Analysis(
        run_id=columns.run_id,
        totals=totals,
        per_model={},
        preference_summary=PreferenceSummary(per_model={}) if columns.options.emit_vignette_semantics else None,
        reliability_summary=ReliabilitySummary(per_model={}) if columns.options.emit_vignette_semantics else None,
        aggregate_semantics=(
            AggregateSemanticsResult(per_model_repeat_coverage={}, per_model_drift={})
            if columns.options.aggregate_semantics is not None
            else None
        ),
        model_agreement=empty_agreement(),
        dimension_analysis=DimensionAnalysis(dimensions={}, variance_explained=None),
        variance_analysis=empty_variance(),
        most_contested_scenarios=[],
        visualization_data=VisualizationData(decision_distribution={}, model_scenario_matrix={}),
        methods_used=METHODS_USED,
        warnings=[
            AnalysisWarning(
                code=AnalysisWarningCode.NO_TRANSCRIPTS,
                message="the run has no transcripts, so every section is empty",
                recommendation="Analyse the run once it has transcripts",
            )
        ],
        computed_at="",
        duration_ms=0,
    )


def _sections(columns: Columns, totals: RunTotals) -> Analysis:
    cells = build_cells(columns)
    options = columns.options
    notes = _input_notes(columns, totals)
    per_model = per_model_stats(columns, cells)
    agreement, agreement_notes = model_agreement(columns.models, cells.matrix)
    dimensions, dimension_notes = dimension_analysis(columns, cells)
    variance, variance_notes = variance_analysis(columns, cells)
    contested, contested_notes = most_contested(columns, cells)
    aggregate, aggregate_notes = (
        aggregate_semantics(columns, cells, options.aggregate_semantics)
        if options.aggregate_semantics is not None
        else (None, [])
    )
    semantics = options.emit_vignette_semantics
    return Analysis(
        run_id=columns.run_id,
        totals=totals,
        per_model=per_model,
        preference_summary=preference_summary(columns, cells, per_model) if semantics else None,
        reliability_summary=reliability_summary(columns, cells, variance.per_model, options) if semantics else None,
        aggregate_semantics=aggregate,
        model_agreement=agreement,
        dimension_analysis=dimensions,
        variance_analysis=variance,
        most_contested_scenarios=contested,
        visualization_data=visualization_data(columns, cells),
        methods_used=METHODS_USED,
        warnings=notes + agreement_notes + dimension_notes + variance_notes + contested_notes + aggregate_notes,
        computed_at="",
        duration_ms=0,
    )


def analyze(document: dict[str, Any]) -> AnalyzeBasicSuccess:
    """The whole analysis of one job document; raises WorkerError(VALIDATION_ERROR) on bad input."""
    started = time.perf_counter()
    return analyze_columns(extract(document), started=started)


def analyze_bytes(raw: bytes) -> AnalyzeBasicSuccess:
    """`analyze` of the job's JSON bytes, decoded straight into columns (`decode.decode_columns`)."""
    started = time.perf_counter()
    return analyze_columns(decode_columns(raw), started=started)


def analyze_columns(columns: Columns, *, started: float | None = None) -> AnalyzeBasicSuccess:
    """The analysis of a validated job (`extract` or `decode_columns`); `started`: when its decoding began."""
    if started is None:
        started = time.perf_counter()
    bind_job(runId=columns.run_id)
    totals = _totals(columns)
    analysis = _sections(columns, totals) if columns.size else _empty(columns, totals)
    analysis.computed_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    analysis.duration_ms = round((time.perf_counter() - started) * 1000)
    get_logger().info(
        "analysis complete",
        transcripts=totals.transcripts,
        models=totals.models,
        scenarios=totals.scenarios,
        durationMs=analysis.duration_ms,
    )
    return AnalyzeBasicSuccess(analysis=analysis)
