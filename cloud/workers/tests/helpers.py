"""Shared test helpers: a clock that never really sleeps and job builders."""

from __future__ import annotations

from typing import Any


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
