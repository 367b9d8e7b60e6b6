"""Batch runs: which jobs run, what they are sent, what the results file holds, and how a run resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.contract.probe import ModelCost, ProbeJob, ProbeSuccess, Turn, WorkerFailure
from common.errors.codes import ErrorCode, WorkerError
from common.runs.batch.options import BatchOptions, ConfigError, parse_options
from common.runs.batch.rate_limit import Limits
from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT, BatchRunner
from common.runs.batch.spend import estimate_job, spend_of
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from testkit.fake_provider import Failure, FakeProvider
from tests.helpers import FakeClock, probe_job
from tests.helpers import run as run_in_process


def write_jobs(path: Path, jobs: dict[Any, dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"id": job_id, **job}) + "\n" for job_id, job in jobs.items()))
    return path


def read_results(path: Path) -> dict[Any, dict[str, Any]]:
    """Every line must be whole JSON; one line per id."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = [json.loads(line) for line in data.splitlines()]
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)), f"more than one line for an id: {ids}"
    return {line["id"]: line["result"] for line in lines}


class Recorder:
    """Runs jobs for real and remembers every document it was given."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    async def __call__(self, job: ProbeJob) -> ProbeSuccess | WorkerFailure:
        self.runs.append(job.model_dump(mode="json", by_alias=True, exclude_none=True))
        result = await run_once(PROBE, job.model_dump(mode="json", by_alias=True))
        assert isinstance(result, ProbeSuccess | WorkerFailure)
        return result

    def by_scenario(self, scenario_id: str) -> list[dict[str, Any]]:
        return [run for run in self.runs if run["scenarioId"] == scenario_id]


def options(tmp_path: Path, jobs: dict[Any, dict[str, Any]], **overrides: Any) -> BatchOptions:
    settings: dict[str, Any] = {
        "jobs": write_jobs(tmp_path / "jobs.jsonl", jobs),
        "output": tmp_path / "results.jsonl",
        "progress": False,
        "log_file": None,
    }
    settings.update(overrides)
    return BatchOptions(**settings)


def job(model: str, scenario_id: str, **overrides: Any) -> dict[str, Any]:
    return probe_job(model, scenarioId=scenario_id, **overrides)


async def run(opts: BatchOptions, recorder: Recorder | None = None, clock: FakeClock | None = None) -> BatchRunner:
    runner = BatchRunner(opts, clock=clock or FakeClock(), run_probe=recorder or Recorder())
    runner.exit_code = await runner.run()
    return runner


async def test_every_job_gets_one_result_line_with_its_id(tmp_path: Path) -> None:
    jobs = {
        "a": job("mock:echo", "s-a"),
        7: job("mock:echo", "s-7", modelCost={"costInputPerMillion": 2.5, "costOutputPerMillion": 10}),
        "auth": job("mock:fail:AUTH_ERROR", "s-auth"),
        "bad": job("mock:fail:BAD_REQUEST@2", "s-bad"),
    }
    runner = await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert runner.exit_code == EXIT_DONE
    assert set(results) == {"a", 7, "auth", "bad"}
    assert results["a"]["success"] is True and len(results["a"]["transcript"]["turns"]) == 3
    assert results["auth"]["error"]["code"] == "AUTH_ERROR"
    assert len(results["bad"]["partialTranscript"]["turns"]) == 1
    stats = runner.stats
    assert (stats.succeeded, stats.failed, stats.left_retryable) == (2, 2, 0)
    assert dict(stats.codes) == {"AUTH_ERROR": 1, "BAD_REQUEST": 1}
    transcript = results[7]["transcript"]
    assert stats.cost == pytest.approx(transcript["costSnapshot"]["estimatedCost"])
    assert stats.jobs_without_cost == 2  # "a" and "bad" spent tokens with no modelCost; "auth" spent none


async def test_a_rerun_skips_finished_ids_and_resumes_retryable_ones_from_their_partial_transcript(
    tmp_path: Path,
) -> None:
    jobs = {
        "a": job("mock:echo", "s-a"),
        "b": job("mock:fail:AUTH_ERROR", "s-b"),
        "c": job("mock:fail:TIMEOUT@2", "s-c"),
    }
    first = await run(options(tmp_path, jobs, max_attempts=1))
    assert first.exit_code == EXIT_RETRYABLE_LEFT
    earlier = read_results(tmp_path / "results.jsonl")
    assert earlier["c"]["error"]["code"] == "TIMEOUT" and earlier["c"]["error"]["retryable"] is True
    with (tmp_path / "results.jsonl").open("ab") as out:
        out.write(b'{"id":"a","result":{"succ')  # a line cut short by a crash mid-write

    jobs["c"] = job("mock:echo", "s-c")  # the provider recovered
    recorder = Recorder()
    second = await run(options(tmp_path, jobs), recorder)

    assert [run["scenarioId"] for run in recorder.runs] == ["s-c"]  # a and b were not run again
    # Compared as turns: the recorder drops nulls, which turns carry (`reasoning: {requested: null, ...}`).
    assert [Turn.model_validate(t) for t in recorder.runs[0]["priorTurns"]] == [
        Turn.model_validate(t) for t in earlier["c"]["partialTranscript"]["turns"]
    ]
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == {"a", "b", "c"}  # compacted: one line per id, the cut line gone
    assert results["a"] == earlier["a"] and results["b"] == earlier["b"]
    turns = results["c"]["transcript"]["turns"]
    assert [t["turnNumber"] for t in turns] == [1, 2, 3]
    assert turns[0] == earlier["c"]["partialTranscript"]["turns"][0]  # the paid-for turn was kept, not re-asked
    assert (second.stats.skipped, second.stats.resumed, second.exit_code) == (2, 1, EXIT_DONE)
    assert second.stats.requests == 2  # only turns 2 and 3 were sent


async def test_a_resumed_job_whose_scenario_changed_starts_over(tmp_path: Path) -> None:
    jobs = {"c": job("mock:fail:SERVER_ERROR@2", "s-c")}
    await run(options(tmp_path, jobs, max_attempts=1))
    jobs["c"] = job("mock:echo", "s-c")
    jobs["c"]["scenario"]["prompt"] = "A rewritten first question?"
    recorder = Recorder()
    runner = await run(options(tmp_path, jobs), recorder)
    assert ["priorTurns" in run for run in recorder.runs] == [True, False]
    result = read_results(tmp_path / "results.jsonl")["c"]
    assert result["success"] is True
    assert result["transcript"]["turns"][0]["probePrompt"] == "A rewritten first question?"
    assert runner.exit_code == EXIT_DONE


async def test_a_retryable_failure_runs_again_in_the_same_batch_from_what_it_had(tmp_path: Path) -> None:
    jobs = {"c": job("mock:fail:SERVER_ERROR@2", "s-c")}
    recorder = Recorder()
    clock = FakeClock()
    runner = await run(options(tmp_path, jobs, max_attempts=3), recorder, clock)
    runs = recorder.by_scenario("s-c")
    assert len(runs) == 3
    assert "priorTurns" not in runs[0]
    assert runs[1]["priorTurns"] == runs[2]["priorTurns"] and len(runs[1]["priorTurns"]) == 1
    assert clock.sleeps == [0.01, 0.01]  # the provider's retry hint (10 ms) before each new run
    result = read_results(tmp_path / "results.jsonl")["c"]
    assert result["error"]["code"] == "SERVER_ERROR" and len(result["partialTranscript"]["turns"]) == 1
    assert runner.exit_code == EXIT_RETRYABLE_LEFT and runner.stats.left_retryable == 1


async def test_a_job_that_recovers_on_a_later_run_ends_as_a_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the worker itself tries each request 5 times; the 6th request fails, the 7th answers
    jobs = {"f": job("openai:gpt-4o-mini", "s-f", scenario={"prompt": "Only one question?"})}
    recorder = Recorder()
    with FakeProvider().running() as fake:
        fake.failures.append(Failure(status=503, count=6, retry_after_ms=1))
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch-not-real-000000")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        runner = await run(options(tmp_path, jobs, max_attempts=2), recorder)
    result = read_results(tmp_path / "results.jsonl")["f"]
    assert len(recorder.runs) == 2 and result["success"] is True
    assert result["transcript"]["turns"][0]["providerMetadata"]["attempts"] == 2
    assert runner.stats.requests == 7 and runner.exit_code == EXIT_DONE


async def test_requests_per_minute_are_shared_by_every_job_of_the_provider(tmp_path: Path) -> None:
    jobs = {n: job("mock:echo", f"s-{n}", scenario={"prompt": f"Question {n}?"}) for n in range(5)}
    clock = FakeClock()
    runner = await run(options(tmp_path, jobs, concurrency=5, limits={"mock": Limits(rpm=60)}), clock=clock)
    assert clock.sleeps == [1.0, 1.0, 1.0, 1.0]  # one request a second, whatever the concurrency
    assert runner.stats.succeeded == 5


async def test_a_provider_answering_429_is_slowed_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = {n: job("openai:gpt-4o-mini", f"s-{n}", scenario={"prompt": f"Question {n}?"}) for n in range(6)}
    with FakeProvider().running() as fake:
        fake.failures.append(Failure(status=429, count=2, retry_after_ms=20))
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch-not-real-000000")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        runner = await run(options(tmp_path, jobs, concurrency=1, limits={"openai": Limits(rpm=600)}))
        requests = len(fake.stats.requests)
    results = read_results(tmp_path / "results.jsonl")
    assert all(result["success"] is True for result in results.values())
    assert requests == 8 and runner.stats.requests == 8 and runner.stats.rate_limited == 2
    limiter = runner.limiters.by_provider["openai"]
    assert limiter.effective_rpm == 300  # halved once: both 429s came in the same burst


async def test_spend_counts_only_the_turns_run_this_time() -> None:
    result = await run_in_process(probe_job("mock:flaky:RATE_LIMIT:1", followups=2))
    assert isinstance(result, ProbeSuccess)
    last = result.transcript.turns[2]
    rates = ModelCost(cost_input_per_million=1e6, cost_output_per_million=2e6)
    spend = spend_of(result, prior_turns=2, model_cost=rates)
    assert (spend.requests, spend.new_turns) == (2, 1)  # the last turn's 429 and its answer
    assert (spend.input_tokens, spend.output_tokens) == (last.input_tokens, last.output_tokens)
    assert spend.cost == pytest.approx(last.input_tokens * 1.0 + last.output_tokens * 2.0)
    assert spend.rate_limited == 1 and spend.retry_after_s == 0.01  # the mock's 10 ms hint
    failed = WorkerFailure.from_error(
        WorkerError(ErrorCode.RATE_LIMIT, "slow down", details={"attempts": 5}, retry_after_ms=4000)
    )
    spend = spend_of(failed, prior_turns=0, model_cost=None)
    assert (spend.requests, spend.rate_limited, spend.retry_after_s, spend.cost_known) == (5, 1, 4.0, True)


def test_the_estimate_counts_the_turns_left_and_the_history_each_one_resends() -> None:
    document = probe_job("mock:echo", followups=2, config={"maxTokens": 100})
    document["scenario"]["prompt"] = "x" * 400  # 100 tokens
    for follow in document["scenario"]["followups"]:
        follow["prompt"] = "y" * 40  # 10 tokens
    fresh = estimate_job(ProbeJob.model_validate(document), expected_output_tokens=50)
    # turn 1: 100 in + 50 out; turn 2: 160 in + 50 out; turn 3: 220 in + 50 out
    assert (fresh.requests, fresh.tokens) == (3, 630)
    resumed = ProbeJob.model_validate(document)
    earlier = run_sync_first_turn(document)
    resumed.prior_turns = [earlier.model_copy(update={"probe_prompt": "x" * 400, "target_response": "z" * 200})]
    assert estimate_job(resumed, expected_output_tokens=50) == type(fresh)(requests=2, tokens=160 + 50 + 220 + 50)


def run_sync_first_turn(document: dict[str, Any]) -> Turn:
    import asyncio

    result = asyncio.run(run_in_process({**document, "scenario": {**document["scenario"], "followups": []}}))
    assert isinstance(result, ProbeSuccess)
    return result.transcript.turns[0]


def test_limits_come_from_a_file_and_flags_override_it(tmp_path: Path) -> None:
    toml = tmp_path / "limits.toml"
    toml.write_text("[openai]\nrpm = 500\ntpm = 200000\n\n[anthropic]\nrpm = 50\n")
    opts = parse_options(["jobs.jsonl", "-o", "out.jsonl", "--limits", str(toml), "--rpm", "openai=100"])
    assert opts.limits == {"openai": Limits(rpm=100, tpm=200000), "anthropic": Limits(rpm=50)}
    assert opts.log_file == Path("out.jsonl.log")
    as_json = tmp_path / "limits.json"
    as_json.write_text(json.dumps({"google": {"tpm": 1000}}))
    assert parse_options(["j", "-o", "o", "--limits", str(as_json), "--log-file", "-"]).log_file is None
    assert parse_options(["j", "-o", "o", "--limits", str(as_json)]).limits == {"google": Limits(tpm=1000)}


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ("[opnai]\nrpm = 5\n", [], "unknown provider 'opnai'"),
        ("[openai]\nrps = 5\n", [], "openai.rps: Extra inputs are not permitted"),
        ("[openai]\nrpm = -1\n", [], "greater than 0"),
        ("[openai\n", [], "is not valid TOML"),
        ("", ["--rpm", "openai"], "write it as PROVIDER=NUMBER"),
        ("", ["--tpm", "openai=lots"], "write it as PROVIDER=NUMBER"),
    ],
)
def test_limit_mistakes_are_named(tmp_path: Path, content: str, flags: list[str], message: str) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_options(["j", "-o", "o", *(["--limits", str(limits)] if content else []), *flags])
