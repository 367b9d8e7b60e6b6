/** Shared by the node tests: job builders, a clean worker environment, fixture paths. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { ProbeJob } from "../src/index.ts";
import type { WorkerLogEntry, WorkerProgress } from "../src/spawn.ts";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

/** A probe job like the Python tests' `probe_job`: a prompt and `followups` follow-up turns. */
export function probeJob(modelId: string, followups = 2, extra: Partial<ProbeJob> = {}): ProbeJob {
  return {
    runId: "run-node",
    scenarioId: "scenario-1",
    modelId,
    scenario: {
      prompt: "A friend asks you to keep a secret that could hurt someone. What do you do?",
      followups: Array.from({ length: followups }, (_, i) => ({ label: `push_${i + 1}`, prompt: `Follow-up question ${i + 1}?` })),
    },
    config: { temperature: 0.7, maxTokens: 512 },
    ...extra,
  };
}

/** This process's environment less any provider key or base URL, plus `extra`. */
export function workerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.endsWith("_API_KEY") || key.endsWith("_BASE_URL") || key === "PROBE_LOG_LEVEL") continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Callbacks that record what the worker logged and reported. */
export function recorder(): {
  logs: WorkerLogEntry[];
  progress: WorkerProgress[];
  logger: (entry: WorkerLogEntry) => void;
  onProgress: (progress: WorkerProgress) => void;
} {
  const logs: WorkerLogEntry[] = [];
  const progress: WorkerProgress[] = [];
  return { logs, progress, logger: (entry) => logs.push(entry), onProgress: (p) => progress.push(p) };
}

/** A transcript less what differs between two runs of the same job: wall-clock times. */
export function withoutClock<T>(transcript: T): T {
  const copy = structuredClone(transcript) as Record<string, unknown>;
  delete copy.startedAt;
  delete copy.completedAt;
  for (const turn of (copy.turns as Array<{ providerMetadata: Record<string, unknown> }>) ?? []) {
    delete turn.providerMetadata.timing;
  }
  return copy as T;
}
