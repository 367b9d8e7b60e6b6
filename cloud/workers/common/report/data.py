"""The shape of the data embedded in the page once, as JSON, and rendered there in pages.

Small sections are objects with camelCase names. The two large ones are compact: the job
table is columnar (one list per column, every list one entry per job) and each job's
conversation is an array whose positions `conversationFields` / `turnFields` name. Strings
that repeat across jobs (prompts, labels, parameters, notes, error messages, versions) are
stored once in `texts` and referred to by index (-1: none); model answers are stored in
place. At 100,000 jobs this keeps the page about as large as the answers themselves.
"""

from __future__ import annotations

from typing import Any

from common.contract.analysis import AnalysisWarning, RunTotals
from common.contract.probe import WireModel

CONVERSATION_FIELDS = ["startedAt", "completedAt", "warnings", "error", "turns"]
TURN_FIELDS = [
    "label",
    "prompt",
    "response",
    "inputTokens",
    "outputTokens",
    "finishReason",
    "rawFinishReason",
    "truncated",
    "reasoningTokens",
    "reasoningText",
    "reasoningSummary",
    "redactedReasoningBlocks",
    "reasoningSetting",
    "attempts",
    "retries",
    "requestMs",
    "totalMs",
    "modelVersion",
    "paramsSent",
    "paramNotes",
    "cachedInputTokens",
    "tokensEstimated",
    "api",
]
ERROR_FIELDS = ["code", "message", "retryable", "retryAfterMs", "statusCode", "details"]


class PageNote(WireModel):
    level: str
    message: str


class Sources(WireModel):
    results: str
    jobs: str | None
    analysis: str | None


class Totals(WireModel):
    jobs: int
    succeeded: int
    failed: int
    failed_retryable: int
    no_result: int
    turns: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    estimated_cost: float | None  # summed over the jobs whose transcript carries a costSnapshot
    priced_jobs: int
    wall_ms: int | None  # first startedAt to last completedAt
    first_started_at: str | None
    last_completed_at: str | None
    request_ms: int  # the providers' time, summed over every turn (retries included)


class CodeCount(WireModel):
    code: str
    count: int
    retryable: int  # how many of them are retryable failures (a rerun of batch.py retries those)


class UsageRow(WireModel):
    name: str
    provider: str
    jobs: int
    succeeded: int
    failed: int
    no_result: int
    turns: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    estimated_cost: float | None
    truncated_turns: int
    retried_turns: int
    median_turn_ms: int | None


class VersionCount(WireModel):
    version: str | None  # null: the provider named no version
    turns: int


class ModelVersions(WireModel):
    model: str
    provider: str
    versions: list[VersionCount]
    drift: bool  # more than one served version across the run
    changed_within: int  # transcripts whose own turns were served by different versions


class Overview(WireModel):
    totals: Totals
    by_code: list[CodeCount]
    per_provider: list[UsageRow]
    per_model: list[UsageRow]
    versions: list[ModelVersions]


class FailureMessage(WireModel):
    message: str
    count: int
    jobs: list[int]  # row indexes of the first few jobs with this message


class HintStats(WireModel):
    count: int
    min_ms: int
    median_ms: int
    max_ms: int


class FailureGroup(WireModel):
    code: str
    count: int
    retryable: int  # how many of them are retryable (the rest are final)
    with_partial: int  # failures that kept paid-for turns
    status_codes: dict[str, int]
    retry_after: HintStats | None
    messages: list[FailureMessage]
    distinct_messages: int


class ScenarioRef(WireModel):
    id: str
    name: str
    prompt: int  # index into texts, -1 when unknown


class JobTable(WireModel):
    id: list[str]
    model: list[int]
    provider: list[int]
    scenario: list[int]
    outcome: list[int]
    code: list[int]
    turns: list[int]
    input_tokens: list[int]
    output_tokens: list[int]
    reasoning_tokens: list[int]
    cost: list[float | None]
    decision: list[int]


class Chart(WireModel):
    name: str
    title: str
    description: str
    spec: dict[str, Any]  # Vega-Lite, data inline: the page and --figures render the same spec


class MissingChart(WireModel):
    name: str
    title: str
    reason: str  # why there is nothing to draw


class AnalysisView(WireModel):
    source: str  # "file" (--analysis) or "computed" (analyze_basic on the results' decisions)
    run_id: str
    totals: RunTotals
    warnings: list[AnalysisWarning]
    charts: list[Chart]
    missing_charts: list[MissingChart]


class ReportData(WireModel):
    title: str
    generated_at: str
    sources: Sources
    notes: list[PageNote]
    overview: Overview
    models: list[str]
    providers: list[str]
    scenarios: list[ScenarioRef]
    codes: list[str]
    outcomes: list[str]
    decisions: list[str]
    texts: list[str]
    conversation_fields: list[str]
    turn_fields: list[str]
    error_fields: list[str]
    jobs: JobTable
    conversations: list[list[Any]]
    failures: list[FailureGroup]
    analysis: AnalysisView | None
