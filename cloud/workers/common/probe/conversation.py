"""Runs one probe: a multi-turn conversation with one model, turned into one transcript.

Each turn re-sends the whole history. A failure keeps every turn that completed
(`partialTranscript`): no answer that was paid for is thrown away. A job may carry
`priorTurns` from an earlier partial transcript; they are replayed as history and the
provider is asked only for the turns after them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from common.contract.probe import (
    DEFAULT_DEADLINE_MS,
    DEFAULT_MAX_TURNS,
    CostSnapshot,
    ParamNote,
    ProbeConfig,
    ProbeJob,
    ProbeSuccess,
    ProviderMetadata,
    RetryRecord,
    Timing,
    Transcript,
    TranscriptWarning,
    TranscriptWarningCode,
    Turn,
    TurnReasoning,
    TurnReasoningSetting,
    WorkerFailure,
)
from common.errors.codes import ErrorCode, WorkerError, cancelled_error
from common.errors.retry import DEFAULT_POLICY, CallStats, Clock, Deadline, RetryPolicy, SystemClock, call_with_retry
from common.io import environment
from common.io.log import get_logger, job_progress_logger
from common.probe.job_params import resolve_job_params
from common.probe.turn_hook import turn_finished
from common.providers.apis import choose_api
from common.providers.base import GenerationParams, Message, ModelRequest, ModelResponse, Provider
from common.providers.finish_reasons import normalize_finish_reason
from common.providers.params import plan_params
from common.providers.registry import ModelRoute
from common.providers.turn_context import TurnContext

# The retry policy's jitter: one generator for the process (seeding one per job cost ~1% of a
# warm job's CPU); a test passes its own seeded one.
_JITTER = random.Random()

MAX_PARAM_RETRIES_PER_TURN = 3


@dataclass(frozen=True)
class PlannedTurn:
    number: int
    label: str
    prompt: str  # exactly what is sent as the user message


@dataclass(frozen=True)
class Plan:
    turns: tuple[PlannedTurn, ...]
    system: str | None
    warnings: tuple[TranscriptWarning, ...] = ()


def plan_conversation(job: ProbeJob) -> Plan:
    """The turns to send: prompt then followups, cut at maxTurns, with the preamble placed.

    As in the original worker, `maxTurns` cuts the scenario first (the prompt and the first
    maxTurns-1 followups) and a followup without a prompt is then skipped with a warning;
    turns are numbered as sent (1, 2, ...), the label still names the followup. A
    `maxTurns` below 1 cannot plan a conversation: the default applies, with a warning.
    """
    config = job.config or ProbeConfig()
    warnings: list[TranscriptWarning] = []
    max_turns = config.max_turns if config.max_turns is not None else DEFAULT_MAX_TURNS
    if max_turns < 1:
        warnings.append(
            TranscriptWarning(
                code=TranscriptWarningCode.MAX_TURNS_DEFAULTED,
                message=f"config.maxTurns {max_turns} plans no turn: the default {DEFAULT_MAX_TURNS} applied",
                recommendation="set config.maxTurns to 1 or more",
            )
        )
        max_turns = DEFAULT_MAX_TURNS
    scenario = job.scenario
    preamble = scenario.preamble if scenario.preamble and scenario.preamble.strip() else None
    system = preamble if config.preamble_mode == "system" else None
    first = scenario.prompt if preamble is None or system is not None else f"{preamble}\n\n{scenario.prompt}"
    turns = [PlannedTurn(1, "scenario_prompt", first)]
    for index, followup in enumerate((scenario.followups or [])[: max_turns - 1], start=1):
        label = followup.label or f"followup_{index}"
        if followup.prompt is None or not followup.prompt.strip():
            warnings.append(
                TranscriptWarning(
                    code=TranscriptWarningCode.FOLLOWUP_SKIPPED,
                    message=f"followup {index} ({label}) has no prompt: that turn was not sent",
                    recommendation="give the followup a prompt, or remove it from the scenario",
                )
            )
            continue
        turns.append(PlannedTurn(len(turns) + 1, label, followup.prompt))
    return Plan(tuple(turns), system, tuple(warnings))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ConversationState:
    started_at: str
    turns: list[Turn] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    warnings: list[TranscriptWarning] = field(default_factory=list)

    def warn(self, *warnings: TranscriptWarning) -> None:
        """Adds warnings not already given (a parameter's warning is the same on every turn)."""
        for warning in warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)


