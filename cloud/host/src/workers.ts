/**
 * Typed wrappers over spawnPython, one per worker script, with the generated contract types.
 */
import type { AnalyzeBasicJob } from "./generated/analyze_basic.input.ts";
import type { AnalyzeBasicOutput } from "./generated/analyze_basic.output.ts";
import type { HealthJob } from "./generated/health_check.input.ts";
import type { HealthCheckOutput } from "./generated/health_check.output.ts";
import type { ProbeJob } from "./generated/probe.input.ts";
import type { ProbeOutput, Transcript, Turn } from "./generated/probe.output.ts";
import { workerScript } from "./paths.ts";
import { spawnPython, type SpawnOptions, type SpawnResult } from "./spawn.ts";

export interface WorkerRunOptions extends SpawnOptions {
  /** The folder holding the worker scripts (default: this repository's cloud/workers). */
  workersDir?: string;
}

export interface ProbeRunOptions extends WorkerRunOptions {
  /**
   * An earlier run's partialTranscript (or any object with its `turns`): the job is sent
   * with those turns as `priorTurns`, so the worker replays them as history and asks the
   * provider only for the turns after them. Its transcript is then that of an
   * uninterrupted run.
   */
  resume?: { turns: Turn[] } | null;
}

/** The worker's own deadline (config.deadlineMs, 240 s by default) is enforced by the worker. */
const DEFAULT_PROBE_DEADLINE_MS = 240_000;
const DEFAULT_HEALTH_BUDGET_MS = 10_000;
/** Added to a worker's own time budget: interpreter and SDK start-up, and printing the result. */
const START_AND_STOP_MARGIN_MS = 30_000;

/** The job to send: `job` with the resumed turns as `priorTurns` (when there are any). */
export function withPriorTurns(job: ProbeJob, resume?: { turns: Turn[] } | null): ProbeJob {
  if (!resume || resume.turns.length === 0) return job;
  return { ...job, priorTurns: resume.turns };
}

/** The host-side time limit for a probe job: its own deadline plus START_AND_STOP_MARGIN_MS. */
export function probeTimeoutMs(job: ProbeJob): number {
  return (job.config?.deadlineMs ?? DEFAULT_PROBE_DEADLINE_MS) + START_AND_STOP_MARGIN_MS;
}

/** The turns a failed probe had already paid for, to pass as `resume` on a retry. */
export function partialTranscriptOf(result: SpawnResult<ProbeOutput>): Transcript | undefined {
  if (result.kind !== "worker_error") return undefined;
  return result.document.partialTranscript ?? undefined;
}

/**
 * Runs cloud/workers/probe.py. Unless `timeoutMs` is given, the host stops it 30 s after
 * the job's own deadline (the worker normally answers TIMEOUT itself before that).
 */
export function runProbe(job: ProbeJob, options: ProbeRunOptions = {}): Promise<SpawnResult<ProbeOutput>> {
  const { resume, workersDir, ...spawnOptions } = options;
  return spawnPython<ProbeJob, ProbeOutput>(workerScript("probe", workersDir), withPriorTurns(job, resume), {
    timeoutMs: probeTimeoutMs(job),
    ...spawnOptions,
  });
}

/** Runs cloud/workers/health_check.py (`{live: true}` also makes one cheap call per provider). */
export function runHealthCheck(
  job: HealthJob = {},
  options: WorkerRunOptions = {},
): Promise<SpawnResult<HealthCheckOutput>> {
  const { workersDir, ...spawnOptions } = options;
  const timeoutMs = (job.timeoutMs ?? DEFAULT_HEALTH_BUDGET_MS) + START_AND_STOP_MARGIN_MS;
  return spawnPython<HealthJob, HealthCheckOutput>(workerScript("health_check", workersDir), job, {
    timeoutMs,
    ...spawnOptions,
  });
}

/** Runs cloud/workers/analyze_basic.py on a completed run's transcripts. No timeout unless given. */
export function runAnalyzeBasic(
  job: AnalyzeBasicJob,
  options: WorkerRunOptions = {},
): Promise<SpawnResult<AnalyzeBasicOutput>> {
  const { workersDir, ...spawnOptions } = options;
  return spawnPython<AnalyzeBasicJob, AnalyzeBasicOutput>(
    workerScript("analyze_basic", workersDir),
    job,
    spawnOptions,
  );
}
