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
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from common.probe.job import run_probe_job
from common.runs.oneshot import render
from tests.conftest import REPO, worker_env
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
COMPLETION = json.loads((FIXTURES / "chat_completion.json").read_text())
RATE_LIMIT = json.loads((FIXTURES / "errors.json").read_text())["rate_limit"]
MODEL = "gpt-4o-mini"
HOLD_S = 120.0  # a held request is never answered within a test's life unless released


@dataclass
class ScriptedOpenAI:
    """OpenAI chat completions whose answer is a function of the request alone.

    `fail_turns` answer the documented 429 (with a 10 ms retry hint); `hold_turns` are
    held open until `release` is set, to catch a worker in the middle of a request.
    """

    fail_turns: set[int] = field(default_factory=set)
    hold_turns: set[int] = field(default_factory=set)
    requests: list[list[dict[str, Any]]] = field(default_factory=list)  # the messages of each request
    answered: list[int] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        messages: list[dict[str, Any]] = body["messages"]
        turn = sum(1 for m in messages if m["role"] == "user")
        self.requests.append(messages)
        if turn in self.hold_turns:
            self.held.set()
            self.release.wait(HOLD_S)
        if turn in self.fail_turns:
            return 429, {"retry-after-ms": "10"}, RATE_LIMIT
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

    def turns_requested(self) -> list[int]:
        return [sum(1 for m in messages if m["role"] == "user") for messages in self.requests]

    @contextlib.contextmanager
    def running(self) -> Iterator[ScriptedOpenAI]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                status, headers, payload = fake.answer(body)
                data = json.dumps(payload).encode()
                with contextlib.suppress(OSError):  # a stopped worker has hung up
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            server.shutdown()
            server.server_close()


def env_for(fake: ScriptedOpenAI) -> dict[str, str]:
    return worker_env(OPENAI_API_KEY="test-key-not-real", OPENAI_BASE_URL=fake.url)


def run_probe(job: dict[str, Any], fake: ScriptedOpenAI) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "cloud/workers/probe.py"],
        input=json.dumps(job).encode(),
        capture_output=True,
        cwd=REPO,
        env=env_for(fake),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document


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
def test_a_signal_mid_request_prints_cancelled_with_the_turns_already_paid_for(
    sig: signal.Signals, tmp_path: Path
) -> None:
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(probe_job(MODEL)))
    with ScriptedOpenAI(hold_turns={2}).running() as fake, job_file.open("rb") as stdin:
        worker = subprocess.Popen(
            [sys.executable, "cloud/workers/probe.py"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=env_for(fake),
        )
        assert worker.stderr is not None
        progress: list[dict[str, Any]] = []
        for raw in worker.stderr:  # until turn 1 is reported done
            line = json.loads(raw)
            if line.get("type") == "progress":
                progress.append(line)
                break
        assert fake.held.wait(60), "the worker never asked for turn 2"
        sent = time.monotonic()
        worker.send_signal(sig)
        stdout, _ = worker.communicate(timeout=30)  # the held request would keep it for HOLD_S
        elapsed_s = time.monotonic() - sent
        answered_while_running = list(fake.answered)  # before the held request is released
        print(f"{sig.name} to exit: {elapsed_s * 1000:.0f} ms")

    assert worker.returncode == 0
    assert progress == [progress[0]] and progress[0]["turn"] == 1 and progress[0]["of"] == 3
    document = json.loads(stdout)
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

        fake.fail_turns.clear()
        fake.requests.clear()
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
        fake.requests.clear()
        turns = clean["transcript"]["turns"][:2]
        turns[1] = {**turns[1], "probePrompt": "a different question"}
        refused = run_probe({**job, "priorTurns": turns}, fake)
        too_many = run_probe({**probe_job(MODEL, followups=1), "priorTurns": clean["transcript"]["turns"]}, fake)

    assert fake.requests == []
    assert refused["error"]["code"] == "VALIDATION_ERROR" and refused["error"]["details"]["field"] == "priorTurns[1]"
    assert too_many["error"]["code"] == "VALIDATION_ERROR" and "priorTurns has 5 turns" in too_many["error"]["message"]


async def test_a_resumed_transcript_keeps_the_warnings_of_its_prior_turns() -> None:
    job = probe_job("mock:truncate")
    clean = on_the_wire(await run_probe_job(job))
    resumed = on_the_wire(await run_probe_job({**job, "priorTurns": clean["transcript"]["turns"][:2]}))
    assert len(clean["transcript"]["warnings"]) == 3  # every mock:truncate answer is cut off
    assert resumed["transcript"]["warnings"] == clean["transcript"]["warnings"]
    assert without_clock(resumed) == without_clock(clean)