class ProbeRunner:
    """Runs a probe job against one provider; every outcome becomes a document."""

    def __init__(
        self,
        job: ProbeJob,
        route: ModelRoute,
        provider: Provider,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        rng: random.Random | None = None,
        started: float | None = None,
    ) -> None:
        """`started`: when the host handed the job over, on `clock`; the deadline counts from it.

        None (an in-process caller, a batch run): from now.
        """
        self.job = job
        self.route = route
        self.provider = provider
        self.clock = clock or SystemClock()
        self.policy = policy
        self.rng = rng or _JITTER
        self.plan = plan_conversation(job)
        resolved = resolve_job_params(job)
        self.params: GenerationParams = resolved.params
        self.input_notes = resolved.notes  # what reading the job's own values changed: every turn says it
        # Which of the provider's APIs the job uses (Chat Completions or the Responses API):
        # the provider as that API sees it (its record's names, its transport).
        self.api = choose_api(provider.record, route.model, job.model_settings)
        self.provider = provider.using_api(self.api.api)
        self.input_notes = (*self.input_notes, *self.api.notes)
        self.on_stop = (job.model_settings.background_on_stop if job.model_settings else None) or "cancel"
        self.resume_response_id = job.resume_response_id  # for the first turn that runs
        self.in_flight: tuple[PlannedTurn, TurnContext] | None = None  # the turn being asked, if any
        config = job.config or ProbeConfig()
        # Counted from `started` when given: the imports before this moment (an SDK's: 1-3 s)
        # are the job's time too.
        self.deadline = Deadline(self.clock, (config.deadline_ms or DEFAULT_DEADLINE_MS) / 1000, started=started)
        self.state = ConversationState(started_at=_now())
        self.state.warn(*self.plan.warnings, *resolved.warnings)
        self.log = get_logger(provider=route.provider, model=route.model)
        self.progress_log = job_progress_logger(provider=route.provider, model=route.model)

    async def run(self) -> ProbeSuccess | WorkerFailure:
        try:
            self.begin()
            for planned in self.plan.turns[len(self.state.turns) :]:
                self.state.turns.append(await self._run_turn(planned))
                self._report_progress()
                await turn_finished(self.state.turns, len(self.plan.turns))
            if self.resume_response_id is not None:  # no turn was left to re-attach it to
                self._warn_resume(f"resumeResponseId {self.resume_response_id} was not used: no turn was left to run")
        except WorkerError as error:
            return self._failure(error)
        except asyncio.CancelledError:
            return self._failure(cancelled_error())
        return ProbeSuccess(transcript=self._transcript())

    # -- turns ------------------------------------------------------------------------
    # The steps a turn is made of, shared by the online path (`run`) and provider batch
    # runs (common.runs.provider_batch), which send each turn's request in a batch:
    # `begin`, then per turn `request_for` and `accept_turn`; `transcript` / `failure` end it.

    def begin(self) -> None:
        """Replays `priorTurns` as history and says the parameter warnings (raises WorkerError)."""
        self._replay_prior_turns()
        # Said even when no turn is left to run (a resume of a finished conversation).
        self.state.warn(*plan_params(self.provider.record, self.route.model, self.params).warnings)

    def next_turn(self) -> PlannedTurn | None:
        """The planned turn after the turns so far; None when the conversation is complete."""
        done = len(self.state.turns)
        return self.plan.turns[done] if done < len(self.plan.turns) else None

    def request_for(self, planned: PlannedTurn, context: TurnContext | None = None) -> ModelRequest:
        """The request of `planned`: the whole history, its prompt, the parameters mapped for the provider."""
        history = (*self.state.history, Message("user", planned.prompt))
        mapped = plan_params(self.provider.record, self.route.model, self.params)
        mapping = mapped.mapping
        if self.api.transport_params:  # `store` / `background`: sent with every request, recorded like the rest
            mapping = replace(mapping, sent={**mapping.sent, **self.api.transport_params})
        self.state.warn(*mapped.warnings)
        return ModelRequest(self.route.model, history, self.plan.system, mapping, context=context)

    def accept_turn(
        self,
        planned: PlannedTurn,
        request: ModelRequest,
        response: ModelResponse,
        stats: CallStats,
        turn_started: float,
        adjustments: tuple[ParamNote, ...] = (),
    ) -> Turn:
        """Records the answer to `request` as the turn `planned` and makes it history (raises WorkerError)."""
        mapping = request.params
        turn = self._record_turn(
            planned,
            request.messages,
            response,
            mapping.sent,
            [*self.input_notes, *mapping.notes, *adjustments],
            stats,
            turn_started,
            reasoning_sent=mapping.reasoning,
        )
        self.state.history = [*request.messages, Message("assistant", turn.target_response)]
        if self.api.api == "responses":
            turn.provider_metadata.api = "responses"
        return turn

    def transcript(self) -> Transcript:
        return self._transcript()

    def failure(self, error: WorkerError) -> WorkerFailure:
        return self._failure(error)

    def _replay_prior_turns(self) -> None:
        for prior in self.job.prior_turns or []:
            index = len(self.state.turns)
            if index >= len(self.plan.turns):
                raise WorkerError(
                    ErrorCode.VALIDATION_ERROR,
                    f"priorTurns has {len(self.job.prior_turns or [])} turns but the scenario plans"
                    f" only {len(self.plan.turns)}",
                    details={"field": "priorTurns"},
                )
            planned = self.plan.turns[index]
            if prior.turn_number != planned.number or prior.probe_prompt != planned.prompt:
                raise WorkerError(
                    ErrorCode.VALIDATION_ERROR,
                    f"priorTurns[{index}] does not match turn {planned.number} of this scenario"
                    " (its turnNumber or probePrompt differs)",
                    details={"field": f"priorTurns[{index}]"},
                )
            self.state.history += [Message("user", prior.probe_prompt), Message("assistant", prior.target_response)]
            self.state.turns.append(prior)
            if prior.provider_metadata.truncated:  # the warning an uninterrupted run would carry
                self._warn_truncated(planned)
        if self.job.prior_turns:
            from common.probe.param_fallback import (  # resumed jobs only, like rejections below
                carried_over,
                reasoning_rejected_warning,
            )

            self.params = carried_over(self.params, self.job.prior_turns, self.provider, self.route.model)
            for prior in self.job.prior_turns:  # the warning an uninterrupted run would carry
                for note in prior.provider_metadata.param_notes or []:
                    if (warning := reasoning_rejected_warning(note)) is not None:
                        self.state.warn(warning)

    def _warn_truncated(self, planned: PlannedTurn) -> None:
        self.state.warn(
            TranscriptWarning(
                code=TranscriptWarningCode.TRUNCATED,
                message=f"turn {planned.number} ({planned.label}) stopped at the token limit: its answer is cut off",
                recommendation="raise maxTokens (config or modelConfig) and re-run, or treat this answer as incomplete",
            )
        )

    async def _run_turn(self, planned: PlannedTurn) -> Turn:
        turn_started = self.clock.monotonic()
        stats = CallStats()
        adjustments: list[ParamNote] = []
        context = TurnContext(clock=self.clock, resume_response_id=self._take_resume_id(), on_stop=self.on_stop)
        self.in_flight = (planned, context)
        while True:
            request = self.request_for(planned, context)
            mapping = request.params
            call_stats = CallStats()
            try:
                response = await call_with_retry(
                    self._attempt(request),
                    classify=self.provider.classify,
                    deadline=self.deadline,
                    clock=self.clock,
                    policy=self.policy,
                    rng=self.rng,
                    stats=call_stats,
                    on_retry=lambda retry, error: self.log.warning(
                        "retrying",
                        turn=planned.number,
                        attempt=retry.attempt,
                        code=error.code.value,
                        waitMs=retry.waited_ms,
                        statusCode=error.status_code,
                    ),
                )
                break
            except WorkerError as error:
                # Loaded on the first failure only: a job that succeeds never needs its wording tables.
                from common.probe.param_fallback import adjust_after_rejection, reasoning_rejected_warning

                adjusted = adjust_after_rejection(
                    error, self.params, self.provider, self.route.model, mapping.sent, reasoning_sent=mapping.reasoning
                )
                if adjusted is None or len(adjustments) >= MAX_PARAM_RETRIES_PER_TURN:
                    raise
                # Later turns keep the change: the model would refuse the same request again.
                self.params, note = adjusted
                adjustments.append(note)
                if (warning := reasoning_rejected_warning(note)) is not None:
                    self.state.warn(warning)
                self.log.warning(
                    "retrying with adjusted parameters", turn=planned.number, param=note.param, action=note.action
                )
            finally:
                stats.absorb(call_stats)
        turn = self.accept_turn(planned, request, response, stats, turn_started, tuple(adjustments))
        if context.reattached:
            turn.provider_metadata.reattached = True
        self._warn_context(context)
        self.in_flight = None
        return turn

    def _take_resume_id(self) -> str | None:
        """`resumeResponseId`, once: for the first turn that runs, if it is a Responses background turn."""
        response_id, self.resume_response_id = self.resume_response_id, None
        if response_id is None or (self.api.api == "responses" and self.api.background):
            return response_id
        self._warn_resume(
            f"resumeResponseId {response_id} was not used: this job's turns are not Responses API background requests"
        )
        return None

    def _warn_resume(self, message: str) -> None:
        self.state.warn(
            TranscriptWarning(
                code=TranscriptWarningCode.RESUME_RESPONSE_UNUSABLE,
                message=message,
                recommendation="pass resumeResponseId only from a failure of the same job on the Responses API",
            )
        )

    def _warn_context(self, context: TurnContext) -> None:
        for message in context.warnings:
            self._warn_resume(message)

    def _attempt(self, request: ModelRequest) -> Callable[[float], Awaitable[ModelResponse]]:
        async def attempt(timeout_s: float) -> ModelResponse:
            return await self.provider.complete(request, timeout_s)

        return attempt

    def _record_turn(
        self,
        planned: PlannedTurn,
        history: tuple[Message, ...],
        response: ModelResponse,
        sent: dict[str, Any],
        notes: list[ParamNote],
        stats: CallStats,
        turn_started: float,
        *,
        reasoning_sent: dict[str, Any] | None = None,
    ) -> Turn:
        finish = response.finish_reason or normalize_finish_reason(response.raw_finish_reason)
        if not response.text.strip():
            code = ErrorCode.CONTENT_FILTERED if finish in ("content_filter", "refusal") else ErrorCode.INVALID_RESPONSE
            raise WorkerError(
                code,
                f"{self.route.provider} returned no answer text for turn {planned.number}"
                f" (finish reason {response.raw_finish_reason!r})",
                details={
                    "turn": planned.number,
                    "finishReason": finish,
                    "rawFinishReason": response.raw_finish_reason,
                    "modelVersion": response.model_version,
                    "outputTokens": response.usage.output_tokens,
                    "reasoningTokens": response.usage.reasoning_tokens,
                    "attempts": stats.attempts,
                },
            )
        text = self._cut_to_limit(  # paid for, so kept: cut at the documented bound, and said so
            response.text,
            TranscriptWarningCode.ANSWER_CUT,
            f"turn {planned.number} ({planned.label}) answered {len(response.text)} characters",
            "raise PROBE_MAX_ANSWER_CHARS to keep longer answers, or treat it as incomplete",
        )
        if len(text) < len(response.text):
            self.log.warning("answer cut", turn=planned.number, chars=len(response.text), keptChars=len(text))
        estimated = not response.usage.reported
        input_tokens = response.usage.input_tokens
        if input_tokens is None:
            prompt_text = "\n".join([self.plan.system or "", *(m.content for m in history)])
            input_tokens = self._estimate_tokens(prompt_text)
        output_tokens = response.usage.output_tokens
        if output_tokens is None:  # estimated on what is kept, scaled to all that was generated
            output_tokens = self._estimate_tokens(text) * len(response.text) // len(text)
        truncated = finish == "length"
        if truncated:
            self._warn_truncated(planned)
        total_ms = int((self.clock.monotonic() - turn_started) * 1000)
        metadata = ProviderMetadata(
            provider=self.route.provider,
            requested_model=self.route.model,
            model_version=response.model_version,
            response_id=response.response_id,
            system_fingerprint=response.system_fingerprint,
            finish_reason=finish,
            raw_finish_reason=response.raw_finish_reason,
            truncated=truncated,
            reasoning_tokens=response.usage.reasoning_tokens,
            cached_input_tokens=response.usage.cached_input_tokens,
            tokens_estimated=estimated,
            attempts=stats.attempts,
            retries=[
                RetryRecord(attempt=r.attempt, code=r.code, status_code=r.status_code, waited_ms=r.waited_ms)
                for r in stats.retries
            ],
            timing=Timing(request_ms=stats.request_ms, total_ms=total_ms),
            params_sent=sent,
            param_notes=notes,
            raw_usage=response.usage.raw,
            reasoning=TurnReasoningSetting(
                requested=setting.to_wire() if (setting := self.params.reasoning) is not None else None,
                sent=reasoning_sent,
            ),
        )
        self.log.info(
            "turn complete",
            turn=planned.number,
            label=planned.label,
            modelVersion=response.model_version,
            inputTokens=input_tokens,
            outputTokens=output_tokens,
            ms=total_ms,
            attempts=stats.attempts,
            finishReason=finish,
        )
        return Turn(
            turn_number=planned.number,
            prompt_label=planned.label,
            probe_prompt=planned.prompt,
            target_response=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            provider_metadata=metadata,
            reasoning=self._captured_reasoning(planned, response),
        )

    def _captured_reasoning(self, planned: PlannedTurn, response: ModelResponse) -> TurnReasoning | None:
        """The reasoning the provider returned, when `capture` is on (the default), cut like answers are."""
        setting = self.params.reasoning
        found = response.reasoning
        if found is None or (setting is not None and not setting.capture):
            return None
        kept: dict[str, str | None] = {}
        for name, value in (("text", found.text), ("summary", found.summary)):
            kept[name] = self._cut_reasoning(planned, name, value) or None
        if kept["text"] is None and kept["summary"] is None and not found.redacted_blocks:
            return None
        return TurnReasoning(text=kept["text"], summary=kept["summary"], redacted_blocks=found.redacted_blocks)

    def _cut_reasoning(self, planned: PlannedTurn, name: str, value: str | None) -> str | None:
        """Reasoning text kept as answers are: at most PROBE_MAX_ANSWER_CHARS, a cut said in a warning."""
        if value is None:
            return None
        return self._cut_to_limit(
            value,
            TranscriptWarningCode.TRUNCATED,
            f"turn {planned.number} ({planned.label}) returned {len(value)} characters of reasoning {name}",
            "raise PROBE_MAX_ANSWER_CHARS to keep longer reasoning",
        )

    def _cut_to_limit(self, text: str, code: TranscriptWarningCode, what: str, recommendation: str) -> str:
        """`text` at most PROBE_MAX_ANSWER_CHARS long; a cut is said in a warning (`what` was cut)."""
        limit = environment.max_answer_chars()
        if len(text) <= limit:
            return text
        self.state.warn(
            TranscriptWarning(
                code=code,
                message=f"{what}: only the first {limit} are kept (PROBE_MAX_ANSWER_CHARS)",
                recommendation=recommendation,
            )
        )
        return text[:limit]

    def _keep_partial(self, planned: PlannedTurn, received: dict[str, Any]) -> None:
        """What an unfinished turn received (each attempt's) under a finished turn's rules: the
        answer cut at PROBE_MAX_ANSWER_CHARS (`partialResponseChars` says how much came); the
        reasoning kept only when `capture` is on, cut like captured reasoning (`receivedChars`)."""
        setting = self.params.reasoning
        capture = setting is None or setting.capture
        for attempt in (received, *received.get("earlierAttempts", ())):
            answer = attempt.get("partialResponse")
            if isinstance(answer, str):
                kept_answer = self._cut_to_limit(
                    answer,
                    TranscriptWarningCode.ANSWER_CUT,
                    f"turn {planned.number} ({planned.label}) had received {len(answer)} characters of its"
                    " answer when it failed",
                    "raise PROBE_MAX_ANSWER_CHARS to keep longer answers",
                )
                if kept_answer != answer:
                    attempt["partialResponse"] = kept_answer
                    attempt["partialResponseChars"] = len(answer)
            reasoning = attempt.get("partialReasoning")
            if reasoning is None:
                continue
            if not capture:
                del attempt["partialReasoning"]
                continue
            text = reasoning.get("text")
            kept = self._cut_reasoning(planned, "text", text)
            if kept != text:
                attempt["partialReasoning"] = {**reasoning, "text": kept, "receivedChars": len(text or "")}

    def _estimate_tokens(self, text: str) -> int:
        """A token count the provider did not report; the tokenizer module is loaded only then."""
        from common.tokens import estimate_tokens

        return estimate_tokens(text, self.route.model)[0]

    # -- documents --------------------------------------------------------------------

    def _report_progress(self) -> None:
        turns = self.state.turns
        self.progress_log.info(
            "progress",
            type="progress",
            turn=turns[-1].turn_number,
            of=len(self.plan.turns),
            totalInputTokens=sum(t.input_tokens for t in turns),
            totalOutputTokens=sum(t.output_tokens for t in turns),
        )

    def _transcript(self) -> Transcript:
        turns = self.state.turns
        versions = [t.provider_metadata.model_version for t in turns if t.provider_metadata.model_version]
        distinct = list(dict.fromkeys(versions))
        warnings = list(self.state.warnings)
        if len(distinct) > 1:
            warnings.append(
                TranscriptWarning(
                    code=TranscriptWarningCode.MODEL_VERSION_CHANGED,
                    message=f"the provider reported different model versions across turns: {', '.join(distinct)}",
                    recommendation="compare these turns with care: they were answered by different model versions",
                )
            )
        total_in = sum(t.input_tokens for t in turns)
        total_out = sum(t.output_tokens for t in turns)
        cost = None
        if self.job.model_cost is not None:
            rates = self.job.model_cost
            cost = CostSnapshot(
                cost_input_per_million=rates.cost_input_per_million,
                cost_output_per_million=rates.cost_output_per_million,
                input_tokens=total_in,
                output_tokens=total_out,
                estimated_cost=round(
                    total_in * rates.cost_input_per_million / 1e6 + total_out * rates.cost_output_per_million / 1e6,
                    10,
                ),
            )
        return Transcript(
            turns=list(turns),
            total_input_tokens=total_in,
            total_output_tokens=total_out,
            total_reasoning_tokens=sum(t.provider_metadata.reasoning_tokens for t in turns),
            model_version=distinct[-1] if distinct else None,
            provider=self.route.provider,
            requested_model=self.route.model,
            started_at=self.state.started_at,
            completed_at=_now(),
            cost_snapshot=cost,
            warnings=[warning.message for warning in warnings],
            warning_details=warnings,
        )

    def _failure(self, error: WorkerError) -> WorkerFailure:
        details = dict(error.details)
        if self.in_flight is not None:  # what the unfinished turn received is kept: it was paid for
            planned, context = self.in_flight
            self._warn_context(context)
            received = context.failure_details()
            if received is not None:
                self._keep_partial(planned, received)
                details.setdefault(
                    "incompleteTurn", {"turnNumber": planned.number, "promptLabel": planned.label, **received}
                )
                if received.get("resumable"):
                    details.setdefault("resumeResponseId", context.response_id)
        partial = self._transcript() if self.state.turns else None
        details.setdefault("completedTurns", len(self.state.turns))
        details.setdefault("plannedTurns", len(self.plan.turns))
        self.log.warning(
            "probe failed",
            code=error.code.value,
            retryable=error.retryable,
            completedTurns=len(self.state.turns),
            message=error.message,
        )
        error.details = details
        return WorkerFailure.from_error(error, partial)
