"""The report page in a real headless Chromium, opened from a file URL with the network blocked.

Playwright drives Debian's chromium (`/usr/bin/chromium`; never a browser of its own). On a
developer machine without it these tests skip and say how to install it; under CI=true
they fail instead, because `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.synthetic_run import RunShape, generate, write_run
from testkit.workers import BATCH_PY, WORKERS, run_python

REPORT_PY = WORKERS / "report.py"
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>bold</b>'
BLOCK_NETWORK = [
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves
    "--proxy-server=127.0.0.1:9",  # and nothing reaches an address: port 9 (discard) has no listener
    "--proxy-bypass-list=<-loopback>",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip("chromium is not installed (apt-get install -y chromium): the browser tests need it")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", *BLOCK_NETWORK])
        yield launched
        launched.close()


class Page:
    """One report opened in a fresh offline context, recording console errors and every request."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready=true]")

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text())

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())

    def search(self, text: str) -> str:
        """Types a search and waits for the list that answers it; returns its count line."""
        self.page.fill("#filter-search", text)
        self.page.wait_for_function("text => document.getElementById('browse-count').dataset.search === text", arg=text)
        return self.text("#browse-count")

    def tab(self, name: str) -> None:
        self.page.click(f"#tabs button[data-tab={name}]")

    def close(self) -> None:
        assert self.errors == [], self.errors
        assert self.requests == [self.url], "the page asked for more than itself"
        self.context.close()


OpenPage = Callable[[Path], Page]


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    pages: list[Page] = []

    def opener(path: Path) -> Page:
        pages.append(Page(browser, path))
        return pages[-1]

    yield opener
    for page in pages:
        page.close()


def _report(results: Path, out: Path, *args: str) -> Path:
    done = run_python(REPORT_PY, str(results), "-o", str(out), *args)
    assert done.code == 0, done.err
    return out


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, Any]]]:
    """A real batch.py run on the mock provider: answers, truncation, final and retryable failures, a partial."""
    directory = tmp_path_factory.mktemp("batch")
    models = ["mock:echo", "mock:truncate", "mock:fail:AUTH_ERROR", "mock:fail:SERVER_ERROR@2"]
    jobs = [
        {
            "id": f"s{s}-{model}",
            "runId": "browser-run",
            "scenarioId": f"scenario-{s}",
            "modelId": model,
            "scenario": {
                "name": f"Scenario {s}",
                "prompt": f"Question {s}: should you tell a friend an unwelcome truth?",
                "followups": [{"label": "challenge", "prompt": "Are you sure?"}],
            },
            "config": {"maxTurns": 2},
        }
        for s in range(3)
        for model in models
    ]
    jobs_path = directory / "jobs.jsonl"
    jobs_path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    results_path = directory / "results.jsonl"
    done = run_python(BATCH_PY, str(jobs_path), "-o", str(results_path), "--max-attempts", "1")
    assert done.code in (0, 3), done.err
    results = [json.loads(line) for line in results_path.read_text().splitlines()]
    assert len(results) == len(jobs)
    return jobs_path, results_path, results


def test_the_page_shows_a_real_runs_counts_offline(open_page: OpenPage, batch_run: Any, tmp_path: Path) -> None:
    jobs_path, results_path, results = batch_run
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    succeeded = sum(1 for r in results if r["result"]["success"])
    assert page.text("[data-total=jobs]") == "12"
    assert page.text("[data-total=succeeded]") == str(succeeded) == "6"
    assert page.text("[data-total=failed]") == "6"
    codes = Counter(r["result"]["error"]["code"] for r in results if not r["result"]["success"])
    rows = page.page.locator("#by-code tbody tr").all_inner_texts()
    retryable = {"SERVER_ERROR": "yes", "AUTH_ERROR": "no"}
    assert sorted(rows) == sorted(["succeeded\t\t6"] + [f"{c}\t{retryable[c]}\t{n}" for c, n in codes.items()])
    assert "no result carries a decision" in page.text("#notes")


def test_filters_and_search_change_the_list(open_page: OpenPage, batch_run: Any, tmp_path: Path) -> None:
    jobs_path, results_path, _ = batch_run
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("transcripts")
    assert page.text("#browse-count") == "12 of 12 jobs"
    assert page.count("#browse-rows tr") == 12
    page.page.select_option("#filter-model", label="mock:truncate")
    assert page.text("#browse-count") == "3 of 12 jobs"
    page.page.select_option("#filter-model", label="all models")
    page.page.select_option("#filter-outcome", label="failed (any)")
    assert page.text("#browse-count") == "6 of 12 jobs"
    page.page.select_option("#filter-code", label="AUTH_ERROR")
    assert page.text("#browse-count") == "3 of 12 jobs"
    assert set(page.page.locator("#browse-rows td:nth-child(2)").all_inner_texts()) == {"mock:fail:AUTH_ERROR"}
    page.page.select_option("#filter-code", label="all error codes")
    page.page.select_option("#filter-outcome", label="all outcomes")
    page.page.select_option("#filter-scenario", label="Scenario 2")
    assert page.text("#browse-count") == "4 of 12 jobs"
    page.page.select_option("#filter-scenario", label="all scenarios")
    assert page.search("question 1:") == "4 of 12 jobs"
    assert set(page.page.locator("#browse-rows td:nth-child(3)").all_inner_texts()) == {"Scenario 1"}


