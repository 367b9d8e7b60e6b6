"""The stderr log lines, as a host reads them: one JSON object a line, with the keys it relies on.

ValueRank's `spawn.ts` forwards a line when `level` and `msg` are strings; hosts built on
structlog's names read `event`; `time` is ISO 8601 UTC with `Z`. The lines are written by
our own logger (common/io/log.py): these tests pin the shape it inherited from structlog's
pipeline, key order included (bindings, the call's keys, `event`, the job's ids, `level`,
`time`, `exception`, `msg`).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from common.io.log import (
    bind_job,
    clear_job,
    configure_logging,
    get_logger,
    get_progress_logger,
    job_progress_logger,
    unbind_job,
    write_logs_to,
)
from common.io.redaction import REDACTED

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
SECRET = "sk-test-log-lines-not-real-00000000"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Lines at debug level into a buffer; the defaults (info, `sys.stderr`, no ids) back afterwards."""
    buffer = io.StringIO()
    clear_job()
    configure_logging("debug", stream=buffer)
    yield buffer
    clear_job()
    configure_logging()


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    text = buffer.getvalue()
    assert text.endswith("\n") or not text
    return [json.loads(line) for line in text.splitlines()]


def test_a_line_has_the_keys_a_host_reads_in_structlogs_order(stream: io.StringIO) -> None:
    bind_job(runId="run-1", scenarioId=None)  # None is not bound
    get_logger(provider="openai", model="gpt-4o").info("turn complete", turn=1, ms=12)
    (line,) = lines(stream)
    assert list(line) == ["provider", "model", "turn", "ms", "event", "runId", "level", "time", "msg"]
    assert line["event"] == line["msg"] == "turn complete" and line["level"] == "info"
    assert ISO_UTC.fullmatch(line["time"]), line["time"]
    assert line["runId"] == "run-1" and "scenarioId" not in line


def test_level_names_and_the_level_filter(stream: io.StringIO) -> None:
    log = get_logger()
    for method in (log.debug, log.info, log.warning, log.error):
        method("hello")
    assert [line["level"] for line in lines(stream)] == ["debug", "info", "warning", "error"]
    for chosen, expected in (("warning", ["warning", "error"]), ("bogus", ["info", "warning", "error"])):
        buffer = io.StringIO()
        configure_logging(chosen, stream=buffer)
        for method in (log.debug, log.info, log.warning, log.error):
            method("hello")
        assert [line["level"] for line in lines(buffer)] == expected


