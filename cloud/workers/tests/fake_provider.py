"""A local fake of the provider HTTP APIs, with a configurable latency, for tests and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for the real SDKs:
OpenAI chat completions (`.../chat/completions`, also what Mistral's SDK calls, answered
in Mistral's documented shape when its SDK asks), Anthropic messages (`.../messages`) and
Gemini `...:generateContent`. Bodies follow the providers' documented response shapes.
It records what it receives (requests, connections, the most requests in flight at once)
so tests can assert what a provider would see, and can answer chosen requests with a
documented 429 error.

In a test: `with FakeProvider(latency_s=0.05).running() as fake: ... fake.url ...`.
As a process (benchmarks): `python fake_provider.py --latency-ms 200` prints
`{"port": N}` on its first stdout line and serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# OpenAI's documented rate-limit error body (tests/fixtures/openai/errors.json "rate_limit").
OPENAI_RATE_LIMIT = {
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 3,"
        " Used 3, Requested 1. Please try again in 20ms.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@dataclass
class Failure:
    """Answer matching requests with this HTTP status: the first `count` ones, or those whose
    last user message contains `contains` (every time)."""

    status: int = 429
    count: int | None = None
    contains: str | None = None
    retry_after_ms: int | None = 20
    seen: int = 0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    connection: int


@dataclass
class Stats:
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[Received] = field(default_factory=list)
    answered: int = 0


def _last_user_text(path: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if ":generateContent" in path:
        contents = body.get("contents") or []
        users = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
        parts = users[-1].get("parts", []) if users else []
        return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if not messages:
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):
        return " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return str(content or "")


def _prompt_chars(body: Any) -> int:
    return len(json.dumps(body.get("messages") or body.get("contents") or [])) if isinstance(body, dict) else 0


def _openai_completion(model: str, text: str, prompt_tokens: int, number: int) -> dict[str, Any]:
    completion_tokens = max(1, len(text) // 4)
    return {
        "id": f"chatcmpl-fake{number:010d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake0000",
    }


def _mistral_completion(model: str, text: str, prompt_tokens: int, number: int) -> dict[str, Any]:
    completion_tokens = max(1, len(text) // 4)
    return {
        "id": f"cmpl-fake{number:010d}",
        "object": "chat.completion",
        "model": model,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": None, "prefix": False},
                "finish_reason": "stop",
            }
        ],
    }


def _anthropic_message(model: str, text: str, prompt_tokens: int, number: int) -> dict[str, Any]:
    return {
        "id": f"msg_fake{number:016d}",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": model,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "input_tokens": prompt_tokens,
            "output_tokens": max(1, len(text) // 4),
            "service_tier": "standard",
        },
    }


def _gemini_response(model: str, text: str, prompt_tokens: int, number: int) -> dict[str, Any]:
    candidates_tokens = max(1, len(text) // 4)
    return {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": candidates_tokens,
            "totalTokenCount": prompt_tokens + candidates_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        },
        "modelVersion": model,
        "responseId": f"fake{number:012d}",
    }


class FakeProvider:
    def __init__(self, latency_s: float = 0.0, *, record: bool = True) -> None:
        self.latency_s = latency_s
        self.record = record
        self.failures: list[Failure] = []
        self.stats = Stats()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._numbers = 0
        self._lock = threading.Lock()  # tests read the stats from another thread
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- HTTP -------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):  # keep-alive connections the clients still hold open
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.stats.connections += 1
            connection = self.stats.connections
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                body = json.loads(raw) if raw else None
                status, extra_headers, payload = await self._answer(method, path, headers, body, connection)
                data = json.dumps(payload).encode()
                head_out = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}"]
                head_out += ["content-type: application/json", f"content-length: {len(data)}"]
                head_out += [f"{k}: {v}" for k, v in extra_headers.items()]
                writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any, connection: int
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self._numbers += 1
            number = self._numbers
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            if self.record:
                kept = {k: v for k, v in headers.items() if k in ("authorization", "x-api-key", "x-goog-api-key")}
                self.stats.requests.append(Received(method, path, kept, body, connection))
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return self._response(method, path, headers, body, number)
        finally:
            with self._lock:
                self.stats.in_flight -= 1
                self.stats.answered += 1

    def _failure_for(self, text: str) -> Failure | None:
        with self._lock:
            for rule in self.failures:
                if rule.contains is not None and rule.contains in text:
                    return rule
                if rule.count is not None and rule.seen < rule.count:
                    rule.seen += 1
                    return rule
        return None

    def _response(
        self, method: str, path: str, headers: dict[str, str], body: Any, number: int
    ) -> tuple[int, dict[str, str], Any]:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return 200, {}, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "fake"}]}
        if method != "POST":
            return 404, {}, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}
        text_in = _last_user_text(path, body)
        rule = self._failure_for(text_in)
        if rule is not None:
            extra = {"retry-after-ms": str(rule.retry_after_ms)} if rule.retry_after_ms is not None else {}
            return rule.status, extra, OPENAI_RATE_LIMIT
        model = str(body.get("model", "")) if isinstance(body, dict) else ""
        if ":generateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        answer = f"Fake answer {number} to: {text_in[:60]}"
        prompt_tokens = max(1, _prompt_chars(body) // 4)
        if path.endswith("/chat/completions"):
            build = _mistral_completion if "mistral" in headers.get("user-agent", "").lower() else _openai_completion
            return 200, {}, build(model, answer, prompt_tokens, number)
        if path.endswith("/messages"):
            return 200, {}, _anthropic_message(model, answer, prompt_tokens, number)
        if ":generateContent" in path:
            return 200, {}, _gemini_response(model, answer, prompt_tokens, number)
        return 404, {}, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}

    # -- running ----------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeProvider]:
        """Serves on its own thread and event loop for the duration of the block."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        thread = threading.Thread(target=run, name="fake-provider", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake provider did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def user_texts(self) -> list[str]:
        with self._lock:
            return [_last_user_text(r.path, r.body) for r in self.stats.requests]


async def _serve_process(latency_s: float, port: int) -> None:
    fake = FakeProvider(latency_s, record=False)
    await fake.start(port)
    sys.stdout.write(json.dumps({"port": fake.port}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)

    def watch_stdin() -> None:  # the parent going away closes our stdin
        sys.stdin.read()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await done.wait()
    await fake.close()
    sys.stderr.write(json.dumps({"answered": fake.stats.answered, "connections": fake.stats.connections}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="local fake provider server (OpenAI, Anthropic, Gemini, Mistral)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve_process(args.latency_ms / 1000, args.port))


if __name__ == "__main__":
    main()
