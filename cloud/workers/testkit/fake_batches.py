"""A local fake of the providers' batch APIs, for tests and benchmarks: nothing leaves 127.0.0.1.

It speaks the documented shapes the real SDKs expect:
- OpenAI Batch API: `POST /v1/files` (multipart, purpose `batch`), `POST /v1/batches`,
  `GET /v1/batches/{id}` (validating -> in_progress -> completed, or expired, cancelling ->
  cancelled, failed with `errors.data[]` `{code, message, param, line}`), `GET /v1/batches`
  (newest first, `after` cursor), `POST /v1/batches/{id}/cancel`, `GET /v1/files/{id}/content`
  (the output and error JSONL: `{"id", "custom_id", "response": {"status_code", "request_id",
  "body"}, "error"}`). Lines of `"url": "/v1/chat/completions"` get a chat completion, of
  `"/v1/responses"` a Response object (a dated served model, a reasoning item with a summary
  when `reasoning.summary` was asked, usage with reasoning tokens); a batch whose lines' url is
  not its `endpoint` fails validation (`invalid_url`), as the Batch API's does;
- Anthropic Message Batches: `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}`
  (in_progress -> [canceling ->] ended), `GET /v1/messages/batches` (`after_id`),
  `POST .../{id}/cancel`, `GET .../{id}/results` (JSONL of succeeded / errored / canceled /
  expired results);
- Mistral batch jobs: `POST /v1/files` (shared with OpenAI's, purpose `batch`), `POST
  /v1/batch/jobs` (metadata, model), `GET /v1/batch/jobs/{id}` (QUEUED -> RUNNING -> SUCCESS,
  or TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED -> CANCELLED, FAILED with `errors` `{message,
  count}` and no output), `GET /v1/batch/jobs` (newest
  first, `page`), `POST .../{id}/cancel`, `GET /v1/files/{id}/content` (output and error
  JSONL: `{"id", "custom_id", "response": {"status_code", "body"}, "error"}`);
- Gemini batch mode: `POST /v1beta/models/{model}:batchGenerateContent` (inlined requests, or
  `inputConfig.fileName` naming an uploaded JSONL of `{"key", "request"}` lines;
  `displayName`), `GET /v1beta/batches/{id}` (an operation whose metadata goes
  BATCH_STATE_PENDING -> RUNNING -> SUCCEEDED, or EXPIRED, CANCELLED, and then holds the
  inlined responses: `{"response"}` or `{"error": <google.rpc.Status>}` with the request's
  metadata; for a file batch `output.responsesFile`, a JSONL of `{"key", "response"}` /
  `{"key", "error"}` lines; FAILED: the operation's top-level `error`, a google.rpc.Status, and
  no output), `GET /v1beta/batches` (`pageToken`), `POST /v1beta/batches/{id}:cancel`; the
  Files API's resumable upload (`POST /upload/v1beta/files` with `X-Goog-Upload-Command: start`
  answers `x-goog-upload-url`; chunks up to `upload, finalize` answer the File) and
  `GET /v1beta/files/{id}:download`. The get that carries inlined responses counts as the
  `download` (the other gets as `retrieve`); a file batch's download is its results file's.

A batch ends after `polls_to_end` retrieves (no clock: a test decides when by polling).
Answers are deterministic functions of the request (the same conversation gets the same
answer and ids in every run), so a run interrupted anywhere can be compared with one that
was not. What a test can arrange: `failures` (chosen requests answer an HTTP error in the
provider's error shape, a number of times), `rejections` (a `ParamRejection`: OpenAI and
Anthropic requests that carry a parameter the model refuses get that provider's documented
error body), `expire_next` (the next batch to end expires,
running only its first half), `fail_next` (a `WholeBatchFailure`: a coming batch fails as a
whole, running nothing), `hold(route, mode)` (catch a client mid-call: before the
fake acts, after it acted but before it answers, or halfway through a download). `calls`
counts every call by kind; `submissions` is the number of batches created.

In a test: `with FakeBatches().running() as fake: ... fake.url ...`. As a process
(benchmarks): `python -m testkit.fake_batches` prints `{"port": N}` and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from testkit.fake_provider import (
    WAIT_S,
    _anthropic_message,
    _gemini_response,
    _mistral_completion,
    _openai_completion,
    error_body,
)
from testkit.http_server import HttpRequest, LoopbackHttpServer, response_head
from testkit.servers import announce_and_wait, server_process

HoldMode = Literal["before", "after", "partial"]
Api = Literal["openai", "anthropic", "mistral", "gemini"]
STATS_PATH = "/_fake/stats"
# Gemini's paths (`/{version}/batches/...`) would meet OpenAI's under one root: a Gemini base
# URL is the fake's URL + `/gemini` (see `gemini_url`).
GEMINI_PREFIX = "gemini"
# HTTP status -> the google.rpc.Code an inlined Gemini error carries instead.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}
# Mistral's error body `type` per status (its chat completion errors).
_MISTRAL_TYPES = {400: "invalid_request_error", 401: "unauthorized", 404: "invalid_model", 429: "rate_limited"}


@dataclass
class BatchFailure:
    """Requests of turn `turn` (all turns: None) answer `status` in the provider's error shape, `times` times."""

    status: int
    turn: int | None = None
    times: int = 1
    contains: str | None = None

    def matches(self, turn: int, text: str) -> bool:
        if self.times <= 0:
            return False
        return (self.turn is None or self.turn == turn) and (self.contains is None or self.contains in text)


