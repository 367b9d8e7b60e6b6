/**
 * WorkerPool: warm `probe.py --serve` processes, so interpreter and SDK start-up is paid once.
 *
 * Each process gets job lines (`{...job, id}`) on stdin and answers one `{id, result}` line
 * per job on stdout, `result` being exactly what one-shot probe.py prints; its stderr log
 * lines carry the `jobId` (see cloud/workers/common/serve.py). The pool generates the ids,
 * sends a job to the process with the fewest jobs in flight once that process has a free
 * slot (jobs beyond size x concurrency wait in memory), and resolves every job with the
 * same `SpawnResult<ProbeOutput>` as the one-shot `runProbe`.
 *
 * Honest limits of serve mode, which has no per-job cancel line:
 * - A timeout or an abort resolves the job at once (process failure `timeout`/`aborted`,
 *   retryable), but the worker keeps running it, provider calls included, until it ends
 *   (at the job's own deadline at the latest). Its slot stays taken until then, and its
 *   result line, when it comes, is logged and dropped.
 * - A process that dies (or closes its stdout) takes its jobs with it: each resolves as a
 *   retryable `crash` with the process's exit code, signal and stderr tail, and is never
 *   re-run by the pool. The process is restarted (with a back-off if it keeps dying).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { performance } from "node:perf_hooks";

import type { ProbeJob } from "./generated/probe.input.ts";
import type { ProbeOutput } from "./generated/probe.output.ts";
import { defaultPython, workerScript } from "./paths.ts";
import {
  checkWorkerDocument,
  documentResult,
  isProgress,
  isRecord,
  LineReader,
  parseLogLine,
  processFailure,
  safely,
  type ProcessFailureFields,
  type ProcessFailureReason,
  type SpawnResult,
  type StopReason,
  type WorkerLogEntry,
} from "./spawn.ts";
import { probeTimeoutMs, withPriorTurns, type ProbeRunOptions } from "./workers.ts";

export interface WorkerPoolOptions {
  /** Warm processes. Default 2. */
  size?: number;
  /** Jobs one process runs at once (its `--concurrency`). Default 8. */
  concurrency?: number;
  /** The interpreter; default as for spawnPython (PROBE_PYTHON, the repo's .venv, python3). */
  python?: string;
  /** The serve script. Default: probe.py in `workersDir`. */
  script?: string;
  /** The folder holding the worker scripts (default: this repository's cloud/workers). */
  workersDir?: string;
  cwd?: string;
  /** The processes' whole environment (default: this process's). Provider keys live here. */
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL in terminate(). Default 5000 ms. */
  killGraceMs?: number;
  /**
   * Every worker stderr line that is not progress (JSON lines parsed, each job's tagged
   * with its `jobId`), and the pool's own notes (`source: "pool"`, with the `pid`): stdout
   * lines that are not results, late results, processes that exit unexpectedly.
   */
  logger?: (entry: WorkerLogEntry) => void;
  /** How much of the end of a process's stderr a crash failure carries. Default 8192 characters. */
  stderrTailChars?: number;
}

export interface PoolProbeOptions extends Pick<ProbeRunOptions, "signal" | "onProgress" | "resume"> {
  /**
   * Give up on the job this long after it is sent to a process (time waiting in the pool's
   * queue does not count; bound that with `signal`, e.g. AbortSignal.timeout). Default:
   * the job's deadline plus 30 s, as for the one-shot runProbe.
   */
  timeoutMs?: number;
}

export interface PoolStats {
  /** One entry per process slot; `inFlight` counts jobs the worker still runs, abandoned ones included. */
  processes: Array<{ pid: number | undefined; inFlight: number }>;
  /** Jobs waiting for a free slot. */
  queued: number;
  /** Processes started to replace ones that died. */
  restarts: number;
}

type Result = SpawnResult<ProbeOutput>;

interface Job {
  id: string;
  line: string;
  timeoutMs: number;
  options: PoolProbeOptions;
  submitted: number;
  resolve: (result: Result) => void;
  /** Resolved; the worker may still be running it (timeout, abort). */
  done: boolean;
  stopped: StopReason | null;
  timer: NodeJS.Timeout | undefined;
  detach: () => void;
}

