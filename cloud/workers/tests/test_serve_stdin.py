"""Serve mode reads stdin on its event loop (pipes, sockets, files) or on a thread (a terminal).

Whichever reader a stdin gets, a host sees the same thing: one answer per line, an oversize
line answered by its leading id, a last line without a newline run at EOF, and a fast sender
made to wait rather than the worker's memory filling.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import socket
from pathlib import Path
from typing import Any

import pytest

from common.runs import serve
from testkit.workers import PROBE_PY, WorkerProcess
from tests.helpers import probe_job


def job_line(job_id: Any) -> bytes:
    return json.dumps({"id": job_id, **probe_job("mock:echo", followups=0)}).encode()


@pytest.mark.e2e
def test_a_regular_file_on_stdin_is_served_whole(tmp_path: Path) -> None:
    huge = json.dumps({"id": "huge", **probe_job("mock:echo", followups=0), "pad": "x" * 5000}).encode()
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\n".join([job_line(1), huge, job_line(2), b"", job_line("last")]))  # no final newline
    with (
        jobs.open("rb") as stdin,
        WorkerProcess(PROBE_PY, "--serve", env={"PROBE_MAX_INPUT_BYTES": "2000"}, stdin=stdin) as server,
    ):
        results = server.results(4)
        assert server.wait() == 0
    assert results[1]["success"] and results[2]["success"] and results["last"]["success"]
    assert results["huge"]["error"]["code"] == "VALIDATION_ERROR"


def reader_type(fd: int, out_fd: int | None) -> type:
    """The class of reader serve mode picks for this stdin (a thread's wake-up pipe closed again)."""
    loop = asyncio.new_event_loop()
    try:
        reader = serve.stdin_reader(fd, loop, asyncio.Queue(), 1000, out_fd=out_fd)
    finally:
        loop.close()
    if isinstance(reader, serve.LineReader):
        os.close(reader._wake_read)
        os.close(reader._wake_write)
    return type(reader)


@pytest.mark.parametrize("kind", ["pipe", "socket", "file", "terminal"])
def test_each_kind_of_stdin_gets_its_reader(tmp_path: Path, kind: str) -> None:
    ends: list[int] = []
    if kind == "pipe":
        ends.extend(os.pipe())
    elif kind == "socket":
        ends.extend(end.detach() for end in socket.socketpair())
    elif kind == "file":
        path = tmp_path / "jobs"
        path.write_bytes(b"")
        ends.append(os.open(path, os.O_RDONLY))
    else:
        ends.extend(pty.openpty())
    fd = ends[0]
    try:
        assert reader_type(fd, None) is (serve.LineReader if kind == "terminal" else serve.LoopLineReader)
        # One descriptor for both directions stays on the thread (non-blocking would break writes).
        assert reader_type(fd, fd) is serve.LineReader
    finally:
        for end in ends:
            os.close(end)


async def test_the_loop_reader_reads_no_further_while_its_queue_is_full() -> None:
    read_fd, write_fd = os.pipe()
    queue: asyncio.Queue[serve.QueueItem] = asyncio.Queue(maxsize=2)
    reader = serve.LoopLineReader(read_fd, queue, 10_000, pollable=True)
    reader.start()
    try:
        os.write(write_fd, b"".join(job_line(n) + b"\n" for n in range(3)))
        while queue.qsize() < 2:
            await asyncio.sleep(0)  # let the reader run (no clock: it only needs the loop's turns)
        for _ in range(50):
            await asyncio.sleep(0)
        assert queue.qsize() == 2  # the third line waits in the reader's hands, no more is read
        os.write(write_fd, job_line("late") + b"\n")
        items = [await queue.get() for _ in range(4)]
        assert [json.loads(item.data)["id"] for item in items if isinstance(item, serve.RawLine)] == [0, 1, 2, "late"]
        os.close(write_fd)
        write_fd = -1
        assert await queue.get() is serve.EOF
        await reader.finish(5.0)
        assert os.get_blocking(read_fd) is not False  # its blocking mode is given back
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)


async def test_stopping_the_loop_reader_answers_what_the_pipe_holds_and_a_line_cut_short() -> None:
    read_fd, write_fd = os.pipe()
    queue: asyncio.Queue[serve.QueueItem] = asyncio.Queue()
    reader = serve.LoopLineReader(read_fd, queue, 10_000, pollable=True)
    reader.start()
    try:
        await asyncio.sleep(0)  # the reader now waits for input
        os.write(write_fd, job_line(1) + b"\n" + b'{"id": "cut", "runId": ')
        reader.stop()  # the sender keeps its end open: only what is already there is read
        items = [await queue.get() for _ in range(3)]
        assert isinstance(items[0], serve.RawLine) and json.loads(items[0].data)["id"] == 1
        assert isinstance(items[1], serve.RawLine) and items[1].cut
        assert items[2] is serve.EOF
        await reader.finish(5.0)
    finally:
        os.close(write_fd)
        os.close(read_fd)
