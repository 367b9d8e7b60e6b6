"""Anthropic's Message Batches API (`/v1/messages/batches`), through the `anthropic` SDK.

Documented shapes (docs.anthropic.com, Message Batches): `create` takes `requests: [{custom_id,
params}]` where `params` is a Messages API body (custom_id: 1-64 of `[a-zA-Z0-9_-]`); at
most 100,000 requests or 256 MB per batch. `processing_status` goes in_progress ->
(canceling ->) ended; `request_counts` has processing, succeeded, errored, canceled,
expired. The results (JSONL, available once ended) hold one line per request:
`{"custom_id", "result": {"type": "succeeded", "message"} | {"type": "errored", "error":
<an error body>} | {"type": "canceled"} | {"type": "expired"}}`.

A batch carries no metadata of ours, so after a crash between `create` and the state
write it is found by listing batches: the one created after our intent, with the same
number of requests, that no other entry of the state names; our tag is in every
custom_id, which the results confirm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import anthropic
import httpx2
from anthropic.types.messages import MessageBatch

from common.providers.adapters.anthropic import AnthropicProvider
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

CLOCK_SKEW_S = 3600.0
# An errored result carries the error body without its HTTP status; these are the statuses
# the API documents for each error type (docs.anthropic.com, "Errors"), so a batch failure
# is read by the adapter exactly as the same error online.
ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
UNLISTED_ERROR_STATUS = 500  # a type the documentation does not list: the provider's own failure
_NOT_RUN = {"expired": expired_error, "canceled": cancelled_error}


class AnthropicBatches(BatchTransport):
    max_requests: ClassVar[int] = 100_000
    max_bytes: ClassVar[int] = 256 * 1024 * 1024
    inline: ClassVar[bool] = True

    @property
    def adapter(self) -> AnthropicProvider:
        assert isinstance(self.provider, AnthropicProvider)
        return self.provider

    def entry(self, custom_id: str, request: ModelRequest, api: ApiName = "chat") -> Any:
        return {"custom_id": custom_id, "params": self.adapter.message_body(request)}

    async def submit(
        self, tag: str, model: str, entries: BatchInput, on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        # The SDK's own POST with the body as the JSON bytes of the runner's input file:
        # `batches.create` would first walk every request's history through its TypedDict
        # transform to produce the same JSON, and objects of a whole batch would be held at
        # once. The answer is parsed as MessageBatch.
        body = entries.json_array(before=b'{"requests":', after=b"}")
        batch = await self.adapter.client.post("/v1/messages/batches", content=body, cast_to=MessageBatch)
        return Submitted(batch.id, None, batch.created_at.timestamp())

    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        async for batch in self.adapter.client.messages.batches.list(limit=100):  # newest first
            created = batch.created_at.timestamp()
            if created < since - CLOCK_SKEW_S:
                return None
            counts = batch.request_counts
            total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
            if batch.id not in known and total == count and created >= since - CLOCK_SKEW_S:
                return Submitted(batch.id, None, created)
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self.adapter.client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        return BatchStatus(
            status=batch.processing_status,
            terminal=batch.processing_status == "ended",
            counts=counts.model_dump(),
            created_at=batch.created_at.timestamp(),
            ended_at=batch.ended_at.timestamp() if batch.ended_at else None,
            expired=counts.expired > 0,
            cancelled=batch.cancel_initiated_at is not None,
        )

    async def cancel(self, batch_id: str) -> None:
        await self.adapter.client.messages.batches.cancel(batch_id)

    async def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        decoder = await self.adapter.client.messages.batches.results(batch_id)
        async for item in decoder:
            result = item.result
            if result.type == "succeeded":
                yield Outcome(item.custom_id, response=self.adapter.read_message(result.message))
            elif result.type == "errored":
                yield Outcome(item.custom_id, error=self._errored(result.error.model_dump(mode="json")))
            else:
                yield Outcome(item.custom_id, error=_NOT_RUN[result.type](self.name, batch_id))

    def _errored(self, body: dict[str, Any]) -> Any:
        """An errored request's error body, read by the adapter as the same error online."""
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        status = ERROR_STATUS.get(str(error.get("type")), UNLISTED_ERROR_STATUS)
        headers = {"request-id": str(body.get("request_id") or "")}
        http = httpx2.Response(
            status, headers=headers, json=body, request=httpx2.Request("POST", "https://batch/v1/messages")
        )
        exc = anthropic.APIStatusError(str(error.get("message") or status), response=http, body=body)
        return self.adapter.classify(exc)
