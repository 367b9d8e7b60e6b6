"""OpenAI's Responses API (`POST /v1/responses`): the second transport of the OpenAI adapter family.

`OpenAIProvider.using_api("responses")` returns a view of the provider whose requests come
here (see common.providers.apis for when). The mapping, from the API reference and the
openai SDK's `Response` type:

- request: the whole history every turn as `input` items (`{"role", "content"}` easy input
  messages), the system prompt as `instructions`, and the parameters exactly as mapped from
  the record's Responses name table (`max_output_tokens`, ..., `store`, `background`);
  nothing is kept on the provider's side between turns (`store: false`) unless background
  mode needs the response stored to poll it.
- answer: the `output_text` parts of the `message` output items (a `refusal` part when there
  is no text), `model` as the served version, `id`, `usage` (reasoning tokens from
  `output_tokens_details`, cache hits from `input_tokens_details`), the summaries of the
  `reasoning` items. `status: incomplete` with `incomplete_details.reason`
  `max_output_tokens` is a truncated answer (finish reason `length`), `content_filter` a
  filtered one; `status: failed` carries `error.code`, classified by the one table
  (common.errors.classify).

Background mode (`background: true`) is for answers that take minutes: the create call
returns at once (`queued`), the response is polled (`GET /responses/{id}`) with backoff
through the turn's clock until it leaves `queued`/`in_progress`, each poll a request with
the one retry policy. Near the end of the attempt's time, or when the job is cancelled
(SIGTERM), the response is cancelled (`POST /responses/{id}/cancel`) or, with
`modelConfig.backgroundOnStop: "detach"`, left running; the turn's context records its id
and status either way, so the failure document carries them and a resumed job can
re-attach (`resumeResponseId`) instead of paying for the answer again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from openai.types.responses import Response

from common.contract.probe import FinishReason
from common.errors.codes import ErrorCode, WorkerError
from common.errors.facts import ErrorFacts
from common.errors.retry import DEFAULT_POLICY, Deadline, call_with_retry
from common.providers.base import ModelRequest, ModelResponse, ResponseReasoning
from common.providers.turn_context import TurnContext
from common.providers.usage import Usage

if TYPE_CHECKING:
    from common.providers.adapters.openai import OpenAIProvider

PENDING = frozenset({"queued", "in_progress"})
BACKGROUND = "responses_background"
_INCOMPLETE_FINISH: dict[str, FinishReason] = {"max_output_tokens": "length", "content_filter": "content_filter"}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollPolicy:
    """How a background response is waited for: polls with backoff, and the time kept for stopping it.

    OpenAI's background guide polls every 2 s; answers here take minutes, so the waits grow
    from 1 s to at most 10 s (a 60 s answer costs about ten polls, and polling no CPU while
    it waits).
    """

    first_s: float = 1.0
    multiplier: float = 1.5
    max_s: float = 10.0
    poll_request_s: float = 2.0  # the least time a poll is started with
    stop_margin_s: float = 5.0  # kept back from the attempt to cancel the response and answer
    cancel_timeout_s: float = 4.0
    resume_after_s: float = 10.0  # the `retryAfterMs` of a job stopped before its response finished

    def wait_s(self, polls_done: int) -> float:
        return min(self.max_s, self.first_s * self.multiplier**polls_done)


POLL = PollPolicy()


# What this transport reads of a response, parsed the SDK's way (`construct`: no validation)
# into these few fields instead of the SDK's `Response`: building `Response`'s pydantic
# schema (every tool and output item type) costs ~110 ms of CPU at a process's first
# response, which every one-shot Responses job would pay on top of a Chat job
# (bench/responses_start_bench.py). Unknown fields are kept (`extra="allow"`).
class OutputPart(openai.BaseModel):
    type: str | None = None
    text: str | None = None
    refusal: str | None = None


class SummaryPart(openai.BaseModel):
    text: str | None = None


class OutputItem(openai.BaseModel):
    type: str | None = None
    content: list[OutputPart] | None = None
    summary: list[SummaryPart] | None = None


class InputTokensDetails(openai.BaseModel):
    cached_tokens: int | None = None


class OutputTokensDetails(openai.BaseModel):
    reasoning_tokens: int | None = None


class ResponseUsage(openai.BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int | None = None
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ResponseError(openai.BaseModel):
    code: str | None = None
    message: str


class IncompleteDetails(openai.BaseModel):
    reason: str | None = None


class ResponseBody(openai.BaseModel):
    """A Responses API response object (`POST /responses`, `GET /responses/{id}`, `.../cancel`)."""

    id: str
    status: str | None = None
    model: str | None = None
    output: list[OutputItem] | None = None
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None


AnyResponse = ResponseBody | Response  # the SDK's own: provider batch lines (runs.provider_batch.openai_batches)


def request_body(request: ModelRequest) -> dict[str, Any]:
    """The JSON body of `POST /responses`: model, the whole history as input items, instructions, parameters."""
    body: dict[str, Any] = {
        "model": request.model,
        "input": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    if request.system:
        body["instructions"] = request.system
    body.update(request.params.sent)
    return body


def served_by(served: str, requested: str) -> bool:
    """Whether a response's `model` is the requested model (its alias or a dated snapshot of it)."""
    return served == requested or served.startswith(f"{requested}-")


