"""The durable state of a provider-batch run: `<results>.batches.json`, beside the results.

It is what survives a kill -9: every batch we meant to submit (its tag, written BEFORE the
submission), its input file and batch ids once the provider gave them, which job and turn
each custom_id stands for, and each unfinished job's turns so far. It is written whole and
atomically (a temp file, fsync, `os.replace`, fsync of the folder), so a reader sees the
old state or the new one, never half. A versioned wire shape (camelCase) like every other.

Phases of a batch entry: `intent` (saved before any call: a crash after this may or may
not have created the batch, so a restart first looks for it by its tag), `uploaded` (the
input file exists), `submitted` (the batch id is known: never submitted again), `applied`
(its results are in the jobs' turns: never downloaded again).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from common.contract.probe import ErrorInfo, RetryRecord, TranscriptWarning, Turn, WireModel

STATE_VERSION = 1
Phase = Literal["intent", "uploaded", "submitted", "applied"]


class Finished(WireModel):
    """How a job ended (its line may not be written yet): a success, or this failure."""

    error: ErrorInfo | None = None
    completed_at: str


class JobState(WireModel):
    turns: list[Turn] = Field(default_factory=list)
    warnings: list[TranscriptWarning] = Field(default_factory=list)
    started_at: str
    attempts: int = 0  # waves the current turn's request went out in
    retries: list[RetryRecord] = Field(default_factory=list)  # the current turn's failed waves
    last_error: ErrorInfo | None = None  # the current turn's last retryable failure
    pending: str | None = None  # the tag of the batch holding its current request
    finished: Finished | None = None


class BatchEntry(WireModel):
    tag: str  # ours: in the batch's metadata (OpenAI) and every custom_id (`<tag>-<index>`)
    provider: str
    model: str
    wave: int
    phase: Phase = "intent"
    jobs: list[str]  # job keys, by custom_id index
    turns: list[int]  # the turn number each request asks for
    intent_at: float  # unix seconds, before the first call
    resumed_from_crash: bool = False  # an intent found at start-up: look for it before submitting
    input_file_id: str | None = None
    batch_id: str | None = None
    submitted_at: float | None = None  # on the provider's clock when it said
    ended_at: float | None = None
    status: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    cancel_requested: bool = False

    def custom_id(self, index: int) -> str:
        return f"{self.tag}-{index}"


class RunState(WireModel):
    version: Literal[1] = 1  # STATE_VERSION
    jobs: dict[str, JobState] = Field(default_factory=dict)  # by job key (the id as JSON)
    batches: list[BatchEntry] = Field(default_factory=list)
    next_wave: dict[str, int] = Field(default_factory=dict)  # "provider model" -> the next wave's number


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".batches.json")


def load_state(path: Path) -> RunState | None:
    if not path.exists():
        return None
    return RunState.model_validate_json(path.read_bytes())


def save_state(path: Path, state: RunState) -> None:
    """Atomically: readers (and a restart after kill -9) see the old file or the new one."""
    data = state.model_dump_json(by_alias=True, exclude_defaults=False).encode()
    scratch = path.with_name(path.name + ".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(scratch, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
