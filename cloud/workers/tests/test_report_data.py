"""The report's data: what the page is built from, checked against the run it was generated from.

The page's own behaviour (filters, a conversation opening, escaping in a real browser) is
in test_report_browser.py; these tests read the data a user would see in numbers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from common.analysis.report import analyze
from common.contract.probe import ProbeSuccess
from common.report.analysis_source import analysis_input
from common.report.build import build_report
from common.report.figures import write_figures
from common.report.joined import join
from common.report.page import embedded_json, render_page
from common.report.sources import AnnotatedResultLine, read_results, read_sources
from testkit.synthetic_run import RunShape, generate, write_run
from testkit.workers import WORKERS, run_python

REPORT_PY = WORKERS / "report.py"
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> & <!-- end'


def _write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _run(tmp_path: Path, **shape: Any) -> tuple[Path, Path, list[dict[str, Any]], list[dict[str, Any]]]:
    run_shape = RunShape(**shape)
    jobs, results = generate(run_shape)
    jobs_path, results_path = write_run(tmp_path, run_shape)
    return jobs_path, results_path, jobs, results


def _notes(report: Any) -> str:
    return "\n".join(note.message for note in report.data.notes)


def test_the_overview_counts_what_the_results_hold(tmp_path: Path) -> None:
    jobs_path, results_path, _, results = _run(tmp_path, models=3, scenarios=20, samples=2, failure_share=0.3)
    data = build_report(results_path, jobs_path).data
    outcomes = Counter(r["result"]["success"] for r in results)
    codes = Counter(r["result"]["error"]["code"] for r in results if not r["result"]["success"])
    transcripts = [r["result"].get("transcript") or r["result"].get("partialTranscript") for r in results]
    totals = data.overview.totals
    assert totals.jobs == len(results) == 120
    assert totals.succeeded == outcomes[True]
    assert totals.failed == outcomes[False] > 0
    assert {c.code: c.count for c in data.overview.by_code} == dict(codes)
    assert totals.input_tokens == sum(t["totalInputTokens"] for t in transcripts if t)
    assert totals.output_tokens == sum(t["totalOutputTokens"] for t in transcripts if t)
    assert totals.estimated_cost == pytest.approx(sum(t["costSnapshot"]["estimatedCost"] for t in transcripts if t))
    assert totals.wall_ms == 5000  # every synthetic transcript runs 10:00:00 -> 10:00:05
    assert [row.jobs for row in data.overview.per_model] == [40, 40, 40]
    assert sum(group.count for group in data.failures) == outcomes[False]
    rate_limits = next(group for group in data.failures if group.code == "RATE_LIMIT")
    errors = [r["result"]["error"] for r in results if not r["result"]["success"]]
    hints = [error["retryAfterMs"] for error in errors if error["code"] == "RATE_LIMIT"]
    assert rate_limits.retry_after is not None
    assert (rate_limits.retry_after.min_ms, rate_limits.retry_after.max_ms) == (min(hints), max(hints))


def test_a_second_served_version_is_reported_as_drift(tmp_path: Path) -> None:
    jobs_path, results_path, _, _ = _run(tmp_path, models=3, scenarios=4)
    versions = {v.model: v for v in build_report(results_path, jobs_path).data.overview.versions}
    assert not versions["mock:model-00"].drift
    drifting = versions["mock:model-02"]
    assert drifting.drift
    assert {v.version for v in drifting.versions} == {"mock-1.0", "mock-1.1"}


def test_torn_foreign_and_repeated_lines_become_notes_and_the_rest_is_shown(tmp_path: Path) -> None:
    _, results = generate(RunShape(models=2, scenarios=3, failure_share=0))
    lines: list[Any] = [*results, "not json at all", {"id": "x", "something": "else"}, results[0]]
    path = _write_lines(tmp_path / "results.jsonl", lines)
    with path.open("a") as handle:
        handle.write(json.dumps(results[1])[:40])  # a last line cut short by a crash
    report = build_report(path)
    notes = _notes(report)
    assert "2 line(s) of the results file are not JSON (torn?): line 7, 10" in notes
    assert "1 line(s) of the results file are not result lines and were skipped: line 8" in notes
    assert "1 result line(s) were superseded" in notes
    assert report.data.overview.totals.jobs == 6


def test_parsed_results_share_their_fields_sets_and_read_exactly_as_parsed(tmp_path: Path) -> None:
    _, results_path, _, _ = _run(tmp_path, models=3, scenarios=10, failure_share=0.3)
    records, _ = read_results(results_path)
    lines = results_path.read_bytes().splitlines()
    for record in records:  # a shared set is an equal set: what was given stays what was given
        fresh = AnnotatedResultLine.model_validate_json(lines[record.line - 1]).result
        assert record.result.model_dump(exclude_unset=True) == fresh.model_dump(exclude_unset=True)
    metadata = [
        turn.provider_metadata
        for record in records
        if isinstance(record.result, ProbeSuccess)
        for turn in record.result.transcript.turns
    ]
    assert len(metadata) > 40
    assert len({id(meta.__pydantic_fields_set__) for meta in metadata}) == 1  # not one set per turn


def test_an_empty_run_gives_a_page_that_says_so(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "results.jsonl", [])
    report = build_report(path)
    assert report.data.overview.totals.jobs == 0
    assert "the run is empty" in _notes(report)
    assert report.data.analysis is None
    assert "<title>Run results</title>" in render_page(report.data)


def test_without_a_jobs_file_scenarios_are_recognised_by_their_first_prompt(tmp_path: Path) -> None:
    _, results_path, _, _ = _run(tmp_path, models=3, scenarios=7, failure_share=0)
    data = build_report(results_path).data
    assert len(data.scenarios) == 7
    assert Counter(data.jobs.scenario) == Counter({s: 3 for s in range(7)})
    assert "scenarios are recognised by their first prompt (7 found)" in _notes(build_report(results_path))


def test_jobs_without_a_result_are_listed_as_no_result(tmp_path: Path) -> None:
    jobs_path, results_path, _, results = _run(tmp_path, models=2, scenarios=3, failure_share=0)
    _write_lines(results_path, results[:4])
    with jobs_path.open("a") as handle:
        handle.write('not a job\n{"scenarioId": "no id"}\n')
    report = build_report(results_path, jobs_path)
    assert report.data.overview.totals.no_result == 2
    assert "2 job(s) of the jobs file have no result yet" in _notes(report)
    assert "2 line(s) of the jobs file cannot be read: line 7, 8" in _notes(report)


def test_the_analysis_is_analyze_basic_on_the_results_decisions(tmp_path: Path) -> None:
    jobs_path, results_path, _, results = _run(tmp_path, models=4, scenarios=12, samples=2)
    report = build_report(results_path, jobs_path)
    assert report.data.analysis is not None and report.data.analysis.source == "computed"
    rows, _ = join(read_sources(results_path, jobs_path))
    document = analysis_input(rows, "synthetic-run")
    assert document is not None
    expected = analyze(document).analysis
    decided = sum(1 for r in results if "decisionModelV2" in r)
    assert report.data.analysis.totals == expected.totals
    assert expected.totals.scored == decided
    assert expected.dimension_analysis.dimensions.keys() == {"stakes", "framing"}
    assert [c.name for c in report.charts] == ["decisions", "agreement", "dimensions", "contested", "consistency"]


def test_results_without_decisions_have_no_analysis_and_say_why(tmp_path: Path) -> None:
    _, results = generate(RunShape(models=2, scenarios=3))
    for line in results:
        line.pop("decisionModelV2", None)
    report = build_report(_write_lines(tmp_path / "results.jsonl", results))
    assert report.data.analysis is None
    assert "no result carries a decision" in _notes(report)


def test_an_analysis_file_is_read_and_a_bad_one_is_a_note(tmp_path: Path) -> None:
    jobs_path, results_path, _, _ = _run(tmp_path, models=3, scenarios=6)
    rows, _ = join(read_sources(results_path, jobs_path))
    document = analysis_input(rows, "from-file")
    assert document is not None
    good = tmp_path / "analysis.json"
    good.write_text(json.dumps(analyze(document).to_wire()))
    view = build_report(results_path, jobs_path, good).data.analysis
    assert view is not None and view.source == "file" and view.run_id == "from-file"
    for name, text in (("missing.json", None), ("torn.json", '{"success": true, "anal'), ("other.json", '{"a": 1}')):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        report = build_report(results_path, jobs_path, path)
        assert report.data.analysis is None
        assert f"the analysis file {path}" in _notes(report)


def test_a_hostile_answer_stays_a_string_inside_the_page(tmp_path: Path) -> None:
    answer = HOSTILE + " \u2028 end"
    jobs_path, results_path, _, _ = _run(
        tmp_path, models=2, scenarios=2, failure_share=0, answer=lambda m, s, k: answer
    )
    data = build_report(results_path, jobs_path).data
    page = render_page(data)
    assert HOSTILE not in page
    body = page[page.index('id="report-data">') :]
    assert body.count("</script>") == 3  # the data's, the bundle's and the page script's own
    embedded = embedded_json(data)
    assert "<" not in embedded and ">" not in embedded and "\u2028" not in embedded
    assert json.loads(embedded)["conversations"][0][4][0][2] == answer


def test_a_page_script_may_only_be_one_of_the_two_inlined(tmp_path: Path) -> None:
    _, results_path, _, _ = _run(tmp_path, models=2, scenarios=2)
    page = render_page(build_report(results_path).data)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    assert "connect-src 'none'" in policy.group(1) and "default-src 'none'" in policy.group(1)
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/=]+'", policy.group(1))) == 2
    assert "'unsafe-inline'" not in policy.group(1).split("script-src")[1].split(";")[0]


def test_repeated_strings_are_stored_once_so_the_page_is_not_larger_than_the_results(tmp_path: Path) -> None:
    jobs_path, results_path, _, _ = _run(tmp_path, models=10, scenarios=50, samples=2)
    data = build_report(results_path, jobs_path).data
    assert len(embedded_json(data).encode()) < results_path.stat().st_size / 2


def test_reasoning_text_is_shown_where_a_transcript_records_it(tmp_path: Path) -> None:
    _, results = generate(RunShape(models=1, scenarios=1, failure_share=0))
    turns = results[0]["result"]["transcript"]["turns"]
    turns[0]["reasoning"] = {"text": "first I weigh it", "redactedBlocks": 2}
    turns[1]["reasoning"] = {"summary": "a summary"}
    turns[0]["providerMetadata"]["reasoning"] = {"requested": {"effort": "high"}, "sent": {"reasoning_effort": "high"}}
    data = build_report(_write_lines(tmp_path / "results.jsonl", results)).data
    fields = {name: data.turn_fields.index(name) for name in data.turn_fields}
    first, second = data.conversations[0][4]
    assert (first[fields["reasoningText"]], second[fields["reasoningSummary"]]) == ("first I weigh it", "a summary")
    assert first[fields["redactedReasoningBlocks"]] == 2
    assert json.loads(data.texts[first[fields["reasoningSetting"]]])["sent"] == {"reasoning_effort": "high"}


def test_figures_are_written_as_svg_and_png_with_one_mark_per_datum(tmp_path: Path) -> None:
    jobs_path, results_path, _, _ = _run(tmp_path, models=4, scenarios=9, samples=2)
    report = build_report(results_path, jobs_path)
    written = write_figures(report.charts, tmp_path / "figures")
    assert sorted(p.name for p in written) == sorted(f"{c.name}.{ext}" for c in report.charts for ext in ("svg", "png"))
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    analysis = report.data.analysis
    assert analysis is not None
    decisions = next(c for c in report.charts if c.name == "decisions")
    svg = (tmp_path / "figures" / "decisions.svg").read_text()
    assert svg.count('aria-roledescription="bar"') + svg.count('aria-roledescription="rect mark"') == len(
        decisions.spec["data"]["values"]
    )
    agreement = next(c for c in report.charts if c.name == "agreement")
    cells = (tmp_path / "figures" / "agreement.svg").read_text().count('aria-roledescription="rect mark"')
    assert cells == len(agreement.spec["data"]["values"]) == 4 + 2 * 6  # the diagonal and both halves
    contested = (tmp_path / "figures" / "contested.svg").read_text()
    legend = re.search(r"aria-label=\"Symbol legend titled 'model' for fill color with (\d+) values", contested)
    assert legend is not None and legend.group(1) == "4"  # a paper's figure names each point's model
    points = next(c for c in report.charts if c.name == "contested").spec["data"]["values"]
    assert contested.count('aria-roledescription="point"') == len(points)


def test_the_contested_chart_names_models_by_colour_only_while_colours_do_not_repeat(tmp_path: Path) -> None:
    def contested(models: int) -> dict[str, Any]:
        (folder := tmp_path / str(models)).mkdir()
        jobs_path, results_path, _, _ = _run(folder, models=models, scenarios=4, failure_share=0)
        chart = next(c for c in build_report(results_path, jobs_path).charts if c.name == "contested")
        color: dict[str, Any] = chart.spec["encoding"]["color"]
        assert color["sort"] == sorted({v["model"] for v in chart.spec["data"]["values"]})
        return color

    assert contested(3)["scale"]["scheme"] == "category10"
    assert contested(12)["scale"]["scheme"] == "category20"
    many = contested(21)
    assert many["legend"] is None and "scale" not in many


def test_the_command_writes_the_page_and_refuses_a_missing_results_file(tmp_path: Path) -> None:
    jobs_path, results_path, _, _ = _run(tmp_path, models=2, scenarios=3)
    out = tmp_path / "out" / "report.html"
    figures = tmp_path / "figures"
    done = run_python(REPORT_PY, str(results_path), "--jobs", str(jobs_path), "-o", str(out), "--figures", str(figures))
    assert done.code == 0, done.err
    assert out.read_text().startswith("<!doctype html>")
    assert done.out == ""  # nothing on stdout; the summary and log lines go to stderr
    written = sorted(path.name for path in figures.iterdir())
    assert {"decisions.svg", "decisions.png"} <= set(written)
    assert f"figures: {len(written)} file(s) in {figures}" in done.err
    missing = run_python(REPORT_PY, str(tmp_path / "nope.jsonl"), "-o", str(out))
    assert missing.code == 2 and "cannot read" in missing.err
