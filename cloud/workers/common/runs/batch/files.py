"""The two files of a batch run: the jobs file it reads and the results file it appends to.

The results file is the run's only state. Each line is written whole with one `write`
as its job ends, so a kill leaves whole lines, except at worst a last line cut short by
a crash mid-write, which `read_previous` cuts off. On the next run an id whose last
result is a success or a non-retryable failure is skipped; one whose last result is a
retryable failure runs again from its partial transcript. `compact` then keeps one line
per id (the last), so a finished run leaves exactly one result per job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.contract.probe import ProbeSuccess, Turn, WorkerFailure
from common.errors.codes import WorkerError
from common.providers.registry import resolve_model
from common.runs.lines import JobId, JobLineError, ResultLine, parse_job_line

UNROUTED = "(unrouted)"  # jobs whose model id names no provider: they fail fast, unthrottled


@dataclass
class BatchJob:
    id: JobId
    line: int
    raw: bytes  # the job line as read; parsed again when the job runs, to keep memory small
    provider: str
    prior_turns: list[Turn] | None = None  # paid-for turns a retry goes on from
    attempts: int = 0
    last_result: ProbeSuccess | WorkerFailure | None = None


@dataclass(frozen=True)
class PreviousResult:
    final: bool  # a success or a non-retryable failure: nothing more to do
    code: str | None
    prior_turns: list[Turn] | None

    @classmethod
    def of(cls, result: ProbeSuccess | WorkerFailure) -> PreviousResult:
        code = result.error.code.value if isinstance(result, WorkerFailure) else None
        return cls(final=not result.retryable, code=code, prior_turns=result.turns_to_resume())


class JobsFileError(Exception):
    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{path}: {len(problems)} line(s) cannot run, nothing was started:\n  {shown}{more}")
        self.problems = problems


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def read_jobs(path: Path) -> list[BatchJob]:
    """Every job of the file, routed to its provider; a line without JSON or an id stops the run."""
    jobs: list[BatchJob] = []
    problems: list[str] = []
    first_line: dict[JobId, int] = {}
    try:
        lines = list(_lines(path))
    except OSError as exc:
        raise JobsFileError(path, [f"cannot read it: {exc.strerror}"]) from None
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            job_id, document = parse_job_line(raw, number)
        except JobLineError as bad:
            problems.append(bad.error.message)
            continue
        if job_id in first_line:
            problems.append(f"line {number} repeats id {job_id!r} (first on line {first_line[job_id]})")
            continue
        first_line[job_id] = number
        try:
            provider = resolve_model(str(document.get("modelId") or "")).provider
        except WorkerError:
            provider = UNROUTED
        jobs.append(BatchJob(job_id, number, raw, provider))
    if problems:
        raise JobsFileError(path, problems)
    return jobs


def _cut_partial_last_line(path: Path) -> None:
    """A crash in the middle of a write can leave a last line without its newline: drop it."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        position = size
        while position > 0:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(position + newline + 1)
                return
        handle.truncate(0)


def read_previous(path: Path) -> tuple[dict[JobId, PreviousResult], int]:
    """The last result of every id in an earlier output (and how many lines were unreadable)."""
    if not path.exists():
        return {}, 0
    _cut_partial_last_line(path)
    previous: dict[JobId, PreviousResult] = {}
    unreadable = 0
    for _, raw in _lines(path):
        if not raw.strip():
            continue
        try:
            line = ResultLine.model_validate_json(raw)
        except ValidationError:
            unreadable += 1
            continue
        if line.id is not None:
            previous[line.id] = PreviousResult.of(line.result)
    return previous, unreadable


def _line_id(raw: bytes) -> tuple[bool, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return False, None
    return (True, value.get("id")) if isinstance(value, dict) else (False, None)


def compact(path: Path) -> int:
    """Keeps only the last line of each id, in place and atomically; returns the lines dropped."""
    last: dict[str, int] = {}
    for number, raw in _lines(path):
        readable, job_id = _line_id(raw)
        if readable and job_id is not None:
            last[json.dumps(job_id)] = number
    total = sum(1 for _ in _lines(path))
    if len(last) == total:
        return 0
    scratch = path.with_name(path.name + ".compact.tmp")
    kept = 0
    with scratch.open("wb") as out:
        for number, raw in _lines(path):
            readable, job_id = _line_id(raw)
            if readable and (job_id is None or last.get(json.dumps(job_id)) == number):
                out.write(raw + b"\n")
                kept += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, path)
    return total - kept


class ResultWriter:
    """Appends whole result lines, each with one unbuffered write, as jobs end."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lines = 0

    def write(self, line: str) -> None:
        data = line.encode()
        written = os.write(self.fd, data)
        while written < len(data):  # regular files take it all at once; a short write is finished here
            written += os.write(self.fd, data[written:])
        self.lines += 1

    def close(self) -> None:
        os.close(self.fd)