def test_progress_lines_pass_any_level(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_LOG_LEVEL", "error")
    configure_logging(stream=stream)
    get_logger().warning("filtered out")
    get_progress_logger(worker="probe").info("progress", type="progress", turn=1)
    (line,) = lines(stream)
    assert line["type"] == "progress" and line["worker"] == "probe" and line["level"] == "info"


def test_a_jobs_progress_lines_are_the_hosts_except_where_the_process_says_they_are_logs(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One-shot, serve and batch: a job's progress lines pass any level (hosts read them). A
    Celery worker (`configure_logging(progress_is_contract=False)`: its host is the driver,
    which reads Redis) filters them like info lines; its own `ready` line still passes."""
    monkeypatch.setenv("PROBE_LOG_LEVEL", "warning")
    configure_logging(stream=stream)
    job_progress_logger(provider="mock").info("progress", type="progress", turn=1)
    configure_logging(stream=stream, progress_is_contract=False)
    job_progress_logger(provider="mock").info("progress", type="progress", turn=2)
    get_progress_logger(worker="distributed").info("distributed worker ready", type="ready")
    configure_logging("info", stream=stream, progress_is_contract=False)
    job_progress_logger(provider="mock").info("progress", type="progress", turn=3)
    assert [(line["type"], line.get("turn")) for line in lines(stream)] == [
        ("progress", 1),
        ("ready", None),
        ("progress", 3),
    ]


def test_the_calls_own_keys_win_and_level_time_msg_are_always_strings(stream: io.StringIO) -> None:
    bind_job(runId="bound")
    get_logger().info("a", runId="mine", level=5, time=None)
    get_logger().info(12345)
    get_logger().error("b", msg="a message of its own")
    first, second, third = lines(stream)
    assert first["runId"] == "mine" and first["level"] == "info" and isinstance(first["time"], str)
    assert second["event"] == 12345 and second["msg"] == "12345"
    assert third["event"] == "b" and third["msg"] == "a message of its own"


def test_percent_arguments_format_the_event(stream: io.StringIO) -> None:
    get_logger().warning("retry %d of %s", 2, "openai")
    assert lines(stream)[0]["msg"] == "retry 2 of openai"


def test_exc_info_becomes_a_traceback_string(stream: io.StringIO) -> None:
    log = get_logger()
    try:
        raise ValueError("boom")
    except ValueError as exc:
        log.error("with the exception", exc_info=exc)
        log.error("with the current one", exc_info=True)
        log.exception("from exception()")
    log.error("nothing being handled", exc_info=True)
    log.error("false", exc_info=False)
    got = lines(stream)
    for line in got[:3]:
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert line["exception"].endswith("ValueError: boom") and line["level"] == "error"
        assert list(line)[-2:] == ["exception", "msg"] and "exc_info" not in line
    assert all("exception" not in line and "exc_info" not in line for line in got[3:])


def test_secrets_are_redacted_in_keys_values_and_the_environment(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", SECRET)
    get_logger(header=f"Authorization: Bearer {SECRET}").warning(f"answer quoting {SECRET}", body={"k": SECRET})
    raw = stream.getvalue()
    assert SECRET not in raw
    (line,) = lines(stream)
    assert REDACTED in line["msg"] and REDACTED in line["event"] and line["body"] == {"k": REDACTED}


def test_unrenderable_values_still_make_a_parsable_line(stream: io.StringIO) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    get_logger().info("odd", nan=float("nan"), cycle=cyclic, half="\ud83d", key={(1, 2): "tuple"})
    (line,) = lines(stream)
    assert line["nan"] == "NaN" and line["half"] == "\ufffd" and line["key"] == {"(1, 2)": "tuple"}
    assert line["cycle"] == {"self": "<cycle>"}


async def test_ids_bound_in_a_task_stay_in_that_task(stream: io.StringIO) -> None:
    bind_job(runId="run-1")

    async def job(job_id: str) -> None:
        bind_job(jobId=job_id)
        await asyncio.sleep(0)
        get_logger().info("in job")

    await asyncio.gather(job("a"), job("b"))
    get_logger().info("after")
    got = lines(stream)
    assert sorted((line["jobId"], line["runId"]) for line in got[:2]) == [("a", "run-1"), ("b", "run-1")]
    assert "jobId" not in got[2] and got[2]["runId"] == "run-1"


def test_unbind_and_clear(stream: io.StringIO) -> None:
    bind_job(jobId="j", runKey="r", worker="distributed")
    unbind_job("jobId", "runKey")
    get_logger().info("one")
    clear_job()
    get_logger().info("two")
    first, second = lines(stream)
    assert first["worker"] == "distributed" and "jobId" not in first and "runKey" not in first
    assert list(second) == ["event", "level", "time", "msg"]


def test_a_configured_stream_reaches_loggers_made_before(stream: io.StringIO) -> None:
    log = get_logger(worker="batch")
    log_file = io.StringIO()
    write_logs_to(log_file)  # batch --log-file
    log.info("to the file")
    assert stream.getvalue() == "" and lines(log_file)[0]["worker"] == "batch"


def test_without_a_stream_lines_follow_sys_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    get_logger().info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == "" and json.loads(captured.err)["msg"] == "to stderr"


def test_lines_from_threads_are_never_interleaved(stream: io.StringIO) -> None:
    payload = "x" * 5000

    def write() -> None:
        for _ in range(50):
            get_logger().info("line", payload=payload)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = lines(stream)
    assert len(got) == 200 and all(line["payload"] == payload for line in got)
