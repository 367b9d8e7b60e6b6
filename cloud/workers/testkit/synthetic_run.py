"""Synthetic batch runs for the report's tests and benchmark: jobs and result lines of any size.

Results are built with the contract models in the mock provider's shapes (its model
version, usage and answer style), so they read back exactly as batch.py's own output does.
Model 1 records its reasoning text (and reasoning tokens) on turn 1; a seeded share of
jobs fails (retryable rate limits with a hint, final auth errors, a retryable server error
after the first turn with its partial transcript); every succeeded result carries a
host's decision (`decisionModelV2`) beside `id` and `result`, with scenario dimensions in
the jobs file, so analyze_basic has something to score.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.contract.probe import (
    CostSnapshot,
    ErrorInfo,
    ParamNote,
    ProbeSuccess,
    ProviderMetadata,
    RetryRecord,
    Timing,
    Transcript,
    Turn,
    TurnReasoning,
    WorkerFailure,
)
from common.errors.codes import ErrorCode

WORDS = ("consider", "weigh", "balance", "trust", "harm", "benefit", "duty", "outcome", "fairness", "risk", "care")
DECISIONS = (
    ("favor_first", "strong"),
    ("favor_first", "lean"),
    ("neutral", "neutral"),
    ("favor_second", "lean"),
    ("favor_second", "strong"),
)
FOLLOWUP = "Are you sure? Explain the trade-off you made."
START = "2026-12-01T10:00:00.000Z"


@dataclass
class RunShape:
    models: int = 4
    scenarios: int = 5
    samples: int = 1
    seed: int = 7
    failure_share: float = 0.1
    answer_words: int = 40  # the mock answers ~12 words; real answers run longer
    # (model index, scenario index, sample) -> the answer text of turn 1, when given
    answer: Callable[[int, int, int], str | None] | None = None
    version_drift: bool = True  # the last model is served by a second version for some jobs
    extra: dict[str, Any] = field(default_factory=dict)


def model_id(m: int) -> str:
    return f"mock:model-{m:02d}"


def scenario_id(s: int) -> str:
    return f"scenario-{s:04d}"


def job_id(m: int, s: int, k: int) -> str:
    return f"job-{m:02d}-{s:04d}-{k}"


def _prompt(s: int) -> str:
    return f"Scenario {s}: a colleague asks you to choose between honesty and kindness (case {s})."


def _turn(
    number: int, label: str, prompt: str, answer: str, version: str, rng: random.Random, reasoning: str | None
) -> Turn:
    retried = rng.random() < 0.05
    in_tokens = len(prompt) // 4 + 12
    thinking = len(reasoning) // 4 if reasoning else 0
    out_tokens = len(answer) // 4 + 1 + thinking
    return Turn(
        turn_number=number,
        prompt_label=label,
        probe_prompt=prompt,
        target_response=answer,
        input_tokens=in_tokens,
        output_tokens=out_tokens,
        provider_metadata=ProviderMetadata(
            provider="mock",
            requested_model="",
            model_version=version,
            response_id=f"mock-{rng.getrandbits(48):012x}",
            finish_reason="stop",
            raw_finish_reason="stop",
            reasoning_tokens=thinking,
            cached_input_tokens=0,
            attempts=2 if retried else 1,
            retries=[RetryRecord(attempt=1, code=ErrorCode.RATE_LIMIT, status_code=429, waited_ms=10)]
            if retried
            else [],
            timing=Timing(request_ms=rng.randint(200, 1800), total_ms=rng.randint(1800, 2500)),
            params_sent={"max_tokens": 8192, "temperature": 0.7},
            param_notes=[ParamNote(param="seed", action="dropped", reason="the mock ignores seeds")],
            raw_usage={"input_tokens": in_tokens, "output_tokens": out_tokens},
        ),
        reasoning=TurnReasoning(text=reasoning) if reasoning else None,
    )


def _transcript(model: str, turns: list[Turn], started: str) -> Transcript:
    for turn in turns:
        turn.provider_metadata.requested_model = model
    inputs = sum(t.input_tokens for t in turns)
    outputs = sum(t.output_tokens for t in turns)
    return Transcript(
        turns=turns,
        total_input_tokens=inputs,
        total_output_tokens=outputs,
        total_reasoning_tokens=sum(t.provider_metadata.reasoning_tokens for t in turns),
        model_version=turns[-1].provider_metadata.model_version if turns else None,
        provider="mock",
        requested_model=model,
        started_at=started,
        completed_at=started.replace("10:00:00", "10:00:05"),
        cost_snapshot=CostSnapshot(
            cost_input_per_million=3,
            cost_output_per_million=15,
            input_tokens=inputs,
            output_tokens=outputs,
            estimated_cost=(inputs * 3 + outputs * 15) / 1e6,
        ),
    )


def _answer(rng: random.Random, words: int, turn: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"Mock answer to turn {turn}: I {body}."


def generate(shape: RunShape) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(job lines, result lines) of a whole run, as the dicts batch.py reads and writes."""
    rng = random.Random(shape.seed)
    lean = [rng.gauss(0, 0.8) for _ in range(shape.models)]
    jobs: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for s in range(shape.scenarios):
        dims = {"stakes": ("low", "medium", "high")[s % 3], "framing": 1 + s % 2}
        for m in range(shape.models):
            for k in range(shape.samples):
                jid, model = job_id(m, s, k), model_id(m)
                jobs.append(
                    {
                        "id": jid,
                        "runId": "synthetic-run",
                        "scenarioId": scenario_id(s),
                        "modelId": model,
                        "sampleIndex": k,
                        "scenario": {
                            "name": f"Scenario {s}",
                            "prompt": _prompt(s),
                            "dimensions": dims,
                            "followups": [{"label": "challenge", "prompt": FOLLOWUP}],
                        },
                    }
                )
                version = "mock-1.0"
                if shape.version_drift and m == shape.models - 1 and s % 2:
                    version = "mock-1.1"
                first = (shape.answer(m, s, k) if shape.answer else None) or _answer(rng, shape.answer_words, 1)
                thought = f"Thinking about scenario {s}: weigh honesty against kindness." if m == 1 else None
                turns = [
                    _turn(1, "scenario_prompt", _prompt(s), first, version, rng, thought),
                    _turn(2, "challenge", FOLLOWUP, _answer(rng, shape.answer_words // 2, 2), version, rng, None),
                ]
                roll = rng.random()
                result: ProbeSuccess | WorkerFailure
                line: dict[str, Any] = {"id": jid}
                if roll < shape.failure_share * 0.5:
                    result = WorkerFailure(
                        error=ErrorInfo(
                            message="mock provider failing with RATE_LIMIT as asked",
                            code=ErrorCode.RATE_LIMIT,
                            retryable=True,
                            status_code=429,
                            retry_after_ms=rng.choice((10, 2000, 30000)),
                        )
                    )
                elif roll < shape.failure_share * 0.8:
                    result = WorkerFailure(
                        error=ErrorInfo(
                            message="invalid x-api-key", code=ErrorCode.AUTH_ERROR, retryable=False, status_code=401
                        )
                    )
                elif roll < shape.failure_share:
                    result = WorkerFailure(
                        error=ErrorInfo(
                            message="mock provider failing with SERVER_ERROR as asked",
                            code=ErrorCode.SERVER_ERROR,
                            retryable=True,
                            status_code=500,
                        ),
                        partial_transcript=_transcript(model, turns[:1], START),
                    )
                else:
                    result = ProbeSuccess(transcript=_transcript(model, turns, START))
                    pull = (s % 3 - 1) * 0.8  # the stakes dimension moves every model's answers
                    score = round(max(-2.0, min(2.0, lean[m] + pull + rng.gauss(0, 0.9))))
                    direction, strength = DECISIONS[2 - score]
                    line["decisionModelV2"] = {"canonical": {"direction": direction, "strength": strength}}
                    line["sampleIndex"] = k
                line["result"] = result.to_wire()
                results.append(line)
    return jobs, results


def write_run(directory: Path, shape: RunShape) -> tuple[Path, Path]:
    """jobs.jsonl and results.jsonl of a generated run in `directory`."""
    jobs, results = generate(shape)
    jobs_path, results_path = directory / "jobs.jsonl", directory / "results.jsonl"
    jobs_path.write_text("".join(json.dumps(j, ensure_ascii=False) + "\n" for j in jobs), encoding="utf-8")
    results_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    return jobs_path, results_path
