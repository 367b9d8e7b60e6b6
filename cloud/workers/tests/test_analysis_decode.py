"""analyze_basic's bytes path (typed decoding, its renderer, scipy-free statistics) against the dict path.

The worker decodes a job's bytes straight into typed structs (`decode.decode_columns`)
and writes its document with `wire.render_document`; `report.analyze(document)` and
`io.render.render` are the reference. Whatever the bytes, both paths must give the same
document, or the same VALIDATION_ERROR word for word; the statistics that no longer go
through scipy.stats must be scipy's: to the bit, or (the t and chi-squared tails, from
`special_functions`) within a relative 1e-10.
"""

from __future__ import annotations

import io
import json
import random
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import stats

import analyze_basic
from common.analysis import distributions
from common.analysis.report import analyze, analyze_bytes
from common.analysis.wire import render_document
from common.errors.codes import WorkerError
from common.io.json_input import STDIN, decode_object
from common.io.render import render
from common.runs.oneshot import run_worker
from tests.helpers import aggregate_mode
from tests.test_analyze_basic_validation import BAD_TRANSCRIPTS, good_transcript, job_with

DECISIONS = [
    ("favor_first", "strong"),
    ("favor_first", "lean"),
    ("neutral", "neutral"),
    ("favor_second", "lean"),
    ("favor_second", "strong"),
    ("refusal", "unknown"),
    ("unknown", "lean"),
]


def sample_run(seed: int, *, aggregate: bool = False) -> dict[str, Any]:
    """A small run with every optional shape: repeats, values, dimensions, flips, runIds, nulls."""
    rng = random.Random(seed)
    transcripts = []
    for m in range(4):
        for s in range(6):
            for k in range(3):
                decision: Any = {"canonical": dict(zip(("direction", "strength"), rng.choice(DECISIONS), strict=True))}
                decision = rng.choice([decision, decision, None, {"canonical": None}, {"raw": {"x": [1, 2]}}])
                item: dict[str, Any] = {
                    "id": f"t-{m}-{s}-{k}" if rng.random() > 0.05 else "dup",
                    "modelId": f"model-{m}",
                    "scenarioId": f"s-{s}",
                    "sampleIndex": k,
                    "decisionModelV2": decision,
                    "summary": rng.choice([None, {"values": None}, {"values": {"b": "neutral", "a": "prioritized"}}]),
                    "scenario": {
                        "name": rng.choice([None, f"Scenario {s}"]),
                        "dimensions": {"stakes": ["low", "high"][s % 2], "n": rng.choice([1, 1.0, 2]), "z": None},
                    },
                    "orientationFlipped": rng.choice([None, True, False]),
                    "extra": {"ignored": [1.5, "text", None]},
                }
                if aggregate or rng.random() < 0.5:
                    item["runId"] = f"run-{k % 2}"
                transcripts.append(item)
    job: dict[str, Any] = {"runId": "run-1", "transcripts": transcripts, "emitVignetteSemantics": seed % 2 == 0}
    if aggregate:
        aggregate_mode(job, [f"s-{s}" for s in range(6)])
    return job


def without_clock(document: dict[str, Any]) -> dict[str, Any]:
    analysis = document["analysis"]
    analysis.pop("computedAt")
    analysis.pop("durationMs")
    return document


def by_dict_path(raw: bytes) -> dict[str, Any] | WorkerError:
    try:
        return without_clock(analyze(decode_object(raw, STDIN)).to_wire())
    except WorkerError as exc:
        return exc


def by_bytes_path(raw: bytes) -> dict[str, Any] | WorkerError:
    try:
        return without_clock(analyze_bytes(raw).to_wire())
    except WorkerError as exc:
        return exc


def assert_same(raw: bytes) -> None:
    expected, got = by_dict_path(raw), by_bytes_path(raw)
    if isinstance(expected, WorkerError):
        assert isinstance(got, WorkerError), f"the bytes path accepted what the dict path refuses: {expected.message}"
        assert (got.code, got.message, got.details) == (expected.code, expected.message, expected.details)
    else:
        assert got == expected


@pytest.mark.parametrize("seed", range(6))
def test_good_runs_give_the_same_document(seed: int) -> None:
    assert_same(json.dumps(sample_run(seed)).encode())


