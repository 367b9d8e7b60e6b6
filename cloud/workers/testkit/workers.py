"""Running the worker scripts as a host does: a fresh process, stdin in, stdout and stderr out.

`run_script` runs one script to completion (one-shot probe, health check, analysis, batch)
and returns a `WorkerRun`: the exit code, the one stdout document, the stderr lines parsed
as JSON, and what the process cost (wall, CPU, peak RSS: the benchmarks' figures come from
the same runner the tests use). `WorkerProcess` keeps a process running (serve mode, a
batch or a probe a test will signal) and reads both streams on threads, so a test waits
for a given line, log entry or exit without blocking on a pipe and without sleeping.

Every process gets `worker_env()`: this environment less every provider key and base URL,
plus what the caller passes, so a developer's real key can never reach a test's worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

WORKERS = Path(__file__).resolve().parents[1]
REPO = WORKERS.parents[1]
PROBE_PY = WORKERS / "probe.py"
HEALTH_CHECK_PY = WORKERS / "health_check.py"
ANALYZE_BASIC_PY = WORKERS / "analyze_basic.py"
BATCH_PY = WORKERS / "batch.py"

WAIT_S = 60.0  # the longest a test waits for a line or an exit that should come
RUN_TIMEOUT_S = 120.0  # the longest one worker run may take before it is killed

Stdin = bytes | str | Mapping[str, Any] | Sequence[Any] | None


class OutputError(AssertionError):
    """A worker broke the stdout contract (not exactly one JSON document); pytest shows why."""


_NOT_INHERITED = frozenset({"PROBE_LOG_LEVEL", "PROBE_REDIS_URL", "PROBE_RPM", "PROBE_TPM"})


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker subprocess: no provider keys or base URLs but those given.

    Nor the developer's own log level or shared limit (a serve process with PROBE_REDIS_URL
    would admit through that Redis): a test that wants them passes them.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key not in _NOT_INHERITED
    }
    env.update(extra)
    return env


def _stdin_bytes(stdin: Stdin) -> bytes:
    """Bytes go as they are (bad input is a test case); anything else is one JSON document."""
    if stdin is None:
        return b""
    if isinstance(stdin, bytes):
        return stdin
    if isinstance(stdin, str):
        return stdin.encode()
    return json.dumps(stdin).encode()


def _refuse_constant(token: str) -> float:
    raise OutputError(f"stdout holds the non-JSON number {token}")


def parse_document(line: str | bytes) -> Any:
    """One line of worker output as strict JSON (NaN and Infinity are not JSON: a host rejects them)."""
    return json.loads(line, parse_constant=_refuse_constant)


def parse_log_line(raw: str | bytes) -> dict[str, Any]:
    """A stderr line as the JSON object it should be, or `{"unparsed": text}` when it is not one."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        entry = json.loads(text)
    except ValueError:
        return {"unparsed": text.rstrip("\n")}
    return entry if isinstance(entry, dict) else {"unparsed": text.rstrip("\n")}


def _lines(text: str) -> list[str]:
    """Lines as a JSON-lines reader sees them: split on "\n" only (U+2028 may stand inside a string)."""
    return text.removesuffix("\n").split("\n") if text else []


def _one_document(stdout: str) -> dict[str, Any]:
    lines = _lines(stdout)
    if len(lines) != 1:
        raise OutputError(f"stdout must hold exactly one line, got {lines!r}")
    document = parse_document(lines[0])
    if not isinstance(document, dict):
        raise OutputError(f"stdout must hold one JSON object, got {lines[0]!r}")
    return document


@dataclass(frozen=True)
class WorkerRun:
    """One finished worker process: what it printed and what it cost."""

    code: int
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float
    peak_rss_mib: float

    @property
    def out(self) -> str:
        return self.stdout.decode()

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")

    @property
    def stdout_lines(self) -> list[str]:
        return _lines(self.out)

    @property
    def document(self) -> dict[str, Any]:
        """The one JSON document on stdout (raises `OutputError` if stdout holds anything else)."""
        return _one_document(self.out)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """Every non-blank stderr line, parsed (`{"unparsed": text}` for a line that is not JSON)."""
        return [parse_log_line(line) for line in self.err.splitlines() if line.strip()]

    @property
    def unparsed_logs(self) -> list[str]:
        """The stderr lines that are not JSON objects (a worker's stderr should have none)."""
        return [entry["unparsed"] for entry in self.logs if set(entry) == {"unparsed"}]