interface Member {
  slot: number;
  child: ChildProcessWithoutNullStreams;
  /** Sent and not answered yet, abandoned jobs included: the worker's busy slots. */
  jobs: Map<string, Job>;
  stderr: LineReader;
  stdinEnded: boolean;
  exited: boolean;
  /** Why the pool gave up on the process before it exited, if it did. */
  problem: string | null;
  timers: NodeJS.Timeout[];
}

const DEFAULT_SIZE = 2;
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_KILL_GRACE_MS = 5_000;
const DEFAULT_STDERR_TAIL_CHARS = 8_192;
const STDOUT_EXCERPT_CHARS = 2_000;
/** A process whose stdout ended but which is still alive this long after is killed. */
const STDOUT_CLOSED_GRACE_MS = 1_000;
const MAX_RESTART_DELAY_MS = 5_000;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`WorkerPool: ${name} must be an integer >= 1`);
  return value;
}

export class WorkerPool {
  private readonly size: number;
  private readonly concurrency: number;
  private readonly members: Array<Member | null>;
  /** Consecutive unexpected exits per slot, reset by a result line: the restart back-off. */
  private readonly crashes: number[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly queue: Job[] = [];
  /** Every job not resolved yet, by id: where progress lines go. */
  private readonly pending = new Map<string, Job>();
  private state: "open" | "closing" | "terminating" | "closed" = "open";
  private nextId = 0;
  private restarts = 0;
  private readonly closed: Promise<void>;
  private markClosed: () => void = () => {};

  constructor(private readonly options: WorkerPoolOptions = {}) {
    this.size = positiveInteger("size", options.size ?? DEFAULT_SIZE);
    this.concurrency = positiveInteger("concurrency", options.concurrency ?? DEFAULT_CONCURRENCY);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.crashes = Array.from({ length: this.size }, () => 0);
    this.members = Array.from({ length: this.size }, (_, slot) => this.start(slot));
  }

  /**
   * Runs one probe job on a warm process; resolves like the one-shot runProbe and never
   * rejects, except when the pool is already closing or closed.
   */
  runProbe(job: ProbeJob, options: PoolProbeOptions = {}): Promise<Result> {
    if (this.state !== "open") return Promise.reject(new Error(`WorkerPool is ${this.state}: it takes no new jobs`));
    const id = `job-${++this.nextId}`;
    const line = JSON.stringify({ id, ...withPriorTurns(job, options.resume) }); // id first: the worker can answer even a line it cannot parse
    return new Promise<Result>((resolve) => {
      const entry: Job = {
        id,
        line,
        timeoutMs: options.timeoutMs ?? probeTimeoutMs(job),
        options,
        submitted: performance.now(),
        resolve,
        done: false,
        stopped: null,
        timer: undefined,
        detach: () => {},
      };
      const { signal } = options;
      if (signal?.aborted) {
        this.settle(entry, this.failure(entry, "aborted", "aborted before the job was sent to a worker"));
        return;
      }
      if (signal) {
        const onAbort = (): void => this.abandon(entry, "aborted");
        signal.addEventListener("abort", onAbort, { once: true });
        entry.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.pending.set(id, entry);
      this.queue.push(entry);
      this.dispatch();
    });
  }

  /** Takes no new jobs, runs every accepted one (queued ones too), then lets the processes exit 0. */
  close(): Promise<void> {
    if (this.state === "open") {
      this.state = "closing";
      this.dispatch();
    }
    return this.closed;
  }

  /**
   * Stops now: queued jobs resolve `aborted`; each process gets SIGTERM, so its jobs answer
   * CANCELLED with their partial transcripts, and SIGKILL after `killGraceMs`.
   */
  terminate(): Promise<void> {
    if (this.state === "open" || this.state === "closing") {
      this.state = "terminating";
      for (const job of this.queue.splice(0)) {
        this.settle(job, this.failure(job, "aborted", "the pool was terminated before the job was sent to a worker"));
      }
      this.cancelRestarts();
      for (const member of this.members) {
        if (member === null || member.exited) continue;
        for (const job of member.jobs.values()) job.stopped ??= "aborted";
        member.child.kill("SIGTERM");
        const grace = this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
        member.timers.push(setTimeout(() => member.child.kill("SIGKILL"), grace));
      }
      this.checkClosed();
    }
    return this.closed;
  }

  stats(): PoolStats {
    return {
      processes: this.members.map((member) => ({ pid: member?.child.pid, inFlight: member?.jobs.size ?? 0 })),
      queued: this.queue.length,
      restarts: this.restarts,
    };
  }

  // -- processes -----------------------------------------------------------------------

  private start(slot: number): Member {
    const { options } = this;
    const env = options.env ?? process.env;
    const python = options.python ?? defaultPython(env);
    const script = options.script ?? workerScript("probe", options.workersDir);
    const child = spawn(python, [script, "--serve", "--concurrency", String(this.concurrency)], {
      cwd: options.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const member: Member = {
      slot,
      child,
      jobs: new Map(),
      stderr: new LineReader(options.stderrTailChars ?? DEFAULT_STDERR_TAIL_CHARS, (line) => this.onStderr(line)),
      stdinEnded: false,
      exited: false,
      problem: null,
      timers: [],
    };
    const stdout = new LineReader(0, (line) => this.onStdout(member, line));
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) member.problem = `could not start ${python}: ${error.message}`;
    });
    child.stdin.on("error", () => {
      // EPIPE: the process is gone; 'close' resolves its jobs.
    });
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stdout.on("end", () => {
      stdout.end();
      const check = setTimeout(() => {
        if (member.exited) return;
        member.problem = "it closed its stdout while still running, so it was killed";
        child.kill("SIGKILL");
      }, STDOUT_CLOSED_GRACE_MS);
      member.timers.push(check);
    });
    child.stderr.on("data", (chunk: Buffer) => member.stderr.push(chunk));
    child.on("close", (exitCode, signal) => this.onClose(member, exitCode, signal));
    return member;
  }

  private onStdout(member: Member, line: string): void {
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.note(member, "warning", "stdout line is not JSON; ignored", { line: line.slice(0, STDOUT_EXCERPT_CHARS) });
      return;
    }
    const rawId = isRecord(parsed) ? parsed.id : undefined;
    const job = typeof rawId === "string" ? member.jobs.get(rawId) : undefined;
    if (!isRecord(parsed) || job === undefined) {
      this.note(member, "warning", "stdout line is not a result for a job of this process; ignored", {
        line: line.slice(0, STDOUT_EXCERPT_CHARS),
      });
      return;
    }
    member.jobs.delete(job.id);
    this.crashes[member.slot] = 0;
    if (job.done) {
      this.note(member, "info", "result of an abandoned job ignored", { jobId: job.id, stopped: job.stopped });
    } else {
      clearTimeout(job.timer);
      job.detach();
      const checked = checkWorkerDocument(parsed.result, "the result");
      const outcome = { durationMs: this.elapsed(job), stopped: job.stopped };
      const result =
        "document" in checked
          ? documentResult<ProbeOutput>(checked.document, outcome)
          : this.failure(job, "invalid_output", checked.problem, { stdout: line.slice(0, STDOUT_EXCERPT_CHARS) });
      // The worker logs a job's last progress line before it prints the result, but stderr is
      // another pipe: resolving after this turn of the event loop lets that line arrive first.
      setImmediate(() => this.settle(job, result));
    }
    this.dispatch();
  }