@pytest.mark.parametrize("seed", range(3))
def test_aggregate_runs_give_the_same_document(seed: int) -> None:
    assert_same(json.dumps(sample_run(seed, aggregate=True)).encode())


def test_non_ascii_text_and_an_empty_run() -> None:
    job = sample_run(1)
    job["transcripts"][0]["modelId"] = "modèle-é-😀"
    job["transcripts"][1]["scenario"] = {"name": "naïve", "dimensions": {"ключ": "значение"}}
    assert_same(json.dumps(job, ensure_ascii=False).encode())
    assert_same(json.dumps(job).encode())  # the same as \\u escapes
    assert_same(b'{"runId": "r", "transcripts": []}')


@pytest.mark.parametrize(("change", "field", "problem"), BAD_TRANSCRIPTS)
def test_bad_transcripts_give_the_same_error(change: Any, field: str, problem: str) -> None:
    assert_same(json.dumps(job_with(change)).encode())


def with_extra(value: bytes) -> bytes:
    return b'{"runId": "r", "transcripts": [' + json.dumps(good_transcript()).encode() + b'], "extra": ' + value + b"}"


BAD_OR_ODD_BYTES = [
    b"",
    b"   ",
    b"[1]",
    b"null",
    b'{"runId": "r"',
    b"\xef\xbb\xbf" + json.dumps({"runId": "r", "transcripts": [good_transcript()]}).encode(),  # BOM: accepted
    b"\xff{}",
    with_extra(b"NaN"),  # json.loads takes NaN: accepted
    with_extra(b'"\\ud83d"'),  # a lone surrogate: accepted, as U+FFFD
    with_extra(b'"\\ud83d\\ude00"'),
    with_extra(b"9" * 5000),  # longer than Python converts: refused
    with_extra(b'"' + b"1" * 5000 + b'"'),  # a long string of digits: accepted
    with_extra(b'"\xff"'),  # not UTF-8, in a field analysis skips: refused
    with_extra(b"[" * 2000 + b"]" * 2000),  # nests too deeply: refused
    with_extra(b"1e400"),
    b'{"runId": "r", "transcripts": [], "emitVignetteSemantics": "yes"}',
    b'{"runId": "r", "transcripts": [], "aggregateSemantics": {"mode": "other"}}',
    b'{"runId": "r", "runId": "s", "transcripts": []}',
    json.dumps({"runId": "r", "transcripts": [good_transcript()], "aggregateSemantics": None}).encode(),
    json.dumps({"runId": "r", "transcripts": [{**good_transcript(), "sampleIndex": 10**30}]}).encode(),
    json.dumps({"runId": "r", "transcripts": [{**good_transcript(), "sampleIndex": 1.0}]}).encode(),
    json.dumps({"runId": "r", "transcripts": [{**good_transcript(), "orientationFlipped": 1}]}).encode(),
    json.dumps({"runId": "r", "transcripts": [{**good_transcript(), "scenario": {"dimensions": {"x": 3e8}}}]}).encode(),
]


@pytest.mark.parametrize("raw", BAD_OR_ODD_BYTES, ids=range(len(BAD_OR_ODD_BYTES)))
def test_odd_bytes_give_the_same_document_or_error(raw: bytes) -> None:
    assert_same(raw)


def test_aggregate_mode_without_a_transcript_run_id_is_named() -> None:
    job = sample_run(0, aggregate=True)
    del job["transcripts"][5]["runId"]
    assert_same(json.dumps(job).encode())
    error = by_bytes_path(json.dumps(job).encode())
    assert isinstance(error, WorkerError) and error.details["field"] == "transcripts[5].runId"


def run_script(raw: bytes) -> str:
    out = io.StringIO()
    assert run_worker(analyze_basic.ANALYZE_BASIC, stdin=io.BytesIO(raw), stdout=out) == 0
    return out.getvalue()


def test_the_worker_prints_the_document_render_prints() -> None:
    raw = json.dumps(sample_run(2)).encode()
    printed = json.loads(run_script(raw))
    assert without_clock(printed) == by_dict_path(raw)
    failure = run_script(b'{"runId": "r", "transcripts": [{"id": "t-1"}]}')
    assert json.loads(failure)["error"]["details"]["field"] == "transcripts[0].modelId"


