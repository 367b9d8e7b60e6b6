"""`batch.py --broker URL`: submits a jobs file to Celery workers and collects their results.

The driver is the source of truth for which jobs must end. It writes the same results
file with the same writer, progress bar and summary as a local batch run; what differs
is where jobs run. Each submitted job has a lease: a job with no claim and no result
when its lease runs out (a message the broker lost, a worker that died) is submitted
again under a new generation, and the claim and done-set scripts make every other copy
a no-op (`scripts.py`). A retryable failure is submitted again from its partial transcript
(after the provider's hint or a backoff) up to `--max-attempts`, as a local batch does, and
a wall (a Gemini per-day quota) parks its provider+model as in a local batch
(`common.runs.batch.parking`): its jobs are not submitted until the hint has passed, and are
written as retryable failures with the time left when only parked jobs are left.

Stopping and starting again loses nothing: the run's key is kept next to the results file
(`OUTPUT.run.json`), results published while no driver was running wait in Redis and are
collected first, jobs still claimed by a worker are waited for, and only the others are
submitted again. A result is taken off Redis only after its line is in the results file
(a crash between the two re-reads it; the file's own dedup and `compact` keep one line per
id). When every job has its line, the run's keys are deleted.

Redis restarting mid-run (it loses the leases, the results waiting and the checkpoints)
stops the driver with exit 2 and one sentence, whether Redis is gone or came back empty
(the run's `alive` marker, checked every step, is missing): every line already in the
results file stays, and the same command run again submits only the jobs without one
(turns checkpointed only in the lost Redis are asked again).

SIGINT/SIGTERM: the driver stops submitting and exits 128+N; jobs already on workers run
on, and the next run of the same command collects them.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import os
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common.contract.probe import ModelCost, ProbeSuccess, WorkerFailure
from common.io import environment
from common.io.log import get_logger
from common.runs.batch.files import BatchJob, ResultWriter, compact
from common.runs.batch.options import BatchOptions
from common.runs.batch.parking import BATCH_RETRY_POLICY, ModelKey, ParkingLot, is_wall, model_key
from common.runs.batch.plan import plan_jobs
from common.runs.batch.progress import BatchStats, LimiterState, Progress
from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT
from common.runs.batch.spend import spend_of
from common.runs.distributed.connect import RedisLostError, check_all, shown
from common.runs.distributed.keys import RunKeys
from common.runs.distributed.messages import TASK_NAME, LimitWire, ResultEnvelope, TaskMessage, job_field
from common.runs.distributed.state import Lease, RunState
from common.runs.lines import parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.run_path import parse_job
from common.runs.stop_signals import begin_stop, install_stop_signals, remove_stop_signals

COLLECT_BATCH = 500  # results taken off Redis per step
MAX_LEASE_S = 3600.0
ProbeResult = ProbeSuccess | WorkerFailure


class Phase(Enum):
    QUEUED = "queued"  # not submitted by this driver yet
    OUT = "out"  # submitted (or found running): waiting for its result
    WAITING = "waiting"  # a retryable failure, waiting to be submitted again
    PARKED = "parked"  # its model answered with a wall: not submitted until it has passed
    ENDED = "ended"  # its line is in the results file


@dataclass
class Tracked:
    job: BatchJob
    field: str
    phase: Phase = Phase.QUEUED
    gen: int = 0
    check_at: float = 0.0  # monotonic: when to ask about its lease next
    lease_s: float = 0.0
    model_cost: ModelCost | None = None
    model: ModelKey | None = None  # (provider, model), once the job has been parsed


@dataclass
class DriverCounts:
    """What only a distributed run has, for the end summary."""

    submitted: int = 0
    resubmitted: int = 0  # leases that ran out without a result
    found_running: int = 0  # claimed by a worker when this driver started
    collected_waiting: int = 0  # results published while no driver was running
    ignored: list[str] = field(default_factory=list)


def run_file(output: Path) -> Path:
    return output.with_name(output.name + ".run.json")


def _run_key(output: Path, broker: str) -> str:
    """The run's key: kept next to the results file while the run has jobs out, so a restart finds them."""
    path = run_file(output)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        key = json.loads(path.read_text(encoding="utf-8"))["runKey"]
        if isinstance(key, str) and key:
            return key
    key = uuid.uuid4().hex
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps({"runKey": key, "broker": shown(broker)}) + "\n", encoding="utf-8")
    os.replace(scratch, path)
    return key


