"""Long-running calls stopped by a real SIGTERM: the one-shot worker keeps what it was paid for.

The in-process tests (test_anthropic_streaming.py, test_openai_responses_background.py)
cancel the job's task; these send the signal to probe.py itself, as a host's timeout or
shutdown does, against local servers: a streamed Anthropic turn that stops sending after
part of its text (the Messages streaming events, as in test_anthropic_streaming.py), and a
Responses API background response that never finishes (testkit.fake_responses).
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from typing import Any

import pytest

from testkit.fake_provider import FakeProvider, Received, Reply
from testkit.fake_responses import BackgroundResponses
from testkit.http_server import HttpRequest, LoopbackHttpServer, response_head
from testkit.workers import PROBE_PY, WAIT_S, WORKERS, WorkerProcess
from tests.helpers import anthropic_message_start, probe_job

# Runs probe.py as `python probe.py` would, logging a JSON line each time the streamed turn
# has taken in a piece of answer text (`TurnContext.received`): the test signals once the
# worker holds the text, not merely once the server wrote it (the bytes may still be in
# the socket). Nothing else changes.
TEXT_NOTICE = """
import json, runpy, sys
workers, script, *args = sys.argv[1:]
sys.path.insert(0, workers)
from common.providers.turn_context import TurnContext
received = TurnContext.received
def noticed(self, text):
    received(self, text)
    sys.__stderr__.write(json.dumps({"event": "test: text received", "text": self.partial_text}) + "\\n")
    sys.__stderr__.flush()
TurnContext.received = noticed
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""

pytestmark = pytest.mark.e2e

ANTHROPIC_KEY = "sk-ant-test-sigterm-not-real-0123"
OPENAI_KEY = "sk-test-sigterm-not-real-000000000"
MESSAGE_ID = "msg_01SigtermStreamedTurn00000"
SERVED = "claude-opus-4-5-20251101"


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class StoppingStream(LoopbackHttpServer):
    """`POST /v1/messages` answered as a stream that sends its first events and text, then nothing more."""

    thread_name = "stopping-stream"

    def __init__(self, chunks: list[str]) -> None:
        super().__init__()
        self.chunks = chunks
        self.bodies: list[dict[str, Any]] = []

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        self.bodies.append(json.loads(request.body))
        writer.write(response_head(200, "OK", [("Content-Type", "text/event-stream"), ("Connection", "close")]))
        events: list[dict[str, Any]] = [
            anthropic_message_start(MESSAGE_ID, SERVED),
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
            *(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}}
                for c in self.chunks
            ),
        ]
        for event in events:
            writer.write(sse(event))
        await writer.drain()
        await asyncio.Event().wait()  # until the client goes or the server closes
        return False


def stop(worker: WorkerProcess) -> dict[str, Any]:
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.err[-2000:]
    document = worker.document()
    assert document["success"] is False, document
    assert document["error"]["code"] == "CANCELLED" and document["error"]["retryable"] is True
    return document


def test_a_streamed_anthropic_turn_cut_by_sigterm_keeps_the_text_received_so_far() -> None:
    server = StoppingStream(["I would tell", " my friend the truth"])
    job = probe_job("anthropic:claude-opus-4-5", followups=0, modelConfig={"maxTokens": 32_000})
    with server.running():
        env = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": server.url}
        with WorkerProcess("-c", TEXT_NOTICE, str(WORKERS), str(PROBE_PY), env=env) as worker:
            worker.send(job)
            worker.close_stdin()
            worker.wait_for_log(lambda entry: entry.get("text") == "I would tell my friend the truth")
            document = stop(worker)
    assert server.bodies[0]["stream"] is True and server.bodies[0]["max_tokens"] == 32_000
    assert document["error"]["details"]["incompleteTurn"] == {
        "turnNumber": 1,
        "promptLabel": "scenario_prompt",
        "incomplete": True,
        "partialResponse": "I would tell my friend the truth",
        "responseId": MESSAGE_ID,
        "responseStatus": "streaming",
        "modelVersion": SERVED,
        "transport": "messages_stream",
    }
    assert "resumeResponseId" not in document["error"]["details"]  # a stream cannot be re-attached to
    assert ANTHROPIC_KEY not in worker.raw_stdout[0] and ANTHROPIC_KEY not in worker.err


class PolledOnce:
    """The fake Responses API, noting when the first poll of a background response arrived."""

    def __init__(self) -> None:
        self.api = BackgroundResponses(polls_to_finish=None)  # never finishes by itself
        self.polled = threading.Event()

    def respond(self, request: Received) -> Reply | None:
        reply = self.api.fake_provider_respond(request)
        if request.method == "GET" and "/responses/" in request.path:
            self.polled.set()
        return reply


def run_until_polled(fake: FakeProvider, served: PolledOnce, job: dict[str, Any]) -> dict[str, Any]:
    served.polled.clear()
    env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": f"{fake.url}/v1"}
    with WorkerProcess(PROBE_PY, env=env) as worker:
        worker.send(job)
        worker.close_stdin()
        assert served.polled.wait(WAIT_S), worker.err[-2000:]
        return stop(worker)


def test_a_background_response_is_cancelled_on_sigterm_and_its_id_recorded() -> None:
    served = PolledOnce()
    with FakeProvider(respond=served.respond).running() as fake:
        document = run_until_polled(fake, served, probe_job("openai:o3-pro", followups=0))
    (created,) = served.api.responses
    assert served.api.created[0]["background"] is True and served.api.created[0]["store"] is True
    assert served.api.cancelled == [created]
    details = document["error"]["details"]
    assert details["incompleteTurn"]["responseId"] == created
    assert details["incompleteTurn"]["responseStatus"] == "cancelled"
    assert details["incompleteTurn"]["transport"] == "responses_background"
    assert "resumeResponseId" not in details  # cancelled: nothing left to re-attach to


def test_a_detached_background_response_survives_sigterm_and_the_resumed_job_reattaches() -> None:
    served = PolledOnce()
    job = probe_job("openai:o3-pro", followups=0, modelConfig={"backgroundOnStop": "detach"})
    with FakeProvider(respond=served.respond).running() as fake:
        document = run_until_polled(fake, served, job)
        response_id = document["error"]["details"]["resumeResponseId"]
        assert served.api.cancelled == [] and list(served.api.responses) == [response_id]
        served.api.finish(response_id)
        env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": f"{fake.url}/v1"}
        with WorkerProcess(PROBE_PY, env=env) as worker:
            worker.send({**job, "resumeResponseId": response_id})
            worker.close_stdin()
            assert worker.wait() == 0, worker.err[-2000:]
            resumed = worker.document()
    assert resumed["success"] is True, resumed
    (turn,) = resumed["transcript"]["turns"]
    assert turn["providerMetadata"]["reattached"] is True
    assert turn["targetResponse"].startswith("Background answer to:")
    assert len(served.api.created) == 1  # the answer was not paid for twice
