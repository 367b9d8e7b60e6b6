"""Distributed runs end to end: `batch.py --broker` + Celery worker processes + the fake provider.

Real servers only: a private Redis started for this module (`testkit.redis_server`), the
machine's RabbitMQ for the RabbitMQ variant (under CI=true it must be there), real
`celery worker` processes, the fake provider on 127.0.0.1. What a user would notice is
asserted: every id has exactly one line in the results file, and what the provider was
asked (each turn once, except the turns in flight when a worker was killed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.celery_workers import (
    PINNED_CLOCK_APP,
    RABBITMQ_URL,
    delete_queue,
    distributed_env,
    new_queue,
    rabbitmq_reachable,
    start_worker,
    workers,
)
from testkit.fake_provider import Failure, FakeProvider, Received
from testkit.redis_server import RedisServer, free_port, private_redis, start_on
from testkit.workers import BATCH_PY, WorkerProcess, run_script
from tests.helpers import most_over_limit, probe_job
from tests.test_run_modes import JOBS as MODE_JOBS
from tests.test_run_modes import without_clock

pytestmark = pytest.mark.e2e

WAIT_S = 120.0
KEY = "sk-test-distributed-not-real-0000"
FAST = {"PROBE_CLAIM_TTL_S": "2"}  # a killed worker's claims run out in 2 s, not 30


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, redis_server: RedisServer) -> str:
    if request.param == "redis":
        return redis_server.url
    if not rabbitmq_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but RabbitMQ is not reachable at {RABBITMQ_URL}: start rabbitmq-server")
        pytest.skip(f"no RabbitMQ at {RABBITMQ_URL}")
    return RABBITMQ_URL


@pytest.fixture
def queue(broker: str) -> Iterator[str]:
    name = new_queue()
    yield name
    delete_queue(broker, name)


def env_for(broker: str, redis_server: RedisServer, queue: str, fake: FakeProvider, **extra: str) -> dict[str, str]:
    return distributed_env(
        broker, redis_server.url, queue, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"{fake.url}/v1", **FAST, **extra
    )


def write_jobs(path: Path, jobs: dict[Any, dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"id": job_id, **job}) + "\n" for job_id, job in jobs.items()))
    return path


def driver_args(jobs: Path, out: Path, broker: str, redis_server: RedisServer, *extra: str) -> list[str]:
    return [str(jobs), "-o", str(out), "--broker", broker, "--redis", redis_server.url, "--lease", "2", *extra]


def results_by_id(path: Path) -> dict[Any, dict[str, Any]]:
    """The results file's lines by id; fails if any id has more than one line or a line is cut."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the last line was cut"
    lines = [json.loads(line) for line in data.splitlines()]
    counts = Counter(json.dumps(line["id"]) for line in lines)
    assert [key for key, n in counts.items() if n > 1] == [], "ids answered more than once"
    return {line["id"]: line["result"] for line in lines}


def conversation_jobs(count: int, followups: int, tag: str) -> dict[str, dict[str, Any]]:
    """One-provider jobs whose every prompt is unique, so the fake's log says which turn of which job it was."""
    return {
        f"{tag}-{n}": probe_job(
            "openai:gpt-4o-mini",
            followups=0,
            scenarioId=f"s{n}",
            scenario={
                "prompt": f"[{tag}-{n}] turn 1?",
                "followups": [
                    {"label": f"f{i}", "prompt": f"[{tag}-{n}] turn {i + 1}?"} for i in range(1, followups + 1)
                ],
            },
        )
        for n in range(count)
    }


def asked(fake: FakeProvider) -> Counter[str]:
    """How often the fake was asked each prompt of `conversation_jobs`."""
    return Counter(request.user_text for request in fake.received() if request.user_text.startswith("["))


# -- the run-state scripts alone --------------------------------------------------------