@dataclass
class ParamRejection:
    """Requests whose body (as the provider receives it) carries `param` (with `above`: a number
    over it) are refused with `body`, the provider's documented error body, as the model refuses
    that parameter online: a request sent without it (or within the limit) runs."""

    param: str
    body: dict[str, Any]
    status: int = 400
    above: int | None = None

    def matches(self, request: dict[str, Any]) -> bool:
        if self.param not in request:
            return False
        value = request[self.param]
        return self.above is None or (isinstance(value, int) and value > self.above)


def chat_completion_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion a batch line gets (and an online fake of the same job may serve)."""
    messages = body.get("messages") or []
    text = f"Batch answer to: {_last_user(messages)[:60]}"
    completion = _openai_completion(str(body.get("model")), text, max(1, len(json.dumps(messages)) // 4), 0)
    completion["id"] = "chatcmpl-" + _digest(body)
    completion["created"] = 1_700_000_000
    return completion


def anthropic_message_answer(params: dict[str, Any]) -> dict[str, Any]:
    """The message a Message Batches request gets (and an online fake of the same job may serve)."""
    messages = params.get("messages") or []
    text = f"Batch answer to: {_last_user(messages)[:60]}"
    message = _anthropic_message(str(params.get("model")), text, max(1, len(json.dumps(messages)) // 4), 0)
    message["id"] = "msg_" + _digest(params)
    return message


@dataclass
class WholeBatchFailure:
    """The next batch to end fails as a whole and runs none of its requests, in its API's shape:
    OpenAI `failed` with the validation `errors` (`code`, `message`, `line`), Gemini
    BATCH_STATE_FAILED with the operation's `error` (a google.rpc.Status: `status` as its gRPC
    code; None: the operation gives no error), Mistral FAILED with its `errors` messages.
    Anthropic's Message Batches have no such state: its batches never take one."""

    message: str = "the batch failed"
    status: int | None = 400
    code: str = "invalid_request"
    skip: int = 0  # batches that end normally first (e.g. 1: turn 1's batch, so turn 2's fails)


@dataclass
class Hold:
    """Holds a call of `route` (`mode`: before acting, after acting, or halfway through its body):
    the next one, or the one after `skip` more have passed."""

    route: str
    mode: HoldMode
    fake: FakeBatches
    skip: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    _release: asyncio.Event | None = None

    def wait_arrived(self, timeout_s: float = WAIT_S) -> None:
        if not self.arrived.wait(timeout_s):
            raise TimeoutError(f"no {self.route} call arrived at the fake")

    def release(self) -> None:
        def wake() -> None:
            if self._release is not None:
                self._release.set()

        self.fake.call_soon(wake)

    async def wait_here(self) -> None:
        self._release = asyncio.Event()
        self.arrived.set()
        await self._release.wait()


@dataclass
class FakeBatch:
    api: Api
    id: str
    requests: list[dict[str, Any]]  # the entries as submitted
    created_at: int
    metadata: dict[str, str] | None = None
    input_file_id: str | None = None
    polls: int = 0
    status: str = "validating"
    cancel_requested: bool = False
    outputs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ended_at: int | None = None
    expired: bool = False
    model: str | None = None
    display_name: str | None = None
    endpoint: str = "/v1/chat/completions"
    failure: WholeBatchFailure | None = None  # set when the batch ends failed


def _gemini_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """An inlined Gemini request's contents as role/content messages (for the shared helpers)."""
    messages = []
    for content in request.get("contents") or []:
        text = "".join(str(part.get("text", "")) for part in content.get("parts") or [])
        messages.append({"role": "assistant" if content.get("role") == "model" else "user", "content": text})
    return messages


def _user_turns(messages: list[Any]) -> int:
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")


def _last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _openai_errors(failure: WholeBatchFailure) -> dict[str, Any]:
    """A failed OpenAI batch's `errors`: the validation problems of its input file."""
    return {
        "object": "list",
        "data": [{"code": failure.code, "message": failure.message, "param": None, "line": 1}],
    }


