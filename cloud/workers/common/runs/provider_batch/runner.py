"""`batch.py --via provider-batch`: every turn of every job through its provider's batch API, in waves.

Wave n of a provider+model holds the next turn of every conversation of that model that is
ready (turn 1 of all of them at first; then turn 2, built by the same `ProbeRunner` steps
as online from the turn-1 answers; and so on), split at the provider's documented limits.
A retryable per-request failure goes out again in the model's next wave (up to
`--max-attempts` waves per turn); anything else ends the job with its code and partial
transcript. Jobs of providers without a batch transport run online in the same command,
through the online `BatchRunner`.

Durability (see `state`): the intent of a batch is saved before any call, its ids as soon
as the provider gives them, and its results are applied to the jobs' turns in one save
before any result line is written. A restart re-attaches to every submitted batch, looks
for an intent's batch by its tag before submitting it (the window between the provider's
answer and our save), and never downloads an applied batch again. A job's result line is
written only after the state that says it finished is saved; a kill in between writes it
again at the next start (the results file keeps the last line of an id).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from common.contract.probe import (
    CostSnapshot,
    ErrorInfo,
    ProbeJob,
    ProbeSuccess,
    RetryRecord,
    Transcript,
    WorkerFailure,
)
from common.errors.codes import ErrorCode, WorkerError
from common.errors.retry import CallStats, Clock, Retry, SystemClock
from common.io.log import get_logger
from common.probe.conversation import ProbeRunner
from common.providers.apis import choose_api
from common.providers.base import Provider
from common.providers.pool import ProviderPool
from common.providers.records import BY_NAME
from common.providers.registry import ModelRoute, resolve_model
from common.runs.batch.files import BatchJob, compact, read_jobs, read_previous
from common.runs.batch.options import BatchOptions
from common.runs.batch.progress import BatchStats
from common.runs.batch.runner import EXIT_DONE, EXIT_RETRYABLE_LEFT, BatchRunner
from common.runs.lines import JobId, parse_job_line, render_result_line
from common.runs.probe_worker import PROBE
from common.runs.provider_batch.progress import BatchBar, ProviderTotals, summary_lines
from common.runs.provider_batch.state import (
    BatchEntry,
    Finished,
    JobState,
    RunState,
    load_state,
    remove_state,
    save_state,
    state_path,
)
from common.runs.provider_batch.transport import (
    BatchStatus,
    BatchTransport,
    Outcome,
    cancelled_error,
    entry_bytes,
    expired_error,
    missing_error,
)
from common.runs.run_path import parse_job
from common.runs.stop_signals import begin_stop, install_stop_signals, remove_stop_signals

# The providers whose batch API this worker speaks (module:class, imported only when used).
TRANSPORTS: dict[str, str] = {
    "openai": "common.runs.provider_batch.openai_batches:OpenAIBatches",
    "anthropic": "common.runs.provider_batch.anthropic_batches:AnthropicBatches",
    "google": "common.runs.provider_batch.gemini_batches:GeminiBatches",
    "mistral": "common.runs.provider_batch.mistral_batches:MistralBatches",
}
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


@dataclass
class Tracked:
    """A job of this run that goes through a batch API."""

    job: BatchJob
    key: str
    probe: ProbeJob
    route: ModelRoute


@dataclass
class WaveRequest:
    key: str
    turn: int
    entry: Any
    size: int


@dataclass
class Chunk:
    entries: list[WaveRequest] = field(default_factory=list)
    size: int = 0


class ProviderBatchRunner:
    def __init__(self, options: BatchOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or SystemClock()
        self.stats = BatchStats()
        self.totals: dict[str, ProviderTotals] = {}
        self.log = get_logger(worker="batch", via="provider-batch")
        self.state_file = state_path(options.output)
        self.state = RunState()
        self.pool = ProviderPool()
        self.providers: dict[str, Provider] = {}
        self.transports: dict[str, BatchTransport] = {}
        self.tracked: dict[str, Tracked] = {}
        self.payloads: dict[str, list[Any]] = {}  # tag -> entries built this process (else rebuilt)
        self.writer = AppendingWriter()
        self.online: OnlineRunner | None = None
        self.bar: BatchBar | None = None
        self.stopping = False
        self.cancelling = options.cancel
        self.stop_event = asyncio.Event()
        self.exit_code = EXIT_DONE
        self.calls: Counter[str] = Counter()  # provider calls this process made, by kind

    # -- the run ------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> int:
        self.stats.started = time.monotonic()
        installed = install_stop_signals(self.stop) if handle_signals else []
        online_task: asyncio.Task[int] | None = None
        try:
            async with AsyncExitStack() as stack:
                online_ids = await self._plan(stack)
                if online_ids and not self.options.cancel:
                    online_options = replace(self.options, progress=False)
                    self.online = OnlineRunner(online_options, online_ids, clock=self.clock)
                    online_task = asyncio.create_task(self.online.run(), name="online-jobs")
                self.bar = BatchBar(len(self.tracked), enabled=self.options.progress)
                await self._drive()
                if online_task is not None:
                    await online_task
        finally:
            remove_stop_signals(installed)
            if self.bar is not None:
                self.bar.close()
            await self.pool.aclose()
        self._merge_online()
        return self._finish()

    def _finish(self) -> int:
        unfinished = [key for key, job in self.state.jobs.items() if job.finished is None]
        if self.stopping:
            save_state(self.state_file, self.state)
            return self.exit_code
        if unfinished or any(entry.phase != "applied" for entry in self.state.batches):
            save_state(self.state_file, self.state)
        else:
            remove_state(self.state_file)
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

    # -- planning -------------------------------------------------------------------------

    async def _plan(self, stack: AsyncExitStack) -> set[JobId]:
        """Which jobs go through a batch API, which run online; the state re-read; lines owed written."""
        jobs = read_jobs(self.options.jobs)
        previous, unreadable = read_previous(self.options.output)
        if unreadable:
            self.log.warning("unreadable lines in the results file were ignored", lines=unreadable)
        loaded = load_state(self.state_file)
        if loaded is not None:
            self.state = loaded
            for entry in loaded.batches:
                if entry.phase in ("intent", "uploaded"):
                    entry.resumed_from_crash = True  # it may exist at the provider: look before submitting
        self.stats.total = len(jobs)
        selected = self.options.batch_providers
        online: set[JobId] = set()
        known: set[str] = set()
        for job in jobs:
            key = job_key(job.id)
            earlier = previous.get(job.id)
            if earlier is not None and earlier.final:
                self.stats.skipped += 1
                self.state.jobs.pop(key, None)
                continue
            if not self._batchable(job, selected):
                if selected is not None and job.provider in selected:
                    self._write_unsupported(job)
                else:
                    online.add(job.id)
                continue
            _, document = parse_job_line(job.raw, job.line)
            parsed = parse_job(PROBE, document)
            structlog.contextvars.clear_contextvars()  # parse_job binds the job's ids: this run has many
            if isinstance(parsed, WorkerFailure):
                self._write(job.id, parsed, cost_known=True)
                continue
            route = resolve_model(parsed.model_id)
            api = choose_api(BY_NAME[route.provider], route.model, parsed.model_settings)
            if api.api != "chat":  # the batch path speaks Chat Completions / Messages only
                self.log.info("job runs online: its API is not batched here", jobId=job.id, api=api.api)
                online.add(job.id)
                continue
            known.add(key)
            state = self.state.jobs.get(key)
            if state is None:
                turns = (earlier.prior_turns if earlier is not None else None) or parsed.prior_turns or []
                state = self.state.jobs[key] = JobState(turns=list(turns), started_at=_now_iso())
                if earlier is not None:
                    self.stats.resumed += 1
            self.tracked[key] = Tracked(job, key, parsed, route)
        for key in [k for k in self.state.jobs if k not in known]:
            del self.state.jobs[key]  # no longer in the jobs file (or finished): nothing to do for it
        await self._lease(stack)
        for key in list(self.tracked):
            self._check_resumable(key)
        for key, tracked in list(self.tracked.items()):
            state = self.state.jobs[key]
            if state.finished is not None:  # finished before a kill, its line perhaps not written
                self._write_finished(tracked, state)
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
        for name in sorted({tracked.route.provider for tracked in self.tracked.values()}):
            try:
                provider = await stack.enter_async_context(self.pool.lease(name))
            except WorkerError as error:
                for key, tracked in list(self.tracked.items()):
                    if tracked.route.provider == name:
                        self._finish_job(tracked, self.state.jobs[key], error)
                continue
            module_name, _, class_name = TRANSPORTS[name].partition(":")
            cls: type[BatchTransport] = getattr(importlib.import_module(module_name), class_name)
            self.providers[name] = provider
            self.transports[name] = cls(provider)
            self.stats_for(name)

    def _check_resumable(self, key: str) -> None:
        """Turns from an earlier result that no longer match the scenario: start the job over."""
        tracked, state = self.tracked[key], self.state.jobs[key]
        if state.finished is not None or tracked.route.provider not in self.providers:
            return
        try:
            self._runner(tracked, state)
        except WorkerError as error:
            if state.turns and str(error.details.get("field", "")).startswith("priorTurns"):
                self.log.warning("earlier partial transcript no longer matches the scenario; starting over")
                state.turns, state.warnings = [], []
                return
            self._finish_job(tracked, state, error)

    # -- conversations ----------------------------------------------------------------------

    def _runner(self, tracked: Tracked, state: JobState) -> ProbeRunner:
        """The conversation as it stands: the job with its turns so far replayed (the online steps)."""
        probe = tracked.probe.model_copy(update={"prior_turns": list(state.turns) or None})
        runner = ProbeRunner(probe, tracked.route, self.providers[tracked.route.provider], clock=self.clock)
        runner.begin()
        if state.warnings:
            runner.state.warnings = list(state.warnings)
        runner.state.started_at = state.started_at
        return runner

    def _document(self, tracked: Tracked, state: JobState) -> ProbeResult:
        assert state.finished is not None
        provider = self.providers.get(tracked.route.provider)
        result: ProbeResult
        if provider is None:  # its provider could not be leased: nothing ran
            assert state.finished.error is not None
            return WorkerFailure(error=state.finished.error)
        try:
            runner = self._runner(tracked, state)
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

    def _finish_job(self, tracked: Tracked, state: JobState, error: WorkerError | None) -> None:
        """Marks the job finished in the state; its line is written once that state is saved."""
        if error is not None:
            error.details.setdefault("attempts", state.attempts)
        state.finished = Finished(
            error=ErrorInfo.from_error(error) if error is not None else None, completed_at=_now_iso()
        )
        state.pending = None

    def _write_finished(self, tracked: Tracked, state: JobState) -> None:
        result = self._document(tracked, state)
        self._write(tracked.job.id, result, cost_known=tracked.probe.model_cost is not None or not state.turns)
        del self.state.jobs[tracked.key]
        del self.tracked[tracked.key]

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
            active = [entry for entry in self.state.batches if entry.phase == "submitted"]
            waiting = [entry for entry in self.state.batches if entry.phase in ("intent", "uploaded")]
            if not active and not waiting:
                if self.cancelling or not self._ready():
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

    def _ready(self) -> list[str]:
        return [
            key
            for key in self.tracked
            if (state := self.state.jobs[key]).finished is None
            and state.pending is None
            and self.tracked[key].route.provider in self.transports
        ]

    def _save(self) -> None:
        save_state(self.state_file, self.state)
        self._write_owed()

    def _write_owed(self) -> None:
        for key in [k for k, state in self.state.jobs.items() if state.finished is not None]:
            tracked = self.tracked.get(key)
            if tracked is not None:
                self._write_finished(tracked, self.state.jobs[key])
        self.state.batches = [entry for entry in self.state.batches if entry.phase != "applied"]
        if self.bar is not None:
            self.bar.update_batches(self.state.batches, self.clock.monotonic())

    # -- waves -----------------------------------------------------------------------------

    def _plan_wave(self) -> None:
        """Intents for the next turn of every ready job, one batch per provider+model (split at the limits)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for key in self._ready():
            route = self.tracked[key].route
            groups.setdefault((route.provider, route.model), []).append(key)
        if not groups:
            return
        for (provider, model), keys in groups.items():
            transport = self.transports[provider]
            wave_key = f"{provider} {model}"
            wave = self.state.next_wave.get(wave_key, 1)
            self.state.next_wave[wave_key] = wave + 1
            for chunk in self._chunks(transport, keys):
                tag = "pb" + uuid.uuid4().hex[:20]
                entries = [self._relabel(tag, index, request) for index, request in enumerate(chunk.entries)]
                entry = BatchEntry(
                    tag=tag,
                    provider=provider,
                    model=model,
                    wave=wave,
                    jobs=[request.key for request in chunk.entries],
                    turns=[request.turn for request in chunk.entries],
                    intent_at=time.time(),
                )
                for request in chunk.entries:
                    state = self.state.jobs[request.key]
                    state.pending = tag
                    state.attempts += 1
                self.state.batches.append(entry)
                self.payloads[tag] = entries
        self._save()  # the intents, before any of them is submitted

    @staticmethod
    def _relabel(tag: str, index: int, request: WaveRequest) -> Any:
        entry = request.entry
        entry["custom_id"] = f"{tag}-{index}"  # both documented entry shapes carry it at the top
        return entry

    def _chunks(self, transport: BatchTransport, keys: list[str]) -> Iterator[Chunk]:
        chunk = Chunk()
        for key in keys:
            request = self._request(transport, key)
            if request is None:
                continue
            if request.size > transport.max_bytes:
                tracked, state = self.tracked[key], self.state.jobs[key]
                self._finish_job(
                    tracked,
                    state,
                    WorkerError(
                        ErrorCode.BAD_REQUEST,
                        f"turn {request.turn} is {request.size:,} bytes as a batch request: more than the"
                        f" {transport.max_bytes:,} bytes one {transport.name} batch may hold",
                        details={"turn": request.turn, "bytes": request.size, "limitBytes": transport.max_bytes},
                    ),
                )
                continue
            if chunk.entries and (
                len(chunk.entries) >= transport.max_requests or chunk.size + request.size > transport.max_bytes
            ):
                yield chunk
                chunk = Chunk()
            chunk.entries.append(request)
            chunk.size += request.size
        if chunk.entries:
            yield chunk

    def _request(self, transport: BatchTransport, key: str, custom_id: str = "pb0-0") -> WaveRequest | None:
        """The job's next turn as a batch entry (built by the online steps); None if it just finished."""
        tracked, state = self.tracked[key], self.state.jobs[key]
        try:
            runner = self._runner(tracked, state)
            planned = runner.next_turn()
            if planned is None:
                self._finish_job(tracked, state, None)
                return None
            entry = transport.entry(custom_id, runner.request_for(planned))
        except WorkerError as error:
            self._finish_job(tracked, state, error)
            return None
        state.warnings = list(runner.state.warnings)
        # Measured with a custom_id of the longest form ours take, so a relabelled entry never grows.
        size = len(entry_bytes(entry)) + 32
        return WaveRequest(key, planned.number, entry, size)

    def _payload(self, entry: BatchEntry) -> list[Any]:
        """The entries of an intent: built this process, or rebuilt from the state after a restart."""
        built = self.payloads.pop(entry.tag, None)
        if built is not None:
            return built
        transport = self.transports[entry.provider]
        rebuilt: list[Any] = []
        for index, key in enumerate(entry.jobs):
            request = self._request(transport, key, entry.custom_id(index))
            if request is None:  # cannot happen for an unchanged job: it was requestable at the intent
                raise RuntimeError(f"job {key} of batch intent {entry.tag} can no longer be requested")
            rebuilt.append(request.entry)
        return rebuilt

    # -- submitting ---------------------------------------------------------------------------

    async def _reattach(self) -> None:
        """Intents from before a crash: the batch may exist already (created, but its id not saved)."""
        known = {entry.batch_id for entry in self.state.batches if entry.batch_id}
        for entry in self.state.batches:
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
            found = await transport.find(entry.tag, len(entry.jobs), entry.intent_at, known)
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
            known.add(found.batch_id)
            self.stats_for(entry.provider).reattached += 1
        return True

    def stats_for(self, provider: str) -> ProviderTotals:
        factor = BY_NAME[provider].batch_price_factor or 1.0
        return self.totals.setdefault(provider, ProviderTotals(price_factor=factor))

    async def _submit_pending(self) -> None:
        for entry in [e for e in self.state.batches if e.phase in ("intent", "uploaded")]:
            if self.stopping:
                return
            if entry.provider not in self.transports:
                continue
            if entry.resumed_from_crash:  # an earlier try may have created it: look first
                looked = await self._look_for(entry, {e.batch_id for e in self.state.batches if e.batch_id})
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
            save_state(self.state_file, self.state)

        try:
            submitted = await transport.submit(entry.tag, entry.model, payload, uploaded)
        except Exception as exc:
            error = self.providers[entry.provider].classify(exc)
            self._submit_failed(entry, error)
            return
        self.calls["create"] += 1
        entry.batch_id, entry.phase, entry.submitted_at = submitted.batch_id, "submitted", submitted.created_at
        self._save()
        totals = self.stats_for(entry.provider)
        totals.batches += 1
        totals.requests += len(entry.jobs)
        self.log.info(
            "batch submitted",
            provider=entry.provider,
            model=entry.model,
            wave=entry.wave,
            batchId=submitted.batch_id,
            requests=len(entry.jobs),
        )

    def _submit_failed(self, entry: BatchEntry, error: WorkerError) -> None:
        """The provider refused the batch (or the answer was lost): its requests fail like one request would."""
        self.log.warning("batch submission failed", provider=entry.provider, code=error.code.value, tag=entry.tag)
        # A lost answer may hide a created batch: the next try looks for it first.
        entry.resumed_from_crash = error.retryable
        if not error.retryable:
            self._fail_entry(entry, error)
            return
        over = [k for k in entry.jobs if self.state.jobs[k].attempts >= self.options.max_attempts]
        if over:
            self._fail_entry(entry, error)
            return
        for key in entry.jobs:
            self.state.jobs[key].attempts += 1
        save_state(self.state_file, self.state)

    def _fail_entry(self, entry: BatchEntry, error: WorkerError) -> None:
        for key in entry.jobs:
            tracked, state = self.tracked.get(key), self.state.jobs.get(key)
            if tracked is not None and state is not None and state.pending == entry.tag:
                self._finish_job(tracked, state, WorkerError(error.code, error.message, details=dict(error.details)))
        entry.phase = "applied"
        self._save()

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
            self.bar.update_batches(self.state.batches, self.clock.monotonic())
        return ended

    async def _apply(self, entry: BatchEntry, status: BatchStatus) -> None:
        """Reads every outcome of an ended batch, then records them in one save (then the lines)."""
        assert entry.batch_id is not None
        transport = self.transports[entry.provider]
        outcomes: dict[int, Outcome] = {}
        self.calls["download"] += 1
        prefix = entry.tag + "-"
        async for read in transport.results(entry.batch_id, status):
            number = read.custom_id.removeprefix(prefix)
            if read.custom_id.startswith(prefix) and number.isdigit():  # ours: tag and index
                outcomes[int(number)] = read
        request_ms = 0
        if status.ended_at is not None and entry.submitted_at is not None:
            request_ms = max(0, int((status.ended_at - entry.submitted_at) * 1000))
        totals = self.stats_for(entry.provider)
        for index, key in enumerate(entry.jobs):
            tracked, state = self.tracked.get(key), self.state.jobs.get(key)
            if tracked is None or state is None or state.pending != entry.tag:
                continue
            state.pending = None
            outcome = outcomes.get(index)
            if status.batch_error is not None:
                error: WorkerError | None = WorkerError(
                    status.batch_error.code, status.batch_error.message, details=dict(status.batch_error.details)
                )
            elif outcome is not None:
                error = outcome.error
            elif status.cancelled:
                error = cancelled_error(entry.provider, entry.batch_id)
            elif status.expired:
                error = expired_error(entry.provider, entry.batch_id)
            else:
                error = missing_error(entry.provider, entry.batch_id)
            if error is None and outcome is not None and outcome.response is not None:
                custom_id = entry.custom_id(index)
                error = self._record(tracked, state, entry, outcome, custom_id, request_ms)
                if error is None:
                    totals.succeeded += 1
                    continue
            assert error is not None
            totals.failed += 1
            error.details.setdefault("batchId", entry.batch_id)
            self._failed(tracked, state, error)
        entry.phase = "applied"
        entry.ended_at = status.ended_at
        self._save()

    def _record(
        self, tracked: Tracked, state: JobState, entry: BatchEntry, outcome: Outcome, custom_id: str, request_ms: int
    ) -> WorkerError | None:
        assert outcome.response is not None
        try:
            runner = self._runner(tracked, state)
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
                planned, request, outcome.response, stats, self.clock.monotonic() - request_ms / 1000
            )
        except WorkerError as error:
            return error
        meta = turn.provider_metadata
        meta.via = "batch"
        meta.batch_id = entry.batch_id
        meta.batch_request_id = outcome.request_id or custom_id
        meta.batch_custom_id = custom_id
        state.turns.append(turn)
        state.warnings = list(runner.state.warnings)
        state.attempts, state.retries, state.last_error = 0, [], None
        self._spend(tracked, turn.input_tokens, turn.output_tokens)
        if runner.next_turn() is None:
            self._finish_job(tracked, state, None)
        return None

    def _spend(self, tracked: Tracked, input_tokens: int, output_tokens: int) -> None:
        self.stats.input_tokens += input_tokens
        self.stats.output_tokens += output_tokens
        self.stats.requests += 1
        cost = tracked.probe.model_cost
        if cost is None:
            return
        online = input_tokens * cost.cost_input_per_million / 1e6 + output_tokens * cost.cost_output_per_million / 1e6
        totals = self.stats_for(tracked.route.provider)
        totals.online_cost += online
        totals.cost += online * totals.price_factor
        self.stats.cost += online * totals.price_factor

    def _failed(self, tracked: Tracked, state: JobState, error: WorkerError) -> None:
        """A request's failure: into the next wave if retryable and attempts are left, else the job ends."""
        state.retries.append(
            RetryRecord(attempt=max(1, state.attempts), code=error.code, status_code=error.status_code, waited_ms=0)
        )
        if error.retryable and state.attempts < self.options.max_attempts and not self.cancelling:
            state.last_error = ErrorInfo.from_error(error)
            self.log.info("request failed in its batch: it goes in the next wave", code=error.code.value)
            return
        self._finish_job(tracked, state, error)

    # -- cancelling ---------------------------------------------------------------------------

    async def _cancel_all(self) -> None:
        """`--cancel`: every batch in flight is cancelled; what they answered first is kept."""
        known = {entry.batch_id for entry in self.state.batches if entry.batch_id}
        for entry in list(self.state.batches):
            if entry.provider not in self.transports:
                continue
            if (
                entry.phase in ("intent", "uploaded")
                and entry.resumed_from_crash
                and not await self._look_for(entry, known)
            ):
                continue
            if entry.phase in ("intent", "uploaded"):  # never submitted: nothing to cancel
                for key in entry.jobs:
                    state = self.state.jobs.get(key)
                    if state is not None and state.pending == entry.tag:
                        state.pending = None
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
        for key, tracked in list(self.tracked.items()):
            state = self.state.jobs.get(key)
            if state is None or state.finished is not None or not (state.turns or state.attempts or state.retries):
                continue
            self._finish_job(tracked, state, WorkerError(ErrorCode.CANCELLED, CANCELLED_BY_USER))
        self._save()
