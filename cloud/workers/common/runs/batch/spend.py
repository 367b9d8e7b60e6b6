"""What a probe job is expected to spend before it runs, and what its result says it spent.

The estimate admits a job through its provider's rate limiter (requests = turns still to
run, tokens = the conversation re-sent each turn plus an expected answer per turn); the
spend read from the result settles the difference and feeds the batch totals. Only turns
run this time count: turns replayed from `priorTurns` were paid for by an earlier run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from common.contract.probe import ModelCost, ProbeJob, ProbeSuccess, WorkerFailure
from common.errors.codes import ErrorCode
from common.probe.conversation import plan_conversation
from common.probe.job_params import resolve_params
from common.tokens import CHARS_PER_TOKEN

DEFAULT_EXPECTED_OUTPUT_TOKENS = 300


@dataclass(frozen=True)
class Estimate:
    requests: int
    tokens: int


def estimate_job(job: ProbeJob, expected_output_tokens: float) -> Estimate:
    """Requests and tokens of the turns this job still has to run (a rough, cheap guess)."""
    plan = plan_conversation(job)
    prompts = [turn.prompt for turn in plan.turns]
    prior = job.prior_turns or []
    done = min(len(prior), len(prompts))
    answer = min(float(resolve_params(job).max_tokens), expected_output_tokens)
    history_chars = len(plan.system or "") + sum(len(t.probe_prompt) + len(t.target_response) for t in prior[:done])
    history_tokens = history_chars / CHARS_PER_TOKEN
    tokens = 0.0
    for prompt in prompts[done:]:
        history_tokens += len(prompt) / CHARS_PER_TOKEN
        tokens += history_tokens + answer
        history_tokens += answer
    return Estimate(requests=len(prompts) - done, tokens=math.ceil(tokens))


@dataclass
class Spend:
    """What one result spent in this run, and what it says about rate limits."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    new_turns: int = 0
    cost: float = 0.0
    cost_known: bool = True
    rate_limited: int = 0  # 429s seen, retried inside the job or not
    retry_after_s: float | None = None
    output_tokens_per_turn: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def saw_rate_limit(self, waited_ms: int | None) -> None:
        self.rate_limited += 1
        if waited_ms is not None:
            self.retry_after_s = max(self.retry_after_s or 0.0, waited_ms / 1000)


def spend_of(result: ProbeSuccess | WorkerFailure, prior_turns: int, model_cost: ModelCost | None) -> Spend:
    """Reads a result (success or failure) for the turns run after `prior_turns`."""
    spend = Spend()
    transcript = result.transcript if isinstance(result, ProbeSuccess) else result.partial_transcript
    turns = transcript.turns[prior_turns:] if transcript is not None else []
    for turn in turns:
        meta = turn.provider_metadata
        spend.requests += meta.attempts or 1
        spend.input_tokens += turn.input_tokens
        spend.output_tokens += turn.output_tokens
        spend.output_tokens_per_turn.append(turn.output_tokens)
        for retry in meta.retries:
            if retry.code is ErrorCode.RATE_LIMIT:
                spend.saw_rate_limit(retry.waited_ms)
    spend.new_turns = len(turns)
    if isinstance(result, WorkerFailure):
        attempts = result.error.details.get("attempts")
        spend.requests += attempts if isinstance(attempts, int) else 0
        if result.error.code is ErrorCode.RATE_LIMIT:
            spend.saw_rate_limit(result.error.retry_after_ms)
    if model_cost is not None:
        spend.cost = (
            spend.input_tokens * model_cost.cost_input_per_million / 1e6
            + spend.output_tokens * model_cost.cost_output_per_million / 1e6
        )
    else:
        spend.cost_known = spend.tokens == 0
    return spend
