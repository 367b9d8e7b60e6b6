/**
 * The host handler shown in the repository README, type-checked with the client (`npm run typecheck`).
 * `Queue` stands for whatever job queue the host uses.
 */
import { partialTranscriptOf, runProbe, type ProbeJob, type Transcript, type WorkerProgress } from "../src/index.ts";

export interface Queue {
  partialOf(id: string): Promise<Transcript | undefined>;
  progress(id: string, progress: WorkerProgress): void;
  save(id: string, transcript: Transcript): Promise<void>;
  keepPartial(id: string, partial: Transcript): Promise<void>;
  fail(id: string, reason: unknown): Promise<void>;
  retryLater(id: string, delayMs: number): Promise<void>;
}

export async function handleProbeJob(id: string, job: ProbeJob, queue: Queue): Promise<void> {
  const resume = await queue.partialOf(id); // turns an earlier cancelled or failed try already paid for
  const result = await runProbe(job, { resume, onProgress: (p) => queue.progress(id, p) });
  if (result.success) return queue.save(id, result.data.transcript);
  const partial = partialTranscriptOf(result);
  if (partial) await queue.keepPartial(id, partial); // no paid-for answer is lost
  if (!result.retryable) return queue.fail(id, result.kind === "worker_error" ? result.error : result.message);
  return queue.retryLater(id, result.retryAfterMs ?? 30_000); // the next try resumes from `partial`
}