class DistributedDriver:
    def __init__(self, options: BatchOptions) -> None:
        assert options.broker is not None
        self.options = options
        self.broker: str = options.broker
        self.redis_url = options.redis_url or self.broker
        self.queue_name = environment.queue_name()  # PROBE_QUEUE, as the workers read it
        self.stats = BatchStats()
        self.counts = DriverCounts()
        self.log = get_logger(worker="batch", broker=shown(self.broker))
        self.rng = random.Random()
        self.stopping = False
        self.exit_code = EXIT_DONE
        self.jobs: dict[str, Tracked] = {}
        self.queue: list[Tracked] = []  # to submit, in file order (popped from the end)
        self.retries: list[tuple[float, int, str]] = []  # (due, order, field), a heap
        self.lease_checks: list[tuple[float, int, str]] = []  # (check at, order, field), a heap
        self.order = itertools.count()
        self.out = 0
        self.parked = ParkingLot(time.monotonic)  # walled models and the jobs waiting behind them
        self.wake = asyncio.Event()
        self.writer: ResultWriter | None = None
        self.progress: Progress | None = None

    def check_services(self) -> None:
        """Raises `connect.UnreachableError` (the CLI exits 2) before anything is read or written."""
        check_all(self.broker, self.redis_url)

    # -- planning (the same rule as a local batch: common.runs.batch.runner) ----------------

    def plan(self) -> list[Tracked]:
        to_run: list[Tracked] = []
        for job in plan_jobs(self.options.jobs, self.options.output, self.stats, self.log):
            tracked = Tracked(job, job_field(job.id), lease_s=self.options.lease_s)
            self.jobs[tracked.field] = tracked
            to_run.append(tracked)
        return to_run

    # -- running ----------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> int:
        to_run = self.plan()
        from common.runs.distributed.app import make_app

        self.celery = make_app(self.broker)
        self.redis = Redis.from_url(self.redis_url)
        self.state = RunState(self.redis)
        self.keys = RunKeys(_run_key(self.options.output, self.broker))
        self.writer = ResultWriter(self.options.output)
        self.progress = Progress(self.stats, enabled=self.options.progress)
        self.stats.started = time.monotonic()
        installed = install_stop_signals(self.stop) if handle_signals else []
        self.log.info("distributed run", runKey=self.keys.run, jobs=len(to_run))
        lost: str | None = None
        try:
            self.queue = list(reversed(to_run))
            await self.state.mark_alive(self.keys)
            await self._collect()  # results published while no driver was running
            self.counts.collected_waiting = self.stats.done
            await self._loop()
            self._write_parked()
        except (RedisConnectionError, RedisTimeoutError, RedisLostError) as exc:
            lost = str(exc) or type(exc).__name__
        finally:
            remove_stop_signals(installed)
            self._write_waiting_if_stopping()
            self.writer.close()
            self.progress.close()
            ended = all(t.phase is Phase.ENDED for t in self.jobs.values())
            if ended and not self.stopping and lost is None:
                await self.state.forget(self.keys)
                run_file(self.options.output).unlink(missing_ok=True)
            with contextlib.suppress(Exception):  # a Redis that went away may refuse even the goodbye
                await self.redis.aclose()
            self.celery.close()
        dropped = compact(self.options.output)
        if dropped:
            self.log.info("results file compacted", droppedLines=dropped)
        if lost is not None:
            raise RedisLostError(
                f"the run's Redis at {shown(self.redis_url)} went away or lost the run's state mid-run ({lost});"
                f" every result already in {self.options.output} is kept:"
                " run the same command again to run the jobs without one"
            )
        if self.stopping:
            return self.exit_code
        return EXIT_RETRYABLE_LEFT if self.stats.left_retryable else EXIT_DONE

    async def _loop(self) -> None:
        tick = min(1.0, self.options.lease_s / 4)
        while not self.stopping:
            self._release_due_retries()
            self._release_parked()
            await self._fill()
            if not self.out and not self.queue and not self.retries:
                return  # nothing left, or only parked jobs: `_write_parked` answers them
            timeout = tick
            if self.retries:
                timeout = max(0.01, min(tick, self.retries[0][0] - time.monotonic()))
            parked_s = self.parked.next_release_s()
            if parked_s is not None:
                timeout = max(0.01, min(timeout, parked_s))
            waiter = asyncio.ensure_future(self.state.wait_for_results(self.keys, timeout))
            woken = asyncio.ensure_future(self.wake.wait())
            done, _ = await asyncio.wait({waiter, woken}, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            if waiter not in done:  # stopped by a signal while Redis waits: let it finish its timeout
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await waiter
            self.wake.clear()
            if waiter in done:
                waiter.result()  # a Redis that went away says so here
            if self.stopping:
                return
            await self._collect(check_alive=True)
            await self._check_leases()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        begin_stop(self, sig)
        self.wake.set()
        with contextlib.suppress(Exception):
            self.log.warning("stopping: jobs on workers run on; the next run collects them", out=self.out)

    # -- submitting -------------------------------------------------------------------

    async def _fill(self) -> None:
        """Submits jobs until `--concurrency` are out: the leases of the jobs that fit are asked in one
        round trip, so a wave of results that frees many slots is refilled at once, not job by job."""
        while self.queue and self.out < self.options.concurrency and not self.stopping:
            starting: list[tuple[Tracked, dict[str, Any]]] = []
            while self.queue and self.out + len(starting) < self.options.concurrency:
                tracked = self.queue.pop()
                if tracked.phase is not Phase.QUEUED:  # answered by a result collected at start, or queued twice
                    continue
                document = self._prepare(tracked)
                if document is not None:
                    starting.append((tracked, document))
            if not starting:
                continue
            leases = await self.state.leases(self.keys, [tracked.field for tracked, _ in starting])
            for (tracked, document), (status, gen) in zip(starting, leases, strict=True):
                self._started(tracked, document, status, gen)

    def _prepare(self, tracked: Tracked) -> dict[str, Any] | None:
        """The job's document when it is to be submitted; None when it ended (invalid) or was parked."""
        job = tracked.job
        _, document = parse_job_line(job.raw, job.line)
        parsed = parse_job(PROBE, document)
        if isinstance(parsed, WorkerFailure):  # an invalid job: its answer needs no worker
            self._end(tracked, parsed, cost_known=True)
            return None
        tracked.model_cost = parsed.model_cost
        tracked.model = model_key(job.provider, parsed)
        if self.parked.hold(tracked.model, job):  # not submitted: its model is walled
            tracked.phase = Phase.PARKED
            return None
        return document

    def _started(self, tracked: Tracked, document: dict[str, Any], status: Lease, gen: int) -> None:
        """Submits the job under its new generation, or (found running, or its result waiting) waits for it."""
        tracked.phase, tracked.gen = Phase.OUT, gen
        self.out += 1
        self.stats.in_flight = self.out
        if status is Lease.SUBMIT:
            self._submit(tracked, document)
            self._check_lease_at(tracked, time.monotonic() + tracked.lease_s)
            return
        if status is Lease.CLAIMED:
            self.counts.found_running += 1
        self._check_lease_at(tracked, time.monotonic() + tracked.lease_s / 4)

    def _submit(self, tracked: Tracked, document: dict[str, Any] | None = None) -> None:
        job = tracked.job
        if document is None:
            _, document = parse_job_line(job.raw, job.line)
        if job.prior_turns:
            document["priorTurns"] = [turn.to_wire() for turn in job.prior_turns]
        message = TaskMessage(
            run=self.keys.run,
            id=job.id,
            gen=tracked.gen,
            job=json.dumps(document, ensure_ascii=False),
            limits={name: LimitWire(rpm=lim.rpm, tpm=lim.tpm) for name, lim in self.options.limits.items()},
        )
        self.celery.send_task(TASK_NAME, args=[message.model_dump(mode="json", by_alias=True)], queue=self.queue_name)
        self.counts.submitted += 1

    def _check_lease_at(self, tracked: Tracked, when: float) -> None:
        tracked.check_at = when
        heapq.heappush(self.lease_checks, (when, next(self.order), tracked.field))

    async def _check_leases(self) -> None:
        """Asks about the leases that are due: a heap, so a step costs the jobs due, not every job of the run."""
        now = time.monotonic()
        due: list[tuple[float, str]] = []
        while self.lease_checks and self.lease_checks[0][0] <= now:
            when, _, key = heapq.heappop(self.lease_checks)
            due.append((when, key))
        for when, key in due:
            tracked = self.jobs[key]
            if tracked.phase is not Phase.OUT or tracked.check_at != when:
                continue  # ended, or its check moved (an entry left behind)
            status, gen = await self.state.lease(self.keys, tracked.field)
            if status is Lease.SUBMIT:
                self.counts.resubmitted += 1
                self.log.warning(
                    "lease ran out with no claim and no result: submitted again", jobId=tracked.job.id, generation=gen
                )
                tracked.gen = gen
                tracked.lease_s = min(MAX_LEASE_S, tracked.lease_s * 2)  # a slow queue is not flooded
                self._submit(tracked)
                self._check_lease_at(tracked, now + tracked.lease_s)
            else:  # running, or its result is about to be collected
                self._check_lease_at(tracked, now + self.options.lease_s / 4)

    def _release_due_retries(self) -> None:
        now = time.monotonic()
        while self.retries and self.retries[0][0] <= now:
            _, _, key = heapq.heappop(self.retries)
            tracked = self.jobs[key]
            self.stats.retrying -= 1
            tracked.phase = Phase.QUEUED
            self.queue.append(tracked)  # next to be submitted

    # -- collecting -------------------------------------------------------------------

    async def _collect(self, *, check_alive: bool = False) -> None:
        """Writes the results waiting in Redis; with `check_alive`, first makes sure Redis still has the
        run (asked in the same round trip as the first results)."""
        while True:
            alive, items = await self.state.waiting_results(self.keys, COLLECT_BATCH)
            if check_alive and not alive:
                raise RedisLostError("Redis came back without this run's state: it restarted or was flushed")
            check_alive = False
            if not items:
                return
            collected: dict[str, int] = {}
            finished: list[str] = []
            for raw in items:
                try:
                    envelope = ResultEnvelope.model_validate_json(raw)
                except ValidationError:
                    self.log.error("a published result could not be read; its job's lease brings it back")
                    continue
                key = job_field(envelope.id)
                collected[key] = max(collected.get(key, 0), envelope.gen)
                if self._take(key, envelope):
                    finished.append(key)
            await self.state.mark_collected(self.keys, len(items), collected, finished)
            if len(items) < COLLECT_BATCH:
                return

    def _take(self, key: str, envelope: ResultEnvelope) -> bool:
        """Accounts one result; True when it is the job's final line."""
        tracked = self.jobs.get(key)
        if tracked is None or tracked.phase not in (Phase.OUT, Phase.QUEUED):
            return False  # already written (a result re-read after a crash) or not in this run's plan
        if tracked.phase is Phase.OUT:
            self.out -= 1
            self.stats.in_flight = self.out
        job, result = tracked.job, envelope.result
        job.attempts += 1
        if tracked.model is None and tracked.phase is Phase.QUEUED:
            parsed = parse_job(PROBE, parse_job_line(job.raw, job.line)[1])
            if not isinstance(parsed, WorkerFailure):
                tracked.model_cost, tracked.model = parsed.model_cost, model_key(job.provider, parsed)
        spend = spend_of(result, envelope.replayed, tracked.model_cost)
        self.stats.add_spend(spend)
        if self.progress is not None:
            self.progress.refresh()
        if isinstance(result, WorkerFailure) and result.retryable:
            job.prior_turns = result.turns_to_resume() or job.prior_turns
            job.last_result = result
            hint = result.error.retry_after_ms
            walled = is_wall(result)
            if walled and not self.stopping and tracked.model is not None:
                tracked.phase = Phase.PARKED
                self.parked.park(tracked.model, job, result)
                return False
            if not walled and not self.stopping and job.attempts < self.options.max_attempts:
                delay = BATCH_RETRY_POLICY.wait_s(job.attempts, hint, self.rng)
                tracked.phase = Phase.WAITING
                self.stats.retrying += 1
                heapq.heappush(self.retries, (time.monotonic() + delay, job.line, key))
                self.log.info(
                    "will run again", jobId=job.id, attempt=job.attempts, code=result.error.code.value, delayS=delay
                )
                return False
        self._end(tracked, result, spend.cost_known)
        return True

    def _release_parked(self) -> None:
        for job in self.parked.release_due():
            tracked = self.jobs[job_field(job.id)]
            tracked.phase = Phase.QUEUED
            self.queue.append(tracked)  # next to be submitted

    def _write_parked(self) -> None:
        """Only parked jobs are left (or the run is stopping): each is written retryable, with the time left."""
        for job, result in self.parked.drain():
            self._end(self.jobs[job_field(job.id)], result, cost_known=True)

    def _end(self, tracked: Tracked, result: ProbeResult, cost_known: bool) -> None:
        assert self.writer is not None
        self.writer.write(render_result_line(tracked.job.id, result))
        tracked.phase = Phase.ENDED
        self.stats.finished(result, cost_known=cost_known)
        if self.progress is not None:
            self.progress.job_done()

    def _write_waiting_if_stopping(self) -> None:
        """Stopped: a job waiting to run again is written with its retryable failure (the next run resumes it)."""
        if not self.stopping:
            return
        for _, _, key in self.retries:
            tracked = self.jobs[key]
            if tracked.job.last_result is not None:
                self.stats.retrying -= 1
                self._end(tracked, tracked.job.last_result, cost_known=True)
        self.retries = []

    def limiter_states(self) -> dict[str, LimiterState]:
        """The shared limits live in Redis and adapt there; the summary shows none per process."""
        return {}

    def summary_lines(self) -> str:
        c = self.counts
        return (
            f"  workers     {c.submitted} submitted, {c.resubmitted} again after a lease ran out,"
            f" {c.found_running} found running, {c.collected_waiting} results collected from an earlier driver\n"
        )
