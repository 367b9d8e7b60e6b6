"""Mistral's batch jobs (`/v1/batch/jobs`) for Chat Completions requests, through the `mistralai` SDK.

Documented shapes (docs.mistral.ai, Batch Inference; "Known limitations"): the input is a
JSONL file uploaded with purpose `batch`, one line per request: `{"custom_id", "body": <the
Chat Completions body>}`; at most 100,000 requests and 512 MB a batch file.
`batch.jobs.create(input_files, endpoint="/v1/chat/completions", model, metadata,
timeout_hours=24)` starts it; `status` goes QUEUED -> RUNNING -> SUCCESS (or FAILED,
TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED -> CANCELLED). The output file holds one line per
request that ran, `{"id", "custom_id", "response": {"status_code", "body"}, "error": null}`;
the error file the requests that failed (`"response"` with an error status and body, or
`"error"` without a response). Requests a job never ran (TIMEOUT_EXCEEDED: the 24 h
`timeout_hours`; CANCELLED) have no line.

Our tag goes in the job's metadata and the input file's name, so after a crash between
`create` and the state write the job is found again by listing jobs created since the intent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx2
from mistralai.client.errors import SDKError
from mistralai.client.models import BatchJob, ChatCompletionResponse
from pydantic import ValidationError

from common.errors.codes import WorkerError
from common.errors.facts import ErrorFacts
from common.providers.adapters.mistral import MistralProvider
from common.providers.base import ModelRequest
from common.providers.records import ApiName
from common.runs.provider_batch.transport import (
    BatchInput,
    BatchStatus,
    BatchTransport,
    Outcome,
    Submitted,
)

TAG_KEY = "probe_batch_tag"
ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
TERMINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
LIST_PAGE = 100
CLOCK_SKEW_S = 3600.0  # how far before the intent a listed job may be dated and still be ours


class MistralBatches(BatchTransport):
    max_requests: ClassVar[int] = 100_000
    max_bytes: ClassVar[int] = 512 * 1024 * 1024

    @property
    def adapter(self) -> MistralProvider:
        assert isinstance(self.provider, MistralProvider)
        return self.provider

    def entry(self, custom_id: str, request: ModelRequest, api: ApiName = "chat") -> Any:
        return {"custom_id": custom_id, "body": self.adapter.chat_body(request)}

    async def submit(
        self, tag: str, model: str, entries: BatchInput, on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        client = self.adapter.client
        with entries.path.open("rb") as content:  # the file as the runner streamed it
            uploaded = await client.files.upload_async(
                file={"file_name": f"probe-batch-{tag}.jsonl", "content": content}, purpose="batch"
            )
        await on_uploaded(uploaded.id)
        job = await client.batch.jobs.create_async(
            input_files=[uploaded.id],
            endpoint=ENDPOINT,
            model=model,
            metadata={TAG_KEY: tag},
            timeout_hours=24,
        )
        return Submitted(job.id, uploaded.id, float(job.created_at))

    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        after = datetime.fromtimestamp(max(0.0, since - CLOCK_SKEW_S), UTC)
        page = 0
        while True:
            listed = await self.adapter.client.batch.jobs.list_async(
                page=page, page_size=LIST_PAGE, created_after=after, order_by="-created"
            )
            jobs = listed.data or []
            for job in jobs:
                if (job.metadata or {}).get(TAG_KEY) == tag:
                    return Submitted(job.id, job.input_files[0] if job.input_files else None, float(job.created_at))
            if len(jobs) < LIST_PAGE or (page + 1) * LIST_PAGE >= listed.total:
                return None
            page += 1

    async def status(self, batch_id: str) -> BatchStatus:
        job = await self.adapter.client.batch.jobs.get_async(job_id=batch_id)
        status = str(job.status)
        return BatchStatus(
            status=status,
            terminal=status in TERMINAL,
            counts={
                "total": job.total_requests,
                "completed": job.completed_requests,
                "succeeded": job.succeeded_requests,
                "failed": job.failed_requests,
            },
            created_at=float(job.created_at),
            ended_at=float(job.completed_at) if job.completed_at else None,
            output_file_id=job.output_file or None,
            error_file_id=job.error_file or None,
            # Requests a failed job gave no result for get its error (those it answered keep theirs).
            batch_error=self._batch_failure(job) if status == "FAILED" else None,
            expired=status == "TIMEOUT_EXCEEDED",
            cancelled=status == "CANCELLED",
        )

    def _batch_failure(self, job: BatchJob) -> WorkerError:
        """A job that failed as a whole: its `errors` messages, for every request it gave no result.

        The API gives such a failure no status or code, and nothing of the job ran (nothing was
        paid): it is read as the provider's own failure (SERVER_ERROR, retryable), so the
        requests go into the next wave, up to `--max-attempts`, each failure saying why.
        """
        from common.errors.classify import to_worker_error

        message = "; ".join(error.message for error in job.errors[:5]) or f"batch job {job.id} failed"
        error = to_worker_error(
            ErrorFacts(
                self.name,
                status=500,
                error_code="batch_failed",
                message=message,
                body=[error.model_dump(mode="json") for error in job.errors],
            )
        )
        error.details["batchId"] = job.id
        error.details["batchStatus"] = "FAILED"
        return error

    async def cancel(self, batch_id: str) -> None:
        await self.adapter.client.batch.jobs.cancel_async(job_id=batch_id)

    async def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        for file_id in (status.output_file_id, status.error_file_id):
            if not file_id:
                continue
            response = await self.adapter.client.files.download_async(file_id=file_id)
            try:
                async for line in response.aiter_lines():
                    if line.strip():
                        yield self._outcome(batch_id, json.loads(line))
            finally:
                await response.aclose()

    def _outcome(self, batch_id: str, line: dict[str, Any]) -> Outcome:
        custom_id = str(line.get("custom_id"))
        request_id = line.get("id") if isinstance(line.get("id"), str) else None
        response = line.get("response")
        if isinstance(response, dict):
            status_code = int(response.get("status_code") or 0)
            body = response.get("body")
            if status_code == 200 and isinstance(body, dict):
                try:
                    completion = ChatCompletionResponse.model_validate(body)
                    answer = self.adapter.read_completion(completion)
                except ValidationError as invalid:
                    return Outcome(custom_id, error=self._status_error(200, body, str(invalid)), request_id=request_id)
                except WorkerError as unreadable:
                    return Outcome(custom_id, error=unreadable, request_id=request_id)
                return Outcome(custom_id, response=answer, request_id=request_id)
            return Outcome(custom_id, error=self._status_error(status_code, body), request_id=request_id)
        # An error without a response (no HTTP status): classified as the provider's own failure
        # (5xx, retryable). Requests a TIMEOUT_EXCEEDED or CANCELLED job never ran have no line:
        # the runner reports them expired or cancelled from the job's status.
        said = line.get("error")
        error: dict[str, Any] = said if isinstance(said, dict) else {"message": str(said or "")}
        return Outcome(custom_id, error=self._status_error(0, error), request_id=request_id)

    def _status_error(self, status_code: int, body: Any, message: str = "") -> WorkerError:
        """A request's own error response, read by the adapter as the same answer online would be."""
        text = json.dumps(body) if not isinstance(body, str) else body
        http = httpx2.Response(
            status_code or 500,
            headers={"content-type": "application/json"},
            content=text.encode(),
            request=httpx2.Request("POST", f"https://batch{ENDPOINT}"),
        )
        if status_code == 200:  # a 200 whose body is not a chat completion: as the SDK would refuse it
            http = httpx2.Response(200, content=text.encode(), request=http.request)
        return self.adapter.classify(SDKError(message or "API error occurred", http, text))
