/**
 * The host side of the worker contract: spawnPython, the typed worker wrappers, and the
 * contract types generated from cloud/workers/schema/ (see scripts/generate-types.ts).
 */
export {
  spawnPython,
  parseWorkerDocument,
  type FailureDocument,
  type ProcessFailureReason,
  type SpawnOptions,
  type SpawnProcessFailure,
  type SpawnResult,
  type SpawnSuccess,
  type SpawnWorkerError,
  type StopReason,
  type SuccessDocument,
  type WorkerDocument,
  type WorkerErrorInfo,
  type WorkerLogEntry,
  type WorkerProgress,
} from "./spawn.ts";
export { WorkerPool, type PoolProbeOptions, type PoolStats, type WorkerPoolOptions } from "./pool.ts";
export {
  partialTranscriptOf,
  probeTimeoutMs,
  runAnalyzeBasic,
  runHealthCheck,
  runProbe,
  withPriorTurns,
  type ProbeRunOptions,
  type WorkerRunOptions,
} from "./workers.ts";
export { CONTRACT_VERSION } from "./generated/contract-version.ts";
export { defaultPython, PYTHON_ENV_VAR, REPO_ROOT, WORKERS_DIR, workerScript } from "./paths.ts";

export type { ProbeJob, Scenario, Followup, ProbeConfig, ModelCost, ModelSettings } from "./generated/probe.input.ts";
export type {
  CostSnapshot,
  ErrorCode,
  ErrorInfo,
  ProbeOutput,
  ProbeSuccess,
  ProviderMetadata,
  Transcript,
  Turn,
  WorkerFailure,
} from "./generated/probe.output.ts";
export type { HealthJob } from "./generated/health_check.input.ts";
export type { Health, HealthCheckOutput, HealthFailure, HealthSuccess } from "./generated/health_check.output.ts";
export type { AnalyzeBasicJob } from "./generated/analyze_basic.input.ts";
export type { Analysis, AnalyzeBasicOutput, AnalyzeBasicSuccess } from "./generated/analyze_basic.output.ts";
