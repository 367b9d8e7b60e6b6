"""`batch.py --via provider-batch`: jobs through the OpenAI and Anthropic batch APIs (a loopback fake,
driven by the real SDKs), in waves of turns, with the same result lines and transcripts as online."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.runs.batch.options import BatchOptions, ConfigError, parse_options
from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT
from common.runs.provider_batch import openai_batches
from common.runs.provider_batch.runner import ProviderBatchRunner
from common.runs.provider_batch.state import load_state, state_path
from testkit.fake_batches import BatchFailure, FakeBatches
from tests.helpers import FakeClock, assert_batch_adds_only_its_fields, point_at_fake_batches, probe_job

COST = {"costInputPerMillion": 2.0, "costOutputPerMillion": 8.0}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatches]:
    with FakeBatches(polls_to_end=2).running() as server:
        point_at_fake_batches(monkeypatch, server, "openai", "anthropic")
        yield server


def write_jobs(path: Path, jobs: dict[Any, dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"id": job_id, **job}) + "\n" for job_id, job in jobs.items()))
    return path


def read_results(path: Path) -> dict[Any, dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)), f"more than one line for an id: {ids}"
    return {line["id"]: line["result"] for line in lines}


def options(tmp_path: Path, jobs: dict[Any, dict[str, Any]], **overrides: Any) -> BatchOptions:
    settings: dict[str, Any] = {
        "jobs": write_jobs(tmp_path / "jobs.jsonl", jobs),
        "output": tmp_path / "results.jsonl",
        "progress": False,
        "log_file": None,
        "via": "provider-batch",
        "poll_interval_s": 5.0,
    }
    settings.update(overrides)
    return BatchOptions(**settings)


async def run(opts: BatchOptions, clock: FakeClock | None = None) -> ProviderBatchRunner:
    runner = ProviderBatchRunner(opts, clock=clock or FakeClock())
    runner.exit_code = await runner.run()
    return runner


def job(model: str, scenario_id: str, **overrides: Any) -> dict[str, Any]:
    return probe_job(model, scenarioId=scenario_id, **overrides)


async def test_a_three_turn_run_goes_out_in_three_waves_per_provider_and_model(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}", modelCost=COST) for i in range(4)}
    jobs |= {f"a{i}": job("anthropic:claude-sonnet-4-5", f"a{i}") for i in range(3)}
    runner = await run(options(tmp_path, jobs))

    assert runner.exit_code == EXIT_DONE
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == set(jobs)
    # One batch per provider+model per turn: 3 waves x 2 providers, never more.
    assert fake.submissions == 6
    by_api = {api: [b for b in fake.batches.values() if b.api == api] for api in ("openai", "anthropic")}
    assert [len(b.requests) for b in by_api["openai"]] == [4, 4, 4]
    assert [len(b.requests) for b in by_api["anthropic"]] == [3, 3, 3]
    # Turn 2 is built from the turn-1 answers: the history re-sent holds them.
    turn2 = by_api["openai"][1].requests[0]["body"]["messages"]
    assert [m["role"] for m in turn2] == ["user", "assistant", "user"]
    assert turn2[1]["content"].startswith("Batch answer to: A friend asks")
    anthropic_turn3 = by_api["anthropic"][2].requests[0]["params"]
    assert [m["role"] for m in anthropic_turn3["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert anthropic_turn3["max_tokens"] == 512 and anthropic_turn3["temperature"] == 0.7

    for job_id, result in results.items():
        assert result["success"] is True, result
        transcript = result["transcript"]
        assert [t["turnNumber"] for t in transcript["turns"]] == [1, 2, 3]
        for number, turn in enumerate(transcript["turns"]):
            meta = turn["providerMetadata"]
            assert meta["via"] == "batch"
            assert meta["batchId"] == by_api["openai" if job_id.startswith("o") else "anthropic"][number].id
            assert meta["batchCustomId"].startswith("pb")
            assert meta["batchRequestId"]
            assert meta["modelVersion"] and meta["responseId"] and meta["finishReason"] == "stop"
            assert meta["paramsSent"]["temperature"] == 0.7
        assert transcript["totalInputTokens"] == sum(t["inputTokens"] for t in transcript["turns"])
    openai_meta = results["o0"]["transcript"]["turns"][0]["providerMetadata"]
    assert openai_meta["batchRequestId"].startswith("batch_req_")
    assert openai_meta["systemFingerprint"] == "fp_fake0000"
    # The batch discount: half the online price, both said.
    cost = results["o0"]["transcript"]["costSnapshot"]
    assert cost["batchPriceFactor"] == 0.5
    assert cost["estimatedCost"] == pytest.approx(cost["onlineEstimatedCost"] / 2)
    online = (cost["inputTokens"] * 2.0 + cost["outputTokens"] * 8.0) / 1e6
    assert cost["onlineEstimatedCost"] == pytest.approx(online)
    assert not state_path(tmp_path / "results.jsonl").exists()  # a finished run leaves no state
    assert runner.totals["openai"].batches == 3 and runner.totals["openai"].succeeded == 12
    assert "openai" in runner.summary_lines() and "saved" in runner.summary_lines()


async def test_the_transcript_has_the_online_shape(tmp_path: Path, fake: FakeBatches) -> None:
    """Every key an online transcript has is in the batch one: only additions (via, batch ids)."""
    from common.runs.probe_worker import PROBE
    from common.runs.run_path import run_once
    from testkit.fake_provider import FakeProvider
    from tests.helpers import wire

    await run(options(tmp_path, {"x": job("openai:gpt-4o-mini", "x", modelCost=COST)}))
    batched = read_results(tmp_path / "results.jsonl")["x"]
    with FakeProvider().running() as online_fake, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_BASE_URL", online_fake.url + "/v1")
        online = wire(await run_once(PROBE, job("openai:gpt-4o-mini", "x", modelCost=COST)))

    assert_batch_adds_only_its_fields(online, batched)


async def test_jobs_of_providers_without_a_batch_api_run_online_in_the_same_command(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {"batched": job("openai:gpt-4o-mini", "b"), "online": job("mock:echo", "m")}
    runner = await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert results["online"]["success"] is True
    assert "via" not in results["online"]["transcript"]["turns"][0]["providerMetadata"]
    assert results["batched"]["transcript"]["turns"][0]["providerMetadata"]["via"] == "batch"
    assert runner.stats.succeeded == 2 and fake.submissions == 3


async def test_a_provider_without_a_batch_api_asked_for_by_name_is_a_clear_error_per_job(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {"x": job("mock:echo", "m"), "o": job("openai:gpt-4o-mini", "o")}
    await run(options(tmp_path, jobs, batch_providers=frozenset({"mock", "openai"})))
    results = read_results(tmp_path / "results.jsonl")
    assert results["x"]["success"] is False
    assert results["x"]["error"]["code"] == "VALIDATION_ERROR" and results["x"]["error"]["retryable"] is False
    assert "mock has no batch API" in results["x"]["error"]["message"]
    assert results["o"]["success"] is True


async def test_a_retryable_request_failure_goes_into_the_next_wave(tmp_path: Path, fake: FakeBatches) -> None:
    fake.failures.append(BatchFailure(429, turn=2, times=1))
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}") for i in range(2)}
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values())
    # turn 2 of one job went out again in the next wave, beside the other job's turn 3
    assert [len(b.requests) for b in fake.batches.values()] == [2, 2, 2, 1]
    third_wave = list(fake.batches.values())[2].requests
    assert sorted(len(r["body"]["messages"]) for r in third_wave) == [3, 5]
    retried = [r for r in results.values() if r["transcript"]["turns"][1]["providerMetadata"]["attempts"] == 2]
    assert len(retried) == 1
    meta = retried[0]["transcript"]["turns"][1]["providerMetadata"]
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 0}]


async def test_a_non_retryable_failure_ends_the_job_with_its_code_and_partial_transcript(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.failures.append(BatchFailure(400, turn=2, times=1))
    fake.failures.append(BatchFailure(404, turn=2, times=1))
    jobs = {"o": job("openai:gpt-4o-mini", "o"), "a": job("anthropic:claude-sonnet-4-5", "a")}
    runner = await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    codes = {job_id: r["error"]["code"] for job_id, r in results.items()}
    assert sorted(codes.values()) == ["BAD_REQUEST", "NOT_FOUND"]
    for result in results.values():
        assert result["error"]["retryable"] is False
        assert [t["turnNumber"] for t in result["partialTranscript"]["turns"]] == [1]
        assert result["error"]["details"]["batchId"].startswith(("batch_", "msgbatch_"))
        assert result["error"]["details"]["completedTurns"] == 1
    assert runner.exit_code == EXIT_DONE


async def test_retryable_failures_stop_after_max_attempts_as_retryable_results(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.failures.append(BatchFailure(500, turn=1, times=10))
    runner = await run(options(tmp_path, {"a": job("anthropic:claude-sonnet-4-5", "a")}, max_attempts=2))
    result = read_results(tmp_path / "results.jsonl")["a"]
    assert result["error"]["code"] == "SERVER_ERROR" and result["error"]["retryable"] is True
    assert fake.submissions == 2
    assert runner.exit_code == EXIT_RETRYABLE_LEFT


async def test_expired_requests_are_reported_truthfully_and_retried(tmp_path: Path, fake: FakeBatches) -> None:
    fake.expire_next = True
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}", scenario={"prompt": f"Q{i}?"}) for i in range(4)}
    jobs |= {f"a{i}": job("anthropic:claude-sonnet-4-5", f"a{i}", scenario={"prompt": f"A{i}?"}) for i in range(2)}
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values())
    retried = [r["transcript"]["turns"][0]["providerMetadata"] for r in results.values()]
    expired = [m for m in retried if m["attempts"] == 2]
    assert len(expired) == 2  # the second half of the expired batch
    assert {m["retries"][0]["code"] for m in expired} == {"TIMEOUT"}


async def test_an_expired_request_out_of_attempts_says_it_expired(tmp_path: Path, fake: FakeBatches) -> None:
    fake.expire_next = True
    jobs = {f"a{i}": job("anthropic:claude-sonnet-4-5", f"a{i}", scenario={"prompt": f"A{i}?"}) for i in range(2)}
    await run(options(tmp_path, jobs, max_attempts=1))
    results = read_results(tmp_path / "results.jsonl")
    failed = [r for r in results.values() if not r["success"]]
    assert len(failed) == 1
    assert failed[0]["error"]["code"] == "TIMEOUT" and failed[0]["error"]["retryable"] is True
    assert "expired" in failed[0]["error"]["message"]


async def test_batches_are_split_at_the_documented_size_limits(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_batches.OpenAIBatches, "max_requests", 2)
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}", scenario={"prompt": f"Q{i}?"}) for i in range(5)}
    await run(options(tmp_path, jobs))
    assert [len(b.requests) for b in fake.batches.values()] == [2, 2, 1]
    assert all(r["success"] for r in read_results(tmp_path / "results.jsonl").values())


async def test_an_oversized_request_is_a_clear_error_for_its_job_and_the_rest_goes_on(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_batches.OpenAIBatches, "max_bytes", 2000)
    jobs = {
        "big": job("openai:gpt-4o-mini", "big", scenario={"prompt": "x" * 5000}),
        "small": job("openai:gpt-4o-mini", "small", scenario={"prompt": "Hello?"}),
    }
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert results["small"]["success"] is True
    assert results["big"]["error"]["code"] == "BAD_REQUEST" and results["big"]["error"]["retryable"] is False
    assert "more than the 2,000 bytes" in results["big"]["error"]["message"]


async def test_polling_backs_off_on_the_injected_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeBatches(polls_to_end=6).running() as slow:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
        monkeypatch.setenv("OPENAI_BASE_URL", slow.url + "/v1")
        clock = FakeClock()
        await run(options(tmp_path, {"o": job("openai:gpt-4o-mini", "o", config={"maxTurns": 1})}), clock)
    assert clock.sleeps == pytest.approx([5.0, 7.5, 11.25, 16.875, 25.3125])
    assert slow.calls["retrieve"] == 6


async def test_a_restart_re_attaches_to_submitted_batches_without_submitting_again(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}") for i in range(2)}
    jobs["a"] = job("anthropic:claude-sonnet-4-5", "a")
    opts = options(tmp_path, jobs)
    first = ProviderBatchRunner(opts, clock=FakeClock())
    original = first._poll

    async def stop_at_first_poll(active: Any) -> bool:
        first.stop()  # as a kill would: batches submitted, nothing collected
        return await original([])

    first._poll = stop_at_first_poll  # type: ignore[method-assign]
    await first.run()
    saved = load_state(state_path(opts.output))
    assert saved is not None and {b.phase for b in saved.batches} == {"submitted"}
    assert fake.submissions == 2
    assert not (tmp_path / "results.jsonl").exists() or not (tmp_path / "results.jsonl").read_text()

    second = await run(opts)
    assert second.exit_code == EXIT_DONE
    results = read_results(opts.output)
    assert all(r["success"] for r in results.values()) and len(results) == 3
    assert fake.submissions == 6  # the two first-wave batches were collected, not sent again
    assert second.totals["openai"].reattached == 1


async def test_an_intent_whose_batch_was_created_is_found_by_its_tag(tmp_path: Path, fake: FakeBatches) -> None:
    """The window between the provider's answer and our state write: the batch is found, not sent again."""
    opts = options(tmp_path, {"o": job("openai:gpt-4o-mini", "o"), "a": job("anthropic:claude-sonnet-4-5", "a")})
    first = ProviderBatchRunner(opts, clock=FakeClock())
    real_submit = first._submit
    created: list[str] = []

    async def submit_then_die(entry: Any) -> None:
        transport = first.transports[entry.provider]

        async def uploaded(file_id: str) -> None:
            return None

        await transport.submit(entry.tag, entry.model, first._payload(entry), uploaded)
        created.append(entry.tag)
        if len(created) == 2:
            first.stop()  # both answers are lost before the state records them

    first._submit = submit_then_die  # type: ignore[method-assign]
    await first.run()
    assert fake.submissions == 2
    saved = load_state(state_path(opts.output))
    assert saved is not None and {b.phase for b in saved.batches} == {"intent"}

    second = ProviderBatchRunner(opts, clock=FakeClock())
    second._submit = real_submit.__func__.__get__(second)  # type: ignore[attr-defined,method-assign]
    second.exit_code = await second.run()
    assert all(r["success"] for r in read_results(opts.output).values())
    assert fake.submissions == 6  # 2 found again + 2 more waves x 2
    assert second.totals["openai"].reattached == 1 and second.totals["anthropic"].reattached == 1


