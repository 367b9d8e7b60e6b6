"""A deterministic offline provider, so hosts, demos and tests run end to end with no key.

`mock:<behaviour>` where behaviour is one of:

- `echo` (the default): a reproducible answer derived from the conversation so far;
- `fail:<CODE>` every request fails with that error code; `fail:<CODE>@<turn>` from
  that turn on (earlier turns answer), so partial transcripts can be exercised;
- `flaky:<CODE>:<n>`: the first n requests of every turn fail, then it answers;
- `truncate`: answers with finish reason `length`;
- `empty`: answers with no text; `filtered`: no text, finish reason `content_filter`;
- `slow:<ms>`: waits that long before each answer (for timeout and cancellation tests).

Retryable mock failures carry `retryAfterMs: 10` so retry paths run fast.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import ClassVar

from common.errors.codes import ErrorCode, WorkerError
from common.providers.base import ModelRequest, ModelResponse, Provider
from common.providers.settings import ProviderSettings
from common.providers.usage import Usage
from common.tokens import count_with_chars

MOCK_MODEL_VERSION = "mock-1.0"
_RETRY_HINT_MS = 10

# A plausible HTTP status for each code a mock failure can be asked for.
_STATUS: dict[ErrorCode, int | None] = {
    ErrorCode.RATE_LIMIT: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.AUTH_ERROR: 401,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.CONTEXT_LENGTH: 400,
    ErrorCode.CONTENT_FILTERED: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.SERVER_ERROR: 500,
    ErrorCode.OVERLOADED: 529,
    ErrorCode.TIMEOUT: None,
    ErrorCode.NETWORK_ERROR: None,
    ErrorCode.INVALID_RESPONSE: 200,
    ErrorCode.UNKNOWN: None,
}

_WORDS = (
    "consider",
    "weigh",
    "balance",
    "trust",
    "harm",
    "benefit",
    "duty",
    "outcome",
    "fairness",
    "autonomy",
    "risk",
    "honesty",
    "care",
    "evidence",
    "context",
    "priority",
    "principle",
    "tradeoff",
)


@dataclass(frozen=True)
class Behaviour:
    kind: str
    code: ErrorCode | None = None
    from_turn: int = 1
    count: int = 0
    delay_ms: int = 0


def _bad_behaviour(spec: str, why: str) -> WorkerError:
    return WorkerError(
        ErrorCode.VALIDATION_ERROR,
        f"mock behaviour {spec!r} is not valid: {why}; use echo, fail:<CODE>[@<turn>], flaky:<CODE>:<n>,"
        " truncate, empty, filtered or slow:<ms>",
        details={"field": "modelId"},
    )


def _code(spec: str, raw: str) -> ErrorCode:
    try:
        code = ErrorCode(raw.upper())
    except ValueError:
        raise _bad_behaviour(spec, f"unknown error code {raw!r}") from None
    if code not in _STATUS:
        raise _bad_behaviour(spec, f"{code.value} is not a provider error")
    return code


def parse_behaviour(spec: str) -> Behaviour:
    parts = spec.strip().split(":")
    kind = parts[0].lower() or "echo"
    try:
        if kind in ("echo", "truncate", "empty", "filtered") and len(parts) == 1:
            return Behaviour(kind)
        if kind == "fail" and len(parts) == 2:
            code_part, _, turn = parts[1].partition("@")
            return Behaviour(kind, code=_code(spec, code_part), from_turn=int(turn) if turn else 1)
        if kind == "flaky" and len(parts) == 3:
            return Behaviour(kind, code=_code(spec, parts[1]), count=int(parts[2]))
        if kind == "slow" and len(parts) == 2:
            return Behaviour(kind, delay_ms=int(parts[1]))
    except ValueError:
        raise _bad_behaviour(spec, "a number is malformed") from None
    raise _bad_behaviour(spec, "unknown behaviour")


def _answer(request: ModelRequest, turn: int) -> str:
    material = "\x1f".join(
        [request.model, request.system or "", repr(sorted(request.params.sent.items()))]
        + [f"{m.role}:{m.content}" for m in request.messages]
    )
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()
    words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[:12])
    prompt = request.messages[-1].content.strip().replace("\n", " ")
    quoted = prompt if len(prompt) <= 60 else prompt[:57] + "..."
    return f"Mock answer to turn {turn} ({quoted!r}): I {words}."


class MockProvider(Provider):
    name: ClassVar[str] = "mock"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._requests_per_turn: dict[tuple[str, int], int] = {}

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        behaviour = parse_behaviour(request.model)
        turn = sum(1 for m in request.messages if m.role == "user")
        key = (request.model, turn)
        self._requests_per_turn[key] = self._requests_per_turn.get(key, 0) + 1
        if behaviour.kind == "slow":
            await asyncio.sleep(min(behaviour.delay_ms / 1000, timeout_s))
        failing = (behaviour.kind == "fail" and turn >= behaviour.from_turn) or (
            behaviour.kind == "flaky" and self._requests_per_turn[key] <= behaviour.count
        )
        if failing and behaviour.code is not None:
            raise WorkerError(
                behaviour.code,
                f"mock provider failing with {behaviour.code.value} as asked",
                details={"provider": self.name, "behaviour": request.model},
                status_code=_STATUS[behaviour.code],
                retry_after_ms=_RETRY_HINT_MS if WorkerError(behaviour.code, "").retryable else None,
            )
        text = _answer(request, turn)
        finish = "stop"
        if behaviour.kind == "truncate":
            text, finish = text[: max(8, len(text) // 2)], "length"
        elif behaviour.kind == "empty":
            text = ""
        elif behaviour.kind == "filtered":
            text, finish = "", "content_filter"
        prompt_chars = sum(len(m.content) for m in request.messages) + len(request.system or "")
        input_tokens = max(1, -(-prompt_chars // 4)) + 3 * len(request.messages)
        output_tokens = count_with_chars(text)
        return ModelResponse(
            text=text,
            model_version=MOCK_MODEL_VERSION,
            response_id="mock-"
            + hashlib.sha256(text.encode("utf-8", "surrogatepass") + str(turn).encode()).hexdigest()[:16],
            raw_finish_reason=finish,
            usage=Usage.reasoning_inside_output(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                raw={"input_tokens": input_tokens, "output_tokens": output_tokens},
            ),
        )

    async def list_models(self, timeout_s: float) -> list[str]:
        return ["echo", "truncate", "empty", "filtered"]