async def test_a_job_runs_once_whatever_the_messages_do(redis_server: RedisServer) -> None:
    from redis.asyncio import Redis

    from common.runs.distributed.keys import RunKeys
    from common.runs.distributed.state import Claim, Lease, RunState

    redis = Redis.from_url(redis_server.url)
    state, keys, job = RunState(redis), RunKeys(f"scripts-{time.time_ns()}"), '"a"'
    try:
        assert (await state.claim(keys, job, 1, "t0", 5)).status is Claim.STALE  # never submitted
        assert await state.lease(keys, job) == (Lease.SUBMIT, 1)
        assert (await state.claim(keys, job, 1, "t1", 5)).status is Claim.OK
        assert (await state.claim(keys, job, 1, "t2", 5)).status is Claim.BUSY  # a redelivery while it runs
        # the same claim sent again (its reply was lost with the connection, the client retried): still its own
        assert (await state.claim(keys, job, 1, "t1", 5)).status is Claim.OK
        assert await state.lease(keys, job) == (Lease.CLAIMED, 1)
        assert await state.checkpoint(keys, job, "t1", '[{"turn": 1}]')
        assert not await state.checkpoint(keys, job, "t2", "[]")  # only the claim holder writes
        assert await state.publish(keys, job, 1, "t1", '{"first": true}')
        assert not await state.publish(keys, job, 1, "t2", '{"second": true}')  # the done-set
        assert (await state.claim(keys, job, 1, "t3", 5)).status is Claim.DONE
        assert await state.lease(keys, job) == (Lease.PENDING, 1)  # published, not collected yet
        await state.mark_alive(keys)
        assert await state.waiting_results(keys, 10) == (True, [b'{"first": true}'])
        await state.mark_collected(keys, 1, {job: 1}, [])
        assert await state.lease(keys, job) == (Lease.SUBMIT, 2)  # collected: a retry is a new generation
        again = await state.claim(keys, job, 2, "t4", 5)
        assert again.status is Claim.OK and again.checkpoint == b'[{"turn": 1}]'  # resumes from the checkpoint
        assert (await state.claim(keys, job, 1, "t5", 5)).status is Claim.STALE  # an old message
        # a claim that ran out (its worker died) lets the driver submit a third generation ...
        await redis.delete(keys.claim(job))
        assert await state.lease(keys, job) == (Lease.SUBMIT, 3)
        # ... and when the second generation's answer comes in first, it is kept and the third is a no-op
        assert await state.publish(keys, job, 2, "t4", '{"late": true}')
        assert (await state.claim(keys, job, 3, "t6", 5)).status is Claim.DONE
        assert not await state.publish(keys, job, 3, "t6", '{"third": true}')
    finally:
        await state.forget(keys)
        await redis.aclose()


async def test_the_shared_limit_slows_every_worker_on_a_429(redis_server: RedisServer) -> None:
    from redis.asyncio import Redis

    from common.runs.batch.rate_limit import Limits
    from common.runs.distributed.shared_limit import SharedLimiter

    redis = Redis.from_url(redis_server.url)
    one, two = SharedLimiter(redis), SharedLimiter(redis)  # two workers' limiters: one state
    provider, key = "openai", f"k{time.time_ns()}"
    limits = Limits(rpm=600)
    try:
        first = await one.acquire(provider, key, limits, 1, 10)
        assert first.waited_s == 0 and first.rpm == 600
        assert await two.rate_limited(provider, key, limits, None) == 300  # a 429 at worker two ...
        assert (await one.acquire(provider, key, limits, 1, 10)).rpm == 300  # ... slows worker one
        assert await one.rate_limited(provider, key, limits, None) is None  # the same burst: no second halving
        # no configured limit: the first 429 turns what was sent into one
        learned = f"{key}-learn"
        for _ in range(30):
            await one.acquire(provider, learned, Limits(), 1, 10)
        slowed = await two.rate_limited(provider, learned, Limits(), None)
        assert slowed is not None and slowed > 0
        assert (await one.acquire(provider, learned, Limits(), 1, 10)).rpm == pytest.approx(slowed)
    finally:
        await redis.aclose()


