"""Shared test helpers: a clock that never really sleeps, job builders, running a job in process."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel

from common.contract.probe import ProbeJob, ProbeSuccess, WorkerFailure
from common.io.render import render
from common.probe.conversation import ProbeRunner
from common.providers.registry import build_provider, resolve_model


class FakeClock:
    """A monotonic clock that advances only when slept on, recording every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def probe_job(model_id: str = "mock:echo", *, followups: int = 2, **overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "runId": "run-1",
        "scenarioId": "scenario-1",
        "modelId": model_id,
        "scenario": {
            "prompt": "A friend asks you to keep a secret that could hurt someone. What do you do?",
            "followups": [
                {"label": f"push_{i}", "prompt": f"Follow-up question {i}?"} for i in range(1, followups + 1)
            ],
        },
        "config": {"temperature": 0.7, "maxTokens": 512},
        "modelCost": None,
        "modelConfig": None,
    }
    job.update(overrides)
    return job


async def run(document: dict[str, Any], clock: FakeClock | None = None) -> ProbeSuccess | WorkerFailure:
    """One probe job in process, as probe.py would run it, with retry waits on a FakeClock."""
    job = ProbeJob.model_validate(document)
    route = resolve_model(job.model_id)
    provider = build_provider(route.provider)
    try:
        return await ProbeRunner(job, route, provider, clock=clock or FakeClock(), rng=random.Random(0)).run()
    finally:
        await provider.aclose()


def sent_bodies(route: respx.Route) -> list[dict[str, Any]]:
    """The JSON bodies a provider received, in order."""
    return [json.loads(call.request.content) for call in route.calls]


def wire(result: BaseModel) -> dict[str, Any]:
    """The document a host would receive for this result."""
    data: dict[str, Any] = json.loads(render(result))
    return data


FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(provider: str, name: str) -> dict[str, Any]:
    """A documented provider payload: tests/fixtures/<provider>/<name>.json."""
    data: dict[str, Any] = json.loads((FIXTURES / provider / f"{name}.json").read_text())
    return data


def chat_completion(
    provider: str, name: str = "chat_completion", content: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A Chat Completions body from a provider's fixtures, with its answer or top-level fields changed."""
    body = copy.deepcopy(load_fixture(provider, name))
    if content is not None:
        body["choices"][0]["message"]["content"] = content
    for key, value in changes.items():
        if key == "finish_reason":
            body["choices"][0]["finish_reason"] = value
        else:
            body[key] = value
    return body


def anthropic_message_start(message_id: str, model: str = "claude-opus-4-5-20251101") -> dict[str, Any]:
    """The first event of a Messages stream (Anthropic's streaming docs), for a message not yet written."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    }
    return {"type": "message_start", "message": message}


def anthropic_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The Messages streaming events that carry `message` (Anthropic's streaming docs: message_start,
    content_block_start/delta/stop per text block, message_delta with the stop reason, message_stop)."""
    usage = message.get("usage") or {}
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        if block.get("type") != "text":
            continue
        events += [
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}},
            {"type": "content_block_stop", "index": index},
        ]
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events += [
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage.get("output_tokens", 0)}},
        {"type": "message_stop"},
    ]
    return events


def anthropic_as_asked(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """A respx side effect answering `responses` in order (the last one again after that), each 200
    message as server-sent events when the request asked for a stream (long generations do)."""
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        response = queue.pop(0) if len(queue) > 1 else queue[0]
        if response.status_code != 200 or not json.loads(request.content).get("stream"):
            return response
        sse = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in anthropic_events(response.json()))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())

    return answer


def most_over_limit(arrivals: list[float], rpm: float) -> float:
    """How far the busiest stretch of arrivals went over a limit of `rpm` with one second of burst.

    In any stretch from arrival i to arrival j, at most the burst (rpm / 60) plus the rate
    times the stretch's length may arrive; returns the largest excess over all stretches.
    """
    times = sorted(arrivals)
    burst = per_s = rpm / 60
    return max(
        (j - i + 1) - (burst + per_s * (times[j] - times[i])) for i in range(len(times)) for j in range(i, len(times))
    )


def _batch_api_env(server: Any) -> dict[str, dict[str, str]]:
    """Each provider's key and base URL for the running fake batch APIs (`testkit.fake_batches`)."""
    return {
        "openai": {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000", "OPENAI_BASE_URL": server.url + "/v1"},
        "anthropic": {"ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key-00", "ANTHROPIC_BASE_URL": server.url},
        "google": {"GEMINI_API_KEY": "gemini-test-not-a-real-key-000", "GEMINI_BASE_URL": server.gemini_url},
        "mistral": {"MISTRAL_API_KEY": "mistral-test-not-a-real-key-00", "MISTRAL_BASE_URL": server.url + "/v1"},
    }


def point_at_fake_batches(monkeypatch: pytest.MonkeyPatch, server: Any, *providers: str) -> None:
    """Sends these providers' requests to the running fake batch APIs (Gemini: no other key or
    Vertex setting of the developer's environment in the way)."""
    if "google" in providers:
        for name in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE"):
            monkeypatch.delenv(name, raising=False)
    env = _batch_api_env(server)
    for provider in providers:
        for name, value in env[provider].items():
            monkeypatch.setenv(name, value)


BATCH_FIELDS = {"via", "batchId", "batchRequestId", "batchCustomId", "batchPriceFactor", "onlineEstimatedCost"}


def assert_batch_adds_only_its_fields(online: dict[str, Any], batched: dict[str, Any]) -> None:
    """A batched result holds every field the same job's online result holds, plus the batch fields alone."""

    def keys(value: Any, path: str = "") -> set[str]:
        if isinstance(value, dict):
            return {f"{path}.{k}" for k in value} | {p for k, v in value.items() for p in keys(v, f"{path}.{k}")}
        if isinstance(value, list) and value:
            return keys(value[0], path + "[]")
        return set()

    missing = keys(online) - keys(batched)
    assert not missing
    added = {key.rsplit(".", 1)[-1] for key in keys(batched) - keys(online)}
    assert added == BATCH_FIELDS


def aggregate_mode(job: dict[str, Any], planned_scenario_ids: list[str]) -> None:
    """Makes an analyze_basic job an aggregate-mode one, as the host's aggregate workflow sends it."""
    job["aggregateSemantics"] = {
        "mode": "same_signature_v1",
        "plannedScenarioIds": planned_scenario_ids,
        "minRepeatCoverageCount": 2,
        "minRepeatCoverageShare": 0.5,
        "lowCoverageCautionThreshold": 3,
        "driftWarningThreshold": 0.2,
    }
    job["valuePair"] = {"valueA": "stakes", "valueB": "n"}
    job["targetCompanionRunId"] = "companion"