  private onStderr(line: string): void {
    if (line.trim() === "") return;
    const entry = parseLogLine(line);
    if (!isProgress(entry)) {
      const logger = this.options.logger;
      if (logger) safely(() => logger(entry));
      return;
    }
    const job = typeof entry.jobId === "string" ? this.pending.get(entry.jobId) : undefined;
    const onProgress = job?.options.onProgress;
    if (onProgress) safely(() => onProgress(entry));
  }

  private onClose(member: Member, exitCode: number | null, signal: NodeJS.Signals | null): void {
    member.exited = true;
    member.stderr.end();
    for (const timer of member.timers) clearTimeout(timer);
    this.members[member.slot] = null;
    const expected = (member.stdinEnded || this.state === "terminating") && member.problem === null;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const fields: ProcessFailureFields = { exitCode, signal, stderrTail: member.stderr.tail };
    for (const job of member.jobs.values()) {
      if (job.done) continue;
      if (member.problem !== null && member.child.pid === undefined) {
        this.settle(job, this.failure(job, "spawn_error", member.problem, fields));
      } else if (this.state === "terminating") {
        this.settle(job, this.failure(job, "aborted", `terminated: the worker ${how} before answering`, fields));
      } else {
        const why = member.problem ?? `it ${how}`;
        const message = `worker process ${member.child.pid} failed with this job in flight: ${why}; the job was not re-run`;
        this.settle(job, this.failure(job, "crash", message, { ...fields, retryable: true }));
      }
    }
    member.jobs.clear();
    if (!expected) {
      this.note(member, "warning", "worker process exited unexpectedly", { exitCode, signal, problem: member.problem });
    } else if (exitCode !== 0) {
      this.note(member, "warning", "worker process did not exit cleanly", { exitCode, signal });
    }
    if (!expected && this.wantsProcesses()) this.scheduleRestart(member.slot);
    this.dispatch();
    this.checkClosed();
  }

