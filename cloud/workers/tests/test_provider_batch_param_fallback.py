"""A parameter the model refuses, in a provider-batch run: the request goes into the model's next wave
with the parameter adjusted (param_fallback, as online), the notes and adjusted parameters are in the
job's durable state (a kill -9 and the same command again send the adjusted request), and the
transcript is the online one but for the batch fields.

The refusals are the providers' real bodies (tests/fixtures/openai/errors.json,
anthropic/errors.json, errors/reasoning_rejections.json), served by the loopback fake batch APIs
(`ParamRejection`) through the real SDKs; the online runs get the same bodies through respx.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from common.runs.batch.runner import EXIT_DONE
from common.runs.provider_batch.state import state_path
from testkit.fake_batches import (
    FakeBatches,
    ParamRejection,
    anthropic_message_answer,
    chat_completion_answer,
)
from tests.helpers import FIXTURES, load_fixture, point_at_fake_batches, wire
from tests.test_provider_batch import job, options, read_results, run
from tests.test_provider_batch_kill import WAIT_S, _command, _env

OPENAI_ERRORS: dict[str, Any] = load_fixture("openai", "errors")
ANTHROPIC_ERRORS: dict[str, Any] = load_fixture("anthropic", "errors")
REASONING: dict[str, Any] = json.loads((FIXTURES / "errors" / "reasoning_rejections.json").read_text())
TEMPERATURE = ParamRejection("temperature", OPENAI_ERRORS["temperature_unsupported"])
MAX_TOKENS = ParamRejection("max_tokens", ANTHROPIC_ERRORS["max_tokens_too_large"], above=4096)
COMPLETION_TOKENS = ParamRejection("max_completion_tokens", OPENAI_ERRORS["max_tokens_too_large"], above=4096)
THINKING = ParamRejection("thinking", REASONING["anthropic_thinking_enabled"]["body"])
# What a batch adds to a transcript, and what differs between any two runs.
BATCH_FIELDS = {"via", "batchId", "batchRequestId", "batchCustomId"}
VOLATILE = {"startedAt", "completedAt", "timing"}

CASES: dict[str, tuple[ParamRejection, dict[str, Any]]] = {
    "openai-temperature": (TEMPERATURE, job("openai:o3-mini", "t")),
    "anthropic-max-tokens": (
        MAX_TOKENS,
        job("anthropic:claude-3-haiku-20240307", "m", config={"temperature": 0.7, "maxTokens": 8192}),
    ),
    "openai-two-in-one-turn": (  # refused for temperature, then for its token limit: three waves for turn 1
        TEMPERATURE,
        job("openai:o3-mini", "two", config={"temperature": 0.7, "maxTokens": 8192}),
    ),
    "anthropic-thinking": (
        THINKING,
        job("anthropic:claude-opus-4-9", "r", config={"maxTokens": 512, "reasoning": {"budgetTokens": 2048}}),
    ),
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatches]:
    with FakeBatches(polls_to_end=2).running() as server:
        point_at_fake_batches(monkeypatch, server, "openai", "anthropic")
        yield server


def sent(fake: FakeBatches) -> list[list[dict[str, Any]]]:
    """Every batch's request bodies as the provider received them, in the order the batches were created."""
    return [
        [line.get("body") or line.get("params") or {} for line in batch.requests]
        for batch in sorted(fake.batches.values(), key=lambda b: b.id)
    ]


def stable(value: Any, drop: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: stable(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [stable(v, drop) for v in value]
    return value


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two wire documents differ, for a readable failure."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [
            d for k in sorted(left.keys() | right.keys()) for d in differences(left.get(k), right.get(k), f"{path}.{k}")
        ]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]


def notes(turn: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["param"], n["action"]) for n in turn["providerMetadata"]["paramNotes"]]


def reasoning_warnings(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in transcript["warningDetails"] if w["code"] == "REASONING_UNSUPPORTED"]


