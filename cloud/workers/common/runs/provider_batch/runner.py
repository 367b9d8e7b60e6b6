"""`batch.py --via provider-batch`: every turn of every job through its provider's batch API, in waves.

Wave n of a provider+model holds the next turn of every conversation of that model that is
ready (turn 1 of all of them at first; then turn 2, built by the same `ProbeRunner` steps
as online from the turn-1 answers; and so on), split at the provider's documented limits.
A retryable per-request failure goes out again in the model's next wave (up to
`--max-attempts` waves per turn), and so does one refused for a parameter the model does not
take, adjusted as online (`param_fallback`; the rejection is kept in the job's state and
replayed whenever its conversation is rebuilt); anything else ends the job with its code and
partial transcript. Jobs of providers without a batch transport run online in the same command,
through the online `BatchRunner`.

Durability (see `state`): the intent of a batch is saved before any call, its ids as soon
as the provider gives them, and its results are applied to the jobs' turns in one save
before any result line is written. A restart re-attaches to every submitted batch, looks
for an intent's batch by its tag before submitting it (the window between the provider's
answer and our save), and never downloads an applied batch again. A job's result line is
written only after the state that says it finished is saved; a kill in between writes it
again at the next start (the results file keeps the last line of an id).

Memory does not grow with the run: the jobs and their turns live in the state database and
are read a page at a time (`state.CHUNK`) for each step (building a wave's requests,
applying a batch's results, writing lines); a wave's input is streamed to one JSONL file
per batch (uploaded as it is by OpenAI and Mistral; inline APIs read it back, and their
batches are cut at `INLINE_BATCH_BYTES`); results are applied as they stream in.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from common.contract.probe import (
    CostSnapshot,
    ErrorInfo,
    ParamNote,
    ProbeJob,
    ProbeSuccess,
    RetryRecord,
    Transcript,
    WorkerFailure,
)
from common.errors.codes import ErrorCode, WorkerError
from common.errors.retry import CallStats, Clock, Retry, SystemClock
from common.io.log import clear_job, get_logger
from common.probe.conversation import MAX_PARAM_RETRIES_PER_TURN, ProbeRunner
from common.providers.apis import choose_api
from common.providers.base import GenerationParams, Provider
from common.providers.pool import ProviderPool
from common.providers.records import BY_NAME, PROVIDERS
from common.providers.registry import ModelRoute, resolve_model
from common.runs.batch.files import BatchJob, compact, read_jobs, read_previous
from common.runs.batch.options import BatchOptions
from common.runs.batch.progress import BatchStats, LimiterState
from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT, BatchRunner
from common.runs.lines import JobId, parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.provider_batch.progress import (
    BatchBar,
    ProviderBatchSummary,
    ProviderTotals,
    provider_batch_summary,
    summary_lines,
)
from common.runs.provider_batch.state import (
    CHUNK,
    BatchEntry,
    BatchRequest,
    Finished,
    JobState,
    StateStore,
    WaitMark,
    state_path,
)
from common.runs.provider_batch.transport import (
    BatchInput,
    BatchStatus,
    BatchTransport,
    Outcome,
    cancelled_error,
    entry_bytes,
    expired_error,
    for_batch,
    missing_error,
)
from common.runs.run_path import parse_job
from common.runs.stop_signals import begin_stop, install_stop_signals, remove_stop_signals

# The providers whose batch API this worker speaks: their records name the transport
# (`ProviderRecord.batch_transport`, imported only when used; its `apis` are those it batches).
TRANSPORTS: dict[str, str] = {record.name: record.batch_transport for record in PROVIDERS if record.batch_transport}


def transport_class(provider: str) -> type[BatchTransport]:
    """The batch transport class of a provider in `TRANSPORTS`, imported on first use."""
    module_name, _, class_name = TRANSPORTS[provider].partition(":")
    cls: type[BatchTransport] = getattr(importlib.import_module(module_name), class_name)
    return cls


POLL_BACKOFF = 1.5  # each poll round that sees no batch end waits this much longer
MAX_POLL_INTERVAL_S = 600.0
CANCELLED_BY_USER = "the provider-batch run was cancelled (--cancel): run the same command again to resume"

ProbeResult = ProbeSuccess | WorkerFailure


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_key(job_id: JobId) -> str:
    return json.dumps(job_id)


def batch_priced(transcript: Transcript, model_cost: Any) -> None:
    """`costSnapshot` at the batch price for the turns that went through a batch (in place)."""
    snapshot = transcript.cost_snapshot
    if snapshot is None or model_cost is None:
        return
    factor = BY_NAME[transcript.provider].batch_price_factor if transcript.provider in BY_NAME else None
    batched = [turn.provider_metadata.via == "batch" for turn in transcript.turns]
    if factor is None or not any(batched):
        return
    paid = online = 0.0
    for turn, via_batch in zip(transcript.turns, batched, strict=True):
        cost = (
            turn.input_tokens * model_cost.cost_input_per_million / 1e6
            + turn.output_tokens * model_cost.cost_output_per_million / 1e6
        )
        online += cost
        paid += cost * factor if via_batch else cost
    transcript.cost_snapshot = CostSnapshot(
        cost_input_per_million=snapshot.cost_input_per_million,
        cost_output_per_million=snapshot.cost_output_per_million,
        input_tokens=snapshot.input_tokens,
        output_tokens=snapshot.output_tokens,
        estimated_cost=round(paid, 10),
        batch_price_factor=factor,
        online_estimated_cost=round(online, 10),
    )


class AppendingWriter:
    """Appends whole result lines, opening the file for each write: the online part of the run
    may compact (replace) the file meanwhile, and a held descriptor would write into the old one."""

    def write(self, path: Path, line: str) -> None:
        data = line.encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)


class OnlineRunner(BatchRunner):
    """The online batch runner over the jobs of this run that do not go through a batch API."""

    def __init__(self, options: BatchOptions, only: set[JobId], *, clock: Clock | None = None) -> None:
        super().__init__(options, clock=clock)
        self.only = only

    def plan(self) -> list[BatchJob]:
        planned = [job for job in super().plan() if job.id in self.only]
        self.stats.total, self.stats.skipped = len(planned), 0
        return planned


# Requests an inline batch (the create call's body: Anthropic, Gemini) holds at most, below the
# documented limit: the SDK builds that body in memory, so a larger wave is cut into more batches.
INLINE_BATCH_BYTES = 16 * 1024 * 1024


@dataclass
class Tracked:
    """A job of this run that goes through a batch API, read back from the state for one step."""

    key: str
    job_id: JobId
    probe: ProbeJob
    route: ModelRoute
    state: JobState
    adjustments: tuple[ParamNote, ...] = ()  # the current turn's, set by `_runner` from the state


@dataclass
class WaveRequest:
    turn: int
    entry: Any


@dataclass
class Building:
    """A batch of the wave being planned: its entry, and its input file as it is streamed out."""

    entry: BatchEntry
    path: Path
    handle: BinaryIO
    limit: int
    size: int = 0

    def fits(self, size: int, max_requests: int) -> bool:
        return self.entry.count == 0 or (self.entry.count < max_requests and self.size + size <= self.limit)


@dataclass
class Tally:
    """What applying one batch added, counted into the run's figures only once it is saved."""

    succeeded: int = 0
    failed: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    online_cost: float = 0.0