@pytest.mark.parametrize(
    "model_id",
    ["plain-model", "sk-abcdefghijklmnop1234", "provider/api_key=abc123xyz", "x authorization", "modèle"],
)
def test_render_document_is_render(model_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_API_KEY", "secret-value-12345")
    job = sample_run(3)
    for item in job["transcripts"][:6]:
        item["modelId"] = model_id
    job["transcripts"][7]["scenario"]["name"] = "says secret-value-12345"
    document = analyze(job)
    fast, standard = render_document(document), render(document)
    assert json.loads(fast) == json.loads(standard)
    assert "secret-value-12345" not in fast and "sk-abcdefghijklmnop1234" not in fast


# ------------------------------------------------------------ statistics without scipy.stats


def test_t_interval_and_sf_are_scipys_within_1e_10() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        df, loc, scale = int(rng.integers(1, 500)), float(rng.normal()), float(rng.uniform(1e-6, 3))
        lower, upper = distributions.t_interval(0.95, df, loc, scale)
        expected_lower, expected_upper = stats.t.interval(0.95, df, loc=loc, scale=scale)
        # the bounds are loc -/+ q * scale: q holds to 1e-10, so each bound to 1e-10 of q * scale
        assert lower == pytest.approx(expected_lower, rel=0, abs=1e-10 * abs(expected_upper - loc))
        assert upper == pytest.approx(expected_upper, rel=0, abs=1e-10 * abs(expected_upper - loc))
    x = np.concatenate([np.abs(rng.standard_cauchy(500)), [0.0, np.inf, np.nan, 1e-300, 1e300]])
    dfs = np.asarray(rng.integers(1, 800, x.shape[0]))
    got, expected = distributions.t_sf(x, dfs), stats.t.sf(x, dfs)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)


def test_rankdata_is_scipys() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (40, 30)).astype(np.float64) / 2
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0] = np.nan
    np.testing.assert_array_equal(distributions.rank_rows(x), stats.rankdata(x, axis=1, nan_policy="omit"))


def test_kruskal_and_zscore_are_scipys() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        groups = [rng.integers(-4, 5, int(rng.integers(1, 30))) / 2.0 for _ in range(int(rng.integers(2, 6)))]
        if np.ptp(np.concatenate(groups)) == 0:
            continue
        expected = stats.kruskal(*groups)
        statistic, p_value = distributions.kruskal(groups)
        assert statistic == float(expected.statistic)
        assert p_value == pytest.approx(float(expected.pvalue), rel=1e-10, abs=0)
        spread = rng.normal(size=int(rng.integers(3, 60)))
        np.testing.assert_array_equal(distributions.zscore(spread), stats.zscore(spread))
    constant = np.full(5, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns about the cancellation it detects
        expected_constant = stats.zscore(constant)
    np.testing.assert_array_equal(distributions.zscore(constant), expected_constant)


def test_median_is_numpys() -> None:
    rng = np.random.default_rng(4)
    for size in [*range(1, 12), 99, 100]:
        x = rng.normal(size=size) * 10 ** float(rng.integers(-5, 5))
        assert distributions.median(x) == float(np.median(x))
        halves = rng.integers(-4, 5, size) / 2.0
        assert distributions.median(halves) == float(np.median(halves))
    with_nan = np.array([1.0, np.nan, 3.0])
    assert np.isnan(distributions.median(with_nan)) and np.isnan(np.median(with_nan))


def test_overlong_integers_are_found_wherever_they_are() -> None:
    """The sampled search finds every digit run json.loads refuses (> 4,300 digits), and no other."""
    from common.analysis.decode import _DIGITS_TO_ZERO, _has_overlong_integer

    rng = random.Random(5)
    for _ in range(300):
        size = rng.choice([10, 3000, 12000, 30000])
        density = rng.random()
        raw = bytearray(
            rng.choice(b"0123456789") if rng.random() < density else rng.choice(b'x",:{} ') for _ in range(size)
        )
        if size > 4400 and rng.random() < 0.7:
            length = min(size, rng.choice([4299, 4300, 4301, 4302, 5000, 9000, 20000]))
            at = rng.randrange(0, size - length + 1)
            raw[at : at + length] = b"7" * length
        expected = b"0" * 4301 in bytes(raw).translate(_DIGITS_TO_ZERO)
        assert _has_overlong_integer(bytes(raw)) is expected