def _responses_answer(body: dict[str, Any], text: str, prompt_tokens: int, response_id: str) -> dict[str, Any]:
    """A completed Responses API response (platform.openai.com, the Response object) to a batch line's body:
    the served model a dated snapshot, a reasoning item (with a summary when one was asked for), the text."""
    reasoning = body.get("reasoning") or {}
    summary = [{"type": "summary_text", "text": "Reasoned about the question."}] if reasoning.get("summary") else []
    reasoning_tokens = 48 if reasoning else 0
    output_tokens = max(1, len(text) // 4) + reasoning_tokens
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": f"{body.get('model')}-2025-06-10",
        "output": [
            {"type": "reasoning", "id": "rs_" + response_id[5:], "summary": summary},
            {
                "type": "message",
                "id": "msg_" + response_id[5:],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            },
        ],
        "parallel_tool_calls": True,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": bool(body.get("store")),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": prompt_tokens + output_tokens,
        },
        "metadata": {},
    }


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]  # an id, not security


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, content)."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + boundary):
        if not chunk.strip() or chunk.strip() == b"--":
            continue
        head, _, body = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (line for line in head.decode("latin-1").split("\r\n") if line.lower().startswith("content-disposition")),
            "",
        )
        fields = dict(item.strip().split("=", 1) for item in disposition.split(";")[1:] if "=" in item)
        name = fields.get("name", "").strip('"')
        filename = fields["filename"].strip('"') if "filename" in fields else None
        parts[name] = (filename, body.removesuffix(b"\r\n"))
    return parts


