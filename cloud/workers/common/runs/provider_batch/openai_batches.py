"""OpenAI's Batch API (`/v1/batches`) for Chat Completions and Responses API requests, through the `openai` SDK.

Documented shapes (platform.openai.com, Batch API): the input is a JSONL file uploaded with
purpose `batch`, one line per request: `{"custom_id", "method": "POST", "url", "body"}`, the
url `/v1/chat/completions` (the body a Chat Completions body) or `/v1/responses` (a Responses
API body); every line of a file has the batch's `endpoint` (a batch of mixed urls fails
validation), so the runner puts each API's requests in batches of their own; at most 50,000
requests and 200 MB per file. `batches.create(input_file_id, endpoint, completion_window="24h",
metadata)` starts it; `status` goes validating -> in_progress -> finalizing -> completed
(or failed, expired, cancelling -> cancelled). The output file holds one line per request
that ran, `{"id": "batch_req_...", "custom_id", "response": {"status_code", "request_id",
"body"}, "error": null}`; the error file holds requests that failed without a response
(`"response": null, "error": {"code", "message"}`), e.g. `batch_expired`.

Responses API lines are built and read exactly as online (`adapters.openai_responses`): the
whole history as `input` items with `store: false` (the online path keeps nothing at OpenAI
either, so turn 2 never needs `previous_response_id`; a batched response could not be chained
to one anyway), the answer read from the line's `response.body` (a Response object) with its
served model, usage (reasoning tokens inside `output_tokens`), reasoning summaries and
`incomplete_details` finish reasons. Background mode is not used in a batch (see
`transport.batch_api_choice`).

Our tag goes in the batch's metadata and the input file's name, so after a crash between
`create` and the state write the batch is found again by listing batches.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar, Literal

import httpx2
import openai
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from common.errors.codes import WorkerError
from common.errors.facts import ErrorFacts
from common.providers.adapters.openai import OpenAIProvider
from common.providers.adapters.openai_responses import ResponsesTransport, request_body
from common.providers.base import ModelRequest
from common.providers.records import ApiName
from common.runs.provider_batch.transport import (
    BatchInput,
    BatchStatus,
    BatchTransport,
    Outcome,
    Submitted,
    cancelled_error,
    expired_error,
)

TAG_KEY = "probe_batch_tag"
Endpoint = Literal["/v1/chat/completions", "/v1/responses"]
ENDPOINT: Endpoint = "/v1/chat/completions"
ENDPOINTS: dict[ApiName, Endpoint] = {"chat": ENDPOINT, "responses": "/v1/responses"}
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
LIST_PAGE = 100
# How far before the intent a listed batch may be dated and still be ours (clocks differ).
CLOCK_SKEW_S = 3600.0
# Per-line error codes that say the request never ran (the Batch API guide).
_NOT_RUN = {"batch_expired": expired_error, "batch_cancelled": cancelled_error}


def _endpoint(url: Any) -> Endpoint:
    return "/v1/responses" if url == "/v1/responses" else ENDPOINT


class OpenAIBatches(BatchTransport):
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200 * 1024 * 1024
    apis: ClassVar[frozenset[ApiName]] = frozenset({"chat", "responses"})

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._responses: ResponsesTransport | None = None

    @property
    def adapter(self) -> OpenAIProvider:
        assert isinstance(self.provider, OpenAIProvider)
        return self.provider

    @property
    def responses(self) -> ResponsesTransport:
        """The adapter's Responses API reader (its view on the same client)."""
        if self._responses is None:
            self._responses = ResponsesTransport(self.adapter)
        return self._responses

    def entry(self, custom_id: str, request: ModelRequest, api: ApiName = "chat") -> Any:
        body = request_body(request) if api == "responses" else self.adapter.chat_body(request)
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINTS[api], "body": body}

    async def submit(
        self, tag: str, model: str, entries: BatchInput, on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        client = self.adapter.client
        first: Any = next(entries.entries(), None)
        # One endpoint per batch (the runner groups each API's requests): its first line says which.
        endpoint = _endpoint(first.get("url") if isinstance(first, dict) else None)
        with entries.path.open("rb") as content:  # streamed by the multipart upload, never read whole
            uploaded = await client.files.create(file=(f"probe-batch-{tag}.jsonl", content), purpose="batch")
        await on_uploaded(uploaded.id)
        batch = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint=endpoint,
            completion_window="24h",
            metadata={TAG_KEY: tag, "model": model[:512]},
        )
        return Submitted(batch.id, uploaded.id, float(batch.created_at))

    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        async for batch in self.adapter.client.batches.list(limit=LIST_PAGE):  # newest first
            if (batch.metadata or {}).get(TAG_KEY) == tag:
                return Submitted(batch.id, batch.input_file_id, float(batch.created_at))
            if batch.created_at < since - CLOCK_SKEW_S:
                return None
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self.adapter.client.batches.retrieve(batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        ended = batch.completed_at or batch.failed_at or batch.expired_at or batch.cancelled_at
        batch_error = None
        if batch.status == "failed":
            batch_error = self._batch_failure(batch)
        return BatchStatus(
            status=batch.status,
            terminal=batch.status in TERMINAL,
            counts=counts,
            created_at=float(batch.created_at),
            ended_at=float(ended) if ended else None,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            batch_error=batch_error,
            expired=batch.status == "expired",
            cancelled=batch.status == "cancelled",
        )

    def _batch_failure(self, batch: Any) -> WorkerError:
        """A batch that failed validation: its `errors` say why, for every request in it."""
        from common.errors.classify import to_worker_error

        errors = list(batch.errors.data or []) if batch.errors is not None else []
        first = errors[0] if errors else None
        message = "; ".join(f"line {e.line}: {e.message}" if e.line else str(e.message) for e in errors[:5])
        error = to_worker_error(
            ErrorFacts(
                self.name,
                status=400,  # the Batch API's `failed`: "the input file has failed the validation process"
                error_code=first.code if first is not None else None,
                param=first.param if first is not None else None,
                message=message or f"batch {batch.id} failed",
                body=batch.errors.model_dump() if batch.errors is not None else None,
            )
        )
        error.details["batchId"] = batch.id
        return error

    async def cancel(self, batch_id: str) -> None:
        await self.adapter.client.batches.cancel(batch_id)

    async def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        for file_id in (status.output_file_id, status.error_file_id):
            if not file_id:
                continue
            async with self.adapter.client.files.with_streaming_response.content(file_id) as response:
                async for line in response.iter_lines():
                    if line.strip():
                        yield self._outcome(batch_id, json.loads(line))

    def _outcome(self, batch_id: str, line: dict[str, Any]) -> Outcome:
        custom_id = str(line.get("custom_id"))
        request_id = line.get("id") if isinstance(line.get("id"), str) else None
        response = line.get("response")
        if isinstance(response, dict):
            status_code = int(response.get("status_code") or 0)
            body = response.get("body")
            if status_code == 200 and isinstance(body, dict):
                try:
                    if body.get("object") == "response":  # a `/v1/responses` line: read as online
                        answer = self.responses.read_response(Response.construct(**body))
                    else:
                        answer = self.adapter.read_completion(ChatCompletion.construct(**body))
                except WorkerError as unreadable:
                    return Outcome(custom_id, error=unreadable, request_id=request_id)
                return Outcome(custom_id, response=answer, request_id=request_id)
            return Outcome(custom_id, error=self._status_error(status_code, response, body), request_id=request_id)
        said = line.get("error")
        error: dict[str, Any] = said if isinstance(said, dict) else {}
        code = str(error.get("code") or "")
        not_run = _NOT_RUN.get(code)
        if not_run is not None:
            return Outcome(custom_id, error=not_run(self.name, batch_id), request_id=request_id)
        from common.errors.classify import to_worker_error

        facts = ErrorFacts(self.name, error_code=code or None, message=str(error.get("message") or ""), body=error)
        return Outcome(custom_id, error=to_worker_error(facts), request_id=request_id)

    def _status_error(self, status_code: int, response: dict[str, Any], body: Any) -> WorkerError:
        """A request's own error response, read by the adapter as the same answer online would be."""
        headers = {"x-request-id": str(response.get("request_id") or "")}
        http = httpx2.Response(
            status_code, headers=headers, json=body, request=httpx2.Request("POST", f"https://batch{ENDPOINT}")
        )
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") if isinstance(error, dict) else None
        exc = openai.APIStatusError(str(message or f"Error code: {status_code}"), response=http, body=error)
        return self.adapter.classify(exc)