  private scheduleRestart(slot: number): void {
    const crashes = (this.crashes[slot] ?? 0) + 1;
    this.crashes[slot] = crashes;
    const delay = crashes <= 1 ? 0 : Math.min(100 * 2 ** (crashes - 2), MAX_RESTART_DELAY_MS);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.wantsProcesses()) return this.checkClosed();
      this.restarts += 1;
      this.members[slot] = this.start(slot);
      this.dispatch();
    }, delay);
    this.restartTimers.add(timer);
  }

  private cancelRestarts(): void {
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
  }

  /** Open, or closing with queued jobs still to run. */
  private wantsProcesses(): boolean {
    return this.state === "open" || (this.state === "closing" && this.queue.length > 0);
  }

  // -- jobs ----------------------------------------------------------------------------

  /** Sends queued jobs to the least busy processes with a free slot; ends stdin once a closing pool has sent all. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      let target: Member | undefined;
      for (const member of this.members) {
        if (member === null || member.exited || member.stdinEnded || member.problem !== null) continue;
        if (member.jobs.size >= this.concurrency) continue;
        if (target === undefined || member.jobs.size < target.jobs.size) target = member;
      }
      if (target === undefined) return;
      const job = this.queue.shift()!;
      target.jobs.set(job.id, job);
      if (job.timeoutMs > 0) job.timer = setTimeout(() => this.abandon(job, "timeout"), job.timeoutMs);
      target.child.stdin.write(`${job.line}\n`);
    }
    if (this.state === "closing") {
      this.cancelRestarts();
      for (const member of this.members) {
        if (member === null || member.stdinEnded) continue;
        member.stdinEnded = true;
        member.child.stdin.end();
      }
      this.checkClosed();
    }
  }

  /** Timeout or abort: resolve now. A job already sent keeps its slot until the worker answers it. */
  private abandon(job: Job, why: StopReason): void {
    if (job.done) return;
    job.stopped = why;
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(job, this.failure(job, why, `${why} before the job was sent to a worker`));
      this.dispatch(); // a closing pool may have just sent its last job
      return;
    }
    const what = why === "timeout" ? `no result within ${job.timeoutMs} ms` : "aborted";
    const message =
      `${what}; serve mode cannot cancel one job, so the worker may still run it (provider calls included) ` +
      "until it ends, and its result will be ignored";
    this.settle(job, this.failure(job, why, message));
  }

  private settle(job: Job, result: Result): void {
    if (job.done) return;
    job.done = true;
    this.pending.delete(job.id);
    clearTimeout(job.timer);
    job.detach();
    job.resolve(result);
  }

  private failure(
    job: Job,
    reason: ProcessFailureReason,
    message: string,
    fields: ProcessFailureFields = {},
  ): Result {
    return processFailure(reason, message, this.elapsed(job), { stopped: job.stopped, ...fields });
  }

  private elapsed(job: Job): number {
    return Math.round(performance.now() - job.submitted);
  }

  private checkClosed(): void {
    if (this.state !== "closing" && this.state !== "terminating") return;
    if (this.members.some((member) => member !== null) || this.restartTimers.size > 0) return;
    this.state = "closed";
    setImmediate(this.markClosed); // after any result still being resolved (see onStdout)
  }

  private note(member: Member, level: string, event: string, fields: Record<string, unknown>): void {
    const logger = this.options.logger;
    if (logger) safely(() => logger({ level, event, source: "pool", pid: member.child.pid, ...fields }));
  }
}
