"""How large the run report is and how fast it opens, at 10,000 and 100,000 jobs.

    python3 bench/report_bench.py [--sizes 10000,100000] [--runs 3] [--answer-words 120]

Synthesizes runs with the contract models in the mock provider's shapes (two turns per
job, ~10% failures, decisions on every succeeded line, scenario dimensions in the jobs
file: testkit/synthetic_run.py), runs report.py on each as a subprocess (wall time, peak
RSS), then opens the page from its file URL in headless Chromium with the network blocked
and measures, median of --runs fresh page loads: the time from navigation to the page's
first view being ready (HTML parsed, data parsed, overview drawn), the transcript
browser's first view, the first search over every job's text, and the analysis charts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import WORKERS, emit, measure, save

from testkit.synthetic_run import RunShape, write_run

REPORT_PY = WORKERS / "report.py"
SHAPES = {10_000: (25, 200, 2), 100_000: (50, 1000, 2)}  # models, scenarios, samples


def _load(browser: Any, url: str) -> dict[str, float]:
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=300_000)
    page.wait_for_selector("html[data-ready=true]", timeout=300_000)
    figures = dict(page.evaluate("({ready: performance.now(), parse: window.__report.parseMs})"))
    started = time.perf_counter()
    page.click("#tabs button[data-tab=transcripts]")
    page.wait_for_selector("#browse-rows tr")
    figures["browse"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    page.fill("#filter-search", "fairness trust")
    page.wait_for_function("document.getElementById('browse-count').dataset.search === 'fairness trust'")
    figures["search"] = (time.perf_counter() - started) * 1000 - 150  # less the page's typing debounce
    started = time.perf_counter()
    page.click("#tabs button[data-tab=analysis]")
    page.wait_for_selector("html[data-charts=done]", timeout=300_000)
    figures["charts"] = (time.perf_counter() - started) * 1000
    context.close()
    if errors:
        raise SystemExit(f"the page failed: {errors}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--answer-words", type=int, default=120)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    header = ("jobs", "results MB", "report MB", "build s", "RSS MiB", "ready ms", "parse ms", "browse ms")
    header += ("search ms", "charts ms")
    emit(" ".join(f"{h:>10}" for h in header))
    saved: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"],
        )
        for size in (int(s) for s in args.sizes.split(",")):
            models, scenarios, samples = SHAPES.get(size, (25, max(1, size // 50), 2))
            directory = Path(folder) / str(size)
            directory.mkdir()
            shape = RunShape(models=models, scenarios=scenarios, samples=samples, answer_words=args.answer_words)
            jobs, results = write_run(directory, shape)
            out = directory / "report.html"
            run = measure(REPORT_PY, str(results), "--jobs", str(jobs), "-o", str(out))
            loads = [_load(browser, out.resolve().as_uri()) for _ in range(args.runs)]
            figures = {key: statistics.median(load[key] for load in loads) for key in loads[0]}
            row = {
                "jobs": models * scenarios * samples,
                "resultsMB": results.stat().st_size / 1e6,
                "reportMB": out.stat().st_size / 1e6,
                "buildS": run.wall_s,
                "rssMiB": run.peak_rss_mib,
                **{f"{key}Ms": value for key, value in figures.items()},
            }
            saved[str(size)] = row
            emit(
                f"{row['jobs']:>10,} {row['resultsMB']:>10.1f} {row['reportMB']:>10.1f} {run.wall_s:>10.1f}"
                f" {run.peak_rss_mib:>10.0f} {figures['ready']:>10.0f} {figures['parse']:>10.0f}"
                f" {figures['browse']:>10.0f} {figures['search']:>10.0f} {figures['charts']:>10.0f}"
            )
        browser.close()
    emit(f"saved {save('report', saved)}")


if __name__ == "__main__":
    main()
