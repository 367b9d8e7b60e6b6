"""What a host receives is always valid UTF-8 JSON, whatever the answer or the job held.

A lone UTF-16 surrogate (`"\\ud83d"`: half an emoji, legal JSON, which models produce at a
token limit) used to kill one-shot with a traceback and nothing on stdout, leave a serve id
unanswered and make batch re-run (and re-pay) the job forever. It becomes U+FFFD and the
answer is kept. NaN and Infinity never reach a document (JSON.parse rejects them): they
become null and a log line names the field. Answers longer than PROBE_MAX_ANSWER_CHARS are
kept cut, with a transcript warning.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel

from common.io.log import configure_logging, get_logger
from common.io.render import render, render_value
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from testkit.fake_provider import FakeProvider, Received, Reply
from testkit.workers import ANALYZE_BASIC_PY, BATCH_PY, PROBE_PY, parse_document, run_script, serve_process
from tests.helpers import chat_completion, probe_job, run, wire

HALF_EMOJI = "\ud83d"  # the high half of U+1F600, alone
ANSWER = f"I would weigh both sides {HALF_EMOJI}"
KEPT = "I would weigh both sides \ufffd"
FAKE_KEY = "sk-test-encoding-not-real-0000"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    yield
    configure_logging()


def strict_utf8_document(raw: bytes) -> dict[str, Any]:
    """One stdout line as a host reads it: strict UTF-8, strict JSON (no NaN), an object."""
    text = raw.decode("utf-8")  # raises on anything that is not UTF-8 (a surrogate encoded as such)
    assert HALF_EMOJI not in text
    document = parse_document(text)
    assert isinstance(document, dict)
    return document


def answering_with_a_surrogate(request: Received) -> Reply | None:
    if request.method != "POST":
        return None
    return 200, {}, chat_completion("openai", content=ANSWER, finish_reason="length")


@pytest.fixture
def surrogate_provider() -> Iterator[FakeProvider]:
    """A provider whose answer JSON holds `\\ud83d` (the fake writes it as that escape)."""
    with FakeProvider(respond=answering_with_a_surrogate).running() as fake:
        yield fake


def openai_env(fake: FakeProvider) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": f"{fake.url}/v1"}


# ------------------------------------------------------------ a provider's answer, in every mode


@pytest.mark.e2e
def test_one_shot_keeps_an_answer_holding_a_lone_surrogate(surrogate_provider: FakeProvider) -> None:
    done = run_script(PROBE_PY, probe_job("gpt-4o", followups=0), env=openai_env(surrogate_provider))
    assert done.code == 0, done.err
    document = strict_utf8_document(done.stdout.rstrip(b"\n"))
    assert document["success"] is True
    assert [t["targetResponse"] for t in document["transcript"]["turns"]] == [KEPT]
    assert done.unparsed_logs == []


@pytest.mark.e2e
def test_serve_answers_the_id_whose_answer_holds_a_lone_surrogate(surrogate_provider: FakeProvider) -> None:
    with serve_process(**openai_env(surrogate_provider)) as worker:
        worker.send({"id": "half", **probe_job("gpt-4o", followups=0)}, {"id": "next", **probe_job("mock:echo")})
        results = worker.results(2)
        worker.close_stdin()
        assert worker.wait() == 0
    assert results["half"]["success"] is True
    assert results["half"]["transcript"]["turns"][0]["targetResponse"] == KEPT
    assert results["next"]["success"] is True  # serving went on
    for line in worker.raw_stdout:
        strict_utf8_document(line.encode())


@pytest.mark.e2e
def test_batch_writes_the_result_once_and_a_rerun_pays_nothing_again(
    surrogate_provider: FakeProvider, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "half", **probe_job("gpt-4o", followups=0)}) + "\n")
    out = tmp_path / "results.jsonl"
    first = run_script(BATCH_PY, b"", str(jobs), "-o", str(out), env=openai_env(surrogate_provider))
    assert first.code == 0, first.err
    (line,) = out.read_bytes().splitlines()
    result = strict_utf8_document(line)
    assert result["id"] == "half" and result["result"]["success"] is True
    assert result["result"]["transcript"]["turns"][0]["targetResponse"] == KEPT
    paid = len([r for r in surrogate_provider.received() if r.method == "POST"])
    assert paid == 1

    again = run_script(BATCH_PY, b"", str(jobs), "-o", str(out), env=openai_env(surrogate_provider))
    assert again.code == 0, again.err
    assert len([r for r in surrogate_provider.received() if r.method == "POST"]) == paid  # not re-run
    assert len(out.read_bytes().splitlines()) == 1


# ------------------------------------------------------------ job input echoed back


def run_in_process(document: bytes, worker: Any = PROBE) -> tuple[dict[str, Any], bytes]:
    """One job through `run_worker` with a strict UTF-8 stdout, as a pipe to a host is."""
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n")
    assert run_worker(worker, stdin=io.BytesIO(document), stdout=stdout) == 0
    stdout.flush()
    return strict_utf8_document(raw.getvalue().rstrip(b"\n")), raw.getvalue()


def test_echoed_probe_input_with_lone_surrogates_comes_back_as_replacement_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = probe_job("mock:echo", followups=1)
    job["scenario"]["followups"][0]["label"] = f"push {HALF_EMOJI}"
    job["runId"] = f"run-{HALF_EMOJI}"
    job["scenarioId"] = "scenario-\udc00"
    document, _ = run_in_process(json.dumps(job).encode())  # json.dumps writes them as \\ud83d escapes
    assert document["success"] is True, document
    assert document["transcript"]["turns"][1]["promptLabel"] == "push \ufffd"
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert logs and all(line["runId"] == "run-\ufffd" and line["scenarioId"] == "scenario-\ufffd" for line in logs)


def test_a_lone_surrogate_in_text_sent_to_the_provider_is_sent_as_a_replacement_character(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    route = respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=chat_completion("openai")))
    job = probe_job("gpt-4o", followups=0, modelConfig={"stopSequences": [f"END{HALF_EMOJI}"]})
    job["scenario"]["prompt"] = "Which matters more? \udc00"
    document, _ = run_in_process(json.dumps(job).encode())
    assert document["success"] is True, document
    sent = json.loads(route.calls[0].request.content)
    assert sent["messages"][-1]["content"] == "Which matters more? \ufffd" and sent["stop"] == ["END\ufffd"]


def test_prior_turns_holding_a_lone_surrogate_are_echoed_back() -> None:
    first, _ = run_in_process(json.dumps(probe_job("mock:echo", followups=0)).encode())
    prior = first["transcript"]["turns"]
    prior[0]["targetResponse"] = f"cut at the limit {HALF_EMOJI}"
    prior[0]["promptLabel"] = f"label {HALF_EMOJI}"
    # Every planned turn is in priorTurns: nothing is sent, the turns are echoed as given.
    document, _ = run_in_process(json.dumps(probe_job("mock:echo", followups=0, priorTurns=prior)).encode())
    assert document["success"] is True, document
    (turn,) = document["transcript"]["turns"]
    assert turn["targetResponse"] == "cut at the limit \ufffd" and turn["promptLabel"] == "label \ufffd"


def test_two_halves_of_a_pair_are_joined_and_a_lone_low_half_is_replaced() -> None:
    # Python keeps "\ud83d" + "\ude00" as two code points (json.loads would have joined them).
    assert render_value({"text": "\ud83d\ude00"}) == '{"text":"\U0001f600"}'
    assert render_value({"text": "a\ude00b", "ok": "é"}) == '{"text":"a\ufffdb","ok":"é"}'
    assert render_value({f"key{HALF_EMOJI}": 1}) == '{"key\ufffd":1}'


@pytest.mark.e2e
def test_analyze_basic_echoes_run_model_and_scenario_names_with_lone_surrogates() -> None:
    transcript = {
        "id": "t-1",
        "modelId": f"model-{HALF_EMOJI}",
        "scenarioId": "s1",
        "scenario": {"name": "name \udfff", "dimensions": {"stakes": "high"}},
        "decisionModelV2": {"canonical": {"direction": "favor_first", "strength": "strong"}},
    }
    done = run_script(ANALYZE_BASIC_PY, {"runId": f"run-{HALF_EMOJI}", "transcripts": [transcript]})
    assert done.code == 0, done.err
    document = strict_utf8_document(done.stdout.rstrip(b"\n"))
    assert document["success"] is True, document
    analysis = document["analysis"]
    # pydantic's strict string validation (input side) already turns a lone surrogate into one
    # U+FFFD per byte of its UTF-8 form; the output holds replacement characters, never the half.
    assert re.fullmatch("run-\ufffd+", analysis["runId"])
    (model,) = analysis["perModel"]
    assert re.fullmatch("model-\ufffd+", model)


# ------------------------------------------------------------ NaN and Infinity


class Costs(BaseModel):
    estimated_cost: float
    per_turn: list[float]
    answer: str


def test_non_finite_numbers_are_written_as_null_and_a_log_line_names_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    document = Costs(estimated_cost=float("inf"), per_turn=[1.5, float("nan"), -float("inf")], answer="kept")
    text = render(document)
    assert parse_document(text) == {"estimated_cost": None, "per_turn": [1.5, None, None], "answer": "kept"}
    (line,) = [json.loads(raw) for raw in capsys.readouterr().err.splitlines() if raw.strip()]
    assert line["level"] == "warning"
    assert line["fields"] == ["estimated_cost", "per_turn[1]", "per_turn[2]"] and line["count"] == 3


def test_a_finite_document_is_rendered_unchanged_and_logs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    assert render(Costs(estimated_cost=0.25, per_turn=[1e308], answer="é")) == (
        '{"estimated_cost":0.25,"per_turn":[1e+308],"answer":"é"}'
    )
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------ log lines never crash


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_log_lines_survive_surrogates_nan_odd_keys_and_unprintable_objects() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    configure_logging("debug", stream=stream)
    try:
        log = get_logger()
        log.info(f"answer {HALF_EMOJI}", text=f"x{HALF_EMOJI}", ratio=float("nan"), big=float("inf"))
        log.info("odd keys", mapping={(1, 2): "tuple key"}, thing=Unprintable())
        log.info("paired", text="\U0001f600", escaped="C:\\udev")
    finally:
        configure_logging()
    stream.flush()
    assert isinstance(stream.buffer, io.BytesIO)
    lines = [parse_document(line) for line in stream.buffer.getvalue().decode("utf-8").splitlines()]
    assert lines[0]["event"] == "answer \ufffd" and lines[0]["text"] == "x\ufffd"
    assert lines[0]["ratio"] == "NaN" and lines[0]["big"] == "Infinity"
    assert lines[1]["mapping"] == {"(1, 2)": "tuple key"} and lines[1]["thing"] == "<unprintable Unprintable>"
    assert lines[2]["text"] == "\U0001f600" and lines[2]["escaped"] == "C:\\udev"


# ------------------------------------------------------------ the answer-size bound


async def test_an_answer_over_the_limit_is_kept_cut_with_a_warning(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("PROBE_MAX_ANSWER_CHARS", "1000")
    huge = "a" * 999 + "bc" + "d" * 5000
    respx_mock.post(OPENAI_URL).mock(
        side_effect=[httpx.Response(200, json=chat_completion("openai", content=text)) for text in (huge, "short")]
    )
    out = wire(await run(probe_job("gpt-4o", followups=1)))
    assert out["success"] is True
    turns = out["transcript"]["turns"]
    assert turns[0]["targetResponse"] == "a" * 999 + "b"
    assert turns[1]["targetResponse"] == "short"
    (warning,) = [w for w in out["transcript"]["warningDetails"] if "PROBE_MAX_ANSWER_CHARS" in w["message"]]
    assert "6001 characters" in warning["message"] and "first 1000" in warning["message"]
    assert warning["message"] in out["transcript"]["warnings"]
    second_request = json.loads(respx_mock.calls[1].request.content)
    assert second_request["messages"][1] == {"role": "assistant", "content": "a" * 999 + "b"}  # what was kept


async def test_an_answer_at_the_limit_is_untouched(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("PROBE_MAX_ANSWER_CHARS", "1000")
    respx_mock.post(OPENAI_URL).mock(
        return_value=httpx.Response(200, json=chat_completion("openai", content="z" * 1000))
    )
    out = wire(await run(probe_job("gpt-4o", followups=0)))
    assert out["transcript"]["turns"][0]["targetResponse"] == "z" * 1000
    assert not any("PROBE_MAX_ANSWER_CHARS" in w for w in out["transcript"]["warnings"])


def test_a_result_line_whose_id_holds_a_lone_surrogate_can_be_written() -> None:
    from common.contract.probe import WorkerFailure
    from common.errors.codes import ErrorCode, WorkerError
    from common.runs.lines import render_result_line

    line = render_result_line(f"job-{HALF_EMOJI}", WorkerFailure.from_error(WorkerError(ErrorCode.CANCELLED, "x")))
    assert strict_utf8_document(line.encode("utf-8").rstrip(b"\n"))["id"] == "job-\ufffd"
