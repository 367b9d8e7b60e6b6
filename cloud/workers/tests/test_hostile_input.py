"""Generated hostile documents for every worker: whatever arrives, one truthful document leaves.

Properties (issue 9, "keep it fixed"), for probe, health_check, analyze_basic and batch,
in process (`run_worker` with a BytesIO stdin and a strict UTF-8 stdout) and, for a
bounded sample, as subprocesses the way a host runs them:
- exit 0 and exactly one JSON document on stdout (batch: one whole result line per job);
- valid UTF-8 and strict JSON: no NaN or Infinity, no lone surrogate;
- bad input answers VALIDATION_ERROR, and no document is ever UNKNOWN;
- no secret: a fake key is in the environment (and often in the input), never in the output.
Every provider points at a local fake provider server; nothing leaves 127.0.0.1.

Bounded: a fixed number of examples, derandomized when `CI=true`, no example database.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analyze_basic
from common.contract.health import HealthJob
from common.health.check import check_health
from common.io.json_input import validate_job
from common.runs.batch.cli import main as batch_main
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from common.runs.run_path import Worker
from testkit.fake_provider import FakeProvider
from testkit.workers import ANALYZE_BASIC_PY, HEALTH_CHECK_PY, PROBE_PY, parse_document, run_script
from tests.helpers import probe_job

SECRET = "hostile-fake-key-7f3a9c2e51d04b68"  # no known key shape: only the environment says it is secret
KEY_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "XAI_API_KEY",
    "DEEPSEEK_API_KEY",
    "MISTRAL_API_KEY",
)
IN_PROCESS = settings(
    max_examples=40,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SUBPROCESS = settings(IN_PROCESS, max_examples=2)

HEALTH_CHECK = Worker(
    name="health_check",
    parse=lambda document: validate_job(document, HealthJob),
    run=check_health,
    allow_empty_input=True,
)
WORKERS: dict[str, Worker[Any]] = {
    "probe": PROBE,
    "health_check": HEALTH_CHECK,
    "analyze_basic": analyze_basic.ANALYZE_BASIC,
}
SCRIPTS = {"probe": PROBE_PY, "health_check": HEALTH_CHECK_PY, "analyze_basic": ANALYZE_BASIC_PY}


@pytest.fixture(scope="module")
def provider_env() -> Iterator[dict[str, str]]:
    """Every provider keyed with SECRET and pointed at a local fake server, for the whole module."""
    with FakeProvider().running() as fake, pytest.MonkeyPatch.context() as patch:
        env = {var: SECRET for var in KEY_VARS}
        env |= {f"{var.removesuffix('_API_KEY')}_BASE_URL": f"{fake.url}/v1" for var in KEY_VARS}
        env |= {"ANTHROPIC_BASE_URL": fake.url, "GEMINI_BASE_URL": fake.url, "MISTRAL_BASE_URL": fake.url}
        for name in list(os.environ):
            if name.endswith(("_API_KEY", "_BASE_URL", "_AUTH_TOKEN")):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("PROBE_LOG_LEVEL", "debug")  # every log line is written, so every one is checked
        yield env


# ------------------------------------------------------------ what hostile looks like

LONE_SURROGATES = st.sampled_from(["\ud83d", "\ude00", "\udfff", "\ud800"])
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=8), LONE_SURROGATES, st.text(max_size=8)),
    st.sampled_from([SECRET, f"my key is {SECRET}", "", " ", "\x00", "\u202e", "Authorization: Basic dXM6cA=="]),
)
HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e400, -1e400, 2**63, 0.0, -0.0, 1e-320]),
)
SCALARS = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBERS, HOSTILE_TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(HOSTILE_TEXT, inner, max_size=3)),
    max_leaves=8,
)
# Model ids that stay on this machine: the mock provider or a provider pointed at the fake.
MODEL_IDS = st.one_of(
    st.sampled_from(["mock:echo", "mock:truncate", "mock:empty", "mock:filtered", "mock:fail:AUTH_ERROR@2"]),
    st.sampled_from(["gpt-4o-mini", "claude-opus-4-5", "gemini-2.5-flash", "mistral-large-latest", "grok-4"]),
    HOSTILE_TEXT,
)
PROBE_FIELDS: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {
    ("modelId",): MODEL_IDS,
    ("runId",): HOSTILE_TEXT,
    ("scenario", "followups", 0, "label"): HOSTILE_TEXT,
    ("config", "temperature"): HOSTILE_NUMBERS,
    ("config", "maxTokens"): HOSTILE_NUMBERS,
    ("config", "deadlineMs"): st.one_of(HOSTILE_NUMBERS, st.just(1)),
    ("modelCost",): st.one_of(VALUES, st.fixed_dictionaries({"costInputPerMillion": HOSTILE_NUMBERS})),
    ("modelConfig",): st.one_of(VALUES, st.fixed_dictionaries({"stopSequences": st.lists(VALUES, max_size=2)})),
    ("priorTurns",): VALUES,
    ("scenario",): VALUES,
}


@st.composite
def probe_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid probe job with a few fields replaced by hostile values."""
    job = probe_job("mock:echo", followups=1)
    for path in draw(st.lists(st.sampled_from(sorted(PROBE_FIELDS, key=str)), min_size=1, max_size=3, unique=True)):
        parent: Any = job
        for key in path[:-1]:
            parent = parent[key] if _has(parent, key) else None  # an earlier replacement may have removed it
        last: Any = path[-1]
        if isinstance(parent, dict) or _has(parent, last):
            parent[last] = draw(PROBE_FIELDS[path])
    return job


