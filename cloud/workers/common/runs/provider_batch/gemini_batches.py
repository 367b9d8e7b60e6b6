"""Gemini batch mode (`models/{model}:batchGenerateContent`), through the `google-genai` SDK.

Documented shapes (ai.google.dev, Batch API): `batches.create(model, src=[inlined
GenerateContentRequest], config={"display_name"})` takes the requests inline, for batches
whose whole request stays under 20 MB (larger runs are split into several batches here);
each inlined request carries `metadata` of ours, which its response carries back. `state`
goes JOB_STATE_PENDING -> JOB_STATE_RUNNING -> JOB_STATE_SUCCEEDED (or FAILED, CANCELLED,
EXPIRED: the 48 h window). An ended batch's `dest.inlined_responses` holds, per request,
`{"response": <GenerateContentResponse>}` or `{"error": <google.rpc.Status>}` (a gRPC code,
not an HTTP status), with the request's `metadata`.

Our tag is the batch's display name, so after a crash between `create` and the state
write the batch is found again by listing batches. The inlined responses come in the
`batches.get` that sees the batch ended; that answer is kept for `results` (one download).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from google.genai import errors as genai_errors
from google.genai import types

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.adapters.google import GoogleProvider
from common.providers.base import ModelRequest
from common.runs.provider_batch.transport import BatchStatus, BatchTransport, Outcome, Submitted

DISPLAY_PREFIX = "probe-batch-"
KEY = "key"  # the inlined request's metadata entry that carries our custom id
TERMINAL = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})
LIST_PAGE = 100
# google.rpc.Code -> (the HTTP status the API maps it to, its canonical name), as in
# google/rpc/code.proto: an inlined error is read by the adapter as the same error online.
RPC_CODES: dict[int, tuple[int, str]] = {
    1: (499, "CANCELLED"),
    2: (500, "UNKNOWN"),
    3: (400, "INVALID_ARGUMENT"),
    4: (504, "DEADLINE_EXCEEDED"),
    5: (404, "NOT_FOUND"),
    6: (409, "ALREADY_EXISTS"),
    7: (403, "PERMISSION_DENIED"),
    8: (429, "RESOURCE_EXHAUSTED"),
    9: (400, "FAILED_PRECONDITION"),
    10: (409, "ABORTED"),
    11: (400, "OUT_OF_RANGE"),
    12: (501, "UNIMPLEMENTED"),
    13: (500, "INTERNAL"),
    14: (503, "UNAVAILABLE"),
    15: (500, "DATA_LOSS"),
    16: (401, "UNAUTHENTICATED"),
}


def _state(job: types.BatchJob) -> str:
    state = job.state
    return str(state.value if isinstance(state, types.JobState) else state or "JOB_STATE_UNSPECIFIED")


class GeminiBatches(BatchTransport):
    # No request count is documented for inline batches: the 20 MB bound is the one that binds.
    max_requests: ClassVar[int] = 1_000_000
    # 20 MB inline, less 1 MB for the envelope and the wire's key names (camelCase, `models/` prefixes).
    max_bytes: ClassVar[int] = 19 * 1024 * 1024

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._ended: dict[str, types.BatchJob] = {}  # batch name -> the get that saw it end

    @property
    def adapter(self) -> GoogleProvider:
        assert isinstance(self.provider, GoogleProvider)
        return self.provider

    def entry(self, custom_id: str, request: ModelRequest) -> Any:
        contents, config = self.adapter.content_request(request)
        return {
            "custom_id": custom_id,
            "contents": [content.model_dump(mode="json", exclude_none=True) for content in contents],
            "config": config.model_dump(mode="json", exclude_none=True),
        }

    async def submit(
        self, tag: str, model: str, entries: list[Any], on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        inlined = [
            types.InlinedRequest(contents=entry["contents"], config=entry["config"], metadata={KEY: entry["custom_id"]})
            for entry in entries
        ]
        job = await self.adapter.client.aio.batches.create(
            model=model, src=inlined, config=types.CreateBatchJobConfig(display_name=DISPLAY_PREFIX + tag)
        )
        if not job.name:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} created a batch without a name",
                details={"provider": self.name},
            )
        return Submitted(job.name, None, job.create_time.timestamp() if job.create_time else None)

    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        # The listing's order is not documented, so every page is read (once per crash-resumed intent).
        pager = await self.adapter.client.aio.batches.list(config=types.ListBatchJobsConfig(page_size=LIST_PAGE))
        async for job in pager:
            created = job.create_time.timestamp() if job.create_time else None
            if job.display_name == DISPLAY_PREFIX + tag and job.name and job.name not in known:
                return Submitted(job.name, None, created)
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        job = await self.adapter.client.aio.batches.get(name=batch_id)
        state = _state(job)
        terminal = state in TERMINAL
        responses = job.dest.inlined_responses if job.dest is not None else None
        if terminal:
            self._ended[batch_id] = job
        counts: dict[str, int] = {}
        if responses is not None:
            counts = {
                "succeeded": sum(1 for r in responses if r.error is None),
                "failed": sum(1 for r in responses if r.error is not None),
            }
        batch_error = None
        if state == "JOB_STATE_FAILED" and not responses:
            batch_error = self._batch_failure(job)
        return BatchStatus(
            status=state,
            terminal=terminal,
            counts=counts,
            created_at=job.create_time.timestamp() if job.create_time else None,
            ended_at=job.end_time.timestamp() if job.end_time else None,
            batch_error=batch_error,
            expired=state == "JOB_STATE_EXPIRED",
            cancelled=state == "JOB_STATE_CANCELLED",
        )

    def _batch_failure(self, job: types.BatchJob) -> WorkerError:
        """A batch that failed as a whole: its error (if the API gave one) for every request in it."""
        if job.error is not None and job.error.code:
            error = self._rpc_error(job.error)
        else:
            from common.errors.classify import to_worker_error

            error = to_worker_error(
                ErrorFacts(self.name, error_code="batch_failed", message=f"batch {job.name} failed")
            )
        error.details["batchId"] = job.name
        return error

    async def cancel(self, batch_id: str) -> None:
        await self.adapter.client.aio.batches.cancel(name=batch_id)

    async def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        job = self._ended.pop(batch_id, None)
        if job is None:  # not seen ended by this process: ask again
            job = await self.adapter.client.aio.batches.get(name=batch_id)
        for item in (job.dest.inlined_responses if job.dest is not None else None) or []:
            custom_id = str((item.metadata or {}).get(KEY))
            if item.error is not None:
                yield Outcome(custom_id, error=self._rpc_error(item.error))
            elif item.response is not None:
                try:
                    answer = self.adapter.read_response(item.response)
                except WorkerError as unreadable:
                    yield Outcome(custom_id, error=unreadable, request_id=item.response.response_id)
                    continue
                yield Outcome(custom_id, response=answer, request_id=item.response.response_id)

    def _rpc_error(self, error: types.JobError) -> WorkerError:
        """An inlined google.rpc.Status, read by the adapter as the HTTP error it stands for online."""
        code = error.code or 2
        # Codes of 100 and more are HTTP statuses already (some gateways answer so).
        status, name = RPC_CODES.get(code, (500, "UNKNOWN")) if code < 100 else (code, None)
        said: dict[str, Any] = {"code": status, "message": error.message or name or f"HTTP {status}"}
        if name is not None:
            said["status"] = name
        body = {"error": said}
        return self.adapter.classify(genai_errors.APIError(status, body))
