"""Drives `probe.py --serve` as a host would: job lines in, result lines out, logs on the side.

Reader threads collect stdout and stderr so a test can wait for a given result or log
line without ever blocking on a pipe, and without sleeping.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from tests.conftest import REPO, worker_env

WAIT_S = 60.0


class ServeProcess:
    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "cloud/workers/probe.py", "--serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=worker_env(**env),
        )
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.raw_stdout: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self._log_event = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump_stdout(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode()
            self.raw_stdout.append(line)
            self.stdout_lines.put(line)

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {"unparsed": raw.decode(errors="replace")}
            with self._log_event:
                self.logs.append(entry)
                self._log_event.notify_all()

    def send(self, *lines: dict[str, Any] | str | bytes) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            if isinstance(line, dict):
                data = json.dumps(line).encode()
            elif isinstance(line, str):
                data = line.encode()
            else:
                data = line
            self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def result(self) -> dict[str, Any]:
        line = self.stdout_lines.get(timeout=WAIT_S)
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def results(self, count: int) -> dict[Any, dict[str, Any]]:
        """The next `count` result lines, keyed by id (None-id lines keyed by their error's line)."""
        found: dict[Any, dict[str, Any]] = {}
        for _ in range(count):
            line = self.result()
            assert set(line) == {"id", "result"}, line
            key = line["id"] if line["id"] is not None else ("line", line["result"]["error"]["details"].get("line"))
            found[key] = line["result"]
        return found

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        with self._log_event:
            while True:
                for entry in self.logs:
                    if predicate(entry):
                        return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such log line; got {self.logs[-5:]}")
                self._log_event.wait(left)

    def wait(self) -> int:
        """The exit code, once the process ended and everything it printed has been read."""
        code = self.proc.wait(timeout=WAIT_S)
        for pump in self._pumps:
            pump.join(WAIT_S)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