async def test_an_openai_o_series_model_refusing_temperature_gets_it_dropped_in_the_next_wave(
    tmp_path: Path, fake: FakeBatches
) -> None:
    fake.rejections.append(TEMPERATURE)
    runner = await run(options(tmp_path, {"t": job("openai:o3-mini", "t")}))
    assert runner.exit_code == EXIT_DONE
    waves = sent(fake)
    assert len(waves) == 4  # turn 1 refused, turn 1 again, turns 2 and 3
    assert waves[0][0]["temperature"] == 0.7
    assert all("temperature" not in body for wave in waves[1:] for body in wave)
    assert waves[1][0]["messages"] == waves[0][0]["messages"]  # the same turn, adjusted
    result = read_results(tmp_path / "results.jsonl")["t"]
    assert result["success"] is True, result
    first, *later = result["transcript"]["turns"]
    assert ("temperature", "retried_without") in notes(first)
    assert first["providerMetadata"]["attempts"] == 2 and first["providerMetadata"]["retries"] == []
    assert "temperature" not in first["providerMetadata"]["paramsSent"]
    assert all(turn["providerMetadata"]["attempts"] == 1 and not notes(turn) for turn in later)
    assert not state_path(tmp_path / "results.jsonl").exists()


async def test_an_anthropic_token_limit_above_the_models_maximum_is_lowered_to_it(
    tmp_path: Path, fake: FakeBatches
) -> None:
    rejection, document = CASES["anthropic-max-tokens"]
    fake.rejections.append(rejection)
    await run(options(tmp_path, {"m": document}))
    assert [[body["max_tokens"] for body in wave] for wave in sent(fake)] == [[8192], [4096], [4096], [4096]]
    result = read_results(tmp_path / "results.jsonl")["m"]
    assert result["success"] is True, result
    first, second, third = result["transcript"]["turns"]
    assert notes(first) == [("maxTokens", "lowered")]
    assert "lowered to 4096" in first["providerMetadata"]["paramNotes"][0]["reason"]
    assert first["providerMetadata"]["paramsSent"]["max_tokens"] == 4096
    assert notes(second) == notes(third) == []


async def test_two_refusals_of_one_turn_are_both_kept_for_its_next_waves(tmp_path: Path, fake: FakeBatches) -> None:
    fake.rejections += [TEMPERATURE, COMPLETION_TOKENS]
    await run(options(tmp_path, {"two": CASES["openai-two-in-one-turn"][1]}))
    waves = [(body.get("temperature"), body["max_completion_tokens"]) for wave in sent(fake) for body in wave]
    assert waves == [(0.7, 8192), (None, 8192), (None, 4096), (None, 4096), (None, 4096)]
    first = read_results(tmp_path / "results.jsonl")["two"]["transcript"]["turns"][0]
    assert notes(first)[-2:] == [("temperature", "retried_without"), ("maxTokens", "lowered")]
    assert first["providerMetadata"]["attempts"] == 3


