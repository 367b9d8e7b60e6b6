"""The one JSON reader for every job a worker receives: stdin, a serve line, a batch line.

Every way a job can be unreadable is answered here, with one set of messages naming
where it came from (`stdin`, `line 7`), so one-shot, serve and batch say the same thing
about the same bytes. Validation against a job's pydantic model is here too: the
field path of the first problems goes into the message and `details.field`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from common.errors.codes import ErrorCode, WorkerError
from common.io import environment
from common.io.render import without_lone_surrogates

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """Where a job's bytes came from, as messages and `details` name it."""

    label: str  # "stdin", "line 7"
    subject: str  # "the job", "line 7"
    field: str  # "(stdin)", "(line)": what `details.field` names when the bytes are wrong
    document_field: str  # "(document)", "(line)": ... when the JSON is not a job object
    line: int | None = None

    def details(self, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
        details: dict[str, Any] = {"field": field or self.field}
        if self.line is not None:
            details["line"] = self.line
        return {**details, **extra}


STDIN = Source("stdin", "the job", "(stdin)", "(document)")


def line_source(number: int) -> Source:
    return Source(f"line {number}", f"line {number}", "(line)", "(line)", number)


def max_input_bytes(default: int = DEFAULT_MAX_INPUT_BYTES) -> int:
    return environment.max_input_bytes(default)


def too_large(source: Source, limit: int) -> WorkerError:
    return WorkerError(
        ErrorCode.VALIDATION_ERROR,
        f"{source.label} is larger than {limit} bytes (set PROBE_MAX_INPUT_BYTES to allow more)",
        details=source.details(limitBytes=limit),
    )


def read_limited(stream: BinaryIO | None, limit: int) -> bytes:
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(STDIN, limit)
    return data


_JSON_TYPE_NAMES: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _invalid(source: Source, message: str, **details: Any) -> WorkerError:
    return WorkerError(ErrorCode.VALIDATION_ERROR, message, details=source.details(**details))


# A `\uD800`-`\uDFFF` escape: the only way a lone surrogate gets into decoded JSON text.
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _without_lone_surrogates(value: Any) -> Any:
    """Every string (and key) with lone surrogates as U+FFFD, so text sent on or echoed is valid.

    A job's text goes to a provider's SDK (which encodes it as UTF-8) and back into the
    document: a half emoji must become one replacement character here, once, not an
    exception in an SDK or three replacement characters in a validator.
    """
    if isinstance(value, str):
        return without_lone_surrogates(value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


def decode_object(raw: bytes, source: Source, *, allow_empty: bool = False) -> dict[str, Any]:
    """The JSON object in `raw`, or a VALIDATION_ERROR saying what is wrong with it."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(
            source,
            f"{source.label} is not valid UTF-8 (byte {exc.start}): send the job as UTF-8 JSON",
            byteOffset=exc.start,
        ) from None
    if not text.strip():
        if allow_empty:
            return {}
        raise _invalid(source, f"{source.label} is empty: send one JSON job document")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(
            source,
            f"{source.label} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            **({"line": exc.lineno} if source.line is None else {}),
            column=exc.colno,
        ) from None
    except RecursionError:
        raise _invalid(source, f"{source.label} cannot be read: its JSON nests too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise _invalid(source, f"{source.label} cannot be read as JSON: {exc}") from None
    if _MAY_HOLD_SURROGATE.search(raw) is not None:
        document = _without_lone_surrogates(document)
    if not isinstance(document, dict):
        kind = _JSON_TYPE_NAMES.get(type(document), "value")
        message = f"{source.subject} must be a JSON object, not a JSON {kind}"
        raise _invalid(source, message, field=source.document_field)
    return document


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def validation_error(exc: ValidationError) -> WorkerError:
    problems = [
        {"field": _field_path(tuple(err["loc"])), "problem": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return WorkerError(
        ErrorCode.VALIDATION_ERROR,
        f"invalid job: {summary}{more}",
        details={"field": problems[0]["field"] if problems else None, "problems": problems},
    )


def validate_job(document: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from None
