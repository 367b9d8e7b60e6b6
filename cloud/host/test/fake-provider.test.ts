/** runProbe with the real OpenAI SDK against a local fake of the OpenAI HTTP API. */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";

import { partialTranscriptOf, runProbe } from "../src/index.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./fake-openai.ts";
import { probeJob, withoutClock, workerEnv } from "./helpers.ts";

const FAKE_KEY = "test-key-not-real";
let fake: FakeOpenAI;
let env: NodeJS.ProcessEnv;

describe("runProbe against a local OpenAI-compatible server", () => {
  before(async () => {
    fake = await startFakeOpenAI();
    env = workerEnv({ OPENAI_API_KEY: FAKE_KEY, OPENAI_BASE_URL: fake.url });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.failTurns.clear();
    fake.rejectKey = false;
  });

  it("sends each turn with the whole history and returns the provider's answers", async () => {
    const result = await runProbe(probeJob("gpt-4o-mini"), { env });
    assert.equal(result.kind, "success", JSON.stringify(result));
    if (result.kind !== "success") return;
    const { transcript } = result.data;
    assert.equal(transcript.provider, "openai");
    assert.equal(transcript.modelVersion, "gpt-4o-mini-2024-07-18");
    assert.deepEqual(fake.requests.map((r) => [r.turn, r.messages.length]), [[1, 1], [2, 3], [3, 5]]);
    assert.ok(fake.requests.every((r) => r.authorization === `Bearer ${FAKE_KEY}`));
    assert.deepEqual(fake.requests[2]?.messages[1], { role: "assistant", content: transcript.turns[0]?.targetResponse });
    assert.equal(transcript.turns[1]?.providerMetadata.responseId, "chatcmpl-fake-turn2");
  });

  it("maps the documented 401 to a non-retryable AUTH_ERROR", async () => {
    fake.rejectKey = true;
    const result = await runProbe(probeJob("gpt-4o-mini"), { env });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.error.code, "AUTH_ERROR");
    assert.equal(result.error.statusCode, 401);
    assert.equal(result.retryable, false);
    assert.equal(fake.requests.length, 1);
  });

  it("resumes after a failure on turn 3 of 5: asks only for turns 3-5 and ends like a clean run", async () => {
    const job = probeJob("gpt-4o-mini", 4);
    const clean = await runProbe(job, { env });
    assert.equal(clean.kind, "success");
    if (clean.kind !== "success") return;
    const cleanRequests = fake.requests.splice(0);

    fake.failTurns.add(3);
    const failed = await runProbe(job, { env });
    assert.equal(failed.kind, "worker_error");
    if (failed.kind !== "worker_error") return;
    assert.equal(failed.error.code, "RATE_LIMIT");
    assert.equal(failed.retryable, true);
    assert.equal(typeof failed.retryAfterMs, "number");
    const partial = partialTranscriptOf(failed);
    assert.deepEqual(partial?.turns.map((t) => t.turnNumber), [1, 2]);

    fake.failTurns.clear();
    fake.requests.length = 0;
    const resumed = await runProbe(job, { env, resume: partial });
    assert.equal(resumed.kind, "success");
    if (resumed.kind !== "success") return;
    assert.deepEqual(fake.requests.map((r) => r.turn), [3, 4, 5]);
    assert.deepEqual(fake.requests.map((r) => r.messages), cleanRequests.slice(2).map((r) => r.messages));
    assert.deepEqual(withoutClock(resumed.data.transcript), withoutClock(clean.data.transcript));
  });
});