async def test_cancel_cancels_in_flight_batches_and_writes_retryable_cancelled_results(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}", scenario={"prompt": f"Q{i}?"}) for i in range(2)}
    jobs |= {f"a{i}": job("anthropic:claude-sonnet-4-5", f"a{i}", scenario={"prompt": f"A{i}?"}) for i in range(2)}
    opts = options(tmp_path, jobs)
    first = ProviderBatchRunner(opts, clock=FakeClock())
    original = first._poll

    async def stop_at_first_poll(active: Any) -> bool:
        first.stop()
        return await original([])

    first._poll = stop_at_first_poll  # type: ignore[method-assign]
    await first.run()
    cancel = await run(options(tmp_path, jobs, cancel=True))
    assert fake.calls["cancel"] == 2
    results = read_results(opts.output)
    assert len(results) == 4
    assert all(r["error"]["code"] == "CANCELLED" and r["error"]["retryable"] for r in results.values())
    assert not state_path(opts.output).exists()
    assert cancel.exit_code == EXIT_RETRYABLE_LEFT
    # The same command without --cancel resumes them (from their partial transcripts).
    await run(opts)
    assert all(r["success"] for r in read_results(opts.output).values())


async def test_a_missing_key_fails_that_providers_jobs_and_the_rest_goes_on(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    await run(options(tmp_path, {"a": job("anthropic:claude-sonnet-4-5", "a"), "o": job("openai:gpt-4o-mini", "o")}))
    results = read_results(tmp_path / "results.jsonl")
    assert results["a"]["error"]["code"] == "MISSING_API_KEY"
    assert results["o"]["success"] is True


def test_the_command_line_names_the_mode() -> None:
    parsed = parse_options(["jobs.jsonl", "-o", "out.jsonl", "--via", "provider-batch=openai", "--poll-interval", "2"])
    assert parsed.via == "provider-batch" and parsed.batch_providers == frozenset({"openai"})
    assert parsed.poll_interval_s == 2.0
    with pytest.raises(ConfigError, match="--via"):
        parse_options(["jobs.jsonl", "-o", "out.jsonl", "--via", "carrier-pigeon"])
    with pytest.raises(ConfigError, match="--cancel needs --via provider-batch"):
        parse_options(["jobs.jsonl", "-o", "out.jsonl", "--cancel"])
    with pytest.raises(ConfigError, match="unknown provider"):
        parse_options(["jobs.jsonl", "-o", "out.jsonl", "--via", "provider-batch=nobody"])


async def test_a_retried_request_records_how_long_it_waited_for_its_next_wave(
    tmp_path: Path, fake: FakeBatches
) -> None:
    """waitedMs: from the failed wave's end to the next wave's submission, on the runner's clock."""
    fake.failures.append(BatchFailure(429, turn=2, times=1))
    clock = FakeClock()
    runner = ProviderBatchRunner(options(tmp_path, {"o": job("openai:gpt-4o-mini", "o")}), clock=clock)
    real_submit = runner._submit
    submitted: list[int] = []

    async def slow_submit(entry: Any) -> None:
        submitted.append(entry.wave)
        if entry.wave == 3:  # the retried turn 2's wave: 2.5 s go by before the provider has it
            clock.now += 2.5
        await real_submit(entry)

    runner._submit = slow_submit  # type: ignore[method-assign]
    runner.exit_code = await runner.run()
    assert submitted == [1, 2, 3, 4]
    turns = read_results(tmp_path / "results.jsonl")["o"]["transcript"]["turns"]
    assert turns[1]["providerMetadata"]["retries"] == [
        {"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 2500}
    ]
    assert turns[1]["providerMetadata"]["attempts"] == 2
    assert "retries" not in turns[2]["providerMetadata"] or not turns[2]["providerMetadata"]["retries"]


def test_summary_json_has_the_provider_batch_figures(tmp_path: Path, fake: FakeBatches) -> None:
    import subprocess
    import sys

    from testkit.workers import BATCH_PY, worker_env

    jobs = {f"o{i}": job("openai:gpt-4o-mini", f"o{i}", modelCost=COST) for i in range(2)}
    jobs["a"] = job("anthropic:claude-sonnet-4-5", "a", modelCost=COST)
    fake.failures.append(BatchFailure(400, turn=3, times=1, contains="Follow-up question 2"))
    opts = options(tmp_path, jobs)
    env = worker_env(
        OPENAI_API_KEY="sk-test-not-a-real-key-0000",
        OPENAI_BASE_URL=fake.url + "/v1",
        ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key-00",
        ANTHROPIC_BASE_URL=fake.url,
    )
    summary_file = tmp_path / "summary.json"
    command = [sys.executable, str(BATCH_PY), str(opts.jobs), "-o", str(opts.output), "--via", "provider-batch"]
    command += ["--poll-interval", "0", "--no-progress", "--summary-json", str(summary_file)]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["succeeded"] == 2 and summary["failed"] == 1  # the online mode's figures are all there
    openai_figures, anthropic_figures = summary["providers"]["openai"], summary["providers"]["anthropic"]
    assert openai_figures["batchesSubmitted"] == 3 and anthropic_figures["batchesSubmitted"] == 3
    assert openai_figures["batchesReattached"] == 0 and openai_figures["batchesCancelled"] == 0
    assert openai_figures["requests"] + anthropic_figures["requests"] == 9
    assert openai_figures["requestsAnswered"] + anthropic_figures["requestsAnswered"] == 8
    assert openai_figures["requestsFailed"] + anthropic_figures["requestsFailed"] == 1
    assert openai_figures["batchPriceFactor"] == 0.5
    assert openai_figures["estimatedCost"] == pytest.approx(openai_figures["onlineEstimatedCost"] / 2)
    results = read_results(opts.output)
    paid = sum(r["transcript"]["costSnapshot"]["estimatedCost"] for r in results.values() if r["success"])
    paid += sum(r["partialTranscript"]["costSnapshot"]["estimatedCost"] for r in results.values() if not r["success"])
    assert openai_figures["estimatedCost"] + anthropic_figures["estimatedCost"] == pytest.approx(paid, abs=1e-6)
    # The calls the text summary lists: per batch one create (OpenAI: one upload), polls, one download.
    assert summary["batchCalls"]["create"] == 6 and summary["batchCalls"]["upload"] == 3
    assert summary["batchCalls"]["download"] == 6 and summary["batchCalls"]["poll"] >= 12
    assert f"create {summary['batchCalls']['create']}" in done.stderr.decode()


async def test_a_state_file_of_an_earlier_version_stops_the_run_and_is_kept(tmp_path: Path, fake: FakeBatches) -> None:
    from common.runs.provider_batch.state import OldStateError, old_state_path

    opts = options(tmp_path, {"o": job("openai:gpt-4o-mini", "o")})
    old = old_state_path(opts.output)
    old.write_text('{"version": 1, "jobs": {}, "batches": [{"tag": "pbold", "batchId": "batch_1"}]}')
    with pytest.raises(OldStateError, match=r"results\.jsonl\.batches\.json is the state of a provider-batch run"):
        await ProviderBatchRunner(opts, clock=FakeClock()).run()
    assert "batch_1" in old.read_text()  # untouched
    assert fake.submissions == 0 and not state_path(opts.output).exists()
    assert not opts.output.exists()


def test_the_command_refuses_an_earlier_versions_state_file_with_exit_2(tmp_path: Path, fake: FakeBatches) -> None:
    """Said in one line, exit 2 (nothing was started), as for a bad jobs file."""
    import subprocess
    import sys

    from common.runs.provider_batch.state import old_state_path
    from testkit.workers import BATCH_PY, worker_env

    opts = options(tmp_path, {"o": job("openai:gpt-4o-mini", "o")})
    old = old_state_path(opts.output)
    old.write_text('{"version": 1, "jobs": {}, "batches": [{"tag": "pbold", "batchId": "batch_1"}]}')
    env = worker_env(OPENAI_API_KEY="sk-test-not-a-real-key-0000", OPENAI_BASE_URL=fake.url + "/v1")
    command = [sys.executable, str(BATCH_PY), str(opts.jobs), "-o", str(opts.output), "--via", "provider-batch"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 2
    assert f"batch.py: {old} is the state of a provider-batch run" in done.stderr.decode()
    assert "batch_1" in old.read_text() and fake.submissions == 0 and not state_path(opts.output).exists()


async def test_waves_larger_than_a_chunk_and_inline_batches_cut_at_their_cap_give_the_same_results(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs are read, built and applied a few at a time: the results do not depend on the chunk size."""
    from common.runs.provider_batch import runner as runner_module
    from common.runs.provider_batch import state as state_module

    followups = [{"prompt": "Why?"}, {"prompt": "Sure?"}]
    jobs = {
        f"o{i}": job("openai:gpt-4o-mini", f"o{i}", scenario={"prompt": f"Q{i}?", "followups": followups})
        for i in range(7)
    }
    jobs |= {
        f"a{i}": job("anthropic:claude-sonnet-4-5", f"a{i}", scenario={"prompt": f"A{i}?", "followups": followups})
        for i in range(5)
    }
    monkeypatch.setattr(state_module, "CHUNK", 3)
    monkeypatch.setattr(runner_module, "CHUNK", 3)
    monkeypatch.setattr(runner_module, "INLINE_BATCH_BYTES", 1200)  # about two Anthropic requests a batch
    loaded: list[int] = []
    real_load = state_module.StateStore.load_jobs

    def counting_load(self: Any, keys: Any) -> Any:
        loaded.append(len(keys))
        return real_load(self, keys)

    monkeypatch.setattr(state_module.StateStore, "load_jobs", counting_load)
    runner = await run(options(tmp_path, jobs))
    assert runner.exit_code == EXIT_DONE
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == set(jobs) and all(r["success"] for r in results.values())
    for job_id, result in results.items():
        turns = result["transcript"]["turns"]
        assert [t["turnNumber"] for t in turns] == [1, 2, 3]
        assert turns[0]["targetResponse"].startswith(
            f"Batch answer to: {'Q' if job_id[0] == 'o' else 'A'}{job_id[1:]}?"
        )
    assert max(loaded) <= 3  # never more than a chunk of conversations at once
    by_api = {api: [b for b in fake.batches.values() if b.api == api] for api in ("openai", "anthropic")}
    assert [len(b.requests) for b in by_api["openai"]] == [7, 7, 7]  # a file upload: one batch per wave
    anthropic_sizes = [len(b.requests) for b in by_api["anthropic"]]
    assert sum(anthropic_sizes) == 15 and len(anthropic_sizes) > 3  # inline: cut into more batches per wave
    assert not state_path(tmp_path / "results.jsonl").exists()
