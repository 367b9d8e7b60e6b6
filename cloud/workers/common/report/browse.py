"""The transcript browser's data: the columnar job table and one compact conversation per job.

Every string that repeats across jobs goes through one `Texts` table, so a prompt sent to
50 models, a `paramsSent` shared by a whole run or a rate-limit message is stored once.
Free-form objects (`paramsSent`, `paramNotes`, `retries`, error `details`) are stored as
their JSON text (compact: json's C encoder; the page indents it when it shows one).
"""

from __future__ import annotations

import json
from typing import Any

from common.contract.probe import Turn, WorkerFailure
from common.report.data import JobTable, ScenarioRef
from common.report.joined import JobRow, Scenario

NONE = -1
DECISION_LABELS = [
    "favor_first/strong",
    "favor_first/lean",
    "neutral/neutral",
    "favor_second/lean",
    "favor_second/strong",
    "refusal",
    "unknown",
]


class Texts:
    """Strings stored once; `ref` gives a string's index (-1 for None)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def ref(self, text: str | None) -> int:
        if text is None:
            return NONE
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found

    def json(self, value: Any) -> int:
        if value is None or value == [] or value == {}:
            return NONE
        return self.ref(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


class Names:
    """A small ordered set (models, providers, codes): name -> index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def ref(self, name: str) -> int:
        found = self._index.get(name)
        if found is None:
            found = self._index[name] = len(self.items)
            self.items.append(name)
        return found


def _turn(turn: Turn, texts: Texts) -> list[Any]:
    meta = turn.provider_metadata
    reasoning = turn.reasoning
    return [
        texts.ref(turn.prompt_label),
        texts.ref(turn.probe_prompt),
        turn.target_response,
        turn.input_tokens,
        turn.output_tokens,
        texts.ref(meta.finish_reason),
        texts.ref(meta.raw_finish_reason),
        int(meta.truncated),
        meta.reasoning_tokens,
        reasoning.text if reasoning else None,
        reasoning.summary if reasoning else None,
        reasoning.redacted_blocks if reasoning else 0,
        texts.json(meta.reasoning.to_wire() if meta.reasoning else None),
        meta.attempts,
        texts.json([retry.to_wire() for retry in meta.retries]),
        meta.timing.request_ms,
        meta.timing.total_ms,
        texts.ref(meta.model_version),
        texts.json(meta.params_sent),
        texts.json([note.to_wire() for note in meta.param_notes]),
        meta.cached_input_tokens,
        int(meta.tokens_estimated),
        texts.ref(meta.api),
    ]


def _error(failure: WorkerFailure | None, texts: Texts) -> list[Any] | None:
    if failure is None:
        return None
    error = failure.error
    return [
        error.code.value,
        texts.ref(error.message),
        error.retryable,
        error.retry_after_ms,
        error.status_code,
        texts.json(error.details),
    ]


def _conversation(row: JobRow, texts: Texts) -> list[Any]:
    transcript, failure = row.transcript, row.failure
    if transcript is None:
        return [None, None, [], _error(failure, texts), []]
    return [
        transcript.started_at,
        transcript.completed_at,
        [texts.ref(warning) for warning in transcript.warnings],
        _error(failure, texts),
        [_turn(turn, texts) for turn in transcript.turns],
    ]


def decision_label(row: JobRow) -> int:
    decision = row.decision.decision_model_v2
    canonical = decision.get("canonical") if isinstance(decision, dict) else None
    if not isinstance(canonical, dict):
        return NONE
    direction, strength = canonical.get("direction"), canonical.get("strength")
    label = direction if direction in ("refusal", "unknown") else f"{direction}/{strength}"
    return DECISION_LABELS.index(label) if label in DECISION_LABELS else NONE


class BrowseData:
    """The job table, the conversations and the name tables they index, built in one pass."""

    def __init__(self, rows: list[JobRow]) -> None:
        self.texts = Texts()
        self.models = Names()
        self.providers = Names()
        self.codes = Names()
        scenario_index: dict[str, int] = {}
        self.scenarios: list[ScenarioRef] = []
        columns: dict[str, list[Any]] = {name: [] for name in JobTable.model_fields}
        self.conversations: list[list[Any]] = []
        for row in rows:
            transcript = row.transcript
            failure = row.failure
            columns["id"].append("" if row.id is None else str(row.id))
            columns["model"].append(self.models.ref(row.model))
            columns["provider"].append(self.providers.ref(row.provider))
            columns["scenario"].append(self._scenario(row.scenario, scenario_index))
            columns["outcome"].append(int(row.outcome))
            columns["code"].append(self.codes.ref(failure.error.code.value) if failure else NONE)
            columns["turns"].append(len(transcript.turns) if transcript else 0)
            columns["input_tokens"].append(transcript.total_input_tokens if transcript else 0)
            columns["output_tokens"].append(transcript.total_output_tokens if transcript else 0)
            columns["reasoning_tokens"].append(transcript.total_reasoning_tokens if transcript else 0)
            snapshot = transcript.cost_snapshot if transcript else None
            columns["cost"].append(snapshot.estimated_cost if snapshot else None)
            columns["decision"].append(decision_label(row))
            self.conversations.append(_conversation(row, self.texts))
        self.table = JobTable(**columns)

    def _scenario(self, scenario: Scenario, index: dict[str, int]) -> int:
        found = index.get(scenario.key)
        if found is None:
            found = index[scenario.key] = len(self.scenarios)
            self.scenarios.append(
                ScenarioRef(id=scenario.key, name=scenario.name, prompt=self.texts.ref(scenario.prompt))
            )
        return found
