"""Serve mode with a Redis URL: serve processes share one rate limit (`distributed/serve_limit.py`).

Real processes only: two `probe.py --serve` processes, a private Redis (`testkit.redis_server`),
the fake provider on 127.0.0.1. What a user would notice is asserted: the provider sees at
most the shared limit plus one burst, whichever process sent the requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from testkit.fake_provider import FakeProvider, Received
from testkit.redis_server import RedisServer, free_port, private_redis
from testkit.workers import PROBE_PY, WorkerProcess, run_script
from tests.helpers import most_over_limit, probe_job

pytestmark = pytest.mark.e2e

KEY = "sk-test-serve-shared-not-real-0000"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


def openai_env(fake: FakeProvider, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"{fake.url}/v1", **extra}


def test_two_serve_processes_share_one_rpm(redis_server: RedisServer, fake_provider: FakeProvider) -> None:
    """150 rpm across two serve processes of 16 slots each, 10 jobs each: in any stretch the
    fake sees at most the burst (one second of the rate) plus the rate times its length,
    plus two (the same tolerance as the distributed test: a request leaves up to one
    interval after its slot, and arrival adds a little). Each process limiting itself would
    let through twice the rate and two bursts. One process is configured by flags, the other
    by the environment only (as the Node WorkerPool's processes are)."""
    rpm, per_process = 150, 10
    arrivals: list[float] = []
    lock = threading.Lock()

    def stamp(_: Received) -> None:
        with lock:
            arrivals.append(time.monotonic())

    fake_provider.respond = stamp
    limit_key = f"serve-{time.time_ns()}"  # the API key names the limiter: a fresh one per test run
    env = openai_env(fake_provider, OPENAI_API_KEY=f"{KEY}-{limit_key}", PROBE_LOG_LEVEL="warning")
    by_flags = ("--serve", "--concurrency", "16", "--redis", redis_server.url, "--rpm", f"openai={rpm}")
    by_env = {**env, "PROBE_REDIS_URL": redis_server.url, "PROBE_RPM": f"openai={rpm}"}
    with (
        WorkerProcess(PROBE_PY, *by_flags, env=env) as one,
        WorkerProcess(PROBE_PY, "--serve", "--concurrency", "16", env=by_env) as two,
    ):
        for server, tag in ((one, "a"), (two, "b")):
            server.send(
                *(
                    {"id": f"{tag}{n}", **probe_job("openai:gpt-4o-mini", followups=0, scenarioId=f"{tag}{n}")}
                    for n in range(per_process)
                )
            )
            server.close_stdin()
        results = {**one.results(per_process), **two.results(per_process)}
        assert one.proc.wait(60) == 0 and two.proc.wait(60) == 0
    assert len(results) == 2 * per_process and all(result["success"] for result in results.values())
    assert len(arrivals) == 2 * per_process
    worst = most_over_limit(arrivals, rpm)
    seen = [round(at - min(arrivals), 3) for at in sorted(arrivals)]
    assert worst <= 2, f"{worst:.1f} requests over the shared limit in some stretch: {seen}"


def test_limits_without_a_redis_and_an_unreachable_redis_are_said_at_once(fake_provider: FakeProvider) -> None:
    done = run_script(PROBE_PY, b"", "--serve", "--rpm", "openai=60", env=openai_env(fake_provider))
    assert done.code == 2 and "need --redis URL" in done.err
    closed = f"redis://127.0.0.1:{free_port()}/0"
    done = run_script(PROBE_PY, b"", "--serve", env=openai_env(fake_provider, PROBE_REDIS_URL=closed))
    assert done.code == 2 and f"cannot reach the shared limit's Redis at {closed}" in done.err
    done = run_script(PROBE_PY, b"", "--serve", "--redis", closed, "--rpm", "nobody=5", env=openai_env(fake_provider))
    assert done.code == 2 and "unknown provider 'nobody'" in done.err