async def test_a_slot_given_back_never_books_another_slot_twice(redis_server: RedisServer) -> None:
    """A reservation that is not used (a message not run, a job that ended early) is given back
    only while nothing was reserved after it: moving the schedule's end back under a later
    slot gave the next job that slot's time too, two requests at once per slot given back
    (a run with ten stale messages went at twice the shared rpm for a stretch)."""
    from redis.asyncio import Redis

    from common.runs.batch.rate_limit import Limits
    from common.runs.distributed.shared_limit import SharedLimiter

    redis = Redis.from_url(redis_server.url)
    one, two = SharedLimiter(redis), SharedLimiter(redis)
    provider, limits = "openai", Limits(rpm=60)  # one request a second, a burst of one

    async def reserve(limiter: SharedLimiter, key: str) -> Any:
        call = limiter.reserve_call(provider, key, limits, 1, 10)
        return await call.script(keys=list(call.keys), args=list(call.args))

    def wait_s(answer: Any) -> float:
        return float(answer[0])

    def ends(answer: Any) -> tuple[str, str]:
        return answer[3].decode(), answer[4].decode()

    try:
        busy = f"busy-{time.time_ns()}"
        await reserve(one, busy)  # the burst's slot, now
        first = await reserve(one, busy)  # about 1 s ahead
        second = await reserve(two, busy)  # about 2 s ahead: reserved after the first
        await one.settle(provider, busy, limits, -1, -10, ends(first))  # the first is not used
        third = await reserve(two, busy)
        assert wait_s(third) == pytest.approx(wait_s(second) + 1, abs=0.05)  # after the second, not on it

        alone = f"alone-{time.time_ns()}"
        await reserve(one, alone)
        last = await reserve(one, alone)  # about 1 s ahead, and the schedule's end
        await one.settle(provider, alone, limits, -1, -10, ends(last))  # nothing after it: given back
        again = await reserve(two, alone)
        assert wait_s(again) == pytest.approx(wait_s(last), abs=0.05)  # the slot given back is used
    finally:
        await redis.aclose()


# -- end to end ---------------------------------------------------------------------------


