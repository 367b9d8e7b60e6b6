"""What a probe job is expected to spend before it runs, and what its result says it spent.

The estimate admits a job through its provider's rate limiter (requests = turns still to
run, tokens = the conversation re-sent each turn plus an expected answer per turn); the
spend read from the result settles the difference and feeds the batch totals. Only turns
run this time count: turns replayed from `priorTurns` were paid for by an earlier run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from common.contract.probe import DEFAULT_MAX_TOKENS, DEFAULT_MAX_TURNS
from common.errors.codes import ErrorCode
from common.tokens import CHARS_PER_TOKEN

DEFAULT_EXPECTED_OUTPUT_TOKENS = 300


@dataclass(frozen=True)
class Estimate:
    requests: int
    tokens: int


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def estimate_job(document: dict[str, Any], expected_output_tokens: float) -> Estimate:
    """Requests and tokens of the turns this job still has to run (a rough, cheap guess)."""
    scenario = _dict(document.get("scenario"))
    config = _dict(document.get("config"))
    turns_setting, tokens_setting = config.get("maxTurns"), config.get("maxTokens")
    max_turns = turns_setting if isinstance(turns_setting, int) else DEFAULT_MAX_TURNS
    max_tokens = tokens_setting if isinstance(tokens_setting, int) else DEFAULT_MAX_TOKENS
    prompts = [_text(scenario.get("preamble")) + _text(scenario.get("prompt"))]
    prompts += [_text(_dict(f).get("prompt")) for f in scenario.get("followups") or []]
    prompts = prompts[: max(1, max_turns)]
    prior = document.get("priorTurns") or []
    done = min(len(prior), len(prompts))
    answer = min(float(max_tokens), expected_output_tokens)
    history = sum(len(_text(_dict(t).get("probePrompt"))) + len(_text(_dict(t).get("targetResponse"))) for t in prior)
    history_tokens = history / CHARS_PER_TOKEN
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


def spend_of(result: dict[str, Any], prior_turns: int, model_cost: Any) -> Spend:
    """Reads a result document (success or failure) for the turns run after `prior_turns`."""
    spend = Spend()
    transcript = _dict(result.get("transcript") or result.get("partialTranscript"))
    turns = [t for t in transcript.get("turns") or [] if isinstance(t, dict)][prior_turns:]
    for turn in turns:
        meta = _dict(turn.get("providerMetadata"))
        spend.requests += int(meta.get("attempts") or 1)
        spend.input_tokens += int(turn.get("inputTokens") or 0)
        output = int(turn.get("outputTokens") or 0)
        spend.output_tokens += output
        spend.output_tokens_per_turn.append(output)
        for retry in meta.get("retries") or []:
            if _dict(retry).get("code") == ErrorCode.RATE_LIMIT.value:
                spend.rate_limited += 1
                spend.retry_after_s = max(spend.retry_after_s or 0.0, int(_dict(retry).get("waitedMs") or 0) / 1000)
    spend.new_turns = len(turns)
    error = _dict(result.get("error"))
    if error:
        details = _dict(error.get("details"))
        attempts = details.get("attempts")
        spend.requests += attempts if isinstance(attempts, int) else 0
        if error.get("code") == ErrorCode.RATE_LIMIT.value:
            spend.rate_limited += 1
            hint = error.get("retryAfterMs")
            if isinstance(hint, int):
                spend.retry_after_s = max(spend.retry_after_s or 0.0, hint / 1000)
    rates = _dict(model_cost)
    per_in, per_out = rates.get("costInputPerMillion"), rates.get("costOutputPerMillion")
    if isinstance(per_in, int | float) and isinstance(per_out, int | float):
        spend.cost = spend.input_tokens * per_in / 1e6 + spend.output_tokens * per_out / 1e6
    else:
        spend.cost_known = spend.tokens == 0
    return spend