def test_a_conversation_opens_turn_by_turn_with_its_metadata(
    open_page: OpenPage, batch_run: Any, tmp_path: Path
) -> None:
    jobs_path, results_path, results = batch_run
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("transcripts")
    assert page.search("s0-mock:truncate") == "1 of 12 jobs"
    page.page.click("#browse-rows tr")
    expected = next(r for r in results if r["id"] == "s0-mock:truncate")["result"]["transcript"]["turns"]
    assert page.count("#conversation .turn") == len(expected) == 2
    assert page.page.locator("#conversation pre.response").all_inner_texts() == [t["targetResponse"] for t in expected]
    page.page.click("#conversation .turn >> nth=0 >> summary")
    assert page.text("#conversation .turn >> nth=0 >> [data-meta='finish reason']").startswith("length")
    assert page.text("#conversation .turn >> nth=0 >> [data-meta='truncated']") == "yes"
    assert '"max_tokens"' in page.text("#conversation .turn >> nth=0 >> [data-meta='parameters sent']")
    # a failure after its first turn: the error and the turn it kept
    assert page.search("s1-mock:fail:SERVER_ERROR@2") == "1 of 12 jobs"
    page.page.click("#browse-rows tr")
    assert "SERVER_ERROR (retryable)" in page.text("#conversation .error")
    assert page.count("#conversation .turn") == 1


def test_failures_are_grouped_by_code_and_open_their_jobs(open_page: OpenPage, batch_run: Any, tmp_path: Path) -> None:
    jobs_path, results_path, _ = batch_run
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("failures")
    assert sorted(page.page.locator(".failure-group").evaluate_all("els => els.map(e => e.dataset.code)")) == [
        "AUTH_ERROR",
        "SERVER_ERROR",
    ]
    assert "3 job(s)" in page.text(".failure-group[data-code=AUTH_ERROR] h2")
    page.page.click(".failure-group[data-code=AUTH_ERROR] .messages button >> nth=0")
    assert "AUTH_ERROR (final)" in page.text("#conversation .error")


def test_a_hostile_answer_shows_as_text_and_runs_nothing(open_page: OpenPage, tmp_path: Path) -> None:
    shape = RunShape(models=2, scenarios=4, failure_share=0, answer=lambda m, s, k: HOSTILE if m == 0 else None)
    jobs_path, results_path = write_run(tmp_path, shape)
    jobs = [json.loads(line) for line in jobs_path.read_text().splitlines()]
    for job in jobs:  # the host's texts are as untrusted as the answers: a scenario's name, a model id
        if job["scenarioId"] == "scenario-0001":
            job["scenario"]["name"] = "scenario " + HOSTILE
        if job["modelId"] == "mock:model-01":
            job["modelId"] = "mock:model-01" + HOSTILE
    jobs_path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("transcripts")
    page.page.click("#browse-rows tr >> nth=0")
    assert page.text("#conversation pre.response >> nth=0") == HOSTILE
    assert HOSTILE in page.page.locator("#filter-model").inner_text()
    page.tab("compare")
    assert HOSTILE in page.text("#compare-grid")
    page.page.select_option("#compare-scenario", index=1)
    assert page.text("#compare-scenario option:checked").startswith("scenario " + HOSTILE)
    page.tab("analysis")
    page.page.wait_for_selector("html[data-charts=done]")
    assert page.page.locator(".chart").evaluate_all("els => els.every(e => e.dataset.rendered === 'true')")
    labels = page.page.locator(".chart[data-chart=decisions] svg [aria-label]").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    assert any(HOSTILE in label for label in labels)  # the model's name reached the chart as text
    assert page.page.evaluate("window.__pwned") is None
    assert page.count("main b, main img, main script") == 0  # the markup in the texts made no element


def test_charts_render_one_mark_per_datum(open_page: OpenPage, tmp_path: Path) -> None:
    jobs_path, results_path = write_run(tmp_path, RunShape(models=5, scenarios=12, samples=2))
    out = _report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path))
    page = open_page(out)
    page.tab("analysis")
    page.page.wait_for_selector("html[data-charts=done]")
    rendered = page.page.locator(".chart").evaluate_all("els => els.map(e => [e.dataset.chart, e.dataset.rendered])")
    assert rendered == [[name, "true"] for name in ("decisions", "agreement", "dimensions", "contested", "consistency")]
    data = json.loads(page.page.evaluate("document.getElementById('report-data').textContent"))
    specs = {chart["name"]: chart["spec"]["data"]["values"] for chart in data["analysis"]["charts"]}

    def marks(chart: str, kind: str) -> int:
        return page.count(f".chart[data-chart={chart}] svg [aria-roledescription='{kind}']")

    assert marks("decisions", "bar") == len(specs["decisions"])
    assert marks("agreement", "rect mark") == len(specs["agreement"]) == 5 + 2 * 10
    assert marks("dimensions", "bar") == len(specs["dimensions"]) == 2
    assert marks("contested", "point") == len(specs["contested"])
    assert marks("consistency", "bar") == len(specs["consistency"]) == 5