def _has(container: Any, key: Any) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(container, list) and isinstance(key, int) and key < len(container)


@st.composite
def analysis_documents(draw: st.DrawFn) -> dict[str, Any]:
    transcript = {
        "id": draw(st.one_of(st.just("t-1"), HOSTILE_TEXT)),
        "modelId": draw(st.one_of(st.just("model-a"), HOSTILE_TEXT)),
        "scenarioId": draw(st.one_of(st.just("s1"), HOSTILE_TEXT)),
        "sampleIndex": draw(st.one_of(st.none(), HOSTILE_NUMBERS)),
        "decisionModelV2": draw(
            st.one_of(VALUES, st.just({"canonical": {"direction": "favor_first", "strength": "strong"}}))
        ),
        "scenario": draw(st.one_of(VALUES, st.fixed_dictionaries({"name": HOSTILE_TEXT, "dimensions": VALUES}))),
    }
    return {"runId": draw(st.one_of(st.just("run-1"), HOSTILE_TEXT)), "transcripts": [transcript]}


HEALTH_DOCUMENTS = st.fixed_dictionaries({}, optional={"live": VALUES, "deep": st.just(False), "extra": VALUES})
DOCUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "probe": probe_documents(),
    "health_check": HEALTH_DOCUMENTS,
    "analyze_basic": analysis_documents(),
}


def as_bytes(document: Any) -> bytes:
    """JSON as a careless host writes it: NaN/Infinity tokens allowed, lone surrogates as escapes."""
    return json.dumps(document, allow_nan=True).encode()


# Byte strings that are not a job at all: each must be answered VALIDATION_ERROR.
BAD_BYTES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"   \n",
            b"[1, 2]",
            b'"a string"',
            b"null",
            b"{not json",
            b'{"a": 1',
            b"\xff\xfe{}",
            b'{"a": "\xed\xa0\xbd"}',  # a surrogate encoded as UTF-8 bytes: not UTF-8
            b"[" * 5000 + b"]" * 5000,
            b'{"n": ' + b"9" * 5000 + b"}",
            b'{"a": NaN, "b": -Infinity}',
        ]
    ),
)


# ------------------------------------------------------------ the checks


def run_in_process(worker: Worker[Any], stdin: bytes) -> tuple[int, bytes, str]:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = run_worker(worker, stdin=io.BytesIO(stdin), stdout=stdout)
    stdout.flush()
    return code, raw.getvalue(), stderr.getvalue()


def check_document(stdout: bytes, stderr: str) -> dict[str, Any]:
    """Exactly one strict-JSON, UTF-8 document, never UNKNOWN, never the secret."""
    text = stdout.decode("utf-8")  # strict: a lone surrogate or bad byte fails here
    # Lines end at "\n" only, as hosts split them (Node's readline, Python's file iteration):
    # U+2028 or U+0085 inside a JSON string are legal JSON, `str.splitlines` would split there.
    lines = text.split("\n")
    assert len(lines) == 2 and lines[1] == "", f"stdout must be one line: {text[:300]!r}"
    document = parse_document(lines[0])  # refuses NaN, Infinity
    assert isinstance(document, dict) and isinstance(document.get("success"), bool), document
    if document["success"] is False:
        assert document["error"]["code"] != "UNKNOWN", document["error"]
    assert SECRET not in text, "the key reached stdout"
    assert SECRET not in stderr, "the key reached stderr"
    return document


