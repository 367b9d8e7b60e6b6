/** WorkerPool against the real `probe.py --serve` on the offline mock provider. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";

import { partialTranscriptOf, runProbe, WorkerPool, type ProbeJob, type SpawnResult } from "../src/index.ts";
import type { ProbeOutput } from "../src/index.ts";
import type { WorkerLogEntry, WorkerProgress } from "../src/spawn.ts";
import { FIXTURES, probeJob, withoutClock, workerEnv } from "./helpers.ts";

const env = workerEnv();

/** A job whose first prompt names it, so each result can be matched to its job. */
function namedJob(name: string, modelId: string, followups = 1): ProbeJob {
  const job = probeJob(modelId, followups, { scenarioId: name });
  return { ...job, scenario: { ...job.scenario, prompt: `Job ${name}: is it ever right to lie?` } };
}

function firstPrompt(result: SpawnResult<ProbeOutput>): string | undefined {
  return result.kind === "success" ? result.data.transcript.turns[0]?.probePrompt : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("WorkerPool on probe.py --serve", () => {
  it("runs many jobs across two warm processes, each result and progress matching its job", async () => {
    const pool = new WorkerPool({ size: 2, concurrency: 3, env });
    try {
      const jobs = Array.from({ length: 12 }, (_, i) => namedJob(`n${i}`, "mock:echo", i % 3));
      const progress = jobs.map((): WorkerProgress[] => []);
      const results = await Promise.all(
        jobs.map((job, i) => pool.runProbe(job, { onProgress: (p) => progress[i]?.push(p) })),
      );
      results.forEach((result, i) => {
        const job = jobs[i]!;
        assert.equal(result.kind, "success", JSON.stringify(result));
        assert.equal(firstPrompt(result), job.scenario.prompt);
        const turns = job.scenario.followups!.length + 1;
        // Progress travels on stderr, the result on stdout: the last line may lose the race and be dropped.
        const expected = Array.from({ length: turns }, (_, t) => [t + 1, turns]);
        const seen = progress[i]!.map((p) => [p.turn, p.of]);
        assert.ok(seen.length >= turns - 1, `progress ${JSON.stringify(seen)}`);
        assert.deepEqual(seen, expected.slice(0, seen.length));
        // Every progress line that did arrive names this one job (a one-turn job may have lost its only line).
        assert.ok(new Set(progress[i]?.map((p) => p.jobId)).size <= 1, `progress ids ${JSON.stringify(progress[i])}`);
        assert.ok(progress[i]?.every((p) => p.scenarioId === job.scenarioId));
      });
      const { processes } = pool.stats();
      assert.equal(new Set(processes.map((p) => p.pid)).size, 2);

      // The result is what the one-shot worker prints for the same job.
      const oneShot = await runProbe(jobs[2]!, { env });
      assert.equal(oneShot.kind, "success");
      if (oneShot.kind !== "success" || results[2]?.kind !== "success") return;
      assert.equal(results[2].data.contractVersion, oneShot.data.contractVersion);
      assert.deepEqual(withoutClock(results[2].data.transcript), withoutClock(oneShot.data.transcript));
    } finally {
      await pool.close();
    }
  });

  it("sends each job to the least busy process and queues what finds no free slot", async () => {
    const pool = new WorkerPool({ size: 2, concurrency: 2, env });
    try {
      const run = (name: string): Promise<SpawnResult<ProbeOutput>> => pool.runProbe(namedJob(name, "mock:slow:300", 0));
      const pending = [run("a"), run("b"), run("c")];
      assert.deepEqual(pool.stats().processes.map((p) => p.inFlight), [2, 1]);
      pending.push(run("d"), run("e"));
      assert.deepEqual(pool.stats().processes.map((p) => p.inFlight), [2, 2]);
      assert.equal(pool.stats().queued, 1);
      const results = await Promise.all(pending);
      assert.deepEqual(results.map(firstPrompt), ["a", "b", "c", "d", "e"].map((n) => `Job ${n}: is it ever right to lie?`));
      assert.deepEqual(pool.stats().processes.map((p) => p.inFlight), [0, 0]);
      assert.equal(pool.stats().queued, 0);
    } finally {
      await pool.close();
    }
  });

  it("resumes a job from a partial transcript", async () => {
    const pool = new WorkerPool({ size: 1, concurrency: 2, env });
    try {
      const failed = await pool.runProbe(probeJob("mock:fail:RATE_LIMIT@2"));
      assert.equal(failed.kind, "worker_error");
      const partial = partialTranscriptOf(failed);
      assert.deepEqual(partial?.turns.map((t) => t.turnNumber), [1]);
      const progress: number[] = [];
      const resumed = await pool.runProbe(probeJob("mock:echo"), { resume: partial, onProgress: (p) => progress.push(p.turn) });
      assert.equal(resumed.kind, "success");
      if (resumed.kind !== "success") return;
      assert.deepEqual(progress, [2, 3].slice(0, progress.length)); // resumed: no progress for the replayed turn
      assert.ok(progress.length >= 1);
      assert.deepEqual(resumed.data.transcript.turns[0], partial?.turns[0]);
    } finally {
      await pool.close();
    }
  });

  it("a killed process fails its job as a retryable crash, is restarted, and later jobs succeed", async () => {
    const logs: WorkerLogEntry[] = [];
    const pool = new WorkerPool({ size: 2, concurrency: 2, env, logger: (entry) => logs.push(entry) });
    try {
      const victimPid = pool.stats().processes[0]?.pid;
      assert.ok(victimPid !== undefined);
      const victim = pool.runProbe(namedJob("victim", "mock:slow:200", 3), {
        onProgress: () => process.kill(victimPid, "SIGKILL"), // mid-job, after turn 1
      });
      const bystander = pool.runProbe(namedJob("bystander", "mock:slow:200", 2));
      const crashed = await victim;
      assert.equal(crashed.kind, "process_error");
      if (crashed.kind !== "process_error") return;
      assert.equal(crashed.reason, "crash");
      assert.equal(crashed.retryable, true);
      assert.equal(crashed.signal, "SIGKILL");
      assert.match(crashed.message, new RegExp(`worker process ${victimPid} .*killed by SIGKILL`));
      assert.match(crashed.stderrTail, /"event": "serving"/);
      assert.equal((await bystander).kind, "success");

      const results = await Promise.all([1, 2, 3, 4].map((n) => pool.runProbe(namedJob(`after${n}`, "mock:echo", 0))));
      assert.ok(results.every((r) => r.kind === "success"));
      const stats = pool.stats();
      assert.equal(stats.restarts, 1);
      assert.ok(stats.processes.every((p) => p.pid !== undefined && p.pid !== victimPid));
      assert.ok(logs.some((l) => l.source === "pool" && l.event === "worker process exited unexpectedly"));
    } finally {
      await pool.close();
    }
  });

  it("close() runs the accepted jobs, queued ones too, then the processes exit 0", async () => {
    const logs: WorkerLogEntry[] = [];
    const pool = new WorkerPool({ size: 1, concurrency: 2, env, logger: (entry) => logs.push(entry) });
    const pid = pool.stats().processes[0]?.pid;
    const settled: string[] = [];
    const pending = ["a", "b", "c"].map((name) =>
      pool.runProbe(namedJob(name, "mock:slow:200", 1)).then((result) => {
        settled.push(name);
        return result;
      }),
    );
    assert.equal(pool.stats().queued, 1);
    const closing = pool.close().then(() => settled.push("closed"));
    await assert.rejects(pool.runProbe(probeJob("mock:echo")), /WorkerPool is closing/);
    const results = await Promise.all(pending);
    await closing;
    assert.ok(results.every((r) => r.kind === "success"));
    assert.equal(settled.at(-1), "closed");
    assert.ok(pid !== undefined && !isAlive(pid));
    assert.deepEqual(logs.filter((l) => l.source === "pool"), []); // no unexpected or unclean exit
    assert.ok(logs.some((l) => l.event === "served"));
  });

  it("terminate() answers CANCELLED with the partial transcript, and a queued job as aborted", async () => {
    const pool = new WorkerPool({ size: 1, concurrency: 1, env, killGraceMs: 3_000 });
    let terminated = 0;
    const running = pool.runProbe(namedJob("running", "mock:slow:300", 3), {
      onProgress: () => {
        terminated = performance.now();
        void pool.terminate();
      },
    });
    const queued = pool.runProbe(namedJob("queued", "mock:echo"));
    const [cancelled, neverSent] = await Promise.all([running, queued]);
    await pool.terminate();
    assert.ok(performance.now() - terminated < 3_000, "answered SIGTERM well before the SIGKILL grace");

    assert.equal(cancelled.kind, "worker_error");
    if (cancelled.kind !== "worker_error") return;
    assert.equal(cancelled.error.code, "CANCELLED");
    assert.equal(cancelled.retryable, true);
    assert.equal(cancelled.stopped, "aborted");
    assert.deepEqual(partialTranscriptOf(cancelled)?.turns.map((t) => t.turnNumber), [1]);

    assert.equal(neverSent.kind, "process_error");
    if (neverSent.kind !== "process_error") return;
    assert.equal(neverSent.reason, "aborted");
    assert.equal(neverSent.retryable, true);
    await assert.rejects(pool.runProbe(probeJob("mock:echo")), /WorkerPool is closed/);
  });

  it("a timeout or an abort resolves the job at once; the worker's late result is ignored", async () => {
    const logs: WorkerLogEntry[] = [];
    const pool = new WorkerPool({ size: 1, concurrency: 1, env, logger: (entry) => logs.push(entry) });
    try {
      const slow = pool.runProbe(namedJob("slow", "mock:slow:1000", 0), { timeoutMs: 300 });
      const controller = new AbortController();
      const abortedWhileQueued = pool.runProbe(namedJob("aborted", "mock:echo"), { signal: controller.signal });
      const next = pool.runProbe(namedJob("next", "mock:echo", 0));
      controller.abort();

      const timedOut = await slow;
      assert.equal(timedOut.kind, "process_error");
      if (timedOut.kind !== "process_error") return;
      assert.equal(timedOut.reason, "timeout");
      assert.equal(timedOut.retryable, true);
      assert.equal(timedOut.stopped, "timeout");
      assert.ok(timedOut.durationMs < 900, `took ${timedOut.durationMs} ms`);
      assert.match(timedOut.message, /may still run it/);

      const aborted = await abortedWhileQueued;
      assert.equal(aborted.kind, "process_error");
      if (aborted.kind === "process_error") assert.equal(aborted.reason, "aborted");

      // The worker still runs the abandoned job in its only slot: `next` goes after it.
      assert.equal(pool.stats().processes[0]?.inFlight, 1);
      assert.equal(pool.stats().queued, 1);
      assert.equal(firstPrompt(await next), "Job next: is it ever right to lie?");
      assert.ok(logs.some((l) => l.event === "result of an abandoned job ignored" && l.stopped === "timeout"));
    } finally {
      await pool.close();
    }
  });
});

describe("WorkerPool with a misbehaving serve process", () => {
  const script = join(FIXTURES, "misbehaving_serve.py");

  it("logs stdout lines that are not results instead of failing, and flags a bad result document", async () => {
    const logs: WorkerLogEntry[] = [];
    const pool = new WorkerPool({ size: 1, concurrency: 2, env, script, logger: (entry) => logs.push(entry) });
    try {
      const noisy = await pool.runProbe(probeJob("noisy"));
      assert.equal(noisy.kind, "success");
      const notes = logs.filter((l) => l.source === "pool").map((l) => [l.event, l.line]);
      assert.deepEqual(notes, [
        ["stdout line is not JSON; ignored", "this is not JSON"],
        ["stdout line is not a result for a job of this process; ignored", '{"id": "no-such-job", "result": {"success": true}}'],
      ]);
      const bad = await pool.runProbe(probeJob("bad-result"));
      assert.equal(bad.kind, "process_error");
      if (bad.kind === "process_error") assert.equal(bad.reason, "invalid_output");
    } finally {
      await pool.close();
    }
  });

  it("a process that closes its stdout is killed and restarted, and its job fails as a crash", async () => {
    const pool = new WorkerPool({ size: 1, concurrency: 2, env, script });
    try {
      const lost = await pool.runProbe(probeJob("close-stdout"));
      assert.equal(lost.kind, "process_error");
      if (lost.kind !== "process_error") return;
      assert.equal(lost.reason, "crash");
      assert.equal(lost.retryable, true);
      assert.match(lost.message, /closed its stdout/);
      assert.equal((await pool.runProbe(probeJob("noisy"))).kind, "success");
      assert.equal(pool.stats().restarts, 1);
    } finally {
      await pool.close();
    }
  });
});
