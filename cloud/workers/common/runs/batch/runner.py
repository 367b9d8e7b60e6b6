"""Runs a file of probe jobs from a shell: bounded concurrency, per-provider rate limits,
resumable results.

One asyncio loop runs every job in this process (SDK clients shared per provider, as in
serve mode). Each provider has its own queue and feeder, so a provider that is being
throttled never holds up the others; a feeder takes a global slot, then waits for its
provider's limiter, then starts the job. A retryable failure runs again in this batch
(from its partial transcript, after the provider's hint or a backoff) up to
`max_attempts` times; after that, or when the run is interrupted, the retryable failure
is written as the job's result and the next run of the same command resumes it.

A failure whose hint is longer than a batch waits (a Gemini per-day quota: until midnight
Pacific time) parks its provider+model instead: no job of that model starts until the
hint has passed (other models and providers go on), and if the run has nothing else left
to do first, each parked job is written as a retryable failure carrying the time left, so
the next run of the same command resumes it (`parking`, shared with distributed runs).

SIGINT/SIGTERM: jobs in flight stop and write their CANCELLED result with the turns they
have; a second signal exits at once (every line already written is whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable

from common.contract.probe import ProbeJob, ProbeSuccess, WorkerFailure
from common.errors.codes import ErrorCode
from common.errors.retry import Clock, SystemClock
from common.io.log import bind_job, get_logger
from common.providers.pool import ProviderPool
from common.runs.batch.files import UNROUTED, BatchJob, ResultWriter, compact
from common.runs.batch.options import BatchOptions
from common.runs.batch.parking import BATCH_RETRY_POLICY, ParkingLot, is_wall, model_key
from common.runs.batch.plan import plan_jobs
from common.runs.batch.progress import BatchStats, LimiterState, Progress
from common.runs.batch.rate_limit import LimiterSet, ProviderLimiter
from common.runs.batch.spend import DEFAULT_EXPECTED_OUTPUT_TOKENS, Estimate, Spend, estimate_job, spend_of
from common.runs.lines import parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.run_path import parse_job, run_parsed
from common.runs.stop_signals import begin_stop, install_stop_signals, remove_stop_signals

EXIT_DONE = 0
EXIT_RETRYABLE_LEFT = 3  # finished, but some results are retryable failures: run the command again
ProbeResult = ProbeSuccess | WorkerFailure
RunProbe = Callable[[ProbeJob], Awaitable[ProbeResult]]


def _prior_turns_rejected(result: ProbeResult) -> bool:
    """The resumed job's scenario no longer matches its earlier partial transcript."""
    if not isinstance(result, WorkerFailure) or result.error.code is not ErrorCode.VALIDATION_ERROR:
        return False
    field = result.error.details.get("field")
    return isinstance(field, str) and field.startswith("priorTurns")


