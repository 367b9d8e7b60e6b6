"""The durable state of a provider-batch run: `<results>.batches.sqlite`, beside the results.

It is what survives a kill -9: every batch we meant to submit (its tag, written BEFORE the
submission), its input file and batch ids once the provider gave them, which job and turn
each custom_id stands for, and each unfinished job's line and turns so far. A SQLite
database (stdlib `sqlite3`, WAL, `synchronous=FULL`): the runner's changes accumulate in one
transaction and `commit` is where the earlier JSON file was saved whole, so a restart sees
the state before a step or after it, never half. Nothing of it is held in memory but the
batch entries (a few per wave): a job's row is read when its next request is built, its
result applied or its line written, in bounded chunks, so memory does not grow with the run.

Rows hold the versioned wire shapes (camelCase JSON of `JobState` and `BatchEntry`), with the
few columns the runner selects by (provider, model, pending batch, finished) beside them.

Phases of a batch entry: `intent` (saved before any call: a crash after this may or may
not have created the batch, so a restart first looks for it by its tag), `uploaded` (the
input file exists), `submitted` (the batch id is known: never submitted again), `applied`
(its results are in the jobs' turns: never downloaded again).

An earlier version kept the state in one JSON file, `<results>.batches.json`; finding one,
`StateStore.open` refuses to start (`OldStateError`, naming the file) rather than lose the
batches it names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from pydantic import Field

from common.contract.probe import ErrorInfo, RetryRecord, TranscriptWarning, Turn, WireModel

STATE_VERSION = 2
Phase = Literal["intent", "uploaded", "submitted", "applied"]
# Rows read or written per statement: bounded, so a step's memory does not grow with the run.
CHUNK = 64


class Finished(WireModel):
    """How a job ended (its line may not be written yet): a success, or this failure."""

    error: ErrorInfo | None = None
    completed_at: str


class WaitMark(WireModel):
    """When a request's batch ended with a retryable failure: the start of its wait for the next wave.

    `clockS` is the runner's clock (monotonic, only comparable within `process`); `unixS` is
    used when a restart came in between."""

    clock_s: float
    unix_s: float
    process: str


class JobState(WireModel):
    turns: list[Turn] = Field(default_factory=list)
    warnings: list[TranscriptWarning] = Field(default_factory=list)
    started_at: str
    attempts: int = 0  # waves the current turn's request went out in
    retries: list[RetryRecord] = Field(default_factory=list)  # the current turn's failed waves
    last_error: ErrorInfo | None = None  # the current turn's last retryable failure
    # The current turn's parameter rejections (a sampling parameter, token limit or reasoning
    # setting the model refused), in order: replayed onto the job's parameters by
    # `param_fallback.adjust_after_rejection` whenever the conversation is rebuilt, so the next
    # wave (after a restart too) sends the adjusted request and the turn records the notes.
    param_rejections: list[ErrorInfo] = Field(default_factory=list)
    waiting: WaitMark | None = None  # since when its last retry has waited for a wave
    pending: str | None = None  # the tag of the batch holding its current request
    finished: Finished | None = None


class BatchEntry(WireModel):
    tag: str  # ours: in the batch's metadata (OpenAI) and every custom_id (`<tag>-<index>`)
    provider: str
    model: str
    wave: int
    phase: Phase = "intent"
    count: int  # requests; which job and turn each index stands for is in the `requests` table
    intent_at: float  # unix seconds, before the first call
    resumed_from_crash: bool = False  # an intent found at start-up: look for it before submitting
    input_file_id: str | None = None
    batch_id: str | None = None
    submitted_at: float | None = None  # on the provider's clock when it said
    sent: WaitMark | None = None  # on our clock: when the provider accepted it (ends its requests' waits)
    ended_at: float | None = None
    status: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    cancel_requested: bool = False

    def custom_id(self, index: int) -> str:
        return f"{self.tag}-{index}"


class RunState(WireModel):
    """The whole state read at once, for inspection and tests (a run reads it in chunks)."""

    version: Literal[2] = 2  # STATE_VERSION
    jobs: dict[str, JobState] = Field(default_factory=dict)  # by job key (the id as JSON)
    batches: list[BatchEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class StoredJob:
    """One job's row: its line in the jobs file (parsed again when it is used) and its state."""

    key: str
    line: int
    raw: bytes
    provider: str
    model: str
    state: JobState


@dataclass(frozen=True)
class BatchRequest:
    index: int
    key: str
    turn: int


