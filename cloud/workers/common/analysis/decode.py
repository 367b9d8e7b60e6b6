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
from operator import attrgetter, eq
from typing import Annotated, Any, Final, Literal

import msgspec
import numpy as np

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


ValueOutcome = Literal["prioritized", "deprioritized", "neutral"]


class _Summary(msgspec.Struct, gc=False):
    values: msgspec.Raw = _NULL  # few distinct ones in a run: each decoded and checked once (_VALUES_DECODER)


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
_VALUES_DECODER: Final = msgspec.json.Decoder(dict[str, ValueOutcome] | None)
_SCENARIO_DECODER: Final = msgspec.json.Decoder()

# Python refuses to convert an integer of more digits than this (json.loads raises).
_INT_DIGITS_LIMIT: Final = 4300
_CHUNK: Final = 1 << 20
_STRIDE: Final = (_INT_DIGITS_LIMIT + 1) // 4  # 1,075
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
    """Whether some run of digits is longer than Python converts (a string of digits counts too).

    A run of more than `_INT_DIGITS_LIMIT` digits covers at least 4 consecutive multiples of
    `_STRIDE`: those bytes alone (one in 1,075) show where one can be, and only there is the
    text looked at. When too many places look possible, the whole text is scanned instead.
    """
    samples = raw[::_STRIDE].translate(_DIGITS_TO_ZERO)
    places: list[int] = []
    found = samples.find(b"0000")
    while found >= 0 and len(places) * 4 * _INT_DIGITS_LIMIT < len(raw):
        places.append(found * _STRIDE)
        found = samples.find(b"0000", found + 1)
    run = b"0" * (_INT_DIGITS_LIMIT + 1)
    if found < 0:  # every place: a run through `place` is one through the window around it
        return any(
            run in raw[max(0, place - _INT_DIGITS_LIMIT) : place + _INT_DIGITS_LIMIT + 1].translate(_DIGITS_TO_ZERO)
            for place in places
        )
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


def _coded(labels: list[str], coder: Coder) -> array[int]:
    """Each label's code (first-seen order, as `Coder.code`) as an int64 array; the coder keeps copies of the labels."""
    coder.codes = {_own(label): code for code, label in enumerate(dict.fromkeys(labels))}
    return array("q", map(coder.codes.__getitem__, labels))


def _bucket(decision: _Decision | None) -> int:
    canonical = decision.canonical if decision is not None else None
    return MISSING if canonical is None else DECISION_BUCKET[(canonical.direction, canonical.strength)]


def _value_columns(job: _Job, reader: Reader) -> None:
    """`summary.values` of every transcript into the reader's value columns (row, value code, outcome code).

    A run repeats a few value maps (which values a scenario weighs, and their outcomes), so
    each distinct map's bytes are decoded once, in first-seen order (which makes the value
    codes the ones a pass row by row gives), and the columns are gathered from them.
    """
    maps = [
        b"null" if summary is None else bytes(summary.values) for summary in map(attrgetter("summary"), job.transcripts)
    ]
    distinct = {raw: index for index, raw in enumerate(dict.fromkeys(maps))}
    map_of_row = np.fromiter(map(distinct.__getitem__, maps), dtype=np.int64, count=len(maps))
    del maps
    lengths: list[int] = []
    codes: list[int] = []
    outcomes: list[int] = []
    for raw in distinct:
        values = _VALUES_DECODER.decode(raw) or {}
        lengths.append(len(values))
        codes.extend(reader.values.code(_own(name)) for name in values)
        outcomes.extend(VALUE_OUTCOME_CODE[outcome] for outcome in values.values())
    length = np.asarray(lengths, dtype=np.int64)
    offset = np.cumsum(length) - length
    per_row = length[map_of_row]
    entries = int(per_row.sum())
    # entry e of row r is entry (e - first entry of r) of r's map
    first_entry = np.cumsum(per_row) - per_row
    index = np.repeat(offset[map_of_row] - first_entry, per_row) + np.arange(entries, dtype=np.int64)
    reader.value_rows = array("q", np.repeat(np.arange(map_of_row.shape[0], dtype=np.int64), per_row).tobytes())
    reader.value_codes = array("q", np.asarray(codes, dtype=np.int64)[index].tobytes())
    reader.value_outcomes = array("q", np.asarray(outcomes, dtype=np.int64)[index].tobytes())


def _distinct_scenarios(transcripts: list[_Transcript], scenario_col: array[int]) -> list[tuple[int, bytes]]:
    """Each distinct (scenario code, `scenario` bytes) once, in first-seen order.

    The same bytes again change nothing, and nearly every transcript of a scenario carries
    the bytes its first one did: each is compared with that first one (no copy), and only
    the first ones and those that differ are taken.
    """
    raws = list(map(attrgetter("scenario"), transcripts))
    codes = np.frombuffer(scenario_col, dtype=np.int64)
    _, first_row = np.unique(codes, return_index=True)  # codes are 0.. in first-seen order
    reference = [raws[row] for row in first_row.tolist()]
    same = np.fromiter(map(eq, raws, map(reference.__getitem__, scenario_col)), dtype=np.bool_, count=len(raws))
    taken = ~same
    taken[first_row] = True
    return list(dict.fromkeys((scenario_col[row], bytes(raws[row])) for row in np.flatnonzero(taken).tolist()))


def _columns(job: _Job) -> Columns:
    """The same columns as `extract.extract`, over structs whose types msgspec already checked.

    Column by column (`map` over the structs, dicts for the codes) rather than transcript
    by transcript: the same codes in the same first-seen order, at about half the cost.
    """
    options = _option_values(job)
    transcripts = job.transcripts
    problems = Problems()
    reader = Reader(problems)
    models, scenarios, runs = Coder(), Coder(), Coder()
    ids = list(map(attrgetter("id"), transcripts))
    duplicates = len(ids) - len(set(ids))
    del ids
    model_col = _coded(list(map(attrgetter("model_id"), transcripts)), models)
    scenario_col = _coded(list(map(attrgetter("scenario_id"), transcripts)), scenarios)
    source_runs = list(map(attrgetter("run_id"), transcripts))
    if None in source_runs:
        if options.get("aggregateSemantics") is not None:
            raise _UnprovenError  # extract names the missing runId
        _coded([run for run in source_runs if run is not None], runs)
        run_col = array("q", [-1 if run is None else runs.codes[run] for run in source_runs])
    else:
        run_col = _coded(source_runs, runs)
    del source_runs
    flipped_col = [flipped is True for flipped in map(attrgetter("orientation_flipped"), transcripts)]
    bucket_col = array("q", map(_bucket, map(attrgetter("decision_model_v2"), transcripts)))
    _value_columns(job, reader)
    for scenario_code, scenario in _distinct_scenarios(transcripts, scenario_col):
        reader.scenario(_SCENARIO_DECODER.decode(scenario), scenario_code, 0, None)
        if problems.items:
            raise _UnprovenError  # extract names the field, the row and the transcript
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
