"""The job's bytes straight into columns: typed structs for just the fields analysis reads.

`json.loads` of a 100,000-transcript run builds about two million Python objects (dicts,
keys, every field of every transcript) and keeps them alive with the 40 MB of text it
was decoded from. msgspec decodes the bytes into small typed structs instead, skipping
every field analysis does not read (`raw`, prompts, answers) without building it, and
checks most of the input contract on the way (types, non-empty ids, the decision and
value-outcome vocabularies). `scenario` stays raw bytes: it repeats per scenario, so
each distinct one is decoded and checked once.

This is a fast path only. Whenever it cannot prove that `json_input.decode_object` +
`extract.extract` would accept the bytes and read the same values (a problem of any
kind, a NaN token, a lone surrogate, a byte-order mark, an integer too long for Python,
invalid UTF-8 anywhere, a document it cannot type), it hands the bytes to that one
decoder, so every message, field and transcript id of a bad input is exactly the one
that path gives, and a good input gives the same columns either way.
"""

from __future__ import annotations

import codecs
import json
from array import array
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

import msgspec

from common.analysis.extract import (
    OPTION_FIELDS,
    Built,
    Coder,
    Columns,
    Problems,
    Reader,
    extract,
    finish,
    options_of,
)
from common.analysis.scoring import DECISION_BUCKET, MISSING, VALUE_OUTCOME_CODE
from common.io.json_input import STDIN, decode_object