async def test_a_refused_reasoning_setting_is_left_off_with_a_warning(tmp_path: Path, fake: FakeBatches) -> None:
    rejection, document = CASES["anthropic-thinking"]
    fake.rejections.append(rejection)
    await run(options(tmp_path, {"r": document}))
    waves = sent(fake)
    assert waves[0][0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert waves[0][0]["max_tokens"] == 2048 + 512 and waves[1][0]["max_tokens"] == 512
    assert len(waves) == 4 and all("thinking" not in body for wave in waves[1:] for body in wave)
    transcript = read_results(tmp_path / "results.jsonl")["r"]["transcript"]
    assert notes(transcript["turns"][0]) == [("reasoning", "retried_without")]
    assert len(reasoning_warnings(transcript)) == 1


async def test_a_refusal_that_names_no_parameter_still_ends_the_job(tmp_path: Path, fake: FakeBatches) -> None:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: text is required"}}
    fake.rejections.append(ParamRejection("thinking", body))
    await run(options(tmp_path, {"r": CASES["anthropic-thinking"][1]}))
    assert len(sent(fake)) == 1
    error = read_results(tmp_path / "results.jsonl")["r"]["error"]
    assert error["code"] == "BAD_REQUEST" and error["retryable"] is False


async def test_the_adjustment_counts_toward_max_attempts(tmp_path: Path, fake: FakeBatches) -> None:
    """One wave allowed per turn: the refused request has no wave left, and the job ends with the refusal."""
    fake.rejections.append(TEMPERATURE)
    await run(options(tmp_path, {"t": job("openai:o3-mini", "t")}, max_attempts=1))
    assert len(sent(fake)) == 1
    error = read_results(tmp_path / "results.jsonl")["t"]["error"]
    assert error["code"] == "BAD_REQUEST" and "temperature" in error["message"]
    assert error["details"]["attempts"] == 1


def online_answer(fake: FakeBatches, answer: Any) -> Any:
    """An online provider that refuses what the fake batch API refuses, and answers what it answers."""

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rejected = fake.rejection(body)
        if rejected is not None:
            return httpx.Response(rejected.status, json=rejected.body)
        return httpx.Response(200, json=answer(body))

    return respond


@pytest.mark.parametrize("case", list(CASES))
async def test_the_batch_transcript_is_the_online_one_but_for_the_batch_fields(
    tmp_path: Path, fake: FakeBatches, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from common.runs.probe_worker import PROBE
    from common.runs.run_path import run_once

    rejection, document = CASES[case]
    fake.rejections += [rejection, COMPLETION_TOKENS]
    await run(options(tmp_path, {"x": document}))
    batched = read_results(tmp_path / "results.jsonl")["x"]
    assert batched["success"] is True, batched
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
    with respx.mock(assert_all_called=False) as router:
        chat = router.post("https://api.openai.com/v1/chat/completions")
        chat.mock(side_effect=online_answer(fake, chat_completion_answer))
        messages = router.post("https://api.anthropic.com/v1/messages")
        messages.mock(side_effect=online_answer(fake, anthropic_message_answer))
        online = wire(await run_once(PROBE, document))
    assert online["success"] is True, online
    assert chat.call_count + messages.call_count == len(sent(fake))  # one request per batch request

    turns = batched["transcript"]["turns"]
    assert all(turn["providerMetadata"]["via"] == "batch" for turn in turns)
    assert turns[0]["providerMetadata"]["paramNotes"]  # the comparison covers an adjusted turn
    assert not differences(stable(batched, BATCH_FIELDS | VOLATILE), stable(online, VOLATILE))


def test_kill_9_after_the_refusal_then_the_same_command_sends_the_adjusted_request(tmp_path: Path) -> None:
    """Killed when the adjusted request's batch is being created (the refusal applied and saved, the
    adjusted parameters nowhere but in the state): the next run sends it adjusted, and its results
    are those of a run never killed."""
    rejection, document = CASES["openai-temperature"]
    folders = {name: tmp_path / name for name in ("killed", "whole")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "jobs.jsonl").write_text(json.dumps({"id": "m", **document}) + "\n")

    with FakeBatches(polls_to_end=2).running() as fake:
        fake.rejections.append(rejection)
        done = subprocess.run(_command(folders["whole"]), env=_env(fake), capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
    whole = read_results(folders["whole"] / "results.jsonl")["m"]

    with FakeBatches(polls_to_end=2).running() as fake:
        fake.rejections.append(rejection)
        download = fake.hold("download", "before")  # wave 1's results, the refusal
        process = subprocess.Popen(
            _command(folders["killed"]), env=_env(fake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            download.wait_arrived(WAIT_S)
            create = fake.hold("create", "before")  # the next wave: turn 1 again, adjusted
            download.release()
            create.wait_arrived(WAIT_S)
        finally:
            process.kill()  # SIGKILL: no handler runs, nothing is flushed
            process.wait(WAIT_S)
        fake.clear_holds()
        assert fake.submissions == 1
        done = subprocess.run(_command(folders["killed"]), env=_env(fake), capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        assert [["temperature" in body for body in wave] for wave in sent(fake)] == [[True], [False], [False], [False]]
        assert fake.submissions == 4
    killed = read_results(folders["killed"] / "results.jsonl")["m"]
    drop = BATCH_FIELDS | VOLATILE
    assert not differences(stable(killed, drop), stable(whole, drop))
    assert ("temperature", "retried_without") in notes(killed["transcript"]["turns"][0])
    assert not state_path(folders["killed"] / "results.jsonl").exists()
