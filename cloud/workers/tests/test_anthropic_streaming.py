"""Anthropic long generations are streamed and assembled into the same turn; a cut stream keeps its text.

The event sequence is the Messages streaming documentation's (docs.anthropic.com/en/docs/
build-with-claude/streaming, "Basic streaming request": message_start, content_block_start,
ping, content_block_delta text_delta..., content_block_stop, message_delta, message_stop),
served by respx as server-sent events to the real anthropic SDK.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from common.providers.adapters.anthropic import STREAM_ABOVE_MAX_TOKENS, streams
from tests.helpers import FakeClock, anthropic_message_start, load_fixture, probe_job, run, sent_bodies, wire

MESSAGES_URL = "https://api.anthropic.com/v1/messages"
MODEL = "claude-opus-4-5"
MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real-0123456789")


def events(chunks: list[str], *, finished: bool = True) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        anthropic_message_start(MESSAGE_ID),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}} for c in chunks),
    ]
    if finished:
        found += [
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 15},
            },
            {"type": "message_stop"},
        ]
    return found


class EventStream(httpx.AsyncByteStream):
    """Server-sent events; with `hang`, the stream stops sending (but stays open) after the last one."""

    def __init__(self, sent: list[dict[str, Any]], hang: asyncio.Event | None = None) -> None:
        self.sent = sent
        self.hang = hang

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self.sent:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        if self.hang is not None:
            self.hang.set()
            await asyncio.Event().wait()


def streamed(sent: list[dict[str, Any]], hang: asyncio.Event | None = None) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=EventStream(sent, hang))


def test_the_threshold_is_the_sdks_ten_minute_rule() -> None:
    assert not streams(MODEL, STREAM_ABOVE_MAX_TOKENS)
    assert streams(MODEL, STREAM_ABOVE_MAX_TOKENS + 1)
    assert streams("claude-opus-4-0", 8193)  # the SDK's own non-streaming limit for that model
    assert not streams(MODEL, 8193)


async def test_a_long_generation_is_streamed_and_assembled_into_the_same_turn(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(return_value=streamed(events(["Hello", ", world", "!"])))
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000})))
    assert out["success"] is True, out
    body = sent_bodies(route)[0]
    assert body["stream"] is True and body["max_tokens"] == 32_000
    turn = out["transcript"]["turns"][0]
    assert turn["targetResponse"] == "Hello, world!"
    meta = turn["providerMetadata"]
    assert (meta["responseId"], meta["modelVersion"]) == (MESSAGE_ID, "claude-opus-4-5-20251101")
    assert (meta["rawFinishReason"], turn["outputTokens"], turn["inputTokens"]) == ("end_turn", 15, 25)
    assert meta["paramsSent"]["max_tokens"] == 32_000 and "stream" not in meta["paramsSent"]


async def test_a_short_generation_is_not_streamed(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("anthropic", "message"))
    )
    out = wire(await run(probe_job(MODEL, followups=0)))
    assert out["success"] is True
    assert "stream" not in sent_bodies(route)[0]


async def test_a_streamed_turn_cut_by_cancellation_keeps_the_text_received_so_far(
    respx_mock: respx.MockRouter,
) -> None:
    hanging = asyncio.Event()
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            streamed(events(["First answer."])),
            streamed(events(["I would tell", " my friend"], finished=False), hang=hanging),
        ]
    )
    task = asyncio.create_task(run(probe_job(MODEL, followups=1, modelConfig={"maxTokens": 32_000}), FakeClock()))
    await hanging.wait()
    task.cancel()
    out = wire(await task)

    assert out["error"]["code"] == "CANCELLED" and out["error"]["retryable"] is True
    assert [t["targetResponse"] for t in out["partialTranscript"]["turns"]] == ["First answer."]
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert incomplete == {
        "turnNumber": 2,
        "promptLabel": "push_1",
        "incomplete": True,
        "partialResponse": "I would tell my friend",
        "responseId": MESSAGE_ID,
        "responseStatus": "streaming",
        "modelVersion": "claude-opus-4-5-20251101",
        "transport": "messages_stream",
    }
    assert "resumeResponseId" not in out["error"]["details"]  # a stream cannot be re-attached to


async def test_a_stream_cut_by_the_network_keeps_each_attempts_text(respx_mock: respx.MockRouter) -> None:
    class Cut(EventStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in super().__aiter__():
                yield chunk
            raise httpx.ReadError("connection reset by peer")

    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=Cut(events([f"try {n}"], finished=False))
            )
            for n in range(1, 6)
        ]
    )
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000}), FakeClock()))
    assert out["error"]["code"] == "NETWORK_ERROR" and out["error"]["details"]["attempts"] == 5
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert incomplete["partialResponse"] == "try 5"
    assert [a["partialResponse"] for a in incomplete["earlierAttempts"]] == ["try 1", "try 2", "try 3", "try 4"]


async def test_a_stream_that_times_out_keeps_the_text_received_so_far(respx_mock: respx.MockRouter) -> None:
    class Stalled(EventStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in super().__aiter__():
                yield chunk
            raise httpx.ReadTimeout("timed out")  # the per-request timeout, mid-stream

    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                stream=Stalled(events(["slow", f" answer {n}"], finished=False)),
            )
            for n in range(1, 6)
        ]
    )
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000}), FakeClock()))
    assert out["error"]["code"] == "TIMEOUT" and out["error"]["retryable"] is True
    assert out["error"]["details"]["attempts"] == 5
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert (incomplete["incomplete"], incomplete["transport"]) == (True, "messages_stream")
    assert incomplete["partialResponse"] == f"slow answer {out['error']['details']['attempts']}"
    assert [a["partialResponse"] for a in incomplete.get("earlierAttempts", [])] == [
        f"slow answer {n}" for n in range(1, out["error"]["details"]["attempts"])
    ]


async def test_a_stream_closed_before_message_stop_is_a_cut_answer_not_a_finished_one(
    respx_mock: respx.MockRouter,
) -> None:
    # The connection ends quietly mid-answer (no error, no message_stop): the SDK would hand
    # back the message so far as if it were complete.
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[streamed(events(["half an", f" answer {n}"], finished=False)) for n in range(1, 6)]
    )
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000}), FakeClock()))
    assert out["success"] is False
    assert out["error"]["code"] == "NETWORK_ERROR" and out["error"]["retryable"] is True
    assert out["error"]["details"]["attempts"] == 5
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert (incomplete["partialResponse"], incomplete["transport"]) == ("half an answer 5", "messages_stream")
    assert [a["partialResponse"] for a in incomplete["earlierAttempts"]] == [f"half an answer {n}" for n in range(1, 5)]


async def test_a_streamed_turn_that_recovers_after_a_cut_is_the_full_answer(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[streamed(events(["half an"], finished=False)), streamed(events(["The whole answer."]))]
    )
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000}), FakeClock()))
    assert out["success"] is True, out
    (turn,) = out["transcript"]["turns"]
    assert turn["targetResponse"] == "The whole answer."
    assert turn["providerMetadata"]["attempts"] == 2 and turn["providerMetadata"]["rawFinishReason"] == "end_turn"


async def test_a_server_that_answers_a_streamed_request_with_json_is_an_invalid_response(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(MESSAGES_URL).mock(return_value=httpx.Response(200, json=load_fixture("anthropic", "message")))
    out = wire(await run(probe_job(MODEL, followups=0, modelConfig={"maxTokens": 32_000}), FakeClock()))
    assert out["error"]["code"] == "INVALID_RESPONSE" and out["error"]["retryable"] is False
    assert "without a message stream" in out["error"]["message"]


# -- thinking received before the cut ---------------------------------------------------------
# Streamed thinking as the extended-thinking documentation shows it (docs.anthropic.com/en/docs/
# build-with-claude/extended-thinking, "Streaming thinking": a `thinking` block of thinking_delta
# events closed by a signature_delta, then the `text` block; a `redacted_thinking` block arrives
# whole in its content_block_start with only encrypted `data`).


REDACTED_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rL"  # encrypted: never decoded
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl"


def thinking_events(blocks: list[tuple[str, list[str]]], *, finished: bool = False) -> list[dict[str, Any]]:
    """message_start, then each (kind, pieces) block: "thinking", "redacted" or "text"; the last block is left open."""
    found: list[dict[str, Any]] = [anthropic_message_start(MESSAGE_ID)]
    for index, (kind, pieces) in enumerate(blocks):
        last = index == len(blocks) - 1
        if kind == "redacted":
            found.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "redacted_thinking", "data": REDACTED_DATA},
                }
            )
        elif kind == "thinking":
            found.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}}
            )
            found += [
                {"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": p}}
                for p in pieces
            ]
            if not last or finished:
                found.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": SIGNATURE},
                    }
                )
        else:
            found.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            found += [
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}
                for p in pieces
            ]
        if not last or finished:
            found.append({"type": "content_block_stop", "index": index})
    if finished:
        found += [
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 40},
            },
            {"type": "message_stop"},
        ]
    return found


def thinking_job(followups: int = 0, **reasoning: Any) -> dict[str, Any]:
    return probe_job(
        MODEL,
        followups=followups,
        config={"temperature": 1, "maxTokens": 32_000, "reasoning": {"budgetTokens": 16_000, **reasoning}},
    )


async def test_a_streamed_turn_cut_while_thinking_keeps_the_thinking_received_so_far(
    respx_mock: respx.MockRouter,
) -> None:
    hanging = asyncio.Event()
    route = respx_mock.post(MESSAGES_URL).mock(
        return_value=streamed(
            thinking_events(
                [
                    ("thinking", ["Let me weigh", " the harm first."]),
                    ("redacted", []),
                    ("thinking", ["Now the promise", " I made"]),  # cut here, mid-thought
                ]
            ),
            hang=hanging,
        )
    )
    task = asyncio.create_task(run(thinking_job(), FakeClock()))
    waiting = asyncio.create_task(hanging.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)  # a job that fails early ends the wait
    task.cancel()
    waiting.cancel()
    out = wire(await task)

    assert sent_bodies(route)[0]["thinking"] == {"type": "enabled", "budget_tokens": 16_000}
    assert out["error"]["code"] == "CANCELLED"
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert incomplete["partialResponse"] == ""  # no answer text yet: the thinking is all that was paid for
    # Joined and counted as a finished turn's `reasoning` is (thinking blocks apart, redacted ones counted).
    assert incomplete["partialReasoning"] == {
        "text": "Let me weigh the harm first.\n\nNow the promise I made",
        "redactedBlocks": 1,
    }
    assert (incomplete["responseId"], incomplete["transport"]) == (MESSAGE_ID, "messages_stream")


async def test_the_thinking_of_a_cut_stream_is_not_kept_when_capture_is_off(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            streamed(thinking_events([("thinking", [f"thought {n}"]), ("text", [f"answer {n}"])])) for n in range(1, 6)
        ]
    )
    out = wire(await run(thinking_job(capture=False), FakeClock()))
    assert out["error"]["code"] == "NETWORK_ERROR" and out["error"]["details"]["attempts"] == 5
    incomplete = out["error"]["details"]["incompleteTurn"]
    assert incomplete["partialResponse"] == "answer 5"  # the answer is kept, as always
    assert "partialReasoning" not in incomplete
    assert all("partialReasoning" not in attempt for attempt in incomplete["earlierAttempts"])
    assert "thought" not in json.dumps(out)


async def test_each_attempts_thinking_is_cut_and_redacted_like_a_finished_turns(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_MAX_ANSWER_CHARS", "40")
    key = "sk-ant-test-not-real-0123456789"  # the provider_env key, quoted back by the model
    thought = "The key in my context is " + key + " and I must not repeat it, ever."
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            streamed(thinking_events([("thinking", ["Brief."]), ("text", ["First answer."])], finished=True)),
            *(
                streamed(thinking_events([("thinking", [thought[:20], thought[20:]]), ("text", [f"No {n}"])]))
                for n in range(1, 6)
            ),
        ]
    )
    out = wire(await run(thinking_job(followups=1), FakeClock()))
    assert out["error"]["code"] == "NETWORK_ERROR"
    (done,) = out["partialTranscript"]["turns"]
    assert done["reasoning"]["text"] == "Brief."
    # The cut is said where a finished turn's would be: the (partial) transcript's warnings.
    cut = [w for w in out["partialTranscript"]["warningDetails"] if w["code"] == "TRUNCATED"]
    assert len(cut) == 1 and f"{len(thought)} characters of reasoning text" in cut[0]["message"]
    incomplete = out["error"]["details"]["incompleteTurn"]
    attempts = [*incomplete["earlierAttempts"], incomplete]
    assert [a["partialResponse"] for a in attempts] == [f"No {n}" for n in range(1, 6)]
    for attempt in attempts:
        # The first PROBE_MAX_ANSWER_CHARS characters, then the document's redaction.
        assert attempt["partialReasoning"] == {
            "text": thought[:40].replace(key[:15], "[REDACTED]"),
            "redactedBlocks": 0,
            "receivedChars": len(thought),
        }
    assert key[:15] not in json.dumps(out)


async def test_each_attempts_answer_text_is_cut_at_the_answer_limit(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unfinished turn's answer obeys the bound a finished answer does (PROBE_MAX_ANSWER_CHARS):
    the first characters are kept, `partialResponseChars` says how many came, a warning says so."""
    monkeypatch.setenv("PROBE_MAX_ANSWER_CHARS", "40")
    long_answer = "An answer that goes on well past the limit of forty characters."
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=[
            streamed(thinking_events([("text", ["First answer."])], finished=True)),
            *(streamed(thinking_events([("text", [long_answer[:30], long_answer[30:]])])) for _ in range(5)),
        ]
    )
    out = wire(await run(thinking_job(followups=1), FakeClock()))
    assert out["error"]["code"] == "NETWORK_ERROR"
    incomplete = out["error"]["details"]["incompleteTurn"]
    for attempt in [*incomplete["earlierAttempts"], incomplete]:
        assert attempt["partialResponse"] == long_answer[:40]
        assert attempt["partialResponseChars"] == len(long_answer)
    cut = [w for w in out["partialTranscript"]["warningDetails"] if w["code"] == "ANSWER_CUT"]
    assert len(cut) == 1 and f"{len(long_answer)} characters of its answer" in cut[0]["message"]