Text = Annotated[str, msgspec.Meta(min_length=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
_ABSENT: Final = msgspec.Raw(b"")
_NULL: Final = msgspec.Raw(b"null")


class _Canonical(msgspec.Struct, gc=False):
    direction: Literal["favor_first", "favor_second", "neutral", "refusal", "unknown"]
    strength: Literal["strong", "lean", "neutral", "unknown"]


class _Decision(msgspec.Struct, gc=False):
    canonical: _Canonical | None = None


class _Summary(msgspec.Struct, gc=False):
    values: dict[str, Literal["prioritized", "deprioritized", "neutral"]] | None = None


class _Transcript(msgspec.Struct, gc=False, rename="camel"):
    id: Text
    model_id: Text
    scenario_id: Text
    sample_index: NonNegative | None = None
    run_id: Text | None = None
    orientation_flipped: bool | None = None
    decision_model_v2: _Decision | None = None
    summary: _Summary | None = None
    scenario: msgspec.Raw = _NULL  # checked once per distinct (scenario, bytes) by extract's Reader


class _Job(msgspec.Struct, gc=False, rename="camel"):
    run_id: Text
    transcripts: list[_Transcript]
    emit_vignette_semantics: msgspec.Raw = _ABSENT
    aggregate_semantics: msgspec.Raw = _ABSENT
    value_pair: msgspec.Raw = _ABSENT
    target_companion_run_id: msgspec.Raw = _ABSENT


_JOB_DECODER: Final = msgspec.json.Decoder(_Job)
_SCENARIO_DECODER: Final = msgspec.json.Decoder()

# Python refuses to convert an integer of more digits than this (json.loads raises).
_INT_DIGITS_LIMIT: Final = 4300
_CHUNK: Final = 1 << 20
_DIGITS_TO_ZERO: Final = bytes(ord("0") if chr(i).isdigit() and i < 128 else ord("x") for i in range(256))


def _own(label: str) -> str:
    """A copy of a label that outlives the structs: kept, the struct's own string would pin
    its whole memory arena (one arena per first sighting of a model: tens of MB never freed)."""
    return label.encode().decode()


class _UnprovenError(Exception):
    """The fast path cannot vouch for these bytes: the one JSON decoder must read them."""


def _valid_utf8(raw: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(raw), _CHUNK):  # bounded memory: no second copy of the job as text
            decoder.decode(raw[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _has_overlong_integer(raw: bytes) -> bool:
    """Whether some run of digits is longer than Python converts (a string of digits counts too)."""
    run = b"0" * (_INT_DIGITS_LIMIT + 1)
    for start in range(0, len(raw), _CHUNK):
        window = raw[max(0, start - _INT_DIGITS_LIMIT) : start + _CHUNK].translate(_DIGITS_TO_ZERO)
        if run in window:
            return True
    return False


def _readable(raw: bytes) -> bool:
    """What json_input checks on bytes that msgspec does not check in fields it skips."""
    if raw.startswith(codecs.BOM_UTF8):
        return False  # decode_object accepts it (utf-8-sig); msgspec does not: let the one decoder read it
    if not raw.isascii() and not _valid_utf8(raw):
        return False
    return not _has_overlong_integer(raw)


def _option_values(job: _Job) -> dict[str, Any]:
    present: dict[str, Any] = {}
    for key, value in zip(
        OPTION_FIELDS,
        (job.emit_vignette_semantics, job.aggregate_semantics, job.value_pair, job.target_companion_run_id),
        strict=True,
    ):
        if len(value):
            present[key] = json.loads(bytes(value))
    return present


def _columns(job: _Job) -> Columns:
    """The same pass as `extract.extract`, over structs whose types msgspec already checked."""
    options = _option_values(job)
    run_required = options.get("aggregateSemantics") is not None
    problems = Problems()
    reader = Reader(problems)
    models, scenarios, runs = Coder(), Coder(), Coder()
    model_codes, scenario_codes, run_codes = models.codes, scenarios.codes, runs.codes
    # int64 arrays, not lists: no int object per entry kept alive among the structs, so the
    # structs' memory is whole arenas again once they are freed
    model_col, scenario_col, bucket_col, run_col = array("q"), array("q"), array("q"), array("q")
    flipped_col: list[bool] = []
    reader.value_rows, reader.value_codes, reader.value_outcomes = array("q"), array("q"), array("q")
    value_rows, value_codes, value_outcomes = reader.value_rows, reader.value_codes, reader.value_outcomes
    value_names = reader.values.codes
    ids: set[str] = set()
    seen_scenarios: set[tuple[int, bytes]] = set()
    duplicates = 0
    for row, item in enumerate(job.transcripts):
        tid = item.id
        if tid in ids:
            duplicates += 1
        else:
            ids.add(tid)
        code = model_codes.get(item.model_id)
        model_col.append(models.code(_own(item.model_id)) if code is None else code)
        scenario_code = scenario_codes.get(item.scenario_id)
        if scenario_code is None:
            scenario_code = scenarios.code(_own(item.scenario_id))
        scenario_col.append(scenario_code)
        source_run = item.run_id
        if source_run is None:
            if run_required:
                raise _UnprovenError  # extract names the missing runId
            run_col.append(-1)
        else:
            code = run_codes.get(source_run)
            run_col.append(runs.code(_own(source_run)) if code is None else code)
        flipped_col.append(item.orientation_flipped is True)
        decision = item.decision_model_v2
        canonical = decision.canonical if decision is not None else None
        bucket_col.append(MISSING if canonical is None else DECISION_BUCKET[(canonical.direction, canonical.strength)])
        summary = item.summary
        if summary is not None and summary.values is not None:
            for name, outcome in summary.values.items():
                code = value_names.get(name)
                value_rows.append(row)
                value_codes.append(reader.values.code(_own(name)) if code is None else code)
                value_outcomes.append(VALUE_OUTCOME_CODE[outcome])
        scenario = bytes(item.scenario)
        if (scenario_code, scenario) not in seen_scenarios:  # the same bytes again change nothing
            seen_scenarios.add((scenario_code, scenario))
            reader.scenario(_SCENARIO_DECODER.decode(scenario), scenario_code, row, tid)
            if problems.items:
                raise _UnprovenError
    built = Built(
        models, scenarios, runs, model_col, scenario_col, bucket_col, run_col, flipped_col, reader, duplicates
    )
    return finish(_own(job.run_id), options_of(options), built)


def decode_columns(raw: bytes, seen: Callable[[dict[str, Any]], None] | None = None) -> Columns:
    """The job in `raw` as columns; VALIDATION_ERROR (from the one JSON decoder, or extract) when it is bad.

    `seen` is given the decoded job before it is checked (only its `runId` on the fast
    path), so the caller can put its ids on the log lines that follow, a failure's included.
    """
    try:
        if not _readable(raw):
            raise _UnprovenError
        job = _JOB_DECODER.decode(raw)
        if seen is not None:
            seen({"runId": job.run_id})
        return _columns(job)
    except Exception:  # any doubt at all: json.loads and extract say what is wrong, as always
        pass
    document = decode_object(raw, STDIN)
    if seen is not None:
        seen(document)
    return extract(document)
