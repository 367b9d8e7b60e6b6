"""What the runner needs from one provider's batch API, whatever its shape.

A transport turns a turn's `ModelRequest` into one entry of a batch (the provider's
documented request line), submits a file of entries under a tag of ours, finds a batch by
that tag after a crash, polls, cancels, and reads each request's outcome back: an answer
read by the provider's own adapter (`ModelResponse`), or a failure classified by the one
table (`common.errors.classify`) from the provider's error body, exactly as online.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from common.contract.probe import ParamNote
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.providers.apis import ApiChoice
from common.providers.base import ModelRequest, ModelResponse, Provider
from common.providers.records import ApiName

if TYPE_CHECKING:
    from common.probe.conversation import ProbeRunner


@dataclass(frozen=True)
class BatchInput:
    """A batch's entries as a JSONL file, one `entry_bytes` line each, written by streaming as the
    runner builds them: a file-input API uploads the file as it is, an inline one reads it back
    (so no more than one batch's entries are ever held, and only by an inline API)."""

    path: Path
    count: int

    def entries(self) -> Iterator[Any]:
        with self.path.open("rb") as handle:
            for line in handle:
                yield json.loads(line)

    def json_array(self, before: bytes = b"", after: bytes = b"") -> bytes:
        """`before`, the entries as one JSON array, `after`: an inline API's body as bytes, without
        parsing every entry back into objects (and with one copy of the file's bytes, not several)."""
        with self.path.open("rb") as handle:
            lines = [line.rstrip(b"\n") for line in handle]
        if not lines:
            return before + b"[]" + after
        lines[0] = before + b"[" + lines[0]
        lines[-1] = lines[-1] + b"]" + after
        return b",".join(lines)


@dataclass(frozen=True)
class Submitted:
    batch_id: str
    input_file_id: str | None
    created_at: float | None = None  # the provider's clock (unix seconds)


@dataclass(frozen=True)
class BatchStatus:
    status: str  # the provider's own word (OpenAI `status`, Anthropic `processing_status`)
    terminal: bool  # no request of it will change any more: its results can be read
    counts: dict[str, int] = field(default_factory=dict)
    created_at: float | None = None
    ended_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    # A failure of the whole batch (OpenAI `failed`: the input file did not validate; Gemini
    # JOB_STATE_FAILED; Mistral FAILED): the error of every request it gave no result for.
    batch_error: WorkerError | None = None
    expired: bool = False  # the completion window ended: requests it did not run expired
    cancelled: bool = False


@dataclass(frozen=True)
class Outcome:
    custom_id: str
    response: ModelResponse | None = None
    error: WorkerError | None = None
    request_id: str | None = None  # the provider's id of this request in the batch


BACKGROUND_IN_BATCH = ParamNote(
    param="background",
    action="dropped",
    reason=(
        "a batch request is already asynchronous: Responses API background mode (and the store: true it"
        " needs) is not used in a batch, the request is sent with store: false"
    ),
)


def batch_api_choice(choice: ApiChoice) -> ApiChoice:
    """The API choice of a job's batched turns: a Responses API job in background mode runs without it.

    Background mode exists to poll, cancel and re-attach to one long answer; a batch's answers
    are collected by polling the batch (its 24 h window bounds them), so a background request
    in a batch would only store the response at OpenAI for nothing. Each such turn says so.
    """
    if choice.api != "responses" or not choice.background:
        return choice
    notes = (*choice.notes, BACKGROUND_IN_BATCH)
    return ApiChoice("responses", background=False, transport_params={"store": False}, notes=notes)


def for_batch(runner: ProbeRunner) -> ProbeRunner:
    """A conversation's runner as its batched turns use it (see `batch_api_choice`), in place."""
    choice = batch_api_choice(runner.api)
    if choice is not runner.api:
        runner.api = choice
        runner.input_notes = (*runner.input_notes, BACKGROUND_IN_BATCH)
    return runner


def entry_bytes(entry: Any) -> bytes:
    """One entry as the provider receives it (and as its documented size limits count it)."""
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def expired_error(provider: str, batch_id: str) -> WorkerError:
    """A request the batch never ran: its completion window (24 h) ended first. Retryable: a new batch may run it."""
    from common.errors.classify import to_worker_error

    error = to_worker_error(
        ErrorFacts(
            provider,
            kind="timeout",
            error_code="batch_expired",
            message=f"batch {batch_id} expired (its completion window ended) before this request ran",
        )
    )
    error.details["batchId"] = batch_id
    return error


def cancelled_error(provider: str, batch_id: str) -> WorkerError:
    """A request the batch never ran because the batch was cancelled (by `--cancel` or by someone else)."""
    return WorkerError(
        ErrorCode.CANCELLED,
        f"{provider} batch {batch_id} was cancelled before this request ran",
        details={"provider": provider, "batchId": batch_id},
    )


def missing_error(provider: str, batch_id: str) -> WorkerError:
    """A request an ended batch returned no result for (never documented; retried in the next wave)."""
    return WorkerError(
        ErrorCode.SERVER_ERROR,
        f"{provider} batch {batch_id} ended without a result for this request",
        details={"provider": provider, "batchId": batch_id},
    )


class BatchTransport(ABC):
    """One provider's batch API, driven through its own SDK client (the adapter's)."""

    # The provider's documented limits of one batch.
    max_requests: ClassVar[int]
    max_bytes: ClassVar[int]
    # Requests sent inline (in the create call's body) are all held at once: the runner cuts
    # such batches at `INLINE_BATCH_BYTES` (runner) so that memory stays bounded.
    inline: ClassVar[bool] = False

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @property
    def name(self) -> str:
        return self.provider.name

    # The APIs of the provider whose requests this transport batches (one API per batch).
    apis: ClassVar[frozenset[ApiName]] = frozenset({"chat"})

    @abstractmethod
    def entry(self, custom_id: str, request: ModelRequest, api: ApiName = "chat") -> Any:
        """The batch's entry for one request on `api` (a JSON value, the provider's documented line)."""

    @abstractmethod
    async def submit(
        self, tag: str, model: str, entries: BatchInput, on_uploaded: Callable[[str], Awaitable[None]]
    ) -> Submitted:
        """Creates the batch, tagged so `find` can tell it apart; `on_uploaded` records an input file first."""

    @abstractmethod
    async def find(self, tag: str, count: int, since: float, known: set[str]) -> Submitted | None:
        """The batch `submit` created for `tag`, if it got that far before a crash (since: unix seconds)."""

    @abstractmethod
    async def status(self, batch_id: str) -> BatchStatus: ...

    @abstractmethod
    async def cancel(self, batch_id: str) -> None: ...

    @abstractmethod
    def results(self, batch_id: str, status: BatchStatus) -> AsyncIterator[Outcome]:
        """Each request's outcome, streamed (a result file can be hundreds of megabytes)."""
