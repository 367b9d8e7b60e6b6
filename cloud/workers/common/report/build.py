"""From a run's files to the report's data: read, join, summarise, analyse, chart.

`build_report` is the one entry: every problem with the inputs (bad lines, a missing or
unreadable analysis, an empty run) becomes a note the page shows, never an exception;
only a results file that cannot be opened at all is the caller's error (`OSError`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.contract.analysis import Analysis
from common.report.analysis_source import computed_analysis, read_analysis
from common.report.browse import DECISION_LABELS, BrowseData
from common.report.charts import charts
from common.report.data import (
    CONVERSATION_FIELDS,
    ERROR_FIELDS,
    TURN_FIELDS,
    AnalysisView,
    Chart,
    PageNote,
    ReportData,
    Sources,
)
from common.report.failures import failure_groups
from common.report.joined import OUTCOME_LABELS, JobRow, join
from common.report.overview import overview
from common.report.sources import Note, read_sources


@dataclass
class Report:
    data: ReportData
    charts: list[Chart]  # the analysis charts (also in `data`), for --figures


def _run_id(rows: list[JobRow], results: Path) -> str:
    named = Counter(row.job.run_id for row in rows if row.job is not None and row.job.run_id)
    return named.most_common(1)[0][0] if named else results.stem


def _analysis_view(analysis: Analysis | None, source: str) -> AnalysisView | None:
    if analysis is None:
        return None
    made, missing = charts(analysis)
    return AnalysisView(
        source=source,
        run_id=analysis.run_id,
        totals=analysis.totals,
        warnings=analysis.warnings,
        charts=made,
        missing_charts=missing,
    )


def build_report(results: Path, jobs: Path | None = None, analysis: Path | None = None) -> Report:
    sources = read_sources(results, jobs)
    rows, join_notes = join(sources)
    notes: list[Note] = sources.notes + join_notes
    if not rows:
        notes.append(Note("warning", "the run is empty: no result line (and no job) to show"))
    run_id = _run_id(rows, results)
    if analysis is not None:
        found, analysis_notes = read_analysis(analysis)
        view = _analysis_view(found, "file")
    else:
        found, analysis_notes = computed_analysis(rows, run_id)
        view = _analysis_view(found, "computed")
    notes += analysis_notes
    browse = BrowseData(rows)
    data = ReportData(
        title=f"Run {run_id}",
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        sources=Sources(
            results=str(results), jobs=str(jobs) if jobs else None, analysis=str(analysis) if analysis else None
        ),
        notes=[PageNote(level=note.level, message=note.message) for note in notes],
        overview=overview(rows),
        models=browse.models.items,
        providers=browse.providers.items,
        scenarios=browse.scenarios,
        codes=browse.codes.items,
        outcomes=OUTCOME_LABELS,
        decisions=DECISION_LABELS,
        texts=browse.texts.items,
        conversation_fields=CONVERSATION_FIELDS,
        turn_fields=TURN_FIELDS,
        error_fields=ERROR_FIELDS,
        jobs=browse.table,
        conversations=browse.conversations,
        failures=failure_groups(rows),
        analysis=view,
    )
    return Report(data, view.charts if view else [])