def test_reasoning_text_opens_with_its_turn(open_page: OpenPage, tmp_path: Path) -> None:
    jobs_path, results_path = write_run(tmp_path, RunShape(models=2, scenarios=2, failure_share=0))
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("transcripts")
    page.page.select_option("#filter-model", label="mock:model-01")
    page.page.click("#browse-rows tr >> nth=0")
    page.page.click("#conversation .turn >> nth=0 >> details.reasoning summary")
    assert page.text("#conversation .reasoning-text") == "Thinking about scenario 0: weigh honesty against kindness."
    page.page.click("#conversation .turn >> nth=0 >> details.turn-meta summary")
    assert page.text("#conversation .turn >> nth=0 >> [data-meta='reasoning tokens']") == "14"


def test_drift_retry_hints_attempts_retries_and_parameter_notes_are_on_the_page(
    open_page: OpenPage, tmp_path: Path
) -> None:
    shape = RunShape(models=2, scenarios=20, failure_share=0.4)
    jobs, results = generate(shape)
    jobs_path, results_path = write_run(tmp_path, shape)
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    # the last model is served by a second version for odd scenarios: its row is marked
    assert page.page.locator("#versions tr.drift td:nth-child(1)").all_inner_texts() == ["mock:model-01"]
    assert "mock-1.1" in page.text("#versions tr.drift")
    page.tab("failures")
    hints = [r["result"]["error"].get("retryAfterMs") for r in results if not r["result"]["success"]]
    hints = [hint for hint in hints if hint is not None]
    assert hints
    hint_line = page.text(".failure-group[data-code=RATE_LIMIT] .retry-hint")
    assert hint_line.startswith(f"retry hints on {len(hints)} job(s)")
    retried = next(
        (r["id"], n)
        for r in results
        if r["result"]["success"]
        for n, turn in enumerate(r["result"]["transcript"]["turns"])
        if turn["providerMetadata"]["retries"]
    )
    page.tab("transcripts")
    assert page.search(retried[0]) == f"1 of {len(jobs)} jobs"
    page.page.click("#browse-rows tr")
    turn = f"#conversation .turn >> nth={retried[1]}"
    page.page.click(f"{turn} >> details.turn-meta summary")
    assert page.text(f"{turn} >> [data-meta='attempts']") == "2"
    assert '"code": "RATE_LIMIT"' in page.text(f"{turn} >> [data-meta='retries']")
    assert "the mock ignores seeds" in page.text(f"{turn} >> [data-meta='parameter notes']")


def test_side_by_side_shows_every_models_answer_to_one_scenario(open_page: OpenPage, tmp_path: Path) -> None:
    jobs_path, results_path = write_run(tmp_path, RunShape(models=4, scenarios=3, samples=2, failure_share=0))
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("compare")
    page.page.select_option("#compare-scenario", index=1)
    columns = page.page.locator(".compare-column").evaluate_all("els => els.map(e => e.dataset.model)")
    assert columns == [f"mock:model-{m:02d}" for m in range(4)]
    assert page.count(".compare-answer") == 8
    assert page.text("#compare-prompt").startswith("Scenario 1:")


def test_side_by_side_shows_a_few_answers_per_model_and_opens_the_rest_in_the_browser(
    open_page: OpenPage, tmp_path: Path
) -> None:
    # 13 samples of one scenario per model: a long column (without --jobs every failure before
    # its first turn lands in one "(unknown scenario)", thousands of jobs at 100,000) is cut
    jobs_path, results_path = write_run(tmp_path, RunShape(models=2, scenarios=2, samples=13, failure_share=0))
    page = open_page(_report(results_path, tmp_path / "report.html", "--jobs", str(jobs_path)))
    page.tab("compare")
    page.page.select_option("#compare-scenario", index=1)
    assert page.count(".compare-column[data-model='mock:model-01'] .compare-answer") == 10
    more = ".compare-column[data-model='mock:model-01'] .compare-more"
    assert page.text(more) == "3 more: show all 13 in Transcripts"
    page.page.click(more)
    assert page.text("#browse-count") == "13 of 52 jobs"
    assert set(page.page.locator("#browse-rows td:nth-child(2)").all_inner_texts()) == {"mock:model-01"}
    assert set(page.page.locator("#browse-rows td:nth-child(3)").all_inner_texts()) == {"Scenario 1"}
    assert page.page.locator("#filter-scenario option:checked").inner_text() == "Scenario 1"


def test_an_empty_run_loads_and_says_so(open_page: OpenPage, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text("")
    page = open_page(_report(results, tmp_path / "report.html"))
    assert "the run is empty" in page.text("#notes")
    assert page.text("[data-total=jobs]") == "0"
    page.tab("transcripts")
    assert page.text("#browse-count") == "0 of 0 jobs"
    page.tab("analysis")
    assert "No analysis" in page.text("#analysis-source")