def test_every_id_is_answered_once_and_as_in_a_local_batch(
    tmp_path: Path, broker: str, redis_server: RedisServer, queue: str, fake_provider: FakeProvider
) -> None:
    jobs: dict[Any, dict[str, Any]] = {**conversation_jobs(30, 2, "e2e"), **MODE_JOBS}
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    env = env_for(broker, redis_server, queue, fake_provider)
    port = free_port()
    # one worker on the app's own pool, one on Celery's `threads` pool (still supported): the
    # metrics asserted below are the threads worker's, so it ran jobs too
    threads = {**env, "PROBE_METRICS_PORT": str(port)}
    with workers(threads, 1, extra_args=("-P", "threads")) as started, workers(env, 1) as more:
        done = run_script(
            BATCH_PY,
            b"",
            *driver_args(jobs_file, tmp_path / "out.jsonl", broker, redis_server),
            env=env,
            timeout_s=WAIT_S,
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        # both still serving: a worker that died mid-run (a failed acknowledgement once killed the
        # loop pool's worker) would leave its jobs to the other one and to the leases unseen
        for worker in (*started, *more):
            assert worker.proc.poll() is None, worker.err[-3000:]
    assert done.code == 0, done.err
    results = results_by_id(tmp_path / "out.jsonl")
    assert set(results) == set(jobs)
    assert all(results[f"e2e-{n}"]["success"] for n in range(30))
    assert asked(fake_provider) == Counter({f"[e2e-{n}] turn {t}?": 1 for n in range(30) for t in (1, 2, 3)})
    assert "workers     " in done.err and "again after a lease ran out" in done.err
    assert not (tmp_path / "out.jsonl.run.json").exists()  # the run ended: its key (and state) are gone

    local = run_script(
        BATCH_PY,
        b"",
        str(write_jobs(tmp_path / "modes.jsonl", MODE_JOBS)),
        "-o",
        str(tmp_path / "local.jsonl"),
        env=env,
        timeout_s=WAIT_S,
    )
    assert local.code == 0, local.err
    local_results = results_by_id(tmp_path / "local.jsonl")
    offline = [job_id for job_id, job in MODE_JOBS.items() if not job["modelId"].startswith("openai:")]
    assert len(offline) >= 8  # the fake numbers its answers in arrival order: only offline jobs compare exactly
    for job_id in offline:
        assert without_clock(results[job_id]) == without_clock(local_results[job_id]), job_id
    assert 'probe_jobs_total{code="",outcome="success"}' in metrics
    assert "probe_jobs_in_flight" in metrics and "probe_limiter_wait_seconds_bucket" in metrics


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_only_turns_in_flight(
    tmp_path: Path, broker: str, redis_server: RedisServer, queue: str, fake_provider: FakeProvider
) -> None:
    jobs = conversation_jobs(24, 2, "kill")
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    env = env_for(broker, redis_server, queue, fake_provider)
    hold = fake_provider.hold(turn=2)
    out = tmp_path / "out.jsonl"
    with (
        workers(env, 1, concurrency=4) as (victim,),
        workers(env, 1, concurrency=4),
        WorkerProcess(
            BATCH_PY, *driver_args(jobs_file, out, broker, redis_server), env=env, stdin=subprocess.DEVNULL
        ) as driver,
    ):
        hold.wait_held(8)  # both workers are in turn 2 of four conversations each; turn 1 is checkpointed
        victim.kill()
        hold.release()
        assert driver.wait(WAIT_S) == 0, driver.err
    results = results_by_id(out)
    assert set(results) == set(jobs) and all(result["success"] for result in results.values())
    counts = asked(fake_provider)
    assert {text: n for text, n in counts.items() if " turn 2?" not in text} == {
        f"[kill-{n}] turn {t}?": 1 for n in range(24) for t in (1, 3)
    }, "a turn that was not in flight was asked again"
    repeated = [text for text, n in counts.items() if n > 1]
    assert all(" turn 2?" in text and counts[text] == 2 for text in repeated)
    assert len(repeated) <= 4, "only the killed worker's requests in flight are asked again"
    transcripts = [result["transcript"]["turns"] for result in results.values()]
    assert all([turn["turnNumber"] for turn in turns] == [1, 2, 3] for turns in transcripts)


def test_a_driver_killed_and_started_again_loses_and_repeats_nothing(
    tmp_path: Path, broker: str, redis_server: RedisServer, queue: str, fake_provider: FakeProvider
) -> None:
    jobs = conversation_jobs(30, 1, "driver")
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    env = env_for(broker, redis_server, queue, fake_provider)
    out = tmp_path / "out.jsonl"
    hold = fake_provider.hold(turn=2)
    with workers(env, 2, concurrency=4):
        args = driver_args(jobs_file, out, broker, redis_server, "--concurrency", "12")
        with WorkerProcess(BATCH_PY, *args, env=env, stdin=subprocess.DEVNULL) as first:
            hold.wait_held(8)
            first.proc.send_signal(signal.SIGKILL)
            first.wait(WAIT_S)
        assert (tmp_path / "out.jsonl.run.json").exists()  # the run's key, for the next driver
        hold.release()  # the workers finish what they hold while no driver runs
        again = run_script(BATCH_PY, b"", *args, env=env, timeout_s=WAIT_S)
    assert again.code == 0, again.err
    results = results_by_id(out)
    assert set(results) == set(jobs) and all(result["success"] for result in results.values())
    assert asked(fake_provider) == Counter({f"[driver-{n}] turn {t}?": 1 for n in range(30) for t in (1, 2)})
    assert "found running" in again.err


def test_a_shared_rpm_holds_across_two_workers(
    tmp_path: Path, broker: str, redis_server: RedisServer, queue: str, fake_provider: FakeProvider
) -> None:
    """150 rpm (2.5 a second) across two workers of 16 jobs each: in any stretch of time the
    fake sees at most the burst (one second of the rate: 2.5) plus the rate times its length,
    plus two: a request may leave up to one interval after its reserved slot (`shared_limit`),
    and between admission and arrival a loaded machine adds up to a few hundred ms (a slow
    rate keeps that below one interval). Each worker limiting itself would let through twice
    the rate and two bursts."""
    rpm, count = 150, 20
    arrivals: list[float] = []
    lock = threading.Lock()

    def stamp(_: Received) -> None:
        with lock:
            arrivals.append(time.monotonic())

    fake_provider.respond = stamp
    jobs = {f"rate-{n}": probe_job("openai:gpt-4o-mini", followups=0, scenarioId=f"s{n}") for n in range(count)}
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    env = env_for(broker, redis_server, queue, fake_provider, PROBE_LOG_LEVEL="warning")  # quiet: no GIL noise here
    with workers(env, 2, concurrency=16):
        done = run_script(
            BATCH_PY,
            b"",
            *driver_args(jobs_file, tmp_path / "out.jsonl", broker, redis_server, "--rpm", f"openai={rpm}"),
            env=env,
            timeout_s=WAIT_S,
        )
    assert done.code == 0, done.err
    assert len(results_by_id(tmp_path / "out.jsonl")) == count and len(arrivals) == count
    worst = most_over_limit(arrivals, rpm)
    arrivals.sort()
    seen = [round(at - arrivals[0], 3) for at in arrivals]
    assert worst <= 2, f"{worst:.1f} requests over the shared limit in some stretch: {seen}"


def test_an_undecodable_job_is_a_validation_error_and_a_bad_message_is_dropped(
    redis_server: RedisServer, fake_provider: FakeProvider
) -> None:
    import asyncio

    import redis as redis_sync
    from redis.asyncio import Redis

    from common.runs.distributed.app import make_app
    from common.runs.distributed.keys import RunKeys
    from common.runs.distributed.messages import TASK_NAME
    from common.runs.distributed.state import RunState

    broker, queue = redis_server.url, new_queue()
    keys = RunKeys(f"bad-{time.time_ns()}")

    async def submit(job: str) -> int:
        redis = Redis.from_url(redis_server.url)
        try:
            return (await RunState(redis).lease(keys, job))[1]
        finally:
            await redis.aclose()

    env = env_for(broker, redis_server, queue, fake_provider)
    celery = make_app(broker)
    with workers(env, 1) as (worker,):
        gens = {job: asyncio.run(submit(json.dumps(job))) for job in ("bad", "good")}
        celery.send_task(TASK_NAME, args=["not a probe task"], queue=queue)
        celery.send_task(
            TASK_NAME, args=[{"run": keys.run, "id": "bad", "gen": gens["bad"], "job": "{oops"}], queue=queue
        )
        good = json.dumps(probe_job("openai:gpt-4o-mini", followups=0))
        celery.send_task(
            TASK_NAME, args=[{"run": keys.run, "id": "good", "gen": gens["good"], "job": good}], queue=queue
        )
        client = redis_sync.Redis.from_url(redis_server.url)
        published: list[dict[str, Any]] = []
        while len(published) < 2:  # BLPOP: waits for each result as it is published
            item = client.blpop([keys.results], timeout=WAIT_S)
            assert item is not None, worker.err[-2000:]
            published.append(json.loads(item[1]))
        worker.wait_for_log(lambda entry: entry.get("msg") == "task message is not a probe task; dropped")
    celery.close()
    client.close()
    by_id = {entry["id"]: entry["result"] for entry in published}
    assert by_id["bad"]["error"]["code"] == "VALIDATION_ERROR" and not by_id["bad"]["error"]["retryable"]
    assert "not valid JSON" in by_id["bad"]["error"]["message"]
    assert by_id["good"]["success"] is True


def test_a_message_is_acknowledged_when_its_job_ends_and_a_warm_shutdown_finishes_the_jobs_in_flight(
    fake_provider: FakeProvider,
) -> None:
    """The worker's pool runs jobs on its event loop without a thread each, and a message is
    acknowledged only after its job ended (`acks_late`). On the Redis broker the messages a
    worker holds are in its memory, not in kombu's unacknowledged hash (its emulation is off:
    two round trips per message; a killed worker's jobs come back by their leases); a warm
    shutdown (SIGTERM) lets the jobs in flight finish, publishes their results and acknowledges
    their messages before the worker exits, putting nothing back in the queue."""
    import asyncio

    import redis as redis_sync
    from redis.asyncio import Redis

    from common.runs.distributed.app import make_app
    from common.runs.distributed.keys import RunKeys
    from common.runs.distributed.messages import TASK_NAME
    from common.runs.distributed.state import RunState

    keys = RunKeys(f"acks-{time.time_ns()}")
    ids = [f"held-{n}" for n in range(3)]

    async def submit(job: str) -> int:
        redis = Redis.from_url(server.url)
        try:
            return (await RunState(redis).lease(keys, job))[1]
        finally:
            await redis.aclose()

    with private_redis() as server:  # its own: kombu's unacked keys would be per Redis database, not per queue
        env = env_for(server.url, server, new_queue(), fake_provider)
        client = redis_sync.Redis.from_url(server.url)
        celery = make_app(server.url)
        hold = fake_provider.hold()
        try:
            with workers(env, 1, concurrency=4) as (worker,):
                for job_id in ids:
                    gen = asyncio.run(submit(json.dumps(job_id)))
                    job = json.dumps(probe_job("openai:gpt-4o-mini", followups=0))
                    message = {"run": keys.run, "id": job_id, "gen": gen, "job": job}
                    celery.send_task(TASK_NAME, args=[message], queue=env["PROBE_QUEUE"])
                hold.wait_held(3)  # every job is waiting for the provider
                # taken from the queue, held by the worker, recorded nowhere else
                assert client.llen(env["PROBE_QUEUE"]) == 0 and client.llen(keys.results) == 0
                assert client.exists("unacked", "unacked_index") == 0
                worker.signal(signal.SIGTERM)
                worker.wait_for_log(lambda entry: entry.get("msg") == "waiting for the jobs in flight")
                hold.release()
                assert worker.wait(WAIT_S) == 0, worker.err[-2000:]
            published = [json.loads(item) for item in client.lrange(keys.results, 0, -1)]
            assert sorted(entry["id"] for entry in published) == ids
            assert all(entry["result"]["success"] for entry in published)
            # acknowledged: nothing left for the broker to give back, nothing put back in the queue
            assert client.exists("unacked", "unacked_index") == 0 and client.llen(env["PROBE_QUEUE"]) == 0
        finally:
            celery.close()
            client.close()


# 2026-03-10 08:00 PDT, as in test_quota_day: the per-day quota resets 16 hours later.
PINNED_NOW = 1_773_154_800.0
RESET_MS = 16 * 3_600_000
GEMINI_PER_DAY = json.loads((Path(__file__).parent / "fixtures" / "google" / "errors.json").read_text())[
    "rate_limited_per_day"
]


def test_a_per_day_quota_parks_its_model_and_the_other_models_go_on(
    tmp_path: Path, redis_server: RedisServer, fake_provider: FakeProvider
) -> None:
    """Gemini's per-day 429 for one model: that model's first job is its only request; every job
    of it is written retryable with the time to the reset; the other model's jobs all succeed."""
    fake_provider.failures.append(
        Failure(status=429, model="gemini-2.5-flash", body=GEMINI_PER_DAY, retry_after_ms=None)
    )
    jobs: dict[Any, dict[str, Any]] = {}
    for n in range(5):
        jobs[f"flash-{n}"] = probe_job("google:gemini-2.5-flash", followups=0, scenarioId=f"f{n}")
        jobs[f"pro-{n}"] = probe_job("google:gemini-2.5-pro", followups=0, scenarioId=f"p{n}")
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    queue = new_queue()
    env = distributed_env(
        redis_server.url,
        redis_server.url,
        queue,
        GEMINI_API_KEY="AIzaSyD-test-key-not-real-0123456789ab",
        GEMINI_BASE_URL=fake_provider.url,
        PROBE_TEST_WALL_CLOCK=str(PINNED_NOW),
        **FAST,
    )
    out = tmp_path / "out.jsonl"
    with workers(env, 1, app=PINNED_CLOCK_APP):  # one job at a time: the wall is known before the next starts
        args = driver_args(jobs_file, out, redis_server.url, redis_server, "--concurrency", "1")
        done = run_script(BATCH_PY, b"", *args, env=env, timeout_s=WAIT_S)
    assert done.code == 3, done.err  # finished, with retryable results left: run the command again
    results = results_by_id(out)
    assert set(results) == set(jobs)
    assert all(results[f"pro-{n}"]["success"] for n in range(5))
    asked_models = Counter(request.model for request in fake_provider.received())
    assert asked_models == Counter({"gemini-2.5-flash": 1, "gemini-2.5-pro": 5}), "a parked model was asked again"
    for n in range(5):
        error = results[f"flash-{n}"]["error"]
        assert (error["code"], error["retryable"], error["details"]["quotaWindow"]) == ("RATE_LIMIT", True, "day")
        assert RESET_MS - WAIT_S * 1000 <= error["retryAfterMs"] <= RESET_MS  # the time left to the reset
    assert sum(bool(results[f"flash-{n}"]["error"]["details"].get("notStarted")) for n in range(5)) == 4
    assert "model parked" in (tmp_path / "out.jsonl.log").read_text()
    assert not (tmp_path / "out.jsonl.run.json").exists()  # every id has its line: the run's state is gone


def wait_for_lines(path: Path, count: int, driver: WorkerProcess) -> None:
    """Until the results file holds `count` whole lines (the driver writes no event for each)."""
    deadline = time.monotonic() + WAIT_S
    while not (path.exists() and path.read_bytes().count(b"\n") >= count):
        assert driver.proc.poll() is None, driver.err[-3000:]
        assert time.monotonic() < deadline, f"fewer than {count} lines in {path}"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["stopped", "flushed"])
