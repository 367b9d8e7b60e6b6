"""`report.py`: the command line. Writes the HTML file (and figures when asked), says where on stderr.

Exit codes: 0 the report was written (whatever the run held: its problems are in the
page); 2 the command line is wrong or the results file cannot be read; 1 the report or a
figure cannot be written.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from common.io.log import configure_logging
from common.report.build import build_report
from common.report.figures import write_figures
from common.report.page import PageError, render_page

EXIT_USAGE = 2
EXIT_WRITE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="report.py",
        description="One self-contained HTML report of a batch run's results (and its analysis).",
    )
    parser.add_argument("results", type=Path, help="the results file batch.py wrote ({id, result} lines)")
    parser.add_argument("--jobs", type=Path, help="the jobs file: scenario ids and names, jobs without a result")
    parser.add_argument(
        "--analysis",
        type=Path,
        help="analyze_basic's output for the run; without it, computed from the results' decisions when present",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--figures", type=Path, help="also write each analysis chart as SVG and PNG into this folder")
    return parser


def main(argv: list[str]) -> int:
    # One short-lived process that builds ~10^7 objects and keeps them all until the page is
    # written: the cyclic collector would re-scan them again and again (it doubles the time
    # of a 100,000-job report) and could free nothing (analyze_basic.py does the same).
    gc.disable()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has said why on stderr
        return EXIT_USAGE if exc.code else 0
    configure_logging()  # analyze_basic's log lines: JSON on stderr, as every worker writes them
    started = time.perf_counter()
    try:
        report = build_report(args.results, args.jobs, args.analysis)
    except OSError as exc:
        sys.stderr.write(f"report.py: cannot read {args.results}: {exc.strerror}\n")
        return EXIT_USAGE
    try:
        page = render_page(report.data)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(page, encoding="utf-8")
        figures = write_figures(report.charts, args.figures) if args.figures is not None else []
    except (OSError, PageError) as exc:
        sys.stderr.write(f"report.py: {exc}\n")
        return EXIT_WRITE
    size_mb = len(page.encode()) / 1e6
    jobs = len(report.data.jobs.id)
    sys.stderr.write(
        f"report.py: {args.output} ({size_mb:.1f} MB, {jobs} jobs, {len(report.data.notes)} note(s))"
        f" in {time.perf_counter() - started:.1f} s\n"
    )
    for note in report.data.notes:
        sys.stderr.write(f"  {note.level}: {note.message}\n")
    if figures:
        sys.stderr.write(f"  figures: {len(figures)} file(s) in {args.figures}\n")
    return 0
