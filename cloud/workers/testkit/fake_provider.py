"""A local fake of the provider HTTP APIs, for tests and benchmarks: nothing leaves 127.0.0.1.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for the real SDKs:
OpenAI chat completions (`.../chat/completions`, also what Mistral's SDK calls, answered
in Mistral's documented shape when its SDK asks), Anthropic messages (`.../messages`),
Gemini `...:generateContent` and the model lists (`GET .../models`). Bodies follow the
providers' documented response shapes, so the SDKs parse them as they would real ones.

What a test can arrange, all on the instance:
- `failures`: answer chosen requests with an HTTP error in the provider's documented
  error shape (the first n requests, those whose last user message contains a text, or
  those of a given turn), with a `retry-after-ms` hint so retries stay fast;
- `hold(...)`: keep chosen requests unanswered until the test releases them, or until a
  number of them wait at once (a barrier): a test catches a worker mid-request by waiting
  on an event, never on the wall clock;
- `api_keys`: only these keys are accepted, others get the provider's 401;
- `respond`: a function that answers (or declines to answer) any request itself;
- `latency_s`: a fixed delay before every answer (benchmarks).
It records what it receives (requests, connections, the most requests in flight at once)
so tests can assert what a provider would see.

In a test: `with FakeProvider().running() as fake: ... fake.url ...`.
As a process (benchmarks): `python -m testkit.fake_provider --latency-ms 200` (with
`cloud/workers` on the path) prints `{"port": N}` on its first stdout line and serves until
stdin closes or SIGTERM; `fake_provider_process` does that and yields the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from testkit.http_server import HttpRequest, LoopbackHttpServer, response_head
from testkit.servers import announce_and_wait, server_process

WAIT_S = 60.0  # the longest a test waits for something the fake should see

# OpenAI's documented rate-limit error body (tests/fixtures/openai/errors.json has the real one).
OPENAI_RATE_LIMIT: dict[str, Any] = {
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 3,"
        " Used 3, Requested 1. Please try again in 20ms.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
OPENAI_BAD_KEY: dict[str, Any] = {
    "error": {
        "message": "Incorrect API key provided: sk-test-***. You can find your API key at"
        " https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}

# (status, headers, JSON body): what the fake sends back for one request.
Reply = tuple[int, dict[str, str], Any]


@dataclass
class Received:
    """One request as the fake received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    connection: int

    @property
    def api(self) -> str:
        """Which API the request is for: `openai`, `mistral`, `anthropic`, `gemini` or `other`."""
        if ":generateContent" in self.path:
            return "gemini"
        if self.path.rstrip("/").endswith("/messages"):
            return "anthropic"
        if self.path.endswith("/chat/completions"):
            return "mistral" if "mistral" in self.headers.get("user-agent", "").lower() else "openai"
        return "other"

    @property
    def api_key(self) -> str | None:
        """The credential sent, whichever header the provider's SDK puts it in."""
        auth = self.headers.get("authorization")
        if auth is not None:
            return auth.removeprefix("Bearer ").strip()
        return self.headers.get("x-api-key") or self.headers.get("x-goog-api-key")

    @property
    def model(self) -> str:
        """The model asked for (Gemini names it in the path, the others in the body)."""
        if self.api == "gemini":
            return self.path.rsplit("/", 1)[-1].split(":", 1)[0]
        return str(self.body.get("model", "")) if isinstance(self.body, dict) else ""

    @property
    def user_text(self) -> str:
        """The text of the last user message (what most rules match on)."""
        return _last_user_text(self.path, self.body)

    @property
    def turn(self) -> int:
        """How many user messages the conversation holds: the probe turn this request is for."""
        if not isinstance(self.body, dict):
            return 0
        if self.api == "gemini":
            contents = self.body.get("contents") or []
            return sum(1 for c in contents if isinstance(c, dict) and c.get("role", "user") == "user")
        messages = self.body.get("messages") or []
        return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")