def test_results_written_survive_a_redis_restart_and_are_not_paid_again(
    tmp_path: Path, fake_provider: FakeProvider, how: str
) -> None:
    """Redis restarts mid-run, taking leases, results waiting and checkpoints with it. "stopped":
    the driver sees it gone; "flushed": it came back empty before the driver looked (the run's
    marker is missing). Either way the driver exits 2 with one sentence, the lines already
    written stay, and the same command run again finishes without asking them again."""
    jobs = {**conversation_jobs(6, 0, "kept"), **conversation_jobs(4, 1, "cut")}
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out = tmp_path / "out.jsonl"
    hold = fake_provider.hold(turn=2)  # only the "cut" jobs have a turn 2: they are in flight at the restart
    with private_redis() as first:
        port, queue = first.port, new_queue()
        env = env_for(first.url, first, queue, fake_provider)
        args = driver_args(jobs_file, out, first.url, first, "--concurrency", "10")
        with (
            workers(env, 1, concurrency=10),
            WorkerProcess(BATCH_PY, *args, env=env, stdin=subprocess.DEVNULL) as driver,
        ):
            hold.wait_held(4)
            wait_for_lines(out, 6, driver)
            if how == "stopped":
                first.stop()
                assert driver.wait(WAIT_S) == 2
                again = start_on(port)
            else:
                import redis as redis_sync

                client = redis_sync.Redis.from_url(first.url)
                client.flushall()
                client.close()
                assert driver.wait(WAIT_S) == 2
                again = first
            assert "went away or lost the run's state mid-run" in driver.err and str(out) in driver.err
        hold.release()  # the old worker is gone: what it held is lost, as in a crash
        try:
            written = results_by_id(out)
            assert set(written) == {f"kept-{n}" for n in range(6)}
            assert (tmp_path / "out.jsonl.run.json").exists()
            with workers(env, 1, concurrency=10):
                done = run_script(BATCH_PY, b"", *args, env=env, timeout_s=WAIT_S)
        finally:
            if again is not first:
                again.stop()
    assert done.code == 0, done.err
    results = results_by_id(out)
    assert set(results) == set(jobs) and all(result["success"] for result in results.values())
    assert all(results[f"kept-{n}"] == written[f"kept-{n}"] for n in range(6))  # the lines kept, untouched
    counts = asked(fake_provider)
    assert {text: n for text, n in counts.items() if text.startswith("[kept-")} == {
        f"[kept-{n}] turn 1?": 1 for n in range(6)
    }, "a result already written was paid for again"
    assert all(counts[f"[cut-{n}] turn 2?"] == 2 for n in range(4))  # in flight at the restart, then again
    assert not (tmp_path / "out.jsonl.run.json").exists()


