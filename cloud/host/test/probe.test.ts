/** runProbe against the real probe.py on the offline mock provider. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CONTRACT_VERSION, partialTranscriptOf, runProbe, type ProbeJob } from "../src/index.ts";
import { probeJob, recorder, withoutClock, workerEnv } from "./helpers.ts";

const env = workerEnv();

describe("runProbe on the mock provider", () => {
  it("returns the transcript, with progress after each turn and log lines to the logger", async () => {
    const seen = recorder();
    const result = await runProbe(probeJob("mock:echo"), { env, logger: seen.logger, onProgress: seen.onProgress });
    assert.equal(result.kind, "success");
    if (result.kind !== "success") return;
    assert.equal(result.data.contractVersion, CONTRACT_VERSION);
    const { transcript } = result.data;
    assert.deepEqual(transcript.turns.map((t) => t.turnNumber), [1, 2, 3]);
    assert.equal(transcript.modelVersion, "mock-1.0");
    assert.deepEqual(seen.progress.map((p) => [p.turn, p.of]), [[1, 3], [2, 3], [3, 3]]);
    assert.equal(seen.progress.at(-1)?.totalInputTokens, transcript.totalInputTokens);
    assert.equal(seen.progress.at(-1)?.totalOutputTokens, transcript.totalOutputTokens);
    assert.ok(seen.logs.filter((l) => l.event === "turn complete").length === 3);
    assert.ok(seen.logs.every((l) => l.type !== "progress"));
  });

  it("reports a retryable provider error with retryAfterMs and the turns that completed", async () => {
    const result = await runProbe(probeJob("mock:fail:RATE_LIMIT@2"), { env });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.error.code, "RATE_LIMIT");
    assert.equal(result.retryable, true);
    assert.equal(result.retryAfterMs, 10);
    assert.equal(result.error.statusCode, 429);
    assert.deepEqual(partialTranscriptOf(result)?.turns.map((t) => t.turnNumber), [1]);
  });

  it("reports a non-retryable provider error without a retry hint", async () => {
    const result = await runProbe(probeJob("mock:fail:AUTH_ERROR"), { env });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.error.code, "AUTH_ERROR");
    assert.equal(result.retryable, false);
    assert.equal(result.retryAfterMs, null);
    assert.equal(result.error.details.attempts, 1);
    assert.equal(partialTranscriptOf(result), undefined);
  });

  it("reports an invalid job as a non-retryable VALIDATION_ERROR naming the field", async () => {
    const job = { ...probeJob("mock:echo"), modelId: "" } as ProbeJob;
    const result = await runProbe(job, { env });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.error.code, "VALIDATION_ERROR");
    assert.equal(result.retryable, false);
    assert.equal(result.error.details.field, "modelId");
  });

  it("on timeout returns the CANCELLED document the worker printed on SIGTERM", async () => {
    const result = await runProbe(probeJob("mock:slow:1500", 3), { env, timeoutMs: 4_000 });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.stopped, "timeout");
    assert.equal(result.error.code, "CANCELLED");
    assert.equal(result.retryable, true);
    const turns = partialTranscriptOf(result)?.turns ?? [];
    assert.ok(turns.length >= 1 && turns.length < 4, `partial turns: ${turns.length}`);
    assert.equal(result.error.details.completedTurns, turns.length);
  });

  it("cancels on abort, keeps the paid-for turn, and a resume finishes like an uninterrupted run", async () => {
    const job = probeJob("mock:slow:300");
    const controller = new AbortController();
    const first = recorder();
    const stopped = await runProbe(job, {
      env,
      signal: controller.signal,
      onProgress: (p) => {
        first.onProgress(p);
        controller.abort();
      },
    });
    assert.equal(stopped.kind, "worker_error");
    if (stopped.kind !== "worker_error") return;
    assert.equal(stopped.stopped, "aborted");
    assert.equal(stopped.error.code, "CANCELLED");
    assert.equal(stopped.retryable, true);
    const partial = partialTranscriptOf(stopped);
    assert.deepEqual(partial?.turns.map((t) => t.turnNumber), [1]);
    assert.deepEqual(first.progress.map((p) => p.turn), [1]);

    const second = recorder();
    const resumed = await runProbe(job, { env, resume: partial, onProgress: second.onProgress });
    assert.equal(resumed.kind, "success");
    if (resumed.kind !== "success") return;
    assert.deepEqual(second.progress.map((p) => p.turn), [2, 3]); // turn 1 was not asked again
    assert.deepEqual(resumed.data.transcript.turns[0], partial?.turns[0]);

    const clean = await runProbe(job, { env });
    assert.equal(clean.kind, "success");
    if (clean.kind !== "success") return;
    assert.deepEqual(withoutClock(resumed.data.transcript), withoutClock(clean.data.transcript));
  });
});