@dataclass
class Failure:
    """Answer matching requests with this HTTP status in the provider's documented error shape.

    Matches the first `count` requests, or (every time) those whose last user message
    contains `contains`, or those for probe turn `turn`, or those asking for `model`.
    `body` replaces the documented body.
    """

    status: int = 429
    count: int | None = None
    contains: str | None = None
    turn: int | None = None
    model: str | None = None
    retry_after_ms: int | None = 20
    body: Any = None
    seen: int = 0

    def matches(self, request: Received) -> bool:
        if self.contains is not None and self.contains in request.user_text:
            return True
        if self.turn is not None and request.turn == self.turn:
            return True
        if self.model is not None and request.model == self.model:
            return True
        if self.count is not None and self.seen < self.count:
            self.seen += 1
            return True
        return False


class Hold:
    """Keeps matching requests unanswered until `release()`, or until `group` of them wait at once.

    Without a matcher every request matches; `turn` and `contains` narrow it, `skip` lets
    that many matching requests through first. With `group`, each time that many requests
    are held together they are all answered (a barrier) and the next ones are held again.
    A test waits for `wait_held(n)`: an event, not a guess at how long a worker takes.
    """

    def __init__(
        self,
        fake: FakeProvider,
        *,
        turn: int | None = None,
        contains: str | None = None,
        skip: int = 0,
        group: int | None = None,
    ) -> None:
        self._fake = fake
        self.turn = turn
        self.contains = contains
        self.skip = skip
        self.group = group
        self.released = False
        self.held = 0  # how many requests this hold has caught so far
        self._seen = 0
        self._waiting: list[asyncio.Future[None]] = []  # touched on the fake's loop only
        self._changed = threading.Condition()

    def matches(self, request: Received) -> bool:
        if self.released:
            return False
        if self.turn is not None and request.turn != self.turn:
            return False
        if self.contains is not None and self.contains not in request.user_text:
            return False
        self._seen += 1
        return self._seen > self.skip

    async def wait_here(self) -> None:
        """Called on the fake's loop for a matching request: returns when it may be answered."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        with self._changed:
            self.held += 1
            self._changed.notify_all()
        if self.group is not None and len(self._waiting) >= self.group:
            self._wake()
        await waiter

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def wait_held(self, count: int = 1, timeout_s: float = WAIT_S) -> None:
        """Blocks until `count` requests have been caught by this hold (raises after `timeout_s`)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.held >= count, timeout_s):
                raise AssertionError(f"the fake provider held {self.held} request(s), expected {count}")

    def release(self) -> None:
        """Answers every held request and stops holding new ones."""
        self.released = True
        self._fake.call_soon(self._wake)


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


# The documented error `type` (Anthropic, OpenAI) or `status` (Gemini) for each HTTP status.
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    400: "Invalid request: messages are malformed",
    401: "Invalid API key",
    404: "The model does not exist",
    429: "Rate limit reached for requests",
    500: "The server had an error while processing your request",
    503: "The model is overloaded",
    529: "Overloaded",
}