class ProviderBatchRunner:
    def __init__(self, options: BatchOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or SystemClock()
        self.stats = BatchStats()
        self.totals: dict[str, ProviderTotals] = {}
        self.log = get_logger(worker="batch", via="provider-batch")
        self.state_file = state_path(options.output)
        self.store: StateStore | None = None
        self.batches: list[BatchEntry] = []  # the batches not yet applied (a few per wave)
        self.process = uuid.uuid4().hex  # tells this process's clock readings from an earlier one's
        self.pool = ProviderPool()
        self.providers: dict[str, Provider] = {}
        self.transports: dict[str, BatchTransport] = {}
        self.scratch: Path | None = None  # the input files this process wrote
        self.inputs: dict[str, BatchInput] = {}  # tag -> its input file, built this process (else rebuilt)
        self.writer = AppendingWriter()
        self.online: OnlineRunner | None = None
        self.bar: BatchBar | None = None
        self.stopping = False
        self.cancelling = options.cancel
        self.stop_event = asyncio.Event()
        self.exit_code = EXIT_DONE
        self.calls: Counter[str] = Counter()  # provider calls this process made, by kind

    @property
    def db(self) -> StateStore:
        assert self.store is not None, "the state is opened when the run starts"
        return self.store

    # -- the run ------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> int:
        self.stats.started = time.monotonic()
        self.store = StateStore.open(self.options.output)  # an earlier version's state stops here
        installed = install_stop_signals(self.stop) if handle_signals else []
        online_task: asyncio.Task[int] | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="probe-batch-inputs-") as scratch:
                self.scratch = Path(scratch)
                async with AsyncExitStack() as stack:
                    online_ids = await self._plan(stack)
                    if online_ids and not self.options.cancel:
                        online_options = replace(self.options, progress=False)
                        self.online = OnlineRunner(online_options, online_ids, clock=self.clock)
                        online_task = asyncio.create_task(self.online.run(), name="online-jobs")
                    self.bar = BatchBar(self.db.unfinished(), enabled=self.options.progress)
                    await self._drive()
                    if online_task is not None:
                        await online_task
        except BaseException:
            self.db.close()  # what the step had not committed is rolled back, as a kill would
            raise
        finally:
            remove_stop_signals(installed)
            if self.bar is not None:
                self.bar.close()
            await self.pool.aclose()
        self._merge_online()
        return self._finish()

    def _finish(self) -> int:
        if self.stopping:
            self._commit()
            self.db.close()
            return self.exit_code
        if self.db.unfinished() or any(entry.phase != "applied" for entry in self.batches):
            self._commit()
            self.db.close()
        else:
            self.db.remove()
        if self.options.output.exists():
            dropped = compact(self.options.output)
            if dropped:
                self.log.info("results file compacted", droppedLines=dropped)
        return EXIT_RETRYABLE_LEFT if self.stats.left_retryable else EXIT_DONE

    def _merge_online(self) -> None:
        if self.online is None:
            return
        other = self.online.stats
        for name in ("succeeded", "failed", "left_retryable", "crashed", "input_tokens", "output_tokens", "requests"):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(other, name))
        self.stats.cost += other.cost
        self.stats.jobs_without_cost += other.jobs_without_cost
        self.stats.rate_limited += other.rate_limited
        self.stats.resumed += other.resumed
        self.stats.codes.update(other.codes)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops polling and leaves the batches running: the same command re-attaches to them."""
        begin_stop(self, sig)
        self.stop_event.set()
        if self.online is not None:
            self.online.stop(sig)
        with contextlib.suppress(Exception):
            self.log.warning("stopping: batches in flight keep running; run the same command again to collect them")

    def limiter_states(self) -> dict[str, Any]:
        return self.online.limiter_states() if self.online is not None else {}

    def summary_lines(self) -> str:
        return summary_lines(self.totals, self.calls)

    def summary(self, limiters: dict[str, LimiterState]) -> ProviderBatchSummary:
        """`--summary-json`: the online mode's summary plus the per-provider batch figures."""
        return provider_batch_summary(self.stats.summary(limiters), self.totals, self.calls)

    # -- planning -------------------------------------------------------------------------

    async def _plan(self, stack: AsyncExitStack) -> set[JobId]:
        """Which jobs go through a batch API, which run online; the state re-read; lines owed written."""
        jobs = read_jobs(self.options.jobs)
        previous, unreadable = read_previous(self.options.output)
        if unreadable:
            self.log.warning("unreadable lines in the results file were ignored", lines=unreadable)
        self.batches = self.db.batches()
        for entry in self.batches:
            if entry.phase in ("intent", "uploaded"):
                entry.resumed_from_crash = True  # it may exist at the provider: look before submitting
        self.stats.total = len(jobs)
        selected = self.options.batch_providers
        online: set[JobId] = set()
        for seq, job in enumerate(jobs):
            key = job_key(job.id)
            earlier = previous.get(job.id)
            if earlier is not None and earlier.final:
                self.stats.skipped += 1
                continue
            if not self._batchable(job, selected):
                if selected is not None and job.provider in selected:
                    self._write_unsupported(job)
                else:
                    online.add(job.id)
                continue
            _, document = parse_job_line(job.raw, job.line)
            parsed = parse_job(PROBE, document)
            clear_job()  # parse_job binds the job's ids: this run has many
            if isinstance(parsed, WorkerFailure):
                self._write(job.id, parsed, cost_known=True)
                continue
            route = resolve_model(parsed.model_id)
            api = choose_api(BY_NAME[route.provider], route.model, parsed.model_settings)
            if api.api not in transport_class(route.provider).apis:
                self.log.info("job runs online: its API is not batched here", jobId=job.id, api=api.api)
                online.add(job.id)
                continue
            if parsed.resume_response_id is not None:  # a background response to re-attach to: online only
                self.log.info("job runs online: it re-attaches to a background response", jobId=job.id)
                online.add(job.id)
                continue
            if not self.db.place_job(self.process, key, seq, job.line, job.raw, route.provider, route.model):
                turns = (earlier.prior_turns if earlier is not None else None) or parsed.prior_turns or []
                state = JobState(turns=list(turns), started_at=_now_iso())
                self.db.add_job(self.process, key, seq, job.line, job.raw, route.provider, route.model, state)
                if earlier is not None:
                    self.stats.resumed += 1
        del jobs, previous
        self.db.keep_only(self.process)  # the rest is no longer in the jobs file, or finished: nothing to do
        await self._lease(stack)
        leased = tuple(self.providers)
        if leased:
            where = f"finished = 0 AND turns > 0 AND provider IN ({','.join('?' * len(leased))})"
            for keys in self.db.pages(where, leased):
                for tracked in self._load(keys):
                    self._check_resumable(tracked)
        self._save()  # and the lines of jobs that finished before a kill, perhaps not written
        return online

    def _batchable(self, job: BatchJob, selected: frozenset[str] | None) -> bool:
        return job.provider in TRANSPORTS and (selected is None or job.provider in selected)

    def _write_unsupported(self, job: BatchJob) -> None:
        record = BY_NAME.get(job.provider)
        has_api = record is not None and record.batch_api is not None
        reason = (
            f"{job.provider}'s batch API ({record.batch_api}) is not supported by this worker yet"
            if has_api and record is not None
            else f"{job.provider} has no batch API"
        )
        error = WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"--via provider-batch names {job.provider}, but {reason}: run its jobs online (leave it out of"
            f" --via provider-batch=...; supported: {', '.join(TRANSPORTS)})",
            details={"field": "--via", "provider": job.provider},
        )
        self._write(job.id, WorkerFailure.from_error(error), cost_known=True)

    async def _lease(self, stack: AsyncExitStack) -> None:
        """One provider (SDK client) per provider for the whole run; a missing key fails its jobs."""
        for name in self.db.providers():
            try:
                provider = await stack.enter_async_context(self.pool.lease(name))
            except WorkerError as error:
                for keys in self.db.pages("finished = 0 AND provider = ?", (name,)):
                    for tracked in self._load(keys):
                        self._finish_job(tracked, error)
                        self._keep(tracked)
                continue
            self.providers[name] = provider
            self.transports[name] = transport_class(name)(provider)
            self.stats_for(name)

    def _check_resumable(self, tracked: Tracked) -> None:
        """Turns from an earlier result that no longer match the scenario: start the job over."""
        state = tracked.state
        try:
            self._runner(tracked)
        except WorkerError as error:
            if state.turns and str(error.details.get("field", "")).startswith("priorTurns"):
                self.log.warning("earlier partial transcript no longer matches the scenario; starting over")
                state.turns, state.warnings = [], []
            else:
                self._finish_job(tracked, error)
            self._keep(tracked)

    # -- conversations ----------------------------------------------------------------------

    def _load(self, keys: list[str]) -> list[Tracked]:
        """These jobs read back from the state: each line parsed again, with its turns so far."""
        loaded: list[Tracked] = []
        for stored in self.db.load_jobs(keys):
            job_id, document = parse_job_line(stored.raw, stored.line)
            parsed = parse_job(PROBE, document)
            clear_job()
            if isinstance(parsed, WorkerFailure):  # it parsed when it was placed: the state is not ours
                raise RuntimeError(f"job {stored.key} of the provider-batch state no longer parses")
            loaded.append(Tracked(stored.key, job_id, parsed, ModelRoute(stored.provider, stored.model), stored.state))
        return loaded

    def _keep(self, tracked: Tracked) -> None:
        """A job's changed state, into the step's transaction."""
        self.db.save_job(tracked.key, tracked.state)

    def _runner(self, tracked: Tracked) -> ProbeRunner:
        """The conversation as it stands: the job with its turns so far replayed (the online steps)."""
        state = tracked.state
        probe = tracked.probe.model_copy(update={"prior_turns": list(state.turns) or None})
        runner = for_batch(ProbeRunner(probe, tracked.route, self.providers[tracked.route.provider], clock=self.clock))
        runner.begin()
        if state.warnings:
            runner.state.warnings = list(state.warnings)
        runner.state.started_at = state.started_at
        if state.param_rejections:
            tracked.adjustments = self._replay_rejections(runner, state.param_rejections)
        return runner

    def _replay_rejections(self, runner: ProbeRunner, rejections: list[ErrorInfo]) -> tuple[ParamNote, ...]:
        """The current turn's rejections applied again, in order, as online applied them when they came."""
        notes: list[ParamNote] = []
        for rejection in rejections:
            adjusted = self._adjustment(runner, rejection.to_error())
            if adjusted is not None:  # (always: the same error on the same parameters)
                runner.params, note = adjusted
                notes.append(note)
        return tuple(notes)

    @staticmethod
    def _adjustment(runner: ProbeRunner, error: WorkerError) -> tuple[GenerationParams, ParamNote] | None:
        """Online's answer to a parameter rejection of the turn's request as the runner builds it now."""
        from common.probe.param_fallback import adjust_after_rejection  # failure-only, as online

        planned = runner.next_turn()
        if planned is None:
            return None
        mapping = runner.request_for(planned).params
        return adjust_after_rejection(
            error, runner.params, runner.provider, runner.route.model, mapping.sent, reasoning_sent=mapping.reasoning
        )

    def _document(self, tracked: Tracked) -> ProbeResult:
        state = tracked.state
        assert state.finished is not None
        provider = self.providers.get(tracked.route.provider)
        result: ProbeResult
        if provider is None:  # its provider could not be leased: nothing ran
            assert state.finished.error is not None
            return WorkerFailure(error=state.finished.error)
        try:
            runner = self._runner(tracked)
        except WorkerError as error:
            return WorkerFailure.from_error(error)
        if state.finished.error is None:
            result = ProbeSuccess(transcript=runner.transcript())
        else:
            result = runner.failure(state.finished.error.to_error())
        transcript = result.transcript if isinstance(result, ProbeSuccess) else result.partial_transcript
        if transcript is not None:
            transcript.completed_at = state.finished.completed_at
            batch_priced(transcript, tracked.probe.model_cost)
        return result

    def _finish_job(self, tracked: Tracked, error: WorkerError | None) -> None:
        """Marks the job finished in the state; its line is written once that state is saved."""
        state = tracked.state
        if error is not None:
            error.details.setdefault("attempts", state.attempts)
        state.finished = Finished(
            error=ErrorInfo.from_error(error) if error is not None else None, completed_at=_now_iso()
        )
        state.pending = None

    def _write(self, job_id: JobId, result: ProbeResult, *, cost_known: bool) -> None:
        self.writer.write(self.options.output, render_result_line(job_id, result))
        self.stats.finished(result, cost_known=cost_known)
        if self.bar is not None:
            self.bar.job_done()

    # -- the loop ------------------------------------------------------------------------

    async def _drive(self) -> None:
        await self._reattach()
        if self.cancelling:
            await self._cancel_all()
        interval = self.options.poll_interval_s
        while not self.stopping:
            if not self.cancelling:
                self._plan_wave()
            await self._submit_pending()
            if self.stopping:
                return
            active = [entry for entry in self.batches if entry.phase == "submitted"]
            waiting = [entry for entry in self.batches if entry.phase in ("intent", "uploaded")]
            if not active and not waiting:
                if self.cancelling or not self.db.ready_groups(tuple(self.transports)):
                    break
                continue
            if active and await self._poll(active):
                interval = self.options.poll_interval_s
                continue
            await self._sleep(interval)
            interval = min(max(interval, 0.001) * POLL_BACKOFF, MAX_POLL_INTERVAL_S)
        if self.cancelling and not self.stopping:
            self._cancel_unfinished()

    async def _sleep(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)

    def _commit(self) -> None:
        """The step's changes and the batch entries, in one transaction (what was one whole-file save)."""
        self.db.save_batches(self.batches)
        self.db.commit()

    def _save(self) -> None:
        self._commit()
        self._write_owed()

    def _write_owed(self) -> None:
        """The lines of the jobs the saved state says finished, a chunk at a time; then their rows go."""
        while keys := self.db.finished_keys():
            for tracked in self._load(keys):
                result = self._document(tracked)
                cost_known = tracked.probe.model_cost is not None or not tracked.state.turns
                self._write(tracked.job_id, result, cost_known=cost_known)
            self.db.delete_jobs(keys)
            self.db.commit()
        applied = [entry for entry in self.batches if entry.phase == "applied"]
        if applied:
            for entry in applied:
                self.db.delete_batch(entry.tag, entry.batch_id)
                self._drop_input(entry.tag)
            self.batches = [entry for entry in self.batches if entry.phase != "applied"]
            self.db.commit()
        if self.bar is not None:
            self.bar.update_batches(self.batches, self.clock.monotonic())

    def _mark(self) -> WaitMark:
        return WaitMark(clock_s=self.clock.monotonic(), unix_s=time.time(), process=self.process)

    # -- waves -----------------------------------------------------------------------------

    def _plan_wave(self) -> None:
        """Intents for the next turn of every ready job, one batch per provider+model (split at the limits).

        Jobs are read a page at a time and each request is streamed to its batch's input file,
        so neither the conversations nor the wave's input are ever all in memory."""
        groups = self.db.ready_groups(tuple(self.transports))
        if not groups:
            return
        for provider, model in groups:
            transport = self.transports[provider]
            wave = self.db.next_wave(f"{provider} {model}")
            building: dict[str, Building | None] = {}  # by API: one endpoint per batch (OpenAI chat / responses)
            where = "finished = 0 AND pending IS NULL AND provider = ? AND model = ?"
            try:
                for keys in self.db.pages(where, (provider, model)):
                    for tracked in self._load(keys):
                        api = choose_api(BY_NAME[provider], model, tracked.probe.model_settings).api
                        building[api] = self._add_request(transport, wave, building.get(api), tracked)
                        self._keep(tracked)
            finally:
                for open_batch in building.values():
                    if open_batch is not None:
                        self._close_batch(open_batch)
        self._save()  # the intents, before any of them is submitted

    def _add_request(
        self, transport: BatchTransport, wave: int, building: Building | None, tracked: Tracked
    ) -> Building:
        if building is None:
            building = self._open_batch(transport, tracked.route.model, wave)
        request = self._request(transport, tracked, building.entry.custom_id(building.entry.count))
        if request is None:
            return building
        line = entry_bytes(request.entry)
        if len(line) > transport.max_bytes:
            self._finish_job(
                tracked,
                WorkerError(
                    ErrorCode.BAD_REQUEST,
                    f"turn {request.turn} is {len(line):,} bytes as a batch request: more than the"
                    f" {transport.max_bytes:,} bytes one {transport.name} batch may hold",
                    details={"turn": request.turn, "bytes": len(line), "limitBytes": transport.max_bytes},
                ),
            )
            return building
        if not building.fits(len(line), transport.max_requests):
            self._close_batch(building)
            building = self._open_batch(transport, tracked.route.model, wave)
            request.entry["custom_id"] = building.entry.custom_id(0)  # both documented shapes carry it on top
            line = entry_bytes(request.entry)
        index = building.entry.count
        building.handle.write(line)
        building.size += len(line)
        building.entry.count += 1
        self.db.add_requests(building.entry.tag, [BatchRequest(index, tracked.key, request.turn)])
        tracked.state.pending = building.entry.tag
        tracked.state.attempts += 1
        return building

    def _open_batch(self, transport: BatchTransport, model: str, wave: int) -> Building:
        assert self.scratch is not None
        tag = "pb" + uuid.uuid4().hex[:20]
        entry = BatchEntry(tag=tag, provider=transport.name, model=model, wave=wave, count=0, intent_at=time.time())
        path = self.scratch / f"{tag}.jsonl"
        limit = min(transport.max_bytes, INLINE_BATCH_BYTES) if transport.inline else transport.max_bytes
        return Building(entry, path, path.open("wb"), limit)

    def _close_batch(self, building: Building) -> None:
        building.handle.close()
        if building.entry.count == 0:  # every job it was opened for finished instead
            building.path.unlink(missing_ok=True)
            return
        self.batches.append(building.entry)
        self.inputs[building.entry.tag] = BatchInput(building.path, building.entry.count)

    def _request(self, transport: BatchTransport, tracked: Tracked, custom_id: str) -> WaveRequest | None:
        """The job's next turn as a batch entry (built by the online steps); None if it just finished."""
        try:
            runner = self._runner(tracked)
            planned = runner.next_turn()
            if planned is None:
                self._finish_job(tracked, None)
                return None
            entry = transport.entry(custom_id, runner.request_for(planned), runner.api.api)
        except WorkerError as error:
            self._finish_job(tracked, error)
            return None
        tracked.state.warnings = list(runner.state.warnings)
        return WaveRequest(planned.number, entry)

    def _payload(self, entry: BatchEntry) -> BatchInput:
        """The input file of an intent: written this process, or rebuilt from the state after a restart."""
        built = self.inputs.get(entry.tag)
        if built is not None and built.path.exists():
            return built
        assert self.scratch is not None
        transport = self.transports[entry.provider]
        path = self.scratch / f"{entry.tag}.jsonl"
        with path.open("wb") as handle:
            for page in self.db.requests(entry.tag):
                loaded = {tracked.key: tracked for tracked in self._load([request.key for request in page])}
                for request in page:
                    tracked = loaded.get(request.key)
                    rebuilt = self._request(transport, tracked, entry.custom_id(request.index)) if tracked else None
                    if rebuilt is None:  # cannot happen for an unchanged job: it was requestable at the intent
                        raise RuntimeError(f"job {request.key} of batch intent {entry.tag} can no longer be requested")
                    handle.write(entry_bytes(rebuilt.entry))
        built = self.inputs[entry.tag] = BatchInput(path, entry.count)
        return built

    def _drop_input(self, tag: str) -> None:
        built = self.inputs.pop(tag, None)
        if built is not None:
            built.path.unlink(missing_ok=True)

    def _batch_jobs(self, entry: BatchEntry) -> Iterator[Tracked]:
        """The jobs whose current request is in this batch, a page at a time (their changes kept by the caller)."""
        for page in self.db.requests(entry.tag):
            for tracked in self._load([request.key for request in page]):
                if tracked.state.pending == entry.tag:
                    yield tracked

    # -- submitting ---------------------------------------------------------------------------

    async def _reattach(self) -> None:
        """Intents from before a crash: the batch may exist already (created, but its id not saved)."""
        known = {entry.batch_id for entry in self.batches if entry.batch_id} | self.db.applied_batch_ids()
        for entry in self.batches:
            if entry.phase == "submitted":
                self.stats_for(entry.provider).reattached += 1
            if not entry.resumed_from_crash or entry.provider not in self.transports:
                continue
            await self._look_for(entry, known)
        self._save()

    async def _look_for(self, entry: BatchEntry, known: set[str]) -> bool:
        """Looks for the intent's batch at the provider; False if the provider could not be asked."""
        transport = self.transports[entry.provider]
        self.calls["list"] += 1
        try:
            found = await transport.find(entry.tag, entry.count, entry.intent_at, known)
        except Exception as exc:
            error = self.providers[entry.provider].classify(exc)
            self.log.warning("listing batches failed", provider=entry.provider, code=error.code.value)
            if not error.retryable:
                self._fail_entry(entry, error)
            return False
        entry.resumed_from_crash = False
        if found is not None:
            self.log.info("re-attached to a batch submitted before a crash", batchId=found.batch_id, tag=entry.tag)
            entry.batch_id, entry.phase = found.batch_id, "submitted"
            entry.input_file_id = entry.input_file_id or found.input_file_id
            entry.submitted_at = found.created_at
            entry.sent = self._mark()  # no earlier reading of ours: the waits end when we found it
            known.add(found.batch_id)
            self.stats_for(entry.provider).reattached += 1
            self._drop_input(entry.tag)
        return True

    def stats_for(self, provider: str) -> ProviderTotals:
        factor = BY_NAME[provider].batch_price_factor or 1.0
        return self.totals.setdefault(provider, ProviderTotals(price_factor=factor))

    async def _submit_pending(self) -> None:
        for entry in [e for e in self.batches if e.phase in ("intent", "uploaded")]:
            if self.stopping:
                return
            if entry.provider not in self.transports:
                continue
            if entry.resumed_from_crash:  # an earlier try may have created it: look first
                looked = await self._look_for(entry, {e.batch_id for e in self.batches if e.batch_id})
                if not looked or entry.phase not in ("intent", "uploaded"):
                    self._save()
                    continue
            await self._submit(entry)

    async def _submit(self, entry: BatchEntry) -> None:
        transport = self.transports[entry.provider]
        payload = self._payload(entry)

        async def uploaded(file_id: str) -> None:
            self.calls["upload"] += 1
            entry.input_file_id, entry.phase = file_id, "uploaded"
            self._commit()

        try:
            submitted = await transport.submit(entry.tag, entry.model, payload, uploaded)
        except Exception as exc:
            error = self.providers[entry.provider].classify(exc)
            self._submit_failed(entry, error)
            return
        self.calls["create"] += 1
        entry.batch_id, entry.phase, entry.submitted_at = submitted.batch_id, "submitted", submitted.created_at
        entry.sent = self._mark()
        self._save()
        self._drop_input(entry.tag)
        totals = self.stats_for(entry.provider)
        totals.batches += 1
        totals.requests += entry.count
        self.log.info(
            "batch submitted",
            provider=entry.provider,
            model=entry.model,
            wave=entry.wave,
            batchId=submitted.batch_id,
            requests=entry.count,
        )

    def _submit_failed(self, entry: BatchEntry, error: WorkerError) -> None:
        """The provider refused the batch (or the answer was lost): its requests fail like one request would."""
        self.log.warning("batch submission failed", provider=entry.provider, code=error.code.value, tag=entry.tag)
        # A lost answer may hide a created batch: the next try looks for it first.
        entry.resumed_from_crash = error.retryable
        if not error.retryable:
            self._fail_entry(entry, error)
            return
        if any(tracked.state.attempts >= self.options.max_attempts for tracked in self._batch_jobs(entry)):
            self._fail_entry(entry, error)
            return
        for tracked in self._batch_jobs(entry):
            tracked.state.attempts += 1
            self._keep(tracked)
        self._commit()

    def _fail_entry(self, entry: BatchEntry, error: WorkerError) -> None:
        for tracked in self._batch_jobs(entry):
            self._settle_wait(tracked.state, entry)
            self._finish_job(tracked, WorkerError(error.code, error.message, details=dict(error.details)))
            self._keep(tracked)
        entry.phase = "applied"
        self._save()

    def _settle_wait(self, state: JobState, entry: BatchEntry) -> None:
        """A retried request's wait, from its failed wave's end to this batch's submission, into its retry record."""
        mark = state.waiting
        if mark is None:
            return
        state.waiting = None
        if not state.retries:
            return
        sent = entry.sent or self._mark()
        same_clock = sent.process == mark.process
        waited = sent.clock_s - mark.clock_s if same_clock else sent.unix_s - mark.unix_s
        state.retries[-1].waited_ms = max(0, round(waited * 1000))

    # -- polling and results -----------------------------------------------------------------

    async def _poll(self, active: list[BatchEntry]) -> bool:
        """One look at every batch in flight; True when one ended (its results are applied)."""
        ended = False
        for entry in active:
            if self.stopping:
                return ended
            transport = self.transports.get(entry.provider)
            if transport is None or entry.batch_id is None:
                continue
            self.calls["poll"] += 1
            try:
                status = await transport.status(entry.batch_id)
            except Exception as exc:
                error = self.providers[entry.provider].classify(exc)
                self.log.warning("batch poll failed", batchId=entry.batch_id, code=error.code.value)
                if not error.retryable:
                    self._fail_entry(entry, error)
                continue
            entry.status, entry.counts = status.status, status.counts
            if status.terminal:
                try:
                    await self._apply(entry, status)
                except Exception as exc:  # the download broke: the batch stays submitted, read again next poll
                    error = self.providers[entry.provider].classify(exc)
                    self.log.warning("batch results download failed", batchId=entry.batch_id, code=error.code.value)
                    if not error.retryable:
                        self._fail_entry(entry, error)
                    continue
                ended = True
        if self.bar is not None:
            self.bar.update_batches(self.batches, self.clock.monotonic())
        return ended

    async def _apply(self, entry: BatchEntry, status: BatchStatus) -> None:
        """Reads every outcome of an ended batch as it streams in, applied a chunk at a time in one
        transaction: saved once all are in (then the lines), rolled back if the download breaks."""
        assert entry.batch_id is not None
        self._commit()  # a broken download rolls back to here, and nothing else
        transport = self.transports[entry.provider]
        self.calls["download"] += 1
        prefix = entry.tag + "-"
        request_ms = 0
        if status.ended_at is not None and entry.submitted_at is not None:
            request_ms = max(0, int((status.ended_at - entry.submitted_at) * 1000))
        tally = Tally()
        seen = bytearray(entry.count)
        chunk: dict[int, Outcome | None] = {}
        try:
            async for read in transport.results(entry.batch_id, status):
                number = read.custom_id.removeprefix(prefix)
                if read.custom_id.startswith(prefix) and number.isdigit() and int(number) < entry.count:
                    chunk[int(number)] = read  # ours: tag and index
                    if len(chunk) >= CHUNK:
                        self._apply_chunk(entry, status, chunk, seen, request_ms, tally)
                        chunk = {}
            self._apply_chunk(entry, status, chunk, seen, request_ms, tally)
            for page in self.db.requests(entry.tag):  # the requests it returned nothing for
                missing = {request.index: None for request in page if not seen[request.index]}
                if missing:
                    self._apply_chunk(entry, status, missing, seen, request_ms, tally)
        except BaseException:
            self.db.rollback()
            raise
        entry.phase = "applied"
        entry.ended_at = status.ended_at
        self._count(entry.provider, tally)
        self._save()

    def _apply_chunk(
        self,
        entry: BatchEntry,
        status: BatchStatus,
        outcomes: Mapping[int, Outcome | None],
        seen: bytearray,
        request_ms: int,
        tally: Tally,
    ) -> None:
        if not outcomes:
            return
        for page in self.db.requests(entry.tag, sorted(outcomes)):
            loaded = {tracked.key: tracked for tracked in self._load([request.key for request in page])}
            for request in page:
                seen[request.index] = 1
                tracked = loaded.get(request.key)
                if tracked is None or tracked.state.pending != entry.tag:
                    continue
                self._resolve(tracked, entry, status, request.index, outcomes[request.index], request_ms, tally)
                self._keep(tracked)

    def _resolve(
        self,
        tracked: Tracked,
        entry: BatchEntry,
        status: BatchStatus,
        index: int,
        outcome: Outcome | None,
        request_ms: int,
        tally: Tally,
    ) -> None:
        """One request's outcome into its job: the turn recorded, a retry planned, or the job ended."""
        assert entry.batch_id is not None
        state = tracked.state
        state.pending = None
        self._settle_wait(state, entry)
        if outcome is not None:  # what the batch said of this request, even in a batch that failed later
            error: WorkerError | None = outcome.error
        elif status.batch_error is not None:  # a failed batch's error, for each request it gave no result
            error = WorkerError(
                status.batch_error.code, status.batch_error.message, details=dict(status.batch_error.details)
            )
        elif status.cancelled:
            error = cancelled_error(entry.provider, entry.batch_id)
        elif status.expired:
            error = expired_error(entry.provider, entry.batch_id)
        else:
            error = missing_error(entry.provider, entry.batch_id)
        if error is None and outcome is not None and outcome.response is not None:
            error = self._record(tracked, entry, outcome, entry.custom_id(index), request_ms, tally)
            if error is None:
                tally.succeeded += 1
                return
        assert error is not None
        tally.failed += 1
        error.details.setdefault("batchId", entry.batch_id)
        self._failed(tracked, error)

    def _record(
        self, tracked: Tracked, entry: BatchEntry, outcome: Outcome, custom_id: str, request_ms: int, tally: Tally
    ) -> WorkerError | None:
        assert outcome.response is not None
        state = tracked.state
        try:
            runner = self._runner(tracked)
            planned = runner.next_turn()
            if planned is None:
                raise WorkerError(ErrorCode.UNKNOWN, "a batch answered a turn the conversation does not have")
            request = runner.request_for(planned)
            stats = CallStats(
                attempts=max(1, state.attempts),
                retries=[Retry(r.attempt, r.code, r.status_code, r.waited_ms) for r in state.retries],
                request_ms=request_ms,
            )
            turn = runner.accept_turn(
                planned,
                request,
                outcome.response,
                stats,
                self.clock.monotonic() - request_ms / 1000,
                tracked.adjustments,
            )
        except WorkerError as error:
            return error
        meta = turn.provider_metadata
        meta.via = "batch"
        meta.batch_id = entry.batch_id
        meta.batch_request_id = outcome.request_id or custom_id
        meta.batch_custom_id = custom_id
        state.turns.append(turn)
        if not self.cancelling:  # (a --cancel run leaves every job it touches CANCELLED, as it always has)
            runner.state.turns.append(turn)  # as the online path does: so the last turn ends the job here
        state.warnings = list(runner.state.warnings)
        state.attempts, state.retries, state.last_error, state.param_rejections = 0, [], None, []
        tally.requests += 1
        tally.input_tokens += turn.input_tokens
        tally.output_tokens += turn.output_tokens
        cost = tracked.probe.model_cost
        if cost is not None:
            tally.online_cost += (
                turn.input_tokens * cost.cost_input_per_million / 1e6
                + turn.output_tokens * cost.cost_output_per_million / 1e6
            )
        if runner.next_turn() is None:
            self._finish_job(tracked, None)
        return None

    def _count(self, provider: str, tally: Tally) -> None:
        """An applied batch's figures, into the run's and the provider's totals."""
        totals = self.stats_for(provider)
        totals.succeeded += tally.succeeded
        totals.failed += tally.failed
        totals.online_cost += tally.online_cost
        totals.cost += tally.online_cost * totals.price_factor
        self.stats.input_tokens += tally.input_tokens
        self.stats.output_tokens += tally.output_tokens
        self.stats.requests += tally.requests
        self.stats.cost += tally.online_cost * totals.price_factor

    def _failed(self, tracked: Tracked, error: WorkerError) -> None:
        """A request's failure: into the next wave if retryable and attempts are left, else the job ends."""
        state = tracked.state
        if self._adjusted_for_next_wave(tracked, error):
            return
        state.retries.append(
            RetryRecord(attempt=max(1, state.attempts), code=error.code, status_code=error.status_code, waited_ms=0)
        )
        if error.retryable and state.attempts < self.options.max_attempts and not self.cancelling:
            state.last_error = ErrorInfo.from_error(error)
            state.waiting = self._mark()  # its wait for the next wave starts now (waitedMs when it is sent)
            self.log.info("request failed in its batch: it goes in the next wave", code=error.code.value)
            return
        self._finish_job(tracked, error)

    def _adjusted_for_next_wave(self, tracked: Tracked, error: WorkerError) -> bool:
        """A parameter the model refused: as online, the request goes again with it adjusted (an
        attempt, not a retry record), in the next wave; the state keeps the rejection, so a restart
        and the later turns send the adjusted parameters. False: the error is not such a refusal,
        or the turn is out of attempts or of adjustments."""
        state = tracked.state
        if (
            error.code is not ErrorCode.BAD_REQUEST
            or self.cancelling
            or state.attempts >= self.options.max_attempts
            or len(state.param_rejections) >= MAX_PARAM_RETRIES_PER_TURN
        ):
            return False
        try:
            runner = self._runner(tracked)
        except WorkerError:
            return False
        adjusted = self._adjustment(runner, error)
        if adjusted is None:
            return False
        from common.probe.param_fallback import reasoning_rejected_warning

        _, note = adjusted
        state.param_rejections.append(ErrorInfo.from_error(error))
        if (warning := reasoning_rejected_warning(note)) is not None:
            runner.state.warn(warning)
        state.warnings = list(runner.state.warnings)
        self.log.warning(
            "parameter rejected in its batch: the request goes in the next wave adjusted",
            param=note.param,
            action=note.action,
        )
        return True

    # -- cancelling ---------------------------------------------------------------------------

    async def _cancel_all(self) -> None:
        """`--cancel`: every batch in flight is cancelled; what they answered first is kept."""
        known = {entry.batch_id for entry in self.batches if entry.batch_id} | self.db.applied_batch_ids()
        for entry in list(self.batches):
            if entry.provider not in self.transports:
                continue
            if (
                entry.phase in ("intent", "uploaded")
                and entry.resumed_from_crash
                and not await self._look_for(entry, known)
            ):
                continue
            if entry.phase in ("intent", "uploaded"):  # never submitted: nothing to cancel
                for tracked in self._batch_jobs(entry):
                    tracked.state.pending = None
                    self._keep(tracked)
                entry.phase = "applied"
                continue
            if entry.phase == "submitted" and entry.batch_id is not None and not entry.cancel_requested:
                self.calls["cancel"] += 1
                try:
                    await self.transports[entry.provider].cancel(entry.batch_id)
                except Exception as exc:
                    error = self.providers[entry.provider].classify(exc)
                    self.log.warning("batch cancel failed", batchId=entry.batch_id, code=error.code.value)
                    continue
                entry.cancel_requested = True
                self.stats_for(entry.provider).cancelled += 1
                self.log.info("batch cancel requested", batchId=entry.batch_id)
        self._save()

    def _cancel_unfinished(self) -> None:
        leased = tuple(self.providers)
        if leased:
            where = f"finished = 0 AND provider IN ({','.join('?' * len(leased))})"
            for keys in self.db.pages(where, leased):
                for tracked in self._load(keys):
                    state = tracked.state
                    if not (state.turns or state.attempts or state.retries):
                        continue
                    self._finish_job(tracked, WorkerError(ErrorCode.CANCELLED, CANCELLED_BY_USER))
                    self._keep(tracked)
        self._save()