def run_python(
    *argv: str | Path,
    stdin: Stdin = b"",
    env: Mapping[str, str] | None = None,
    cwd: Path | str = REPO,
    timeout_s: float = RUN_TIMEOUT_S,
) -> WorkerRun:
    """Runs `python <argv>` to completion with `stdin`, in `worker_env(**env)`, from `cwd`.

    The process is reaped with `wait4`, so its CPU time and peak RSS are its own; a run that
    outlives `timeout_s` is killed and raises `subprocess.TimeoutExpired`.
    """
    command = [sys.executable, *map(str, argv)]
    data = _stdin_bytes(stdin)
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=worker_env(**(env or {})),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    chunks: dict[str, bytes] = {}

    def read(name: str, stream: IO[bytes]) -> None:
        chunks[name] = stream.read()

    readers = [
        threading.Thread(target=read, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=read, args=("err", proc.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        # A worker may refuse oversized input unread (a size limit): its answer says so.
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(data)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall_s = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it; Popen must not wait again
    for reader in readers:
        reader.join(WAIT_S)
    proc.stdout.close()
    proc.stderr.close()
    if timed_out.is_set():
        raise subprocess.TimeoutExpired(command, timeout_s, chunks.get("out"), chunks.get("err"))
    return WorkerRun(
        code=proc.returncode,
        stdout=chunks.get("out", b""),
        stderr=chunks.get("err", b""),
        wall_s=wall_s,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
    )


def run_script(
    script: str | Path,
    stdin: Stdin = b"",
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = REPO,
    timeout_s: float = RUN_TIMEOUT_S,
) -> WorkerRun:
    """Runs a worker script (`PROBE_PY`, `HEALTH_CHECK_PY`, ... or a path relative to `cwd`, as a host
    would name it) with `stdin` (bytes as given; a dict or list as one JSON document)."""
    return run_python(script, *args, stdin=stdin, env=env, cwd=cwd, timeout_s=timeout_s)


class WorkerProcess:
    """A worker process that keeps running while a test talks to it line by line.

    Reader threads collect stdout lines (in order, also as a queue to wait on) and stderr
    lines (parsed as JSON where possible), so a test can wait for a given result or log line
    without blocking on a pipe and without sleeping. Use it as a context manager: a process
    still running at the end of the block is killed.
    """

    def __init__(
        self,
        script: str | Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = REPO,
        stdin: IO[bytes] | int | None = subprocess.PIPE,
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=worker_env(**(env or {})),
        )
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.raw_stdout: list[str] = []
        self.raw_stderr: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self._log_event = threading.Condition()
        self._stderr_closed = False
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.kill()

    def _pump_stdout(self, stream: IO[bytes]) -> None:
        with stream:  # closed at EOF: a pipe left open is a ResourceWarning (an error in the tests)
            for raw in stream:
                line = raw.decode()
                self.raw_stdout.append(line)
                self.stdout_lines.put(line)

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                text = raw.decode(errors="replace")
                with self._log_event:
                    self.raw_stderr.append(text)
                if not text.strip():
                    continue
                entry = parse_log_line(text)
                with self._log_event:
                    self.logs.append(entry)
                    self._log_event.notify_all()
        finally:
            stream.close()
            with self._log_event:
                self._stderr_closed = True  # no line will ever come: waiters stop waiting
                self._log_event.notify_all()

    # -- talking to it ----------------------------------------------------------------

    def send(self, *lines: Mapping[str, Any] | str | bytes) -> None:
        """Writes each line (a dict as JSON; str and bytes as given) and a newline, then flushes."""
        assert self.proc.stdin is not None, "this process reads its stdin from elsewhere"
        for line in lines:
            if isinstance(line, bytes):
                data = line
            elif isinstance(line, str):
                data = line.encode()
            else:
                data = json.dumps(line).encode()
            self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    # -- reading what it printed ------------------------------------------------------

    def result(self, timeout_s: float = WAIT_S) -> dict[str, Any]:
        """The next stdout line as a JSON object (waits for it)."""
        try:
            line = self.stdout_lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no stdout line within {timeout_s}s; last logs {self.logs[-5:]}") from None
        parsed = parse_document(line)
        if not isinstance(parsed, dict):
            raise OutputError(f"a stdout line must be a JSON object, got {line!r}")
        return parsed

    def results(self, count: int) -> dict[Any, dict[str, Any]]:
        """The next `count` serve result lines, keyed by id (None-id lines keyed by their error's line)."""
        found: dict[Any, dict[str, Any]] = {}
        for _ in range(count):
            line = self.result()
            if set(line) != {"id", "result"}:
                raise OutputError(f"a result line holds exactly id and result, got {line!r}")
            key = line["id"] if line["id"] is not None else ("line", line["result"]["error"]["details"].get("line"))
            found[key] = line["result"]
        return found

    @property
    def err(self) -> str:
        """Everything read from stderr so far, as text (a batch's summary is not JSON)."""
        with self._log_event:
            return "".join(self.raw_stderr)

    def document(self) -> dict[str, Any]:
        """The one JSON document a one-shot worker printed (call after `wait`)."""
        return _one_document("".join(self.raw_stdout))

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = WAIT_S) -> dict[str, Any]:
        """The first stderr entry `predicate` accepts, waiting for it to be written if need be."""
        deadline = time.monotonic() + timeout_s
        with self._log_event:
            while True:
                for entry in self.logs:
                    if predicate(entry):
                        return entry
                left = deadline - time.monotonic()
                if left <= 0 or self._stderr_closed:
                    raise AssertionError(f"no such log line; got {self.logs[-5:]}")
                self._log_event.wait(left)  # woken by every new line and by the end of stderr

    def wait(self, timeout_s: float = WAIT_S) -> int:
        """The exit code, once the process ended and everything it printed has been read."""
        code = self.proc.wait(timeout=timeout_s)
        for pump in self._pumps:
            pump.join(timeout_s)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()


def serve_process(*args: str, **env: str) -> WorkerProcess:
    """`probe.py --serve` with these arguments, as a host (cloud/host's WorkerPool) starts it."""
    return WorkerProcess(PROBE_PY, "--serve", *args, env=env)