class OldStateError(Exception):
    """A state file of an earlier version: this version cannot read it, and will not drop it silently."""

    def __init__(self, old: Path, new: Path) -> None:
        super().__init__(
            f"{old} is the state of a provider-batch run started by an earlier version of this worker"
            f" (it names batches that may still be running, and are paid for); this version keeps its"
            f" state in {new.name}. Finish that run with the earlier version, or delete {old.name} to"
            " start the run over (its batches are then not collected). Nothing was started."
        )
        self.path = old


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".batches.sqlite")


def old_state_path(output: Path) -> Path:
    """Where versions before the SQLite state kept it (one JSON file, written whole)."""
    return output.with_name(output.name + ".batches.json")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL,
    raw BLOB NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    turns INTEGER NOT NULL,
    run TEXT NOT NULL,
    pending TEXT,
    finished INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (finished, pending, provider, model, seq);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
CREATE TABLE IF NOT EXISTS batches (tag TEXT PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applied_batches (batch_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    tag TEXT NOT NULL, idx INTEGER NOT NULL, key TEXT NOT NULL, turn INTEGER NOT NULL, PRIMARY KEY (tag, idx)
) WITHOUT ROWID;
"""


class StateStore:
    """The run's state database. Writes join one open transaction until `commit` (or `rollback`)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.db = connection

    @classmethod
    def open(cls, output: Path) -> StateStore:
        path, old = state_path(output), old_state_path(output)
        if old.exists():
            raise OldStateError(old, path)
        # isolation_level "" (DEFERRED): the module opens a transaction before the first write.
        connection = sqlite3.connect(path, isolation_level="DEFERRED")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the next provider call
        connection.executescript(_SCHEMA)
        found = connection.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        if found is None:
            connection.execute("INSERT INTO meta (name, value) VALUES ('version', ?)", (str(STATE_VERSION),))
            connection.commit()
        elif int(found[0]) != STATE_VERSION:
            connection.close()
            raise OldStateError(path, path)
        return cls(path, connection)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    def rollback(self) -> None:
        self.db.rollback()

    def remove(self) -> None:
        """A finished run: the database and its WAL files go."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    # -- the run's counters -------------------------------------------------------------

    def next_wave(self, wave_key: str) -> int:
        """The number of the next wave of a provider+model, counted on (in this transaction)."""
        name = "wave " + wave_key
        found = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        wave = int(found[0]) if found is not None else 1
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, str(wave + 1)))
        return wave

    # -- jobs -------------------------------------------------------------------------------

    def place_job(self, run: str, key: str, seq: int, line: int, raw: bytes, provider: str, model: str) -> bool:
        """Refreshes a known job's line and route, marked as in this `run`; False if the state has no such job."""
        updated = self.db.execute(
            "UPDATE jobs SET seq = ?, line = ?, raw = ?, provider = ?, model = ?, run = ? WHERE key = ?",
            (seq, line, raw, provider, model, run, key),
        )
        return updated.rowcount > 0

    def add_job(
        self, run: str, key: str, seq: int, line: int, raw: bytes, provider: str, model: str, state: JobState
    ) -> None:
        self.db.execute(
            "INSERT INTO jobs (key, seq, line, raw, provider, model, run, turns, pending, finished, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, seq, line, raw, provider, model, run, *self._columns(state)),
        )

    def save_job(self, key: str, state: JobState) -> None:
        self.db.execute(
            "UPDATE jobs SET turns = ?, pending = ?, finished = ?, state = ? WHERE key = ?",
            (*self._columns(state), key),
        )

    @staticmethod
    def _columns(state: JobState) -> tuple[int, str | None, int, str]:
        return len(state.turns), state.pending, int(state.finished is not None), state.model_dump_json(by_alias=True)

    def load_jobs(self, keys: Sequence[str]) -> list[StoredJob]:
        """The rows of these jobs, in the order asked (a key the state lacks is left out)."""
        found: dict[str, StoredJob] = {}
        for start in range(0, len(keys), CHUNK):
            part = keys[start : start + CHUNK]
            rows = self.db.execute(
                f"SELECT key, line, raw, provider, model, state FROM jobs WHERE key IN ({','.join('?' * len(part))})",
                part,
            )
            for key, line, raw, provider, model, state in rows:
                found[key] = StoredJob(key, line, bytes(raw), provider, model, JobState.model_validate_json(state))
        return [found[key] for key in keys if key in found]

    def delete_jobs(self, keys: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM jobs WHERE key = ?", ((key,) for key in keys))

    def keep_only(self, run: str) -> None:
        """Drops every job this `run` did not place (no longer in the jobs file, or finished meanwhile)."""
        self.db.execute("DELETE FROM jobs WHERE run != ?", (run,))

    def providers(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT DISTINCT provider FROM jobs ORDER BY provider")]

    def pages(self, where: str, params: Sequence[object] = ()) -> Iterator[list[str]]:
        """The keys of the jobs matching `where`, a page at a time in the jobs file's order.

        Each page is read whole before it is handed out, so the caller may change those rows."""
        after = -1
        while True:
            rows = self.db.execute(
                f"SELECT seq, key FROM jobs WHERE seq > ? AND ({where}) ORDER BY seq LIMIT {CHUNK}",
                (after, *params),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [key for _, key in rows]

    def finished_keys(self) -> list[str]:
        return [key for (key,) in self.db.execute(f"SELECT key FROM jobs WHERE finished = 1 LIMIT {CHUNK}")]

    def ready_groups(self, providers: Sequence[str]) -> list[tuple[str, str]]:
        """The provider+model pairs with a job ready for its next request (not finished, in no batch),
        in the order of their first job in the jobs file."""
        if not providers:
            return []
        rows = self.db.execute(
            "SELECT provider, model FROM jobs WHERE finished = 0 AND pending IS NULL AND provider IN"
            f" ({','.join('?' * len(providers))}) GROUP BY provider, model ORDER BY MIN(seq)",
            tuple(providers),
        )
        return [(provider, model) for provider, model in rows]

    def unfinished(self) -> int:
        found = self.db.execute("SELECT COUNT(*) FROM jobs WHERE finished = 0").fetchone()
        return int(found[0])

    # -- batches ----------------------------------------------------------------------------

    def batches(self) -> list[BatchEntry]:
        rows = self.db.execute("SELECT entry FROM batches ORDER BY rowid")  # in the order they were planned
        return [BatchEntry.model_validate_json(entry) for (entry,) in rows]

    def save_batches(self, entries: Sequence[BatchEntry]) -> None:
        self.db.executemany(
            "INSERT INTO batches (tag, entry) VALUES (?, ?) ON CONFLICT (tag) DO UPDATE SET entry = excluded.entry",
            ((entry.tag, entry.model_dump_json(by_alias=True)) for entry in entries),
        )

    def add_requests(self, tag: str, requests: Iterable[BatchRequest]) -> None:
        self.db.executemany(
            "INSERT INTO requests (tag, idx, key, turn) VALUES (?, ?, ?, ?)",
            ((tag, request.index, request.key, request.turn) for request in requests),
        )

    def requests(self, tag: str, indexes: Sequence[int] | None = None) -> Iterator[list[BatchRequest]]:
        """A batch's requests a page at a time (all, or those of these custom_id indexes)."""
        if indexes is not None:
            for start in range(0, len(indexes), CHUNK):
                part = indexes[start : start + CHUNK]
                rows = self.db.execute(
                    f"SELECT idx, key, turn FROM requests WHERE tag = ? AND idx IN ({','.join('?' * len(part))})"
                    " ORDER BY idx",
                    (tag, *part),
                ).fetchall()
                yield [BatchRequest(index, key, turn) for index, key, turn in rows]
            return
        after = -1
        while True:
            rows = self.db.execute(
                f"SELECT idx, key, turn FROM requests WHERE tag = ? AND idx > ? ORDER BY idx LIMIT {CHUNK}",
                (tag, after),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [BatchRequest(index, key, turn) for index, key, turn in rows]

    def delete_batch(self, tag: str, batch_id: str | None) -> None:
        """An applied batch leaves the state; its id stays, so no later intent takes it for its own."""
        if batch_id is not None:
            self.db.execute("INSERT OR IGNORE INTO applied_batches (batch_id) VALUES (?)", (batch_id,))
        self.db.execute("DELETE FROM requests WHERE tag = ?", (tag,))
        self.db.execute("DELETE FROM batches WHERE tag = ?", (tag,))

    def applied_batch_ids(self) -> set[str]:
        """The ids of the run's batches already applied and gone from `batches`.

        A restart that looks for a batch whose id was never saved (a crash during its create)
        must not take one of these for it: Anthropic batches carry no tag, only a request
        count and a creation time, and a wave usually has the count of the wave before it.
        """
        return {batch_id for (batch_id,) in self.db.execute("SELECT batch_id FROM applied_batches")}


def load_state(output_state: Path) -> RunState | None:
    """The whole saved state at `state_path(...)`, or None: for inspection and tests, read-only."""
    if not output_state.exists():
        return None
    connection = sqlite3.connect(output_state)  # read-write: it replays a WAL a kill -9 left
    try:
        jobs = {
            key: JobState.model_validate_json(state) for key, state in connection.execute("SELECT key, state FROM jobs")
        }
        batches = [
            BatchEntry.model_validate_json(entry)
            for (entry,) in connection.execute("SELECT entry FROM batches ORDER BY rowid")
        ]
    finally:
        connection.close()
    return RunState(jobs=jobs, batches=batches)
