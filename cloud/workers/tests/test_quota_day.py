"""A Gemini per-day quota is a wall until midnight Pacific time, not a per-minute rate limit.

Gemini answers both with 429 RESOURCE_EXHAUSTED and a RetryInfo of some seconds; only
the QuotaFailure's `quotaId` (`...PerDay...`) tells them apart. A worker must hand the
per-day wall to its host (retryable, `retryAfterMs` until the reset, `details.quotaWindow`)
without retrying it, and a batch must park that model until then instead of hammering it,
while the provider's other models, and every other provider, go on.

The real Google adapter serves the real body (fixtures/errors/provider_errors.json
`gemini_quota_per_day`, voideditor/void#557) through respx; the wall clock the reset is
measured from is pinned (`retry_hints.clock`), the batch's own clock is a FakeClock.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from common.errors import retry_hints
from common.runs.batch.parking import BATCH_RETRY_POLICY
from common.runs.batch.runner import EXIT_RETRYABLE_LEFT, BatchRunner
from tests.helpers import FakeClock, load_fixture, probe_job, run, wire
from tests.test_batch import Recorder, options, read_results

API = "https://generativelanguage.googleapis.com/v1"
FLASH_URL = f"{API}/models/gemini-2.5-flash:generateContent"
PRO_URL = f"{API}/models/gemini-2.5-pro:generateContent"
FIXTURES = Path(__file__).parent / "fixtures"
PER_DAY: dict[str, Any] = json.loads((FIXTURES / "errors" / "provider_errors.json").read_text())[
    "gemini_quota_per_day"
]["body"]
# 2026-03-10 08:00 PDT: the daily quota resets at midnight Pacific time, 16 hours later.
NOW = 1_773_154_800.0
RESET_MS = 16 * 3_600_000


@pytest.fixture(autouse=True)
def gemini_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_BASE_URL", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyD-test-key-not-real-0123456789ab")
    monkeypatch.setattr(retry_hints, "clock", lambda: NOW)


def per_day_429() -> httpx.Response:
    return httpx.Response(429, json=PER_DAY)


def answer(request: httpx.Request) -> httpx.Response:
    body = copy.deepcopy(load_fixture("google", "generate_content"))
    turn = sum(1 for c in json.loads(request.content)["contents"] if c.get("role", "user") == "user")
    body["candidates"][0]["content"]["parts"] = [{"text": f"answer to turn {turn}"}]
    return httpx.Response(200, json=body)


def first_turn_only(request: httpx.Request) -> httpx.Response:
    """Answers turn 1, then the day's quota is gone."""
    contents = json.loads(request.content)["contents"]
    return answer(request) if len(contents) == 1 else per_day_429()


def gemini_job(model: str, scenario_id: str, followups: int = 0) -> dict[str, Any]:
    return probe_job(f"google:{model}", followups=followups, scenarioId=scenario_id)


# ------------------------------------------------------------ one job


async def test_the_worker_hands_the_wall_to_the_host_without_retrying(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(FLASH_URL).mock(return_value=per_day_429())
    clock = FakeClock()
    out = wire(await run(gemini_job("gemini-2.5-flash", "s"), clock))
    assert route.call_count == 1 and clock.sleeps == []  # RetryInfo says 5 s; waiting would hit the same wall
    error = out["error"]
    assert (error["code"], error["retryable"], error["retryAfterMs"]) == ("RATE_LIMIT", True, RESET_MS)
    assert error["details"]["quotaWindow"] == "day"
    assert error["details"]["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert error["details"]["quotaResetsAt"] == "2026-03-11T07:00:00Z"
    assert error["details"]["attempts"] == 1


# ------------------------------------------------------------ a batch parks the model


async def run_batch(tmp_path: Path, jobs: dict[str, dict[str, Any]], clock: FakeClock) -> BatchRunner:
    runner = BatchRunner(options(tmp_path, jobs, concurrency=1), clock=clock, run_probe=Recorder())
    runner.exit_code = await runner.run()
    return runner


async def test_a_batch_parks_the_walled_model_and_writes_its_jobs_as_retryable(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    flash = respx_mock.post(FLASH_URL).mock(return_value=per_day_429())
    pro = respx_mock.post(PRO_URL).mock(side_effect=answer)
    jobs = {
        "flash-1": gemini_job("gemini-2.5-flash", "s1"),
        "flash-2": gemini_job("gemini-2.5-flash", "s2"),
        "pro-1": gemini_job("gemini-2.5-pro", "s3"),
        "flash-3": gemini_job("gemini-2.5-flash", "s4"),
        "mock-1": probe_job("mock:echo", scenarioId="s5"),
    }
    clock = FakeClock()
    runner = await run_batch(tmp_path, jobs, clock)
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == set(jobs)
    assert flash.call_count == 1  # flash-2 and flash-3 were never sent into the wall
    assert pro.call_count == 1 and results["pro-1"]["success"] is True  # the provider's other model went on
    assert results["mock-1"]["success"] is True
    for job_id in ("flash-1", "flash-2", "flash-3"):
        error = results[job_id]["error"]
        assert (error["code"], error["retryable"], error["retryAfterMs"]) == ("RATE_LIMIT", True, RESET_MS)
        assert error["details"]["quotaWindow"] == "day"
    assert results["flash-1"]["error"]["details"]["attempts"] == 1
    assert results["flash-2"]["error"]["details"]["notStarted"] is True
    assert results["flash-2"]["error"]["details"]["attempts"] == 0
    assert all(wait <= BATCH_RETRY_POLICY.max_hinted_wait_s for wait in clock.sleeps)  # nobody waited for the reset
    limiter = runner.limiters.by_provider["google"]
    assert limiter.paused_until <= clock.now and limiter.factor == 1.0  # the provider itself was not slowed
    assert runner.exit_code == EXIT_RETRYABLE_LEFT and runner.stats.left_retryable == 3


async def test_parked_jobs_keep_their_paid_turns_and_the_next_run_resumes_them(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    flash = respx_mock.post(FLASH_URL).mock(side_effect=first_turn_only)
    first = {"a": gemini_job("gemini-2.5-flash", "s-a", followups=1)}
    await run_batch(tmp_path, first, FakeClock())
    paid = read_results(tmp_path / "results.jsonl")["a"]["partialTranscript"]["turns"]
    assert len(paid) == 1 and flash.call_count == 2

    # The next run: a new job walls the model first, so "a" is parked before it starts again.
    second = {"new": gemini_job("gemini-2.5-flash", "s-new", followups=1), **first}
    await run_batch(tmp_path, second, FakeClock())
    results = read_results(tmp_path / "results.jsonl")
    assert flash.call_count == 4  # the new job's two requests; none for "a"
    parked = results["a"]
    assert parked["error"]["details"]["notStarted"] is True and parked["error"]["retryAfterMs"] == RESET_MS
    assert parked["partialTranscript"]["turns"] == paid

    # After the reset: both resume from the turns they paid for.
    flash.mock(side_effect=answer)
    recorder = Recorder()
    runner = BatchRunner(options(tmp_path, second, concurrency=1), clock=FakeClock(), run_probe=recorder)
    assert await runner.run() == 0
    results = read_results(tmp_path / "results.jsonl")
    assert all(result["success"] is True for result in results.values())
    assert results["a"]["transcript"]["turns"][0] == paid[0]
    assert [len(run.get("priorTurns", [])) for run in recorder.runs] == [1, 1]
    assert flash.call_count == 6  # one new request each: turn 2
