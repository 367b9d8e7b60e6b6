"""`aggregateSemantics`: repeat coverage and cross-run drift of a pooled aggregate (aggregate mode).

The host sends the transcripts of every run of one signature, each with its runId; the
other sections already pool them (a scenario answered in two runs is a repeat). This
section says per model how many planned scenarios have repeats, how many runs took
part, and how far the runs' overall lean drifts from run to run.
"""

from __future__ import annotations

import math

import numpy as np

from common.analysis.cells import Cells
from common.analysis.extract import Columns
from common.contract.analysis import (
    AggregateSemanticsInput,
    AggregateSemanticsResult,
    AnalysisWarning,
    AnalysisWarningCode,
    ModelDrift,
    RepeatCoverage,
)


def _run_centres(columns: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (run, model) with a scored transcript: run code, model code, mean of scenario means, scenario count."""
    scored = ~np.isnan(columns.score) & (columns.run >= 0)
    models, scenarios = max(len(columns.models), 1), max(len(columns.scenarios), 1)
    key = (columns.run[scored] * models + columns.model[scored]) * scenarios + columns.scenario[scored]
    cells, cell_of_row = np.unique(key, return_inverse=True)
    cell_mean = np.bincount(cell_of_row, weights=columns.score[scored]) / np.bincount(cell_of_row)
    run_model = cells // scenarios
    groups, group_of_cell = np.unique(run_model, return_inverse=True)
    width = np.bincount(group_of_cell)
    centre = np.bincount(group_of_cell, weights=cell_mean) / width
    return groups // models, groups % models, centre, width


def aggregate_semantics(
    columns: Columns, cells: Cells, settings: AggregateSemanticsInput
) -> tuple[AggregateSemanticsResult, list[AnalysisWarning]]:
    count = len(columns.models)
    coverage = np.bincount(cells.model[cells.scored >= 2], minlength=count)
    planned = len(settings.planned_scenario_ids)
    run_model, _ = np.unique(  # with an index: without one, np.unique imports numpy.ma (~25 ms)
        columns.run[columns.run >= 0] * max(count, 1) + columns.model[columns.run >= 0], return_index=True
    )
    contributing = np.bincount(run_model % max(count, 1), minlength=count)
    _, centre_model, centre, width = _run_centres(columns)

    repeat_coverage: dict[str, RepeatCoverage] = {}
    drift: dict[str, ModelDrift] = {}
    low: list[str] = []
    drifting: list[str] = []
    for m, name in enumerate(columns.models):
        covered = int(coverage[m])
        repeat_coverage[name] = RepeatCoverage(
            repeat_coverage_count=covered,
            repeat_coverage_share=covered / planned if planned else 0.0,
            contributing_run_count=int(contributing[m]),
        )
        mine = centre_model == m
        values, weights = centre[mine], width[mine]
        sd = None
        if values.shape[0] >= 2:
            mean = float(np.average(values, weights=weights))
            sd = math.sqrt(float(np.average((values - mean) ** 2, weights=weights)))
        exceeds = sd is not None and sd > settings.drift_warning_threshold
        drift[name] = ModelDrift(
            weighted_overall_signed_center_sd=sd, exceeds_warning_threshold=exceeds, run_count=int(values.shape[0])
        )
        if covered < settings.low_coverage_caution_threshold:
            low.append(name)
        if exceeds:
            drifting.append(name)
    notes: list[AnalysisWarning] = []
    if low:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.LOW_REPEAT_COVERAGE,
                message=(
                    f"{len(low)} model(s) have repeats of fewer than {settings.low_coverage_caution_threshold} "
                    f"planned scenarios (e.g. {', '.join(low[:5])})"
                ),
                recommendation=(
                    "Their reliability figures rest on few scenarios (and are null below "
                    f"{settings.min_repeat_coverage_count}); run more repeats of the planned scenarios"
                ),
            )
        )
    if drifting:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.HIGH_DRIFT,
                message=(
                    f"{len(drifting)} model(s) lean differently from run to run (weighted SD of the runs' "
                    f"overallSignedCenter above {settings.drift_warning_threshold:g}; e.g. {', '.join(drifting[:5])})"
                ),
                recommendation="Check what changed between the source runs before reading the pooled figures",
            )
        )
    result = AggregateSemanticsResult(per_model_repeat_coverage=repeat_coverage, per_model_drift=drift)
    return result, notes