def test_a_worker_that_outlived_a_redis_restart_runs_the_next_run_without_a_lease_running_out(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    """Redis restarts between two runs; the same worker stays up. The connections it pooled
    were closed at the server's end: the first command on each used to fail, so that job's
    claim was lost and it ran again only after its lease. Now the client reconnects at once:
    every job of the next run is claimed and asked once, none waits for a lease."""
    with private_redis() as first:
        port, queue = first.port, new_queue()
        env = env_for(first.url, first, queue, fake_provider)
        with workers(env, 1, concurrency=10):
            jobs_file = write_jobs(tmp_path / "before.jsonl", conversation_jobs(10, 0, "before"))
            done = run_script(
                BATCH_PY, b"", *driver_args(jobs_file, tmp_path / "before.out", first.url, first), env=env
            )
            assert done.code == 0, done.err
            first.stop()
            again = start_on(port)
            try:
                jobs_file = write_jobs(tmp_path / "after.jsonl", conversation_jobs(10, 0, "after"))
                args = driver_args(jobs_file, tmp_path / "after.out", again.url, again)
                done = run_script(BATCH_PY, b"", *args, env=env, timeout_s=WAIT_S)
            finally:
                again.stop()
    assert done.code == 0, done.err
    assert "10 submitted, 0 again after a lease ran out" in done.err
    results = results_by_id(tmp_path / "after.out")
    assert len(results) == 10 and all(result["success"] for result in results.values())
    counts = asked(fake_provider)
    assert {text: n for text, n in counts.items() if text.startswith("[after-")} == {
        f"[after-{n}] turn 1?": 1 for n in range(10)
    }


def test_unreachable_services_are_said_at_once(tmp_path: Path, redis_server: RedisServer) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", {"a": probe_job()})
    done = run_script(
        BATCH_PY, b"", str(jobs_file), "-o", str(tmp_path / "out.jsonl"), "--broker", closed, timeout_s=WAIT_S
    )
    assert done.code == 2 and "cannot reach the broker at " + closed in done.err
    assert not (tmp_path / "out.jsonl").exists()
    done = run_script(
        BATCH_PY,
        b"",
        str(jobs_file),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--broker",
        redis_server.url,
        "--redis",
        closed,
        timeout_s=WAIT_S,
    )
    assert done.code == 2 and "cannot reach the run's Redis at " + closed in done.err
    with pytest.raises(AssertionError, match="cannot reach the broker"):
        start_worker(distributed_env(closed, closed, new_queue()))
