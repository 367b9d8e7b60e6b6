"""Gemini batch mode (`models/{model}:batchGenerateContent`), through the `google-genai` SDK.

Documented shapes (ai.google.dev, Batch API): two ways to give the requests.
- Inline: `batches.create(model, src=[inlined GenerateContentRequest], config={"display_name"})`,
  for batches whose whole request stays under 20 MB; each inlined request carries `metadata`
  of ours, which its response carries back; an ended batch's `dest.inlined_responses` holds,
  per request, `{"response": <GenerateContentResponse>}` or `{"error": <google.rpc.Status>}`.
- Input file: a JSONL of `{"key", "request": <GenerateContentRequest>}` lines uploaded with the
  Files API (`files.upload`, resumable; at most 2 GB a file), then `batches.create(model,
  src="files/...")`; an ended batch's `dest.file_name` names a results JSONL (downloaded with
  `files.download`), one line per request: `{"key", "response"}` or `{"key", "error"}`.
`state` goes JOB_STATE_PENDING -> JOB_STATE_RUNNING -> JOB_STATE_SUCCEEDED (or FAILED,
CANCELLED, EXPIRED: the 48 h window). An error is a `google.rpc.Status` (a gRPC code, not an
HTTP status).

Which form: inline while the batch's requests fit in 19 MB (one call fewer each way: no upload,
and the results come in the `batches.get` that sees the batch end, kept for `results`), the
file form above that, so a wave is cut at the Files API's 2 GB instead of at 19 MB and its
results are streamed to a temporary file and read a line at a time instead of arriving in one
JSON document. Both requests are built by the SDK's own conversion of an inlined request (a
file line's `request` is the same JSON).

Our tag is the batch's display name (and the input file's), so after a crash between
`create` and the state write the batch is found again by listing batches.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from google.genai import batches as genai_batches
from google.genai import errors as genai_errors
from google.genai import types

from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.adapters.google import GoogleProvider
from common.providers.base import ModelRequest
from common.providers.records import ApiName
from common.runs.provider_batch.transport import BatchInput, BatchStatus, BatchTransport, Outcome, Submitted

DISPLAY_PREFIX = "probe-batch-"
KEY = "key"  # the inlined request's metadata entry (and the file line's field) that carries our custom id
TERMINAL = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})
LIST_PAGE = 100
# 20 MB inline, less 1 MB for the envelope and the wire's key names (camelCase, `models/` prefixes).
INLINE_MAX_BYTES = 19 * 1024 * 1024
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
    # No request count is documented for a batch: the size bounds are the ones that bind.
    max_requests: ClassVar[int] = 1_000_000
    # The file form's bound: the Files API takes files of up to 2 GB (less a margin for the wire form).
    max_bytes: ClassVar[int] = 2_000 * 1024 * 1024
    # Up to this many bytes a batch goes inline (see the module docstring).
    inline_max_bytes: ClassVar[int] = INLINE_MAX_BYTES
    inline: ClassVar[bool] = False  # larger batches go as a file: only one of 19 MB at most is held

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._ended: dict[str, types.BatchJob] = {}  # batch name -> the get that saw it end

    @property
    def adapter(self) -> GoogleProvider:
        assert isinstance(self.provider, GoogleProvider)
        return self.provider

    def entry(self, custom_id: str, request: ModelRequest, api: ApiName = "chat") -> Any:
        contents, config = self.adapter.content_request(request)
        return {
            "custom_id": custom_id,
            "contents": [content.model_dump(mode="json", exclude_none=True) for content in contents],
            "config": config.model_dump(mode="json", exclude_none=True),
        }

    @staticmethod
    def _inlined(entry: Any) -> types.InlinedRequest:
        return types.InlinedRequest(
            contents=entry["contents"], config=entry["config"], metadata={KEY: entry["custom_id"]}
        )

    async def submit(
        self, tag: str, model: str, entries: BatchInput, on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        client = self.adapter.client
        config = types.CreateBatchJobConfig(display_name=DISPLAY_PREFIX + tag)
        src: list[types.InlinedRequest] | str
        if entries.path.stat().st_size <= self.inline_max_bytes:  # one `entry_bytes` line per entry
            src = [self._inlined(entry) for entry in entries.entries()]
        else:
            src = await self._upload(tag, entries)
            await on_uploaded(src)
        job = await client.aio.batches.create(model=model, src=src, config=config)
        if not job.name:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} created a batch without a name",
                details={"provider": self.name},
            )
        return Submitted(job.name, None if isinstance(src, list) else src, _seconds(job.create_time))

    async def _upload(self, tag: str, entries: BatchInput) -> str:
        """The input file (`{"key", "request"}` lines, the SDK's own wire form of each request); its name."""
        api_client = self.adapter.client._api_client  # the converter needs it (model names, Vertex or not)
        with tempfile.TemporaryFile() as spool:  # written a line at a time, not joined in memory
            for entry in entries.entries():
                wire = genai_batches._InlinedRequest_to_mldev(api_client, self._inlined(entry))
                line = {KEY: entry["custom_id"], "request": wire["request"]}
                spool.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            spool.seek(0)
            uploaded = await self.adapter.client.aio.files.upload(
                file=spool,
                config=types.UploadFileConfig(display_name=DISPLAY_PREFIX + tag, mime_type="jsonl"),
            )
        if not uploaded.name:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} stored the batch input file without a name",
                details={"provider": self.name},
            )
        return uploaded.name

    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        # The listing's order is not documented, so every page is read (once per crash-resumed intent).
        pager = await self.adapter.client.aio.batches.list(config=types.ListBatchJobsConfig(page_size=LIST_PAGE))
        async for job in pager:
            if job.display_name == DISPLAY_PREFIX + tag and job.name and job.name not in known:
                return Submitted(job.name, None, _seconds(job.create_time))
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
        return BatchStatus(
            status=state,
            terminal=terminal,
            counts=counts,
            created_at=_seconds(job.create_time),
            ended_at=_seconds(job.end_time),
            output_file_id=job.dest.file_name if job.dest is not None else None,
            # Requests a failed batch gave no result for get its error (those it answered keep theirs).
            batch_error=await self._batch_failure(job) if state == "JOB_STATE_FAILED" else None,
            expired=state == "JOB_STATE_EXPIRED",
            cancelled=state == "JOB_STATE_CANCELLED",
        )

    async def _batch_failure(self, job: types.BatchJob) -> WorkerError:
        """A batch that failed as a whole: the operation's google.rpc.Status, read as the HTTP error it stands for.

        google-genai 3.4.0 drops that `error` when it converts a Gemini API operation into a
        `BatchJob` (only its Vertex AI converter keeps it), so it is read from the operation
        itself, through the SDK's own request path, once per failed batch.
        """
        said = job.error
        if said is None or not said.code:
            said = await self._operation_error(str(job.name))
        if said is not None and said.code:
            error = self._rpc_error(said)
        else:  # no reason given: the provider's failure (a new batch may run), bounded by --max-attempts
            from common.errors.classify import to_worker_error

            error = to_worker_error(
                ErrorFacts(
                    self.name,
                    status=500,
                    error_code="batch_failed",
                    message=f"batch {job.name} failed without an error",
                )
            )
        error.details["batchId"] = job.name
        error.details["batchStatus"] = "JOB_STATE_FAILED"
        return error

    async def _operation_error(self, name: str) -> types.JobError | None:
        answer = await self.adapter.client.aio._api_client.async_request("get", name, {}, None)
        document = json.loads(answer.body) if answer.body else {}
        error = document.get("error") if isinstance(document, dict) else None
        return types.JobError.model_validate(error) if isinstance(error, dict) else None

    async def cancel(self, batch_id: str) -> None:
        await self.adapter.client.aio.batches.cancel(name=batch_id)

    async def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        job = self._ended.pop(batch_id, None)
        if job is None:  # not seen ended by this process: ask again
            job = await self.adapter.client.aio.batches.get(name=batch_id)
        if job.dest is not None and job.dest.file_name:
            async for read in self._file_results(job.dest.file_name):
                yield read
            return
        for item in (job.dest.inlined_responses if job.dest is not None else None) or []:
            outcome = self._outcome(str((item.metadata or {}).get(KEY)), item)
            if outcome is not None:
                yield outcome

    async def _file_results(self, file_name: str) -> AsyncIterator[Outcome]:
        """The results file, streamed to a temporary file (it may be gigabytes) and read a line at a time."""
        with tempfile.TemporaryFile() as spool:
            await self.adapter.client.aio.files.download(file=file_name, destination=spool)
            spool.seek(0)
            for raw in spool:
                if not raw.strip():
                    continue
                line = json.loads(raw)
                converted = genai_batches._InlinedResponse_from_mldev(line)
                item = types.InlinedResponse._from_response(response=converted, kwargs={})
                outcome = self._outcome(str(line.get(KEY)), item)
                if outcome is not None:
                    yield outcome

    def _outcome(self, custom_id: str, item: types.InlinedResponse) -> Outcome | None:
        """One request's result; None for a result with neither (the runner says it ended without one)."""
        if item.error is not None:
            return Outcome(custom_id, error=self._rpc_error(item.error))
        if item.response is None:
            return None
        try:
            answer = self.adapter.read_response(item.response)
        except WorkerError as unreadable:
            return Outcome(custom_id, error=unreadable, request_id=item.response.response_id)
        return Outcome(custom_id, response=answer, request_id=item.response.response_id)

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


def _seconds(moment: Any) -> float | None:
    return float(moment.timestamp()) if moment is not None else None
