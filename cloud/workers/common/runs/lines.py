"""The JSON-lines form of many probe jobs, shared by serve mode and batch runs.

A job line is a probe job document with one extra key, `id` (a non-empty string or an
integer), chosen by the sender. A result line is `{"id": <that id>, "result": <the
document one-shot probe.py prints>}`: the envelope keeps the document exactly as a
one-shot worker would print it, and the id can never collide with a document key.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from common.contract.probe import ProbeResult
from common.errors.codes import ErrorCode, WorkerError
from common.io.json_input import decode_object, line_source
from common.io.render import render, render_value

JobId = str | int


class JobLineError(Exception):
    """A line that cannot run as a job; `job_id` is set when the line named one."""

    def __init__(self, error: WorkerError, job_id: JobId | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.job_id = job_id


class ResultLine(BaseModel):
    """One line of serve mode's stdout or of a batch output file, as read back."""

    id: JobId | None
    result: ProbeResult


def readable_id(value: Any) -> JobId | None:
    """The id as the sender gave it, or None if it is not a usable id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        return value
    return None


# The id of a line that is not valid JSON can still be read when it comes first.
_LEADING_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)\s*[,}]')


def leading_id(raw: bytes) -> JobId | None:
    """The id of a line that cannot be parsed, when it is the line's first key (as hosts write it)."""
    match = _LEADING_ID.match(raw)
    if match is None:
        return None
    try:
        return readable_id(json.loads(match.group(1)))
    except ValueError:
        return None


def parse_job_line(raw: bytes, line_number: int) -> tuple[JobId, dict[str, Any]]:
    """(id, job document without the id) or JobLineError naming what is wrong."""
    try:
        document = decode_object(raw, line_source(line_number))
    except WorkerError as error:
        # The id of a line that cannot be decoded can still be read when it comes first.
        raise JobLineError(error, leading_id(raw)) from None
    job_id = readable_id(document.pop("id", None))
    if job_id is None:
        raise JobLineError(
            WorkerError(
                ErrorCode.VALIDATION_ERROR,
                f'line {line_number} has no usable id: every job line needs an "id" (a non-empty string or an'
                " integer) so its result can be matched to it",
                details={"field": "id", "line": line_number},
            ),
            None,
        )
    return job_id, document


def render_result_line(job_id: JobId | None, document: BaseModel) -> str:
    """One result line, newline included; the document is rendered (and redacted) as one-shot mode does."""
    return f'{{"id":{render_value(job_id)},"result":{render(document)}}}\n'
