"""One task message on a worker: claim the job, run it on the one run path, publish its result.

What the run path does for serve and batch, it does here (`run_path.parse_job` and
`run_parsed` with the process's `ProviderPool`), so a job gives the same document in every
mode. Around it, the distributed steps: the claim (a redelivered or replaced message is
dropped), the shared rate limit (admission before the job, settling after it; the claim
and the admission's reservation go together, and a message that is not claimed gives its
reserved slot back), a checkpoint after every finished turn (`probe/turn_hook.py`), and
publishing the result with the done-set check. Two script calls for a one-turn job (a third
to settle, under a tpm limit or when it sent more requests than estimated), each sent with
the calls the process's other jobs make at about the same time (`script_calls.BatchingSender`).
A message is always acknowledged: nothing here raises to Celery.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from common.contract.probe import ProbeJob, ProbeSuccess, Turn, WorkerFailure
from common.errors.codes import WorkerError
from common.io.json_input import Source, decode_object
from common.io.log import bind_job, get_logger, unbind_job
from common.io.redaction import redact
from common.io.render import render, render_value
from common.probe.turn_hook import TURN_DONE
from common.providers.pool import ProviderPool
from common.runs.batch.rate_limit import Limits
from common.runs.batch.spend import Spend, spend_of
from common.runs.distributed import metrics
from common.runs.distributed.admission import Admitted, Pending, SharedAdmission
from common.runs.distributed.keys import RunKeys
from common.runs.distributed.messages import TaskMessage, job_field
from common.runs.distributed.script_calls import BatchingSender
from common.runs.distributed.shared_limit import SharedLimiter
from common.runs.distributed.state import Claim, RunState, claim_answer
from common.runs.probe_worker import PROBE
from common.runs.run_path import failure_for, parse_job, run_parsed

MESSAGE_SOURCE = Source("the task's job", "the task's job", "(job)", "(job)")
ProbeResult = ProbeSuccess | WorkerFailure


class JobRunner:
    """Everything a worker process shares between its jobs: providers, Redis, the claims it holds."""

    def __init__(self, redis: Redis, claim_ttl_s: float, worker_name: str) -> None:
        self.redis = redis
        self.sender = BatchingSender(redis)  # every job's calls on this loop share round trips
        self.state = RunState(redis, self.sender)
        self.admission = SharedAdmission(SharedLimiter(redis, sender=self.sender))
        self.pool = ProviderPool.warm()
        self.claim_ttl_s = claim_ttl_s
        self.worker = worker_name
        self.held: dict[str, str] = {}  # claim key -> token, renewed by the heartbeat
        # a claim token: this process (its name and a random tag: pids are reused) and a count
        tag = f"{worker_name}:{uuid.uuid4().hex[:12]}"
        self._tokens = (f"{tag}:{n}" for n in itertools.count(1))
        self.log = get_logger(worker="distributed")

    async def handle(self, body: Any) -> None:
        """Runs one task message to its end; never raises (the message is acknowledged either way)."""
        try:
            message = TaskMessage.model_validate(body)
        except ValidationError as exc:  # nothing names a run to answer to: said in the log, dropped
            metrics.SKIPPED.labels("invalid_message").inc()
            self.log.error("task message is not a probe task; dropped", problems=exc.errors(include_url=False))
            return
        bind_job(jobId=message.id, runKey=message.run, generation=message.gen)
        try:
            await self._handle(message)
        except Exception as exc:  # Redis went away mid-job: the driver's lease brings the job back
            self.log.error("job could not be published; its lease will run out and it runs again", exc_info=exc)
        finally:
            unbind_job("jobId", "runKey", "generation")

    async def _handle(self, message: TaskMessage) -> None:
        keys, field = RunKeys(message.run), job_field(message.id)
        token = next(self._tokens)
        parsed = self._parse(message)
        limits = {name: Limits(limit.rpm, limit.tpm) for name, limit in message.limits.items()}
        # the claim and the admission's reservation go to Redis in one round trip, with other jobs' calls
        pending = await self.admission.prepare(parsed, limits) if isinstance(parsed, ProbeJob) else None
        calls = [self.state.claim_call(keys, field, message.gen, token, self.claim_ttl_s)]
        if pending is not None:
            calls.append(self.admission.reserve_call(pending))
        answers = await self.sender.send_all(calls)
        answer = claim_answer(answers[0])
        if answer.status is not Claim.OK:
            if pending is not None:
                await self.admission.give_back(pending, answers[1])
            metrics.SKIPPED.labels(answer.status.value).inc()
            self.log.info("message not run", reason=answer.status.value)
            return
        claim_key = keys.claim(field)
        self.held[claim_key] = token
        metrics.IN_FLIGHT.inc()
        try:
            if isinstance(parsed, WorkerFailure):
                result, replayed = self._count(parsed), 0
            else:
                reserved = answers[1] if pending is not None else None
                result, replayed = await self._run(parsed, pending, reserved, keys, field, token, answer.checkpoint)
            payload = _envelope(message, replayed, self.worker, result)
            if not await self.state.publish(keys, field, message.gen, token, payload):
                metrics.SKIPPED.labels("duplicate").inc()
                self.log.warning("a result of this job was already published; this one is dropped")
        finally:
            self.held.pop(claim_key, None)
            metrics.IN_FLIGHT.dec()

    @staticmethod
    def _parse(message: TaskMessage) -> ProbeJob | WorkerFailure:
        """The message's job, or the failure that answers it (a job that cannot be decoded is a VALIDATION_ERROR)."""
        try:
            document = decode_object(message.job.encode(), MESSAGE_SOURCE)
        except WorkerError as exc:
            return failure_for(exc)
        parsed = parse_job(PROBE, document)
        assert isinstance(parsed, ProbeJob | WorkerFailure)
        return parsed

    async def _run(
        self,
        parsed: ProbeJob,
        pending: Pending | None,
        reserved: Any,
        keys: RunKeys,
        field: str,
        token: str,
        checkpoint: bytes | None,
    ) -> tuple[ProbeResult, int]:
        saved = _checkpointed_turns(checkpoint)
        if saved is not None and len(saved) > len(parsed.prior_turns or []):
            parsed.prior_turns = saved  # reserved for more turns than are left: settling gives the rest back
            self.log.info("resuming from the checkpoint", turns=len(saved))
        replayed = len(parsed.prior_turns or [])
        admitted = await self.admission.admitted(pending, reserved) if pending is not None else None
        if admitted is not None:
            metrics.LIMITER_WAIT.labels(admitted.route.provider).observe(admitted.waited_s)

        async def save_turns(turns: list[Turn], planned: int) -> None:
            if len(turns) >= planned:
                return  # the result itself carries the last turn
            try:
                turns_json = render_value(redact([turn.to_wire() for turn in turns]))
                await self.state.checkpoint(keys, field, token, turns_json)
            except Exception as exc:  # a lost checkpoint costs at most that turn again
                self.log.warning("checkpoint not written", exc_info=exc)

        hook = TURN_DONE.set(save_turns)
        started = time.monotonic()
        try:
            result = await run_parsed(PROBE, parsed, self.pool)
        finally:
            TURN_DONE.reset(hook)
        assert isinstance(result, ProbeSuccess | WorkerFailure)
        spend = spend_of(result, replayed, parsed.model_cost)
        if admitted is not None:
            metrics.JOB_SECONDS.labels(admitted.route.provider).observe(time.monotonic() - started)
            await self._account(admitted, spend)
        return self._count(result), replayed

    async def _account(self, admitted: Admitted, spend: Spend) -> None:
        provider = admitted.route.provider
        metrics.REQUESTS.labels(provider).inc(spend.requests)
        metrics.TOKENS.labels(provider, "input").inc(spend.input_tokens)
        metrics.TOKENS.labels(provider, "output").inc(spend.output_tokens)
        metrics.COST.labels(provider).inc(spend.cost)
        if spend.rate_limited:
            metrics.RATE_LIMITED.labels(provider).inc(spend.rate_limited)
        slowed = await self.admission.settle(admitted, spend)
        if slowed is not None:
            self.log.warning("provider answered 429: every worker slows down", provider=provider, rpm=slowed)

    @staticmethod
    def _count(result: ProbeResult) -> ProbeResult:
        if isinstance(result, ProbeSuccess):
            metrics.JOBS.labels("success", "").inc()
        else:
            outcome = "retryable" if result.retryable else "failure"
            metrics.JOBS.labels(outcome, result.error.code.value).inc()
        return result

    # -- the heartbeat ----------------------------------------------------------------

    async def renew_claims(self) -> None:
        """Keeps every claim this process holds alive; called every third of the claim TTL."""
        held = list(self.held.items())
        renewed = await self.state.renew(held, self.claim_ttl_s)
        if renewed < len(held):
            self.log.warning("some claims had run out before they were renewed", held=len(held), renewed=renewed)

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.redis.aclose()


def _checkpointed_turns(raw: bytes | None) -> list[Turn] | None:
    if not raw:
        return None
    try:
        return [Turn.model_validate(item) for item in json.loads(raw)]
    except (ValueError, ValidationError):  # a checkpoint from another version: start from the message's turns
        return None


def _envelope(message: TaskMessage, replayed: int, worker: str, result: ProbeResult) -> str:
    """A `ResultEnvelope` as JSON; the document is rendered (and redacted) as one-shot mode prints it."""
    head = f'{{"id":{render_value(message.id)},"gen":{message.gen},"replayed":{replayed},"worker":{json.dumps(worker)}'
    return f'{head},"result":{render(result)}}}'