class ResponsesTransport:
    """Requests of one OpenAI-family provider on its Responses API (the provider's client and error facts)."""

    def __init__(self, provider: OpenAIProvider, poll: PollPolicy = POLL) -> None:
        self.provider = provider
        self.poll = poll

    @property
    def name(self) -> str:
        return self.provider.name

    async def complete(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        body = request_body(request)
        if not body.get("background"):
            return self.read_response(await self._create(body, timeout_s))
        return await self._background(request, body, request.context or TurnContext(), timeout_s)

    # -- HTTP -------------------------------------------------------------------------

    async def _create(self, body: dict[str, Any], timeout_s: float) -> ResponseBody:
        # The SDK's own POST with the body as JSON, parsed the SDK's way into `ResponseBody`
        # (`responses.create` would first walk the history through its TypedDict transform
        # to produce the same JSON, and parse the answer into the SDK's costly `Response`).
        response = await self.provider.client.post(
            "/responses", body=body, cast_to=ResponseBody, options={"timeout": timeout_s}
        )
        return self._checked(response)

    async def _get(self, response_id: str, timeout_s: float) -> ResponseBody:
        response = await self.provider.client.get(
            f"/responses/{response_id}", cast_to=ResponseBody, options={"timeout": timeout_s}
        )
        return self._checked(response)

    def _checked(self, response: Any) -> ResponseBody:
        if not isinstance(response, ResponseBody) or not isinstance(getattr(response, "id", None), str):
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} answered 200 with a body that is not a response",
                details={"provider": self.name, "body": str(response)[:500]},
            )
        return response

    # -- background mode --------------------------------------------------------------

    async def _background(
        self, request: ModelRequest, body: dict[str, Any], context: TurnContext, timeout_s: float
    ) -> ModelResponse:
        if context.stopped is not None:  # this turn's response was stopped: a new one is the host's call
            raise context.stopped
        clock = context.clock
        stop_at = clock.monotonic() + timeout_s - self.poll.stop_margin_s
        response: ResponseBody | None = None
        if context.response_id and context.resumable:  # an earlier attempt started it: follow it, never ask again
            response = await self._retrieve(context.response_id, context, stop_at)
        elif context.resume_response_id:
            response = await self._reattach(context, request, stop_at)
        if response is None:
            context.begin(BACKGROUND)
            response = await self._create(body, max(timeout_s - self.poll.stop_margin_s, self.poll.poll_request_s))
            self._note(context, response)
        try:
            response = await self._wait(response, context, stop_at)
        except asyncio.CancelledError:
            await self._stop(context)
            raise
        return self.read_response(response)

    async def _reattach(self, context: TurnContext, request: ModelRequest, stop_at: float) -> ResponseBody | None:
        """The response a resumed job names, if it can give this turn its answer; None: ask anew."""
        response_id = context.resume_response_id
        assert response_id is not None
        context.resume_response_id = None  # one turn, once
        context.begin(BACKGROUND)
        try:
            response = await self._retrieve(response_id, context, stop_at)
        except WorkerError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            context.warnings.append(
                f"resumeResponseId {response_id} was not found ({self.name} keeps background responses"
                " for a limited time): the turn was asked anew"
            )
            context.begin(BACKGROUND)
            return None
        if not served_by(response.model or "", request.model):
            raise WorkerError(
                ErrorCode.VALIDATION_ERROR,
                f"resumeResponseId {response_id} is a response of {response.model!r}, not of {request.model!r}",
                details={"field": "resumeResponseId"},
            )
        if response.status in ("cancelled", "failed"):
            context.warnings.append(f"resumeResponseId {response_id} was {response.status}: the turn was asked anew")
            context.begin(BACKGROUND)
            return None
        context.reattached = True
        return response

    async def _retrieve(self, response_id: str, context: TurnContext, until: float) -> ResponseBody:
        """One poll, with the one retry policy for its transient failures, finished by `until`."""
        clock = context.clock
        policy = DEFAULT_POLICY
        deadline = Deadline(clock, max(until - clock.monotonic(), self.poll.poll_request_s) + policy.reserve_s)
        response = await call_with_retry(
            lambda timeout_s: self._get(response_id, timeout_s),
            classify=self.provider.classify,
            deadline=deadline,
            clock=clock,
            policy=policy,
        )
        self._note(context, response)
        return response

    async def _wait(self, response: ResponseBody, context: TurnContext, stop_at: float) -> ResponseBody:
        clock = context.clock
        polls = 0
        while response.status in PENDING:
            room = stop_at - clock.monotonic() - self.poll.poll_request_s  # what can be slept and still poll
            if room <= 0:
                return await self._deadline(response, context)
            await clock.sleep(min(self.poll.wait_s(polls), room))
            polls += 1
            response = await self._retrieve(response.id, context, stop_at)
        return response

    async def _deadline(self, response: ResponseBody, context: TurnContext) -> ResponseBody:
        """The attempt's time is nearly up and the response is not done: stop it (or leave it) and say so."""
        if context.on_stop == "cancel":
            final = await self._cancel(context)
            if final is not None and final.status in ("completed", "incomplete"):
                return final  # it finished before the cancel took effect: the answer is here
        left = "left running: resume with resumeResponseId" if context.resumable else f"now {context.status}"
        error = WorkerError(
            ErrorCode.TIMEOUT,
            f"the background response {response.id} was not done when the job's deadline came near ({left})",
            details={
                "provider": self.name,
                "responseId": response.id,
                "responseStatus": context.status,
            },
            retry_after_ms=int(self.poll.resume_after_s * 1000),
        )
        context.stopped = error
        raise error

    async def _stop(self, context: TurnContext) -> None:
        """The job was cancelled mid-wait: cancel the response unless it is to be left running."""
        if context.on_stop == "cancel" and context.response_id and context.status in PENDING:
            await self._cancel(context)

    async def _cancel(self, context: TurnContext) -> ResponseBody | None:
        """`POST /responses/{id}/cancel`, bounded; None if it did not answer (the response may still run)."""
        response_id = context.response_id
        if not response_id:
            return None
        timeout_s = self.poll.cancel_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                response = await self.provider.client.post(
                    f"/responses/{response_id}/cancel", cast_to=ResponseBody, options={"timeout": timeout_s}
                )
            checked = self._checked(response)
        except Exception as exc:  # the response keeps running: the failure says it can be re-attached to
            _log.debug("cancelling a background response failed", exc_info=exc)
            return None
        self._note(context, checked)
        return checked

    @staticmethod
    def _note(context: TurnContext, response: ResponseBody) -> None:
        context.response_id = response.id
        context.status = response.status
        context.model_version = response.model or context.model_version
        context.resumable = response.status in PENDING  # it may still be running

    # -- reading ----------------------------------------------------------------------

    def read_response(self, response: AnyResponse) -> ModelResponse:
        status = response.status
        if status == "failed":
            raise self.failed_error(response)
        if status == "cancelled":
            raise WorkerError(
                ErrorCode.CANCELLED,
                f"{self.name} response {response.id} was cancelled before it finished (not by this job)",
                details={"provider": self.name, "responseId": response.id, "responseStatus": status},
            )
        if status in PENDING:
            raise WorkerError(
                ErrorCode.INVALID_RESPONSE,
                f"{self.name} answered a response still {status} outside background mode",
                details={"provider": self.name, "responseId": response.id, "responseStatus": status},
            )
        texts: list[str] = []
        refusals: list[str] = []
        summaries: list[str] = []
        for item in response.output or []:
            kind = getattr(item, "type", None)
            if kind == "message":
                for part in getattr(item, "content", None) or []:
                    if part.type == "output_text":
                        texts.append(part.text)
                    elif part.type == "refusal":
                        refusals.append(part.refusal)
            elif kind == "reasoning":
                summaries.extend(s.text for s in getattr(item, "summary", None) or [] if s.text)
        text = "".join(texts)
        finish: FinishReason = "stop"
        raw_finish: str | None = status
        if status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            raw_finish = reason or status
            finish = _INCOMPLETE_FINISH.get(reason or "", "other")
        if not text and refusals:
            text, finish = "".join(refusals), "refusal"
        return ModelResponse(
            text=text,
            model_version=response.model or None,
            response_id=response.id or None,
            raw_finish_reason=raw_finish,
            finish_reason=finish,
            usage=self.usage_of(response),
            reasoning=ResponseReasoning(summary="\n\n".join(summaries)) if summaries else None,
        )

    @staticmethod
    def usage_of(response: AnyResponse) -> Usage:
        """The Responses API's usage: reasoning inside `output_tokens` (OpenAI), cache hits inside `input_tokens`.

        A compatible server (or xAI) that reports reasoning beside the output count says so
        through `total_tokens`, as on Chat Completions (see Usage.reasoning_placed_by_total).
        """
        usage = response.usage
        if usage is None:
            return Usage.unreported()
        output_details = getattr(usage, "output_tokens_details", None)
        input_details = getattr(usage, "input_tokens_details", None)
        return Usage.reasoning_placed_by_total(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=getattr(output_details, "reasoning_tokens", 0),
            total_tokens=usage.total_tokens,
            cached_input_tokens=getattr(input_details, "cached_tokens", 0),
            raw=usage.model_dump(exclude_none=True),
        )

    def failed_error(self, response: AnyResponse) -> WorkerError:
        """A `failed` response, classified by the one table from its `error.code` and message."""
        from common.errors.classify import to_worker_error  # loaded on the first failure only

        error = response.error
        facts = ErrorFacts(
            self.name,
            error_code=error.code if error is not None else None,
            message=error.message if error is not None else f"response {response.id} failed without an error",
            body=error.model_dump(exclude_none=True) if error is not None else None,
        )
        failure = to_worker_error(facts)
        failure.details.update(responseId=response.id, responseStatus="failed", modelVersion=response.model or None)
        return failure
