"""`batch.py --via provider-batch` through Gemini batch mode and Mistral batch jobs (the loopback fake,
driven by the real google-genai and mistralai SDKs): waves, outcomes, discount, re-attach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.runs.batch.runner import EXIT_DONE
from common.runs.provider_batch import gemini_batches, mistral_batches
from common.runs.provider_batch.runner import ProviderBatchRunner
from common.runs.provider_batch.state import load_state, state_path
from testkit.fake_batches import BatchFailure, FakeBatches
from tests.helpers import FakeClock, assert_batch_adds_only_its_fields, point_at_fake_batches
from tests.test_provider_batch import COST, job, options, read_results, run

GEMINI = "google:gemini-2.5-flash"
MISTRAL = "mistral:mistral-small-latest"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatches]:
    with FakeBatches(polls_to_end=2).running() as server:
        point_at_fake_batches(monkeypatch, server, "google", "mistral")
        yield server


def batches_of(fake: FakeBatches, api: str) -> list[Any]:
    return [b for b in fake.batches.values() if b.api == api]


async def test_a_three_turn_run_goes_out_in_three_waves_per_provider(tmp_path: Path, fake: FakeBatches) -> None:
    jobs = {f"g{i}": job(GEMINI, f"g{i}", modelCost=COST) for i in range(3)}
    jobs |= {f"m{i}": job(MISTRAL, f"m{i}", modelCost=COST) for i in range(2)}
    runner = await run(options(tmp_path, jobs))

    assert runner.exit_code == EXIT_DONE
    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == set(jobs)
    assert fake.submissions == 6
    gemini, mistral = batches_of(fake, "gemini"), batches_of(fake, "mistral")
    assert [len(b.requests) for b in gemini] == [3, 3, 3]
    assert [len(b.requests) for b in mistral] == [2, 2, 2]
    # The documented request shapes, turn 3 built from the answers of turns 1 and 2.
    assert gemini[0].model == "models/gemini-2.5-flash" and gemini[0].display_name.startswith("probe-batch-pb")
    request = gemini[2].requests[0]
    assert request["metadata"]["key"].startswith("pb")
    roles = [c["role"] for c in request["request"]["contents"]]
    assert roles == ["user", "model", "user", "model", "user"]
    assert request["request"]["contents"][1]["parts"][0]["text"].startswith("Batch answer to: A friend asks")
    assert request["request"]["generationConfig"]["temperature"] == 0.7
    assert request["request"]["generationConfig"]["maxOutputTokens"] == 512
    line = mistral[1].requests[0]
    assert set(line) == {"custom_id", "body"}
    assert [m["role"] for m in line["body"]["messages"]] == ["user", "assistant", "user"]
    assert line["body"]["max_tokens"] == 512 and line["body"]["temperature"] == 0.7
    assert mistral[0].metadata == {"probe_batch_tag": mistral[0].requests[0]["custom_id"].rsplit("-", 1)[0]}
    assert mistral[0].model == "mistral-small-latest"

    for job_id, result in results.items():
        assert result["success"] is True, result
        transcript = result["transcript"]
        assert [t["turnNumber"] for t in transcript["turns"]] == [1, 2, 3]
        own = gemini if job_id.startswith("g") else mistral
        for number, turn in enumerate(transcript["turns"]):
            meta = turn["providerMetadata"]
            assert meta["via"] == "batch" and meta["batchId"] == own[number].id
            assert meta["batchCustomId"].startswith("pb") and meta["batchRequestId"]
            assert meta["modelVersion"] and meta["responseId"] and meta["finishReason"] == "stop"
        cost = transcript["costSnapshot"]
        assert cost["batchPriceFactor"] == 0.5
        assert cost["estimatedCost"] == pytest.approx(cost["onlineEstimatedCost"] / 2)
        assert cost["onlineEstimatedCost"] == pytest.approx(
            (cost["inputTokens"] * 2.0 + cost["outputTokens"] * 8.0) / 1e6
        )
    gemini_meta = results["g0"]["transcript"]["turns"][0]["providerMetadata"]
    assert gemini_meta["batchRequestId"].startswith("gem") and gemini_meta["modelVersion"] == "gemini-2.5-flash"
    assert results["m0"]["transcript"]["turns"][0]["providerMetadata"]["batchRequestId"].startswith("batchreq-")
    assert not state_path(tmp_path / "results.jsonl").exists()
    assert runner.totals["google"].batches == 3 and runner.totals["mistral"].succeeded == 6


async def test_request_errors_are_classified_like_online_and_retryable_ones_go_in_the_next_wave(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.failures.append(BatchFailure(429, turn=2, times=1, contains="g-retry"))
    fake.failures.append(BatchFailure(404, turn=2, times=1, contains="g-fail"))
    fake.failures.append(BatchFailure(429, turn=2, times=1, contains="m-retry"))
    fake.failures.append(BatchFailure(400, turn=2, times=1, contains="m-fail"))
    jobs = {
        name: job(model, name, scenario={"prompt": f"{name}?", "followups": [{"prompt": f"{name} again?"}]})
        for name, model in (("g-retry", GEMINI), ("g-fail", GEMINI), ("m-retry", MISTRAL), ("m-fail", MISTRAL))
    }
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    for name in ("g-retry", "m-retry"):
        meta = results[name]["transcript"]["turns"][1]["providerMetadata"]
        assert meta["attempts"] == 2
        assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 0}]
    assert results["g-fail"]["error"]["code"] == "NOT_FOUND"
    assert results["m-fail"]["error"]["code"] == "BAD_REQUEST"
    for name in ("g-fail", "m-fail"):
        error = results[name]["error"]
        assert error["retryable"] is False and error["details"]["completedTurns"] == 1
        assert [t["turnNumber"] for t in results[name]["partialTranscript"]["turns"]] == [1]
    assert results["g-fail"]["error"]["details"]["batchId"].startswith("batches/")
    assert results["m-fail"]["error"]["details"]["batchId"].startswith("mbatch-")


@pytest.mark.parametrize("model", [GEMINI, MISTRAL])
async def test_expired_requests_are_reported_truthfully_and_retried(
    tmp_path: Path, fake: FakeBatches, model: str
) -> None:
    fake.expire_next = True
    jobs = {f"x{i}": job(model, f"x{i}", scenario={"prompt": f"Q{i}?"}, config={"maxTurns": 1}) for i in range(4)}
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    assert all(r["success"] for r in results.values())
    metas = [r["transcript"]["turns"][0]["providerMetadata"] for r in results.values()]
    expired = [m for m in metas if m["attempts"] == 2]
    assert len(expired) == 2  # the second half of the expired batch
    assert {m["retries"][0]["code"] for m in expired} == {"TIMEOUT"}
    assert [len(b.requests) for b in fake.batches.values()] == [4, 2]


async def test_an_expired_request_out_of_attempts_says_it_expired(tmp_path: Path, fake: FakeBatches) -> None:
    fake.expire_next = True
    jobs = {f"g{i}": job(GEMINI, f"g{i}", scenario={"prompt": f"G{i}?"}) for i in range(2)}
    await run(options(tmp_path, jobs, max_attempts=1))
    failed = [r for r in read_results(tmp_path / "results.jsonl").values() if not r["success"]]
    assert len(failed) == 1
    assert failed[0]["error"]["code"] == "TIMEOUT" and "expired" in failed[0]["error"]["message"]


@pytest.mark.parametrize(
    ("module", "cls", "model"),
    [(gemini_batches, "GeminiBatches", GEMINI), (mistral_batches, "MistralBatches", MISTRAL)],
)
async def test_batches_are_split_at_the_documented_limits(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch, module: Any, cls: str, model: str
) -> None:
    monkeypatch.setattr(getattr(module, cls), "max_requests", 2)
    jobs = {f"x{i}": job(model, f"x{i}", scenario={"prompt": f"Q{i}?"}, config={"maxTurns": 1}) for i in range(5)}
    await run(options(tmp_path, jobs))
    assert [len(b.requests) for b in fake.batches.values()] == [2, 2, 1]
    assert all(r["success"] for r in read_results(tmp_path / "results.jsonl").values())


def test_the_documented_limits() -> None:
    assert gemini_batches.GeminiBatches.inline_max_bytes < 20 * 1024 * 1024  # inline requests: under 20 MB in all
    assert gemini_batches.GeminiBatches.max_bytes <= 2 * 1024**3  # the file form: the Files API's 2 GB a file
    assert mistral_batches.MistralBatches.max_requests == 100_000
    assert mistral_batches.MistralBatches.max_bytes == 512 * 1024 * 1024


async def test_a_restart_re_attaches_to_submitted_batches_without_submitting_again(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {"g": job(GEMINI, "g"), "m": job(MISTRAL, "m")}
    opts = options(tmp_path, jobs)
    first = ProviderBatchRunner(opts, clock=FakeClock())
    original = first._poll

    async def stop_at_first_poll(active: Any) -> bool:
        first.stop()
        return await original([])

    first._poll = stop_at_first_poll  # type: ignore[method-assign]
    await first.run()
    saved = load_state(state_path(opts.output))
    assert saved is not None and {b.phase for b in saved.batches} == {"submitted"}
    assert fake.submissions == 2

    second = await run(opts)
    assert second.exit_code == EXIT_DONE
    assert all(r["success"] for r in read_results(opts.output).values())
    assert fake.submissions == 6
    assert second.totals["google"].reattached == 1 and second.totals["mistral"].reattached == 1


async def test_an_intent_whose_batch_was_created_is_found_by_its_tag(tmp_path: Path, fake: FakeBatches) -> None:
    """Gemini by the batch's display name, Mistral by the job's metadata: found, not sent again."""
    opts = options(tmp_path, {"g": job(GEMINI, "g"), "m": job(MISTRAL, "m")})
    first = ProviderBatchRunner(opts, clock=FakeClock())
    real_submit = first._submit
    created: list[str] = []

    async def submit_then_die(entry: Any) -> None:
        async def uploaded(file_id: str) -> None:
            return None

        await first.transports[entry.provider].submit(entry.tag, entry.model, first._payload(entry), uploaded)
        created.append(entry.tag)
        if len(created) == 2:
            first.stop()

    first._submit = submit_then_die  # type: ignore[method-assign]
    await first.run()
    assert fake.submissions == 2
    saved = load_state(state_path(opts.output))
    assert saved is not None and {b.phase for b in saved.batches} == {"intent"}

    second = ProviderBatchRunner(opts, clock=FakeClock())
    second._submit = real_submit.__func__.__get__(second)  # type: ignore[attr-defined,method-assign]
    second.exit_code = await second.run()
    assert all(r["success"] for r in read_results(opts.output).values())
    assert fake.submissions == 6
    assert second.totals["google"].reattached == 1 and second.totals["mistral"].reattached == 1


async def test_cancel_cancels_in_flight_batches_and_writes_retryable_cancelled_results(
    tmp_path: Path, fake: FakeBatches
) -> None:
    jobs = {f"g{i}": job(GEMINI, f"g{i}", scenario={"prompt": f"G{i}?"}) for i in range(2)}
    jobs |= {f"m{i}": job(MISTRAL, f"m{i}", scenario={"prompt": f"M{i}?"}) for i in range(2)}
    opts = options(tmp_path, jobs)
    first = ProviderBatchRunner(opts, clock=FakeClock())
    original = first._poll

    async def stop_at_first_poll(active: Any) -> bool:
        first.stop()
        return await original([])

    first._poll = stop_at_first_poll  # type: ignore[method-assign]
    await first.run()
    await run(options(tmp_path, jobs, cancel=True))
    assert fake.calls["cancel"] == 2
    results = read_results(opts.output)
    assert len(results) == 4
    assert all(r["error"]["code"] == "CANCELLED" and r["error"]["retryable"] for r in results.values())
    assert not state_path(opts.output).exists()
    await run(opts)
    assert all(r["success"] for r in read_results(opts.output).values())


async def test_naming_them_explicitly_runs_them_through_their_batch_apis(tmp_path: Path, fake: FakeBatches) -> None:
    jobs = {"g": job(GEMINI, "g", config={"maxTurns": 1}), "m": job(MISTRAL, "m", config={"maxTurns": 1})}
    await run(options(tmp_path, jobs, batch_providers=frozenset({"google", "mistral"})))
    results = read_results(tmp_path / "results.jsonl")
    assert all(r["transcript"]["turns"][0]["providerMetadata"]["via"] == "batch" for r in results.values())
    assert fake.submissions == 2


@pytest.mark.parametrize(
    ("model", "base_var", "suffix"), [(GEMINI, "GEMINI_BASE_URL", ""), (MISTRAL, "MISTRAL_BASE_URL", "/v1")]
)
async def test_the_transcript_has_the_online_shape(
    tmp_path: Path, fake: FakeBatches, model: str, base_var: str, suffix: str
) -> None:
    """Every key an online transcript has is in the batch one: only additions (via, batch ids)."""
    from common.runs.probe_worker import PROBE
    from common.runs.run_path import run_once
    from testkit.fake_provider import FakeProvider
    from tests.helpers import wire

    await run(options(tmp_path, {"x": job(model, "x", modelCost=COST)}))
    batched = read_results(tmp_path / "results.jsonl")["x"]
    with FakeProvider(models=(model.split(":", 1)[1],)).running() as online_fake, pytest.MonkeyPatch.context() as patch:
        patch.setenv(base_var, online_fake.url + suffix)
        online = wire(await run_once(PROBE, job(model, "x", modelCost=COST)))
    assert online["success"] is True, online

    assert_batch_adds_only_its_fields(online, batched)


# -- Gemini's file form: a batch over the inline limit goes as an uploaded JSONL --------------------


@pytest.fixture
def files_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Gemini batch over 0 bytes, i.e. every one, goes as a file."""
    monkeypatch.setattr(gemini_batches.GeminiBatches, "inline_max_bytes", 0)


