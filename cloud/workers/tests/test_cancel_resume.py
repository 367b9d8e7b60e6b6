"""Stopping a probe mid-request and resuming it later, as a host does, against a local OpenAI fake.

The worker runs as a subprocess with the real OpenAI SDK pointed at a server on 127.0.0.1
whose answers depend only on the request, so two runs of the same job give the same
transcript and a resumed run can be compared with an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.io.render import render
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from testkit.fake_provider import Failure, FakeProvider, Received, Reply
from testkit.workers import PROBE_PY, WorkerProcess, run_script
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
COMPLETION = json.loads((FIXTURES / "chat_completion.json").read_text())
RATE_LIMIT = json.loads((FIXTURES / "errors.json").read_text())["rate_limit"]
MODEL = "gpt-4o-mini"


class ScriptedOpenAI:
    """OpenAI chat completions (on the shared fake provider) whose answer is a function of the request alone.

    `fail_turns` answer the documented 429 (with a 10 ms retry hint); `hold_turns` are
    held open until released, to catch a worker in the middle of a request.
    """

    def __init__(self, fail_turns: Iterable[int] = (), hold_turns: Iterable[int] = ()) -> None:
        self.answered: list[int] = []
        self.fake = FakeProvider(respond=self.answer)
        self.fail(fail_turns)
        self.holds = [self.fake.hold(turn=turn) for turn in hold_turns]

    def fail(self, turns: Iterable[int]) -> None:
        self.fake.failures[:] = [Failure(status=429, turn=turn, retry_after_ms=10, body=RATE_LIMIT) for turn in turns]

    def answer(self, request: Received) -> Reply | None:
        if request.api != "openai":
            return None
        body = request.body
        messages: list[dict[str, Any]] = body["messages"]
        turn = request.turn
        text = f"Answer {turn}: about {messages[-1]['content'][:40]!r}"
        completion = copy.deepcopy(COMPLETION)
        completion["id"] = f"chatcmpl-scripted-turn{turn}"
        completion["model"] = f"{body['model']}-2024-07-18"
        completion["choices"][0]["message"]["content"] = text
        usage = completion["usage"]
        usage["prompt_tokens"] = len(json.dumps(messages)) // 4
        usage["completion_tokens"] = len(text) // 4
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self.answered.append(turn)
        return 200, {}, completion

    @property
    def requests(self) -> list[list[dict[str, Any]]]:
        """The messages of each request received, in order."""
        return [request.body["messages"] for request in self.fake.received()]

    def turns_requested(self) -> list[int]:
        return [request.turn for request in self.fake.received()]

    @property
    def url(self) -> str:
        return f"{self.fake.url}/v1"

    @contextlib.contextmanager
    def running(self) -> Iterator[ScriptedOpenAI]:
        with self.fake.running():
            yield self


def env_for(fake: ScriptedOpenAI) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test-key-not-real", "OPENAI_BASE_URL": fake.url}


def run_probe(job: dict[str, Any], fake: ScriptedOpenAI) -> dict[str, Any]:
    done = run_script(PROBE_PY, job, env=env_for(fake))
    assert done.code == 0, done.err[-2000:]
    return done.document


def on_the_wire(document: Any) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(render(document))
    return wire


def without_clock(document: dict[str, Any]) -> dict[str, Any]:
    """The document less what differs between two runs of the same job: wall times."""
    stripped = copy.deepcopy(document)
    transcript = stripped.get("transcript") or stripped.get("partialTranscript") or {}
    transcript.pop("startedAt", None)
    transcript.pop("completedAt", None)
    for turn in transcript.get("turns", []):
        turn["providerMetadata"].pop("timing")
    return stripped


# ---------------------------------------------------------------- cancellation


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_request_prints_cancelled_with_the_turns_already_paid_for(sig: signal.Signals) -> None:
    with ScriptedOpenAI(hold_turns={2}).running() as fake, WorkerProcess(PROBE_PY, env=env_for(fake)) as worker:
        worker.send(probe_job(MODEL))
        worker.close_stdin()
        fake.holds[0].wait_held(1)  # the worker asked for turn 2, and is waiting for its answer
        worker.signal(sig)
        code = worker.wait(30)  # the held request would keep it waiting far longer
        answered_while_running = list(fake.answered)  # before the held request is released

    assert code == 0
    progress = [line for line in worker.logs if line.get("type") == "progress"]
    assert progress == [progress[0]] and progress[0]["turn"] == 1 and progress[0]["of"] == 3
    document = worker.document()
    assert document["success"] is False
    assert document["error"]["code"] == "CANCELLED" and document["error"]["retryable"] is True
    assert document["error"]["details"]["completedTurns"] == 1
    partial = document["partialTranscript"]
    assert [t["turnNumber"] for t in partial["turns"]] == [1]
    assert partial["turns"][0]["targetResponse"].startswith("Answer 1: ")
    assert partial["totalInputTokens"] == partial["turns"][0]["inputTokens"] > 0
    assert answered_while_running == [1]  # turn 2 was never answered: the worker stopped waiting


# ---------------------------------------------------------------- resume


def test_resume_after_a_failure_on_turn_3_of_5_calls_only_turns_3_to_5_and_matches_a_clean_run() -> None:
    job = probe_job(MODEL, followups=4, modelCost={"costInputPerMillion": 2.5, "costOutputPerMillion": 10})
    with ScriptedOpenAI().running() as clean_fake:
        clean = run_probe(job, clean_fake)
    assert clean["success"] is True and len(clean["transcript"]["turns"]) == 5

    with ScriptedOpenAI(fail_turns={3}).running() as fake:
        failed = run_probe(job, fake)
        assert failed["success"] is False and failed["error"]["code"] == "RATE_LIMIT"
        assert failed["error"]["retryable"] is True
        partial = failed["partialTranscript"]
        assert [t["turnNumber"] for t in partial["turns"]] == [1, 2]

        fake.fail(())
        fake.fake.clear_received()
        resumed = run_probe({**job, "priorTurns": partial["turns"]}, fake)

    assert fake.turns_requested() == [3, 4, 5]
    # the provider saw the same conversation as in the clean run: history replayed verbatim
    assert fake.requests == clean_fake.requests[2:]
    assert resumed["success"] is True
    assert without_clock(resumed) == without_clock(clean)
    transcript = resumed["transcript"]
    assert transcript["totalInputTokens"] == sum(t["inputTokens"] for t in transcript["turns"])
    assert transcript["costSnapshot"] == clean["transcript"]["costSnapshot"]
    # prior turns keep their provider metadata, timing included
    assert transcript["turns"][:2] == partial["turns"]


def test_prior_turns_that_do_not_match_the_scenario_are_refused_before_any_request() -> None:
    job = probe_job(MODEL, followups=4)
    with ScriptedOpenAI().running() as fake:
        clean = run_probe(job, fake)
        fake.fake.clear_received()
        turns = clean["transcript"]["turns"][:2]
        turns[1] = {**turns[1], "probePrompt": "a different question"}
        refused = run_probe({**job, "priorTurns": turns}, fake)
        too_many = run_probe({**probe_job(MODEL, followups=1), "priorTurns": clean["transcript"]["turns"]}, fake)

    assert fake.requests == []
    assert refused["error"]["code"] == "VALIDATION_ERROR" and refused["error"]["details"]["field"] == "priorTurns[1]"
    assert too_many["error"]["code"] == "VALIDATION_ERROR" and "priorTurns has 5 turns" in too_many["error"]["message"]


async def test_a_resumed_transcript_keeps_the_warnings_of_its_prior_turns() -> None:
    job = probe_job("mock:truncate")
    clean = on_the_wire(await run_once(PROBE, job))
    resumed = on_the_wire(await run_once(PROBE, {**job, "priorTurns": clean["transcript"]["turns"][:2]}))
    assert len(clean["transcript"]["warnings"]) == 3  # every mock:truncate answer is cut off
    assert resumed["transcript"]["warnings"] == clean["transcript"]["warnings"]
    assert without_clock(resumed) == without_clock(clean)