def is_validation_error(document: dict[str, Any]) -> bool:
    return document["success"] is False and document["error"]["code"] == "VALIDATION_ERROR"


# ------------------------------------------------------------ in process, every worker


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_hostile_documents_in_process(name: str, provider_env: dict[str, str]) -> None:
    @IN_PROCESS
    @given(document=DOCUMENTS[name])
    def check(document: dict[str, Any]) -> None:
        code, stdout, stderr = run_in_process(WORKERS[name], as_bytes(document))
        assert code == 0
        check_document(stdout, stderr)

    check()


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_bytes_that_are_no_job_are_validation_errors(name: str, provider_env: dict[str, str]) -> None:
    worker = WORKERS[name]

    @settings(IN_PROCESS, max_examples=20)
    @given(raw=BAD_BYTES)
    def check(raw: bytes) -> None:
        code, stdout, stderr = run_in_process(worker, raw)
        assert code == 0
        document = check_document(stdout, stderr)
        empty = not raw.decode("utf-8", "replace").strip().lstrip("\ufeff")
        if worker.allow_empty_input and empty:
            return
        decodes_to_object = False
        with contextlib.suppress(ValueError, RecursionError):
            decodes_to_object = isinstance(json.loads(raw.decode("utf-8-sig")), dict)
        if not decodes_to_object:
            assert is_validation_error(document), document

    check()


def test_batch_answers_every_hostile_job_with_one_whole_line(provider_env: dict[str, str], tmp_path: Path) -> None:
    counter = iter(range(10**6))

    @settings(IN_PROCESS, max_examples=10)
    @given(documents=st.lists(probe_documents(), min_size=1, max_size=3))
    def check(documents: list[dict[str, Any]]) -> None:
        folder = tmp_path / str(next(counter))
        folder.mkdir()
        jobs, out = folder / "jobs.jsonl", folder / "results.jsonl"
        ids = [f"job-{i}" for i in range(len(documents))]
        jobs.write_bytes(
            b"".join(as_bytes({**doc, "id": job_id}) + b"\n" for job_id, doc in zip(ids, documents, strict=True))
        )
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = batch_main([str(jobs), "-o", str(out), "--max-attempts", "1"])
        assert code in (0, 3), stderr.getvalue()[-2000:]
        data = out.read_bytes()
        lines = data.decode("utf-8").split("\n")[:-1]
        assert data.endswith(b"\n") and len(lines) == len(ids)
        results = {}
        for line in lines:
            entry = parse_document(line)
            results[entry["id"]] = check_document((json.dumps(entry["result"]) + "\n").encode(), stderr.getvalue())
        assert sorted(results) == ids
        assert SECRET not in data.decode("utf-8")

    check()


def test_lone_surrogates_in_sent_text_are_not_unknown(provider_env: dict[str, str]) -> None:
    @settings(IN_PROCESS, max_examples=20)
    @given(prompt=st.builds(lambda a, s: a + s, st.text(max_size=8), LONE_SURROGATES), model=MODEL_IDS)
    def check(prompt: str, model: str) -> None:
        job = probe_job(model if model.startswith(("mock:", "gpt-")) else "mock:echo", followups=0)
        job["scenario"]["prompt"] = prompt
        code, stdout, stderr = run_in_process(PROBE, as_bytes(job))
        assert code == 0
        check_document(stdout, stderr)

    check()


# ------------------------------------------------------------ a bounded sample as subprocesses


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_hostile_documents_as_subprocesses(name: str, provider_env: dict[str, str]) -> None:
    bad: Callable[[bytes], bytes] = lambda raw: raw  # noqa: E731 - bytes go as they are

    @SUBPROCESS
    @given(payload=st.one_of(DOCUMENTS[name].map(as_bytes), BAD_BYTES.map(bad)))
    def check(payload: bytes) -> None:
        done = run_script(SCRIPTS[name], payload, env={**provider_env, "PROBE_LOG_LEVEL": "debug"})
        assert done.code == 0, done.err[-2000:]
        check_document(done.stdout, done.err)
        assert done.unparsed_logs == [], done.unparsed_logs[:3]

    check()