def error_body(api: str, status: int) -> dict[str, Any]:
    """The documented error body an API sends with this status."""
    message = _MESSAGES.get(status, f"HTTP {status}")
    if api == "anthropic":
        return {"type": "error", "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message}}
    if api == "gemini":
        return {"error": {"code": status, "message": message, "status": _GEMINI_STATUSES.get(status, "UNKNOWN")}}
    if status == 429:
        return OPENAI_RATE_LIMIT
    if status == 401:
        return OPENAI_BAD_KEY
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeProvider(LoopbackHttpServer):
    """One fake provider server on 127.0.0.1 (a free port unless one is given)."""

    thread_name = "fake-provider"

    def __init__(
        self,
        latency_s: float = 0.0,
        *,
        record: bool = True,
        models: Sequence[str] = ("gpt-4o-mini",),
        api_keys: Sequence[str] | None = None,
        respond: Callable[[Received], Reply | None] | None = None,
    ) -> None:
        super().__init__()
        self.latency_s = latency_s
        self.record = record
        self.models = tuple(models)
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.respond = respond
        self.failures: list[Failure] = []
        self.holds: list[Hold] = []
        self.stats = Stats()
        self._numbers = 0
        self._lock = threading.Lock()  # tests read the stats from another thread

    # -- what a test arranges and reads -------------------------------------------------

    def hold(
        self, *, turn: int | None = None, contains: str | None = None, skip: int = 0, group: int | None = None
    ) -> Hold:
        """Holds matching requests from now on (see `Hold`); `release()` the result to answer them."""
        rule = Hold(self, turn=turn, contains=contains, skip=skip, group=group)
        with self._lock:
            self.holds.append(rule)
        return rule

    def received(self) -> list[Received]:
        """The requests received so far, in order."""
        with self._lock:
            return list(self.stats.requests)

    def clear_received(self) -> None:
        with self._lock:
            self.stats.requests.clear()

    def user_texts(self) -> list[str]:
        return [request.user_text for request in self.received()]

    # -- HTTP -------------------------------------------------------------------------

    def _accepted(self) -> int:
        with self._lock:
            self.stats.connections += 1
            return self.stats.connections

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = json.loads(request.body) if request.body else None
        received = Received(request.method, request.target, request.headers, body, request.connection)
        status, extra_headers, payload = await self._answer(received)
        data = json.dumps(payload).encode()
        head = [("content-type", "application/json"), ("content-length", str(len(data))), *extra_headers.items()]
        writer.write(response_head(status, "OK" if status == 200 else "Error", head) + data)
        await writer.drain()
        return True

    async def _answer(self, request: Received) -> Reply:
        with self._lock:
            self._numbers += 1
            number = self._numbers
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            if self.record:
                self.stats.requests.append(request)
            holds = [rule for rule in self.holds if rule.matches(request)]
        try:
            for rule in holds:
                await rule.wait_here()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return self._response(request, number)
        finally:
            with self._lock:
                self.stats.in_flight -= 1
                self.stats.answered += 1

    def _failure_for(self, request: Received) -> Failure | None:
        with self._lock:
            for rule in self.failures:
                if rule.matches(request):
                    return rule
        return None

    def _response(self, request: Received, number: int) -> Reply:
        """Keys first (a provider refuses a bad key before anything), then injected failures,
        then the test's own `respond`, then the documented success bodies."""
        if self.api_keys is not None and request.api_key not in self.api_keys:
            return 401, {}, error_body(request.api, 401)
        method, path, body = request.method, request.path, request.body
        rule = self._failure_for(request) if method == "POST" else None
        if rule is not None:
            extra = {"retry-after-ms": str(rule.retry_after_ms)} if rule.retry_after_ms is not None else {}
            return rule.status, extra, rule.body if rule.body is not None else error_body(request.api, rule.status)
        if self.respond is not None:
            reply = self.respond(request)
            if reply is not None:
                return reply
        if method == "GET" and path.rstrip("/").endswith("/models"):
            listed = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "fake"} for m in self.models]
            return 200, {}, {"object": "list", "data": listed}
        if method != "POST" or request.api == "other":
            return 404, {}, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}
        model = request.model
        answer = f"Fake answer {number} to: {request.user_text[:60]}"
        prompt_tokens = max(1, _prompt_chars(body) // 4)
        build = {
            "openai": _openai_completion,
            "mistral": _mistral_completion,
            "anthropic": _anthropic_message,
            "gemini": _gemini_response,
        }[request.api]
        return 200, {}, build(model, answer, prompt_tokens, number)


# -- as a process (benchmarks: the fake's CPU must not compete with the measuring process) --


@contextlib.contextmanager
def fake_provider_process(latency_ms: float = 0.0) -> Iterator[str]:
    """A fake provider server in its own process; yields its base URL, stops it on exit."""
    with server_process("testkit.fake_provider", "--latency-ms", str(latency_ms)) as url:
        yield url


async def _serve_process(latency_s: float, port: int) -> None:
    fake = FakeProvider(latency_s, record=False)
    await fake.start(port)
    await announce_and_wait(fake.port)
    await fake.close()
    sys.stderr.write(json.dumps({"answered": fake.stats.answered, "connections": fake.stats.connections}) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="local fake provider server (OpenAI, Anthropic, Gemini, Mistral)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve_process(args.latency_ms / 1000, args.port))


if __name__ == "__main__":
    main()
