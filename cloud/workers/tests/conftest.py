"""Fixtures shared by the subprocess (end-to-end) tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

WORKERS = Path(__file__).resolve().parents[1]
REPO = WORKERS.parents[1]

FAKELLM_RULES = """
rules:
  - name: rate-limited
    when:
      messages_contain: "trigger-429"
    respond:
      status: 429
      error: "Rate limit reached for requests"
  - name: overloaded
    when:
      messages_contain: "trigger-529"
    respond:
      status: 529
      error: "Overloaded"
  - name: bad-request
    when:
      messages_contain: "trigger-400"
    respond:
      status: 400
      error: "Invalid request: messages are malformed"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


@pytest.fixture(scope="session")
def fakellm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local fake of the OpenAI and Anthropic HTTP APIs (the `fakellm` package)."""
    folder = tmp_path_factory.mktemp("fakellm")
    config = folder / "fakellm.yaml"
    config.write_text(FAKELLM_RULES)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fakellm.cli", "serve", "--port", str(port), "--config", str(config)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker subprocess: no provider keys or base URLs but those given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key != "PROBE_LOG_LEVEL"
    }
    env.update(extra)
    return env