class BatchRunner:
    def __init__(
        self,
        options: BatchOptions,
        *,
        clock: Clock | None = None,
        run_probe: RunProbe | None = None,
    ) -> None:
        self.options = options
        self.clock = clock or SystemClock()
        self.pool = ProviderPool.warm()  # SDK clients shared by this run's jobs, closed when it ends
        self.run_probe: RunProbe = run_probe or self._run_probe
        self.rng = random.Random()
        self.limiters = LimiterSet(options.limits, clock=self.clock)
        self.stats = BatchStats()
        self.log = get_logger(worker="batch")
        self.stopping = False
        self.exit_code = EXIT_DONE
        self.slots = asyncio.Semaphore(options.concurrency)
        self.queues: dict[str, asyncio.Queue[BatchJob]] = {}
        self.in_flight: set[asyncio.Task[None]] = set()
        self.waiting: set[asyncio.Task[None]] = set()
        self.unfinished = 0
        self.all_done = asyncio.Event()
        self.output_means: dict[str, tuple[int, int]] = {}  # provider -> (output tokens, turns)
        self.parked = ParkingLot(self.clock.monotonic)  # walled models and the jobs waiting behind them
        self.writer: ResultWriter | None = None
        self.progress: Progress | None = None

    # -- planning ---------------------------------------------------------------------

    def plan(self) -> list[BatchJob]:
        """The jobs to run: new ids, and ids whose last result was a retryable failure."""
        return plan_jobs(self.options.jobs, self.options.output, self.stats, self.log)

    # -- running ----------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> int:
        to_run = self.plan()
        self.writer = ResultWriter(self.options.output)
        self.progress = Progress(self.stats, enabled=self.options.progress)
        self.stats.started = time.monotonic()  # wall time is real even when a test fakes the clock
        self.unfinished = len(to_run)
        for job in to_run:
            self.queues.setdefault(job.provider, asyncio.Queue()).put_nowait(job)
        feeders = [asyncio.create_task(self.feed(p, q), name=f"feed-{p}") for p, q in self.queues.items()]
        installed = install_stop_signals(self.stop) if handle_signals else []
        try:
            if self.unfinished:
                await self.all_done.wait()
            for task in feeders:
                task.cancel()
            if self.stopping:
                for task in [*self.in_flight, *self.waiting]:
                    task.cancel()
            await asyncio.gather(*feeders, *self.in_flight, *self.waiting, return_exceptions=True)
            self._write_parked()
        finally:
            remove_stop_signals(installed)
            self.writer.close()
            self.progress.close()
            await self.pool.aclose()
        if self.stats.resumed:  # a resumed id now has its earlier line and a new one
            dropped = compact(self.options.output)
            self.log.info("results file compacted", droppedLines=dropped)
        if self.stopping:
            return self.exit_code
        return EXIT_RETRYABLE_LEFT if self.stats.left_retryable else EXIT_DONE

    def stop(self, sig: int = signal.SIGTERM) -> None:
        begin_stop(self, sig)
        self.all_done.set()
        with contextlib.suppress(Exception):  # a broken stderr must not keep the run from stopping
            self.log.warning("stopping: jobs in flight write what they have", inFlight=len(self.in_flight))

    async def feed(self, provider: str, queue: asyncio.Queue[BatchJob]) -> None:
        limiter = self.limiters.for_provider(provider) if provider != UNROUTED else None
        while True:
            job = await queue.get()
            await self.slots.acquire()
            try:
                _, document = parse_job_line(job.raw, job.line)
                parsed = parse_job(PROBE, document)
                if isinstance(parsed, WorkerFailure):  # an invalid job: its answer needs no provider
                    self._write_final(job, parsed, cost_known=True)
                    self.slots.release()
                    continue
                if job.prior_turns:
                    parsed.prior_turns = job.prior_turns
                if self.parked.hold(model_key(provider, parsed), job):  # not started: its model is walled
                    self.slots.release()
                    self._settle_parking()
                    continue
                estimate = estimate_job(parsed, self._expected_output(provider))
                if limiter is not None:
                    waited = await limiter.acquire(estimate.requests, estimate.tokens)
                    if waited:
                        self.log.debug("rate limited admission", provider=provider, waitedS=round(waited, 3))
            except BaseException:
                self.slots.release()
                raise
            self.stats.in_flight += 1
            task = asyncio.create_task(self.run_job(job, parsed, limiter, estimate), name=f"job-{job.id}")
            self.in_flight.add(task)
            task.add_done_callback(self._job_task_done)

    def _job_task_done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.stats.in_flight -= 1
        self.slots.release()
        self._settle_parking()

    async def run_job(
        self, job: BatchJob, probe: ProbeJob, limiter: ProviderLimiter | None, estimate: Estimate
    ) -> None:
        try:
            await self._run_job(job, probe, limiter, estimate)
        except Exception as exc:  # e.g. the results file or stderr broke: never leave the run waiting
            self.unfinished -= 1
            self.stats.crashed += 1
            if isinstance(exc, OSError):
                self.stop()
            else:
                self._settle_parking()
            with contextlib.suppress(Exception):
                self.log.error("job could not finish; it runs again next time", exc_info=exc)

    async def _run_job(
        self, job: BatchJob, probe: ProbeJob, limiter: ProviderLimiter | None, estimate: Estimate
    ) -> None:
        bind_job(jobId=job.id)
        job.attempts += 1
        prior = len(job.prior_turns or [])
        result = await self.run_probe(probe)
        if prior and _prior_turns_rejected(result):
            self.log.warning("earlier partial transcript no longer matches the scenario; starting over")
            probe = probe.model_copy(update={"prior_turns": None})
            job.prior_turns, prior = None, 0
            result = await self.run_probe(probe)
        spend = spend_of(result, prior, probe.model_cost)
        walled = isinstance(result, WorkerFailure) and is_wall(result)
        self._account(job.provider, limiter, estimate, spend, walled=walled)
        if isinstance(result, WorkerFailure) and result.retryable:
            job.prior_turns = result.turns_to_resume()
            job.last_result = result
            if walled and not self.stopping:
                self.parked.park(model_key(job.provider, probe), job, result)
                self._settle_parking()
                return
            if not self.stopping and job.attempts < self.options.max_attempts:
                self._retry_later(job, result, spend)
                return
        self._write_final(job, result, spend.cost_known)

    async def _run_probe(self, probe: ProbeJob) -> ProbeResult:
        result = await run_parsed(PROBE, probe, self.pool)
        assert isinstance(result, ProbeSuccess | WorkerFailure)
        return result

    def _account(
        self, provider: str, limiter: ProviderLimiter | None, estimate: Estimate, spend: Spend, *, walled: bool = False
    ) -> None:
        self.stats.add_spend(spend)
        if spend.output_tokens_per_turn:
            total, turns = self.output_means.get(provider, (0, 0))
            self.output_means[provider] = (total + sum(spend.output_tokens_per_turn), turns + spend.new_turns)
        if limiter is None:
            return
        limiter.settle(spend.requests - estimate.requests, spend.tokens - estimate.tokens)
        # A wall (a per-day quota) is one model's, and slowing down cannot help: the model is
        # parked instead, and the provider's other models keep their pace.
        if spend.rate_limited and not walled and limiter.rate_limited(spend.retry_after_s):
            self.log.warning(
                "provider answered 429: slowing down",
                provider=provider,
                rpm=limiter.effective_rpm,
                tpm=limiter.effective_tpm,
            )
        if self.progress is not None:
            self.progress.refresh()

    def _expected_output(self, provider: str) -> float:
        total, turns = self.output_means.get(provider, (0, 0))
        return total / turns if turns else DEFAULT_EXPECTED_OUTPUT_TOKENS

    # -- parking a walled model -----------------------------------------------------------

    def _settle_parking(self) -> None:
        """Starts the jobs of models whose wall has passed; ends the run when only parked jobs are left."""
        for job in self.parked.release_due():
            self.queues[job.provider].put_nowait(job)
        if self.unfinished == len(self.parked):
            self.all_done.set()

    def _write_parked(self) -> None:
        """Each parked job's answer: retryable, with the time left before its model's wall passes."""
        for job, result in self.parked.drain():
            self._write_final(job, result, cost_known=True)

    def _retry_later(self, job: BatchJob, failure: WorkerFailure, spend: Spend) -> None:
        hint = failure.error.retry_after_ms
        delay = BATCH_RETRY_POLICY.wait_s(job.attempts, hint, self.rng)
        self.stats.retrying += 1
        self.log.info("will run again", attempt=job.attempts, code=failure.error.code.value, delayS=delay)
        task = asyncio.create_task(self._requeue(job, delay, spend.cost_known), name=f"retry-{job.id}")
        self.waiting.add(task)
        task.add_done_callback(self.waiting.discard)
        if self.progress is not None:
            self.progress.refresh()

    async def _requeue(self, job: BatchJob, delay: float, cost_known: bool) -> None:
        try:
            await self.clock.sleep(delay)
        except asyncio.CancelledError:  # the run is stopping: the last result is this job's answer
            self.stats.retrying -= 1
            if job.last_result is not None:
                self._write_final(job, job.last_result, cost_known)
            return
        self.stats.retrying -= 1
        self.queues[job.provider].put_nowait(job)

    def _write_final(self, job: BatchJob, result: ProbeResult, cost_known: bool) -> None:
        assert self.writer is not None
        self.writer.write(render_result_line(job.id, result))
        self.stats.finished(result, cost_known=cost_known)
        if self.progress is not None:
            self.progress.job_done()
        self.unfinished -= 1
        self._settle_parking()

    def limiter_states(self) -> dict[str, LimiterState]:
        states: dict[str, LimiterState] = {}
        for name, limiter in self.limiters.by_provider.items():
            slowed = None
            if limiter.factor < 1.0 and limiter.effective_rpm is not None:
                slowed = f"{limiter.effective_rpm:.0f} rpm"
            states[name] = LimiterState(
                rpm=limiter.effective_rpm,
                tpm=limiter.effective_tpm,
                factor=limiter.factor,
                rate_limited=limiter.rate_limited_count,
                slowed_to=slowed,
            )
        return states