class FakeBatches(LoopbackHttpServer):
    thread_name = "fake-batches"

    def __init__(self, *, polls_to_end: int = 2, record: bool = True) -> None:
        super().__init__()
        self.polls_to_end = polls_to_end
        self.record = record
        self.failures: list[BatchFailure] = []
        self.rejections: list[ParamRejection] = []  # parameters the models refuse, per request
        self.expire_next = False
        self.fail_next: WholeBatchFailure | None = None
        self.holds: list[Hold] = []
        self.calls: Counter[str] = Counter()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.created = 0  # batches created (a create call held before it acted creates none)
        self._numbers = 0
        self._lock = threading.Lock()
        self._uploads: dict[str, tuple[str, bytearray]] = {}  # Gemini resumable uploads in progress

    @property
    def gemini_url(self) -> str:
        """The base URL for the google-genai client (GEMINI_BASE_URL)."""
        return f"{self.url}/{GEMINI_PREFIX}"

    @property
    def submissions(self) -> int:
        """Batches created (each one is paid for): a run must never create one twice."""
        with self._lock:
            return self.created

    def hold(self, route: str, mode: HoldMode = "before", *, skip: int = 0) -> Hold:
        rule = Hold(route, mode, self, skip)
        with self._lock:
            self.holds.append(rule)
        return rule

    def clear_holds(self) -> None:
        with self._lock:
            held, self.holds = self.holds, []
        for rule in held:
            rule.release()

    def _next(self, prefix: str) -> str:
        with self._lock:
            self._numbers += 1
            return f"{prefix}{self._numbers:08d}"

    def _take_hold(self, route: str) -> Hold | None:
        with self._lock:
            for rule in self.holds:
                if rule.route == route:
                    if rule.skip:
                        rule.skip -= 1
                        return None
                    self.holds.remove(rule)
                    return rule
        return None

    # -- answers ----------------------------------------------------------------------------

    def _failure(self, turn: int, text: str) -> BatchFailure | None:
        with self._lock:
            for rule in self.failures:
                if rule.matches(turn, text):
                    rule.times -= 1
                    return rule
        return None

    def rejection(self, request: dict[str, Any]) -> ParamRejection | None:
        """The first of `rejections` this request's body meets."""
        with self._lock:
            return next((rule for rule in self.rejections if rule.matches(request)), None)

    def _run_openai(self, batch: FakeBatch, index: int, entry: dict[str, Any]) -> None:
        body = entry.get("body") or {}
        responses = entry.get("url") == "/v1/responses"
        messages = (body.get("input") if responses else body.get("messages")) or []
        custom_id = entry.get("custom_id")
        line_id = "batch_req_" + _digest([custom_id, batch.id])
        request_id = "req_" + _digest(body)
        failure = self._failure(_user_turns(messages), _last_user(messages))
        if failure is not None:
            response = {
                "status_code": failure.status,
                "request_id": request_id,
                "body": error_body("openai", failure.status),
            }
            batch.errors.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})
            return
        if (rejected := self.rejection(body)) is not None:
            response = {"status_code": rejected.status, "request_id": request_id, "body": rejected.body}
            batch.errors.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})
            return
        text = f"Batch answer to: {_last_user(messages)[:60]}"
        prompt_tokens = max(1, len(json.dumps(messages)) // 4)
        if responses:
            answer = _responses_answer(body, text, prompt_tokens, "resp_" + _digest(body))
            response = {"status_code": 200, "request_id": request_id, "body": answer}
            batch.outputs.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})
            return
        response = {"status_code": 200, "request_id": request_id, "body": chat_completion_answer(body)}
        batch.outputs.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})

    def _run_anthropic(self, batch: FakeBatch, index: int, entry: dict[str, Any]) -> None:
        params = entry.get("params") or {}
        messages = params.get("messages") or []
        custom_id = entry.get("custom_id")
        failure = self._failure(_user_turns(messages), _last_user(messages))
        if failure is not None:
            result: dict[str, Any] = {"type": "errored", "error": error_body("anthropic", failure.status)}
            batch.errors.append({"custom_id": custom_id, "result": result})
            return
        if (rejected := self.rejection(params)) is not None:
            batch.errors.append({"custom_id": custom_id, "result": {"type": "errored", "error": rejected.body}})
            return
        message = anthropic_message_answer(params)
        batch.outputs.append({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}})

    def _run_mistral(self, batch: FakeBatch, index: int, entry: dict[str, Any]) -> None:
        body = entry.get("body") or {}
        messages = body.get("messages") or []
        custom_id = entry.get("custom_id")
        line_id = "batchreq-" + _digest([custom_id, batch.id])
        failure = self._failure(_user_turns(messages), _last_user(messages))
        if failure is not None:
            error = {
                "object": "error",
                "message": error_body("openai", failure.status)["error"]["message"],
                "type": _MISTRAL_TYPES.get(failure.status, "internal_error"),
                "param": None,
                "code": str(3000 + failure.status),
            }
            response = {"status_code": failure.status, "body": error}
            batch.errors.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})
            return
        text = f"Batch answer to: {_last_user(messages)[:60]}"
        completion = _mistral_completion(
            str(batch.model or body.get("model")), text, max(1, len(json.dumps(messages)) // 4), 0
        )
        completion["id"] = "cmpl-" + _digest(body)
        completion["created"] = 1_700_000_000
        response = {"status_code": 200, "body": completion}
        batch.outputs.append({"id": line_id, "custom_id": custom_id, "response": response, "error": None})

    def _run_gemini(self, batch: FakeBatch, index: int, entry: dict[str, Any]) -> None:
        request = entry.get("request") or {}
        messages = _gemini_messages(request)
        # An inlined request's result carries its metadata back; a file line's, its key.
        mark: dict[str, Any] = {"key": entry.get("key")} if batch.input_file_id else {"metadata": entry.get("metadata")}
        failure = self._failure(_user_turns(messages), _last_user(messages))
        if failure is not None:
            status = {
                "code": _RPC_CODES.get(failure.status, 2),
                "message": error_body("gemini", failure.status)["error"]["message"],
            }
            batch.errors.append({"error": status, **mark})
            return
        text = f"Batch answer to: {_last_user(messages)[:60]}"
        model = str(batch.model or "").removeprefix("models/")
        answer = _gemini_response(model, text, max(1, len(json.dumps(messages)) // 4), 0)
        answer["responseId"] = "gem" + _digest(request)
        batch.outputs.append({"response": answer, **mark})

    def _end(self, batch: FakeBatch) -> None:
        """Runs the batch's requests: all of them, or (expired / cancelled) the first half."""
        total = len(batch.requests)
        ran = total if not (batch.expired or batch.cancel_requested) else total // 2
        if batch.failure is not None:
            ran = 0
        run = {
            "openai": self._run_openai,
            "anthropic": self._run_anthropic,
            "mistral": self._run_mistral,
            "gemini": self._run_gemini,
        }[batch.api]
        for index, entry in enumerate(batch.requests[:ran]):
            run(batch, index, entry)
        for entry in batch.requests[ran:] if batch.failure is None else []:
            custom_id = entry.get("custom_id")
            if batch.api == "openai" and batch.expired:
                batch.errors.append(
                    {
                        "id": "batch_req_" + _digest([custom_id, batch.id]),
                        "custom_id": custom_id,
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired.",
                        },
                    }
                )
            elif batch.api == "anthropic":
                kind = "expired" if batch.expired else "canceled"
                batch.errors.append({"custom_id": custom_id, "result": {"type": kind}})
        batch.ended_at = int(time.time())
        ended = {
            "openai": ("expired", "cancelled", "completed"),
            "anthropic": ("ended", "ended", "ended"),
            "mistral": ("TIMEOUT_EXCEEDED", "CANCELLED", "SUCCESS"),
            "gemini": ("BATCH_STATE_EXPIRED", "BATCH_STATE_CANCELLED", "BATCH_STATE_SUCCEEDED"),
        }[batch.api]
        batch.status = ended[0] if batch.expired else ended[1] if batch.cancel_requested else ended[2]
        if batch.failure is not None:
            batch.status = {"openai": "failed", "mistral": "FAILED", "gemini": "BATCH_STATE_FAILED"}[batch.api]

    def _advance(self, batch: FakeBatch) -> None:
        if batch.ended_at is not None:
            return
        batch.polls += 1
        if batch.cancel_requested:
            self._end(batch)
            return
        if batch.polls >= self.polls_to_end:
            with self._lock:
                batch.expired, self.expire_next = self.expire_next, False
                if self.fail_next is not None and batch.api != "anthropic" and self.fail_next.skip > 0:
                    self.fail_next.skip -= 1
                elif self.fail_next is not None and batch.api != "anthropic":
                    batch.failure = batch.failure or self.fail_next
                    self.fail_next = None
            self._end(batch)
        else:
            batch.status = {
                "openai": "in_progress",
                "anthropic": "in_progress",
                "mistral": "RUNNING",
                "gemini": "BATCH_STATE_RUNNING",
            }[batch.api]

    def ends_now(self, batch: FakeBatch) -> bool:
        """Whether a retrieve of the batch now answers it ended (Gemini's get then carries the results)."""
        return batch.ended_at is not None or batch.cancel_requested or batch.polls + 1 >= self.polls_to_end

    # -- documents --------------------------------------------------------------------------

    def _openai_batch(self, batch: FakeBatch) -> dict[str, Any]:
        ended = batch.ended_at is not None
        output_id, error_id = self._result_files(batch)
        failed = sum(1 for line in batch.errors if line.get("response") is not None)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": _openai_errors(batch.failure) if batch.failure is not None and ended else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": output_id,
            "error_file_id": error_id,
            "created_at": batch.created_at,
            "in_progress_at": batch.created_at if batch.polls else None,
            "expires_at": batch.created_at + 86400,
            "completed_at": batch.ended_at if batch.status == "completed" else None,
            "expired_at": batch.ended_at if batch.status == "expired" else None,
            "cancelled_at": batch.ended_at if batch.status == "cancelled" else None,
            "failed_at": batch.ended_at if batch.status == "failed" else None,
            "request_counts": {
                "total": len(batch.requests),
                "completed": len(batch.outputs),
                "failed": failed + (len(batch.errors) - failed if ended else 0),
            },
            "metadata": batch.metadata,
        }

    def _result_files(self, batch: FakeBatch) -> tuple[str | None, str | None]:
        output_id = error_id = None
        if batch.ended_at is not None and batch.outputs:
            output_id = f"file-out-{batch.id}"
            self.files[output_id] = ("output.jsonl", b"".join(json.dumps(o).encode() + b"\n" for o in batch.outputs))
        if batch.ended_at is not None and batch.errors:
            error_id = f"file-err-{batch.id}"
            self.files[error_id] = ("errors.jsonl", b"".join(json.dumps(o).encode() + b"\n" for o in batch.errors))
        return output_id, error_id

    def _mistral_batch(self, batch: FakeBatch) -> dict[str, Any]:
        output_id, error_id = self._result_files(batch)
        return {
            "id": batch.id,
            "object": "batch",
            "input_files": [batch.input_file_id],
            "metadata": batch.metadata,
            "endpoint": "/v1/chat/completions",
            "model": batch.model,
            "output_file": output_id,
            "error_file": error_id,
            "errors": (
                [{"message": batch.failure.message, "count": len(batch.requests)}]
                if batch.failure is not None and batch.ended_at is not None
                else []
            ),
            "status": batch.status,
            "created_at": batch.created_at,
            "total_requests": len(batch.requests),
            "completed_requests": len(batch.outputs) + len(batch.errors),
            "succeeded_requests": len(batch.outputs),
            "failed_requests": len(batch.errors),
            "started_at": batch.created_at if batch.polls else None,
            "completed_at": batch.ended_at,
        }

    def _gemini_batch(self, batch: FakeBatch) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.created_at))
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": batch.model,
            "displayName": batch.display_name,
            "createTime": stamp,
            "updateTime": stamp,
            "state": batch.status,
            "batchStats": {
                "requestCount": str(len(batch.requests)),
                "successfulRequestCount": str(len(batch.outputs)),
                "failedRequestCount": str(len(batch.errors)),
            },
        }
        done = batch.ended_at is not None
        operation: dict[str, Any] = {"name": batch.id, "metadata": metadata, "done": done}
        if done:
            metadata["endTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.ended_at))
        if done and batch.failure is not None:  # a failed operation: its google.rpc.Status, no output
            if batch.failure.status is not None:
                operation["error"] = {"code": _RPC_CODES.get(batch.failure.status, 2), "message": batch.failure.message}
        elif done and batch.input_file_id:  # the file form: a results file, one line per request
            name = f"files/results-{batch.id.removeprefix('batches/')}"
            lines = b"".join(json.dumps(line).encode() + b"\n" for line in [*batch.outputs, *batch.errors])
            self.files[name] = ("results.jsonl", lines)
            metadata["output"] = {"responsesFile": name}
        elif done:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": [*batch.outputs, *batch.errors]}}
        return operation

    def _anthropic_batch(self, batch: FakeBatch) -> dict[str, Any]:
        ended = batch.ended_at is not None
        kinds = Counter(line["result"]["type"] for line in [*batch.outputs, *batch.errors])
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.created_at))
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if batch.cancel_requested else "in_progress"),
            "request_counts": {
                "processing": 0 if ended else len(batch.requests),
                "succeeded": kinds["succeeded"],
                "errored": kinds["errored"],
                "canceled": kinds["canceled"],
                "expired": kinds["expired"],
            },
            "ended_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.ended_at)) if ended else None,
            "created_at": created,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.created_at + 86400)),
            "archived_at": None,
            "cancel_initiated_at": created if batch.cancel_requested else None,
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    # -- routes -----------------------------------------------------------------------------

    @staticmethod
    def _api(path: str) -> Api:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == [GEMINI_PREFIX]:
            return "gemini"
        if parts[1:2] == ["messages"]:
            return "anthropic"
        return "mistral" if parts[1:2] == ["batch"] else "openai"

    def _gemini_route(self, method: str, parts: list[str]) -> str:
        if parts[1:2] == ["upload"]:  # /gemini/upload/{version}/files: a resumable upload's start and chunks
            return "upload"
        parts = parts[2:]  # after the prefix and the API version
        if method == "POST" and parts and parts[-1].endswith(":batchGenerateContent"):
            return "create"
        if parts[:1] == ["files"]:
            return "download" if parts[-1].endswith(":download") else "file"
        if parts[:1] != ["batches"]:
            return "other"
        if len(parts) == 1:
            return "list"
        if parts[1].endswith(":cancel"):
            return "cancel"
        found = self.batches.get("batches/" + parts[1])
        # The inline form's results come in the get that sees the batch end: that get is its download.
        inline = found is not None and not found.input_file_id
        return "download" if found is not None and inline and self.ends_now(found) else "retrieve"

    def _route(self, method: str, path: str) -> str:
        parts = [p for p in path.split("/") if p]
        if self._api(path) == "gemini":
            return self._gemini_route(method, parts)
        if parts[:3] == ["v1", "batch", "jobs"]:
            tail = parts[3:]
            if not tail:
                return "create" if method == "POST" else "list"
            return "cancel" if len(tail) == 2 and tail[1] == "cancel" else "retrieve"
        if parts[:2] == ["v1", "files"]:
            if method == "POST":
                return "upload"
            return "download" if parts[-1] == "content" else "file"
        if parts[:2] == ["v1", "batches"] or parts[:3] == ["v1", "messages", "batches"]:
            tail = parts[2:] if parts[1] == "batches" else parts[3:]
            if not tail:
                return "create" if method == "POST" else "list"
            if len(tail) == 2 and tail[1] == "cancel":
                return "cancel"
            if len(tail) == 2 and tail[1] == "results":
                return "download"
            return "retrieve"
        return "other"

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """One answer: status, content type, body and any headers of its own (Gemini's upload protocol)."""
        parts = [p for p in path.split("/") if p]
        if self._api(path) == "gemini" and parts[1:2] == ["upload"]:
            return self._gemini_upload(query, headers, raw)
        return (*self._answer(method, path, query, headers, raw), {})

    def _gemini_upload(
        self, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """The Files API's resumable upload: `start` (answers the upload URL), then chunks up to `finalize`."""
        command = headers.get("x-goog-upload-command", "")
        if command == "start":
            upload_id = self._next("up")
            said = (json.loads(raw) if raw else {}).get("file") or {}
            # The SDK sends the File's fields as it names them (snake_case), which the API accepts too.
            display = said.get("displayName") or said.get("display_name") or "input.jsonl"
            self._uploads[upload_id] = (str(display), bytearray())
            url = f"{self.url}/{GEMINI_PREFIX}/upload/v1beta/files?upload_id={upload_id}"
            return 200, "application/json", b"{}", {"x-goog-upload-url": url, "x-goog-upload-status": "active"}
        upload_id = (query.get("upload_id") or [""])[0]
        pending = self._uploads.get(upload_id)
        if pending is None:
            return 404, "application/json", json.dumps(error_body("gemini", 404)).encode(), {}
        pending[1].extend(raw)
        if "finalize" not in command:
            return 200, "application/json", b"{}", {"x-goog-upload-status": "active"}
        del self._uploads[upload_id]
        name = "files/" + self._next("in")
        self.files[name] = (pending[0], bytes(pending[1]))
        document = {
            "file": {
                "name": name,
                "displayName": pending[0],
                "mimeType": "application/jsonl",
                "sizeBytes": str(len(pending[1])),
                "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "uri": f"{self.url}/{GEMINI_PREFIX}/v1beta/{name}",
                "state": "ACTIVE",
                "source": "UPLOADED",
            }
        }
        return 200, "application/json", json.dumps(document).encode(), {"x-goog-upload-status": "final"}

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, bytes]:
        parts = [p for p in path.split("/") if p]
        route = self._route(method, path)
        api = self._api(path)
        anthropic = api == "anthropic"

        def js(value: Any, status: int = 200) -> tuple[int, str, bytes]:
            return status, "application/json", json.dumps(value).encode()

        if path == STATS_PATH:  # what a benchmark reads from a fake in its own process
            with self._lock:
                return js({"calls": dict(self.calls), "created": self.created})

        if api == "gemini" and route != "other":
            return self._handle_gemini(route, method, parts, query, raw)
        if api == "mistral" and route != "other":
            return self._handle_mistral(route, parts, query, raw)
        if route == "upload":
            form = _multipart(headers.get("content-type", ""), raw)
            filename, content = form.get("file", (None, b""))
            file_id = self._next("file-in-")
            self.files[file_id] = (filename or "input.jsonl", content)
            return js(
                {  # OpenAI's FileObject, with the fields Mistral's CreateFileResponse adds
                    "id": file_id,
                    "object": "file",
                    "bytes": len(content),
                    "created_at": int(time.time()),
                    "filename": filename,
                    "purpose": "batch",
                    "status": "processed",
                    "sample_type": "batch_request",
                    "source": "upload",
                    "num_lines": len([line for line in content.splitlines() if line.strip()]),
                }
            )
        if route == "create":
            body = json.loads(raw) if raw else {}
            if anthropic:
                batch = FakeBatch(
                    "anthropic", self._next("msgbatch_"), list(body.get("requests") or []), int(time.time())
                )
                batch.status = "in_progress"
                self.batches[batch.id] = batch
                self.created += 1
                return js(self._anthropic_batch(batch))
            file_id = str(body.get("input_file_id"))
            if file_id not in self.files:
                return js(
                    {
                        "error": {
                            "message": f"No such File object: {file_id}",
                            "type": "invalid_request_error",
                            "param": "input_file_id",
                            "code": None,
                        }
                    },
                    400,
                )
            lines = [json.loads(line) for line in self.files[file_id][1].splitlines() if line.strip()]
            batch = FakeBatch("openai", self._next("batch_"), lines, int(time.time()), body.get("metadata"), file_id)
            batch.endpoint = str(body.get("endpoint"))
            # The Batch API's validation: every line's `url` is the batch's endpoint.
            wrong = [n for n, line in enumerate(lines, 1) if line.get("url") != batch.endpoint]
            if wrong:
                batch.failure = WholeBatchFailure(
                    f"The url of the request does not match the batch's endpoint {batch.endpoint}",
                    400,
                    "invalid_url",
                )
            self.batches[batch.id] = batch
            self.created += 1
            return js(self._openai_batch(batch))
        if route == "list":
            limit = int((query.get("limit") or ["20"])[0])
            cursor = query.get("after") or query.get("after_id")
            after = cursor[0] if cursor else None
            api = "anthropic" if anthropic else "openai"
            ordered = [b for b in reversed(list(self.batches.values())) if b.api == api]
            if after is not None:
                ids = [b.id for b in ordered]
                ordered = ordered[ids.index(after) + 1 :] if after in ids else []
            page = ordered[:limit]
            render = self._anthropic_batch if anthropic else self._openai_batch
            data = [render(b) for b in page]
            document: dict[str, Any] = {
                "data": data,
                "has_more": len(ordered) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            if not anthropic:
                document["object"] = "list"
            return js(document)
        if route in ("retrieve", "cancel") or (route == "download" and anthropic):
            batch_id = parts[3] if anthropic else parts[2]
            found = self.batches.get(batch_id)
            if found is None:
                return js(error_body("anthropic" if anthropic else "openai", 404), 404)
            if route == "cancel":
                found.cancel_requested = True
                if found.api == "openai" and found.ended_at is None:
                    found.status = "cancelling"
            elif route == "retrieve":
                self._advance(found)
            else:
                results = b"".join(json.dumps(line).encode() + b"\n" for line in [*found.outputs, *found.errors])
                return 200, "application/binary", results
            return js(self._anthropic_batch(found) if anthropic else self._openai_batch(found))
        if route == "download":
            stored = self.files.get(parts[2])
            if stored is None:
                return js(error_body("openai", 404), 404)
            return 200, "application/octet-stream", stored[1]
        return js({"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}, 404)

    def _handle_mistral(
        self, route: str, parts: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, str, bytes]:
        def js(value: Any, status: int = 200) -> tuple[int, str, bytes]:
            return status, "application/json", json.dumps(value).encode()

        if route == "create":
            body = json.loads(raw) if raw else {}
            file_ids = list(body.get("input_files") or [])
            missing = [file_id for file_id in file_ids if file_id not in self.files]
            if not file_ids or missing:
                return js(
                    {"object": "error", "message": f"files not found: {missing}", "type": "invalid_request_file"}, 404
                )
            lines = [json.loads(line) for f in file_ids for line in self.files[f][1].splitlines() if line.strip()]
            batch = FakeBatch(
                "mistral", self._next("mbatch-"), lines, int(time.time()), body.get("metadata"), file_ids[0]
            )
            batch.model, batch.status = body.get("model"), "QUEUED"
            self.batches[batch.id] = batch
            self.created += 1
            return js(self._mistral_batch(batch))
        if route == "list":
            page = int((query.get("page") or ["0"])[0])
            size = int((query.get("page_size") or ["100"])[0])
            ordered = [b for b in reversed(list(self.batches.values())) if b.api == "mistral"]
            data = [self._mistral_batch(b) for b in ordered[page * size : (page + 1) * size]]
            return js({"data": data, "object": "list", "total": len(ordered)})
        found = self.batches.get(parts[3])
        if found is None or found.api != "mistral":
            return js({"object": "error", "message": "Batch job not found", "type": "not_found"}, 404)
        if route == "cancel":
            found.cancel_requested = True
            if found.ended_at is None:
                found.status = "CANCELLATION_REQUESTED"
        else:
            self._advance(found)
        return js(self._mistral_batch(found))

    def _handle_gemini(
        self, route: str, method: str, parts: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, str, bytes]:
        def js(value: Any, status: int = 200) -> tuple[int, str, bytes]:
            return status, "application/json", json.dumps(value).encode()

        if route == "create":
            body = (json.loads(raw) if raw else {}).get("batch") or {}
            source = body.get("inputConfig") or {}
            requests = ((source.get("requests")) or {}).get("requests") or []
            file_name = source.get("fileName")
            if file_name is not None:
                if file_name not in self.files:
                    return js(error_body("gemini", 404), 404)
                requests = [json.loads(line) for line in self.files[file_name][1].splitlines() if line.strip()]
            batch = FakeBatch("gemini", "batches/" + self._next("gb")[2:], list(requests), int(time.time()))
            batch.input_file_id = file_name
            batch.model = "models/" + parts[-1].split(":", 1)[0]
            batch.display_name, batch.status = body.get("displayName"), "BATCH_STATE_PENDING"
            self.batches[batch.id] = batch
            self.created += 1
            return js(self._gemini_batch(batch))
        if route == "list":
            size = int((query.get("pageSize") or ["50"])[0])
            start = int((query.get("pageToken") or ["0"])[0])
            ordered = [b for b in reversed(list(self.batches.values())) if b.api == "gemini"]
            document: dict[str, Any] = {"operations": [self._gemini_batch(b) for b in ordered[start : start + size]]}
            if start + size < len(ordered):
                document["nextPageToken"] = str(start + size)
            return js(document)
        if route in ("download", "file") and parts[2:3] == ["files"]:
            stored = self.files.get("files/" + parts[3].removesuffix(":download"))
            if stored is None:
                return js(error_body("gemini", 404), 404)
            if route == "file":
                return js({"name": "files/" + parts[3], "displayName": stored[0], "sizeBytes": str(len(stored[1]))})
            return 200, "application/octet-stream", stored[1]
        name = "batches/" + parts[3].removesuffix(":cancel")
        found = self.batches.get(name)
        if found is None:
            return js(error_body("gemini", 404), 404)
        if route == "cancel":
            found.cancel_requested = True
            return js({})
        self._advance(found)
        return js(self._gemini_batch(found))

    # -- HTTP -------------------------------------------------------------------------------

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        split = urlsplit(request.target)
        route = self._route(request.method, split.path)
        with self._lock:
            self.calls[route] += 1
        hold = self._take_hold(route)
        if hold is not None and hold.mode == "before":
            await hold.wait_here()
        status, content_type, data, extra = self._handle(
            request.method, split.path, parse_qs(split.query), request.headers, request.body
        )
        if hold is not None and hold.mode == "after":
            await hold.wait_here()
        head = [("content-type", content_type), *extra.items(), ("content-length", str(len(data)))]
        head_out = response_head(status, "OK" if status == 200 else "Error", head)
        if hold is not None and hold.mode == "partial":
            writer.write(head_out + data[: len(data) // 2])
            await writer.drain()
            await hold.wait_here()
            writer.write(data[len(data) // 2 :])
        else:
            writer.write(head_out + data)
        await writer.drain()
        return True

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Serves on its own thread and event loop for the duration of the block."""
        with super().running():
            try:
                yield self
            finally:
                self.clear_holds()  # a held request must not keep the loop from stopping


@contextlib.contextmanager
def fake_batches_process(polls_to_end: int = 2) -> Iterator[str]:
    """The fake in its own process (its CPU is not the measured process's); yields its URL."""
    with server_process("testkit.fake_batches", "--polls-to-end", str(polls_to_end)) as url:
        yield url


def fake_stats(url: str) -> dict[str, Any]:
    """The calls a fake (in any process) has counted, by kind, and the batches it created."""
    with urllib.request.urlopen(url + STATS_PATH, timeout=WAIT_S) as response:  # loopback only
        stats: dict[str, Any] = json.load(response)
    return stats


async def _serve_process(port: int, polls_to_end: int) -> None:
    fake = FakeBatches(polls_to_end=polls_to_end, record=False)
    await fake.start(port)
    await announce_and_wait(fake.port)
    sys.stderr.write(json.dumps({"calls": dict(fake.calls)}) + "\n")
    await fake.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="local fake of the OpenAI, Anthropic, Mistral and Gemini batch APIs")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--polls-to-end", type=int, default=2)
    args = parser.parse_args(argv)
    asyncio.run(_serve_process(args.port, args.polls_to_end))


if __name__ == "__main__":
    main()
