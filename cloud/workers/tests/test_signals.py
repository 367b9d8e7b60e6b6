"""SIGTERM and SIGINT at the edges of a one-shot job: one CANCELLED document, exit 0, at once.

A host stops a worker whenever it must: while the worker is still importing its modules,
while it waits for its stdin, while a provider's SDK loads (1-3 s). Each is caught here
by an event, never a clock: the worker runs under a launcher that holds one chosen import
until the test lets it go (and logs when it is held), or the test reads from /proc that
the worker is blocked reading stdin.
"""

from __future__ import annotations

import io
import json
import os
import platform
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.io.log import configure_logging
from common.io.render import render
from common.runs import process_start
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from common.runs.run_path import run_once
from testkit.workers import PROBE_PY, WAIT_S, WorkerProcess
from tests.helpers import probe_job

# Runs probe.py as `python probe.py` would, with the import of one module held: the launcher
# logs a JSON line when that import starts, then blocks it until a byte arrives on the FIFO.
HOLDER = """
import json, os, runpy, sys, threading
held, fifo, script, *args = sys.argv[1:]

class Hold:
    def find_spec(self, name, path=None, target=None):
        if name == held:
            sys.meta_path.remove(self)
            gate = os.open(fifo, os.O_RDWR)  # opened before the log line: the test can always write
            line = {"event": "import held", "module": name, "thread": threading.current_thread().name}
            sys.stderr.write(json.dumps(line) + "\\n")
            sys.stderr.flush()
            os.read(gate, 1)
        return None

sys.meta_path.insert(0, Hold())
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""

SIGNALS = [signal.SIGTERM, signal.SIGINT]
SIGNAL_IDS = ["SIGTERM", "SIGINT"]


def holding(module: str, fifo: Path, *args: str, **env: str) -> WorkerProcess:
    os.mkfifo(fifo)
    return WorkerProcess("-c", HOLDER, module, str(fifo), str(PROBE_PY), *args, env=env)


def release(fifo: Path) -> None:
    """Lets the held import go on (a worker already gone has nobody reading: nothing to do)."""
    try:
        gate = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(gate, b"g")
    finally:
        os.close(gate)


def assert_cancelled(worker: WorkerProcess, code: int) -> dict[str, Any]:
    assert code == 0, worker.err[-2000:]
    document = worker.document()
    assert document["success"] is False
    assert document["error"]["code"] == "CANCELLED" and document["error"]["retryable"] is True
    assert not [entry for entry in worker.logs if "unparsed" in entry], worker.err[-2000:]
    return document


@pytest.mark.e2e
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_the_start_up_imports_answers_cancelled(tmp_path: Path, sig: signal.Signals) -> None:
    fifo = tmp_path / "gate"
    with holding("common.runs.oneshot", fifo) as worker:  # the run path's import, right after the script's start
        worker.send(probe_job("mock:echo"))
        worker.close_stdin()
        worker.wait_for_log(lambda entry: entry.get("event") == "import held")
        worker.signal(sig)  # Python's default: SIGTERM kills, SIGINT raises inside the import
        release(fifo)
        document = assert_cancelled(worker, worker.wait())
    assert "partialTranscript" not in document  # nothing was sent to a provider
    stopped = [entry for entry in worker.logs if entry.get("event") == "stopped by a signal before the job ran"]
    assert [entry["signal"] for entry in stopped] == [int(sig)]


@pytest.mark.e2e
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_the_sdk_import_is_answered_without_waiting_for_the_import(
    tmp_path: Path, sig: signal.Signals
) -> None:
    fifo = tmp_path / "gate"
    env = {"OPENAI_API_KEY": "sk-test-signals-not-real-0000", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    with holding("openai", fifo, **env) as worker:
        worker.send(probe_job("openai:gpt-4o-mini"))
        worker.close_stdin()
        held = worker.wait_for_log(lambda entry: entry.get("event") == "import held")
        worker.signal(sig)
        # The import is never let go: the answer cannot have waited for it.
        document = assert_cancelled(worker, worker.wait())
    assert held["thread"] != "MainThread"  # the event loop went on while the SDK loaded
    assert "partialTranscript" not in document


@pytest.mark.e2e
def test_a_signal_while_serve_mode_starts_stops_it_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "gate"
    with holding("common.runs.serve", fifo, "--serve") as worker:  # stdin stays open: it would serve on
        worker.wait_for_log(lambda entry: entry.get("event") == "import held")
        worker.signal(signal.SIGTERM)
        release(fifo)
        assert worker.wait() == 0, worker.err[-2000:]
    assert worker.raw_stdout == []  # no line was read, so none is answered
    served = [entry for entry in worker.logs if entry.get("event") == "served"]
    assert served and served[0]["stopped"] is True


_READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}


def blocked_reading_stdin(pid: int) -> bool:
    """Whether the process sits in read(0, ...) (from /proc/<pid>/syscall: number, then fd)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == _READ_SYSCALL[platform.machine()] and int(fields[1], 16) == 0


@pytest.mark.e2e
@pytest.mark.skipif(
    platform.machine() not in _READ_SYSCALL or not Path("/proc/self/syscall").exists(),
    reason="needs Linux's /proc/<pid>/syscall to see the worker waiting for stdin",
)
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_while_the_host_has_not_written_the_job_ends_the_wait(sig: signal.Signals) -> None:
    with WorkerProcess(PROBE_PY) as worker:  # stdin stays open and empty
        deadline = time.monotonic() + WAIT_S
        while not blocked_reading_stdin(worker.proc.pid):  # an event the kernel reports, not a timer
            assert worker.proc.poll() is None and time.monotonic() < deadline, worker.err[-2000:]
            os.sched_yield()
        worker.signal(sig)
        assert_cancelled(worker, worker.wait())


async def test_the_deadline_counts_from_when_the_host_handed_the_job_over() -> None:
    """A job whose host has waited 30 s already has no time left for a 5 s deadline."""
    job = probe_job("mock:echo", config={"deadlineMs": 5000})
    fresh = json.loads(render(await run_once(PROBE, job, started=time.monotonic())))
    late = json.loads(render(await run_once(PROBE, job, started=time.monotonic() - 30)))
    assert fresh["success"] is True
    assert late["success"] is False and late["error"]["code"] == "TIMEOUT"
    assert late["error"]["details"]["attempts"] == 0  # no request was started that could not finish in time


@pytest.fixture
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


@pytest.mark.usefixtures("_logs_back_on_the_session_stderr")
def test_one_shot_counts_the_deadline_from_the_scripts_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process_start, "started", lambda: time.monotonic() - 30)  # the script began 30 s ago
    stdout = io.StringIO()
    job = probe_job("mock:echo", config={"deadlineMs": 5000})
    assert run_worker(PROBE, stdin=io.BytesIO(json.dumps(job).encode()), stdout=stdout) == 0
    document = json.loads(stdout.getvalue())
    assert document["error"]["code"] == "TIMEOUT"