@pytest.mark.usefixtures("files_only")
async def test_a_batch_over_the_inline_limit_goes_as_an_uploaded_file(tmp_path: Path, fake: FakeBatches) -> None:
    jobs = {f"g{i}": job(GEMINI, f"g{i}", modelCost=COST) for i in range(3)}
    runner = await run(options(tmp_path, jobs))

    assert runner.exit_code == EXIT_DONE
    gemini = batches_of(fake, "gemini")
    assert [len(b.requests) for b in gemini] == [3, 3, 3] and fake.submissions == 3
    # Each batch's input was uploaded with the Files API (a resumable upload: start, then the bytes)
    # and its results file downloaded once; the gets of the batch carry no results.
    assert fake.calls["upload"] == 6 and fake.calls["download"] == 3
    for batch in gemini:
        assert batch.input_file_id.startswith("files/")
        assert fake.files[batch.input_file_id][0] == batch.display_name  # the file carries our tag too
    line = gemini[2].requests[0]
    assert set(line) == {"key", "request"} and line["key"].startswith("pb")
    assert [c["role"] for c in line["request"]["contents"]] == ["user", "model", "user", "model", "user"]
    assert line["request"]["contents"][1]["parts"][0]["text"].startswith("Batch answer to: A friend asks")
    assert line["request"]["generationConfig"] == {"temperature": 0.7, "maxOutputTokens": 512}

    results = read_results(tmp_path / "results.jsonl")
    assert set(results) == set(jobs)
    for result in results.values():
        assert result["success"] is True, result
        turns = result["transcript"]["turns"]
        assert [t["turnNumber"] for t in turns] == [1, 2, 3]
        for number, turn in enumerate(turns):
            meta = turn["providerMetadata"]
            assert meta["via"] == "batch" and meta["batchId"] == gemini[number].id
            assert meta["batchRequestId"].startswith("gem") and meta["modelVersion"] == "gemini-2.5-flash"
            assert meta["finishReason"] == "stop" and turn["inputTokens"] > 0 and turn["outputTokens"] > 0
        assert result["transcript"]["costSnapshot"]["batchPriceFactor"] == 0.5
    assert not state_path(tmp_path / "results.jsonl").exists()


