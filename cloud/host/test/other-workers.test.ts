/** runHealthCheck and runAnalyzeBasic against the real health_check.py and analyze_basic.py. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CONTRACT_VERSION, runAnalyzeBasic, runHealthCheck, type AnalyzeBasicJob } from "../src/index.ts";
import { workerEnv } from "./helpers.ts";

const env = workerEnv();

function analysisRun(): AnalyzeBasicJob {
  const transcripts: AnalyzeBasicJob["transcripts"] = [];
  const directions = ["favor_first", "favor_second", "neutral"] as const;
  for (const [m, model] of ["model-a", "model-b"].entries()) {
    for (let s = 0; s < 3; s++) {
      transcripts.push({
        id: `${model}/s${s}`,
        modelId: model,
        scenarioId: `scenario-${s}`,
        decisionModelV2: { canonical: { direction: directions[(s + m) % 3]!, strength: "strong" } },
      });
    }
  }
  return { runId: "run-node", transcripts };
}

describe("the other workers", () => {
  it("runHealthCheck reports the interpreter and which provider keys are set", async () => {
    const result = await runHealthCheck({}, { env: { ...env, OPENAI_API_KEY: "test-key-not-real" } });
    assert.equal(result.kind, "success", JSON.stringify(result));
    if (result.kind !== "success") return;
    assert.equal(result.data.contractVersion, CONTRACT_VERSION);
    assert.match(result.data.health.pythonVersion, /^3\.\d+/);
    assert.equal(result.data.health.apiKeys.openai, true);
    assert.equal(result.data.health.apiKeys.anthropic, false);
  });

  it("runAnalyzeBasic returns the statistics of a run", async () => {
    const result = await runAnalyzeBasic(analysisRun(), { env });
    assert.equal(result.kind, "success", JSON.stringify(result));
    if (result.kind !== "success") return;
    const { analysis } = result.data;
    assert.equal(analysis.runId, "run-node");
    assert.equal(analysis.totals.transcripts, 6);
    assert.deepEqual(Object.keys(analysis.perModel).sort(), ["model-a", "model-b"]);
    // what the ValueRank host reads: pairs keyed "modelA:modelB", warnings as {code, message, recommendation}
    assert.equal(analysis.modelAgreement.pairwise["model-a:model-b"]?.spearmanRho, -0.5);
    assert.equal(analysis.modelAgreement.overallAgreement, -0.5);
    assert.deepEqual(analysis.modelAgreement.outlierModels, []);
    const codes = analysis.warnings.map((w) => w.code);
    assert.ok(codes.includes("OUTLIER_DETECTION_LIMITED"), JSON.stringify(analysis.warnings));
    assert.ok(analysis.warnings.every((w) => w.message.length > 0 && w.recommendation.length > 0));
    assert.equal(analysis.varianceAnalysis.isMultiSample, false);
  });

  it("runAnalyzeBasic reports a malformed transcript as a non-retryable VALIDATION_ERROR", async () => {
    const job = { runId: "r", transcripts: [{ id: "t-9", scenarioId: "s" }] } as unknown as AnalyzeBasicJob;
    const result = await runAnalyzeBasic(job, { env });
    assert.equal(result.kind, "worker_error");
    if (result.kind !== "worker_error") return;
    assert.equal(result.error.code, "VALIDATION_ERROR");
    assert.equal(result.retryable, false);
  });
});