async def test_only_the_batch_over_the_inline_limit_goes_as_a_file(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gemini_batches.GeminiBatches, "inline_max_bytes", 1500)
    long = "Please think about this carefully. " * 12  # ~420 bytes a request: three of them pass 1,500
    jobs = {
        f"big{i}": job(GEMINI, f"big{i}", scenario={"prompt": f"{long}{i}?"}, config={"maxTurns": 1}) for i in range(4)
    }
    jobs["small"] = job("google:gemini-2.5-pro", "small", scenario={"prompt": "Short?"}, config={"maxTurns": 1})
    await run(options(tmp_path, jobs))

    forms = {b.model: ("file" if b.input_file_id else "inline") for b in batches_of(fake, "gemini")}
    assert forms == {"models/gemini-2.5-flash": "file", "models/gemini-2.5-pro": "inline"}
    assert all(r["success"] for r in read_results(tmp_path / "results.jsonl").values())


@pytest.mark.usefixtures("files_only")
async def test_file_form_request_errors_are_classified_like_inline_ones(tmp_path: Path, fake: FakeBatches) -> None:
    fake.failures.append(BatchFailure(429, turn=2, times=1, contains="g-retry"))
    fake.failures.append(BatchFailure(404, turn=2, times=1, contains="g-fail"))
    jobs = {
        name: job(GEMINI, name, scenario={"prompt": f"{name}?", "followups": [{"prompt": f"{name} again?"}]})
        for name in ("g-retry", "g-fail")
    }
    await run(options(tmp_path, jobs))
    results = read_results(tmp_path / "results.jsonl")
    meta = results["g-retry"]["transcript"]["turns"][1]["providerMetadata"]
    assert meta["attempts"] == 2
    assert meta["retries"] == [{"attempt": 1, "code": "RATE_LIMIT", "statusCode": 429, "waitedMs": 0}]
    error = results["g-fail"]["error"]
    assert error["code"] == "NOT_FOUND" and error["retryable"] is False and error["details"]["completedTurns"] == 1
    assert [t["turnNumber"] for t in results["g-fail"]["partialTranscript"]["turns"]] == [1]


@pytest.mark.usefixtures("files_only")
async def test_a_file_form_batch_is_found_by_its_tag_after_a_crash(tmp_path: Path, fake: FakeBatches) -> None:
    """Uploaded and created, but killed before the batch id was saved: found by its display name, not sent again."""
    opts = options(tmp_path, {"g": job(GEMINI, "g", config={"maxTurns": 1})})
    first = ProviderBatchRunner(opts, clock=FakeClock())

    async def submit_then_die(entry: Any) -> None:
        async def uploaded(file_id: str) -> None:
            return None

        await first.transports[entry.provider].submit(entry.tag, entry.model, first._payload(entry), uploaded)
        first.stop()

    first._submit = submit_then_die  # type: ignore[method-assign]
    await first.run()
    assert fake.submissions == 1

    second = await run(opts)
    assert second.totals["google"].reattached == 1 and fake.submissions == 1
    assert read_results(opts.output)["g"]["success"] is True
