/** The committed src/generated/ types are exactly what the committed schema generates. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { drift, generateAll, GENERATED_DIR } from "../scripts/generate-types.ts";

describe("generated types", () => {
  it("match the committed schema (else: npm run generate, and commit src/generated/)", async () => {
    assert.deepEqual(await drift(), []);
  });

  it("drift names an edited, a missing and a stale module", async () => {
    const dir = mkdtempSync(join(tmpdir(), "host-types-"));
    for (const [name, text] of await generateAll()) writeFileSync(join(dir, name), text);
    assert.deepEqual(await drift(dir), []);
    const probe = join(dir, "probe.output.ts");
    writeFileSync(probe, readFileSync(probe, "utf8").replace("retryable: boolean", "retryable?: boolean"));
    rmSync(join(dir, "health_check.input.ts"));
    writeFileSync(join(dir, "old_worker.output.ts"), "export {};\n");
    assert.deepEqual((await drift(dir)).sort(), [
      "health_check.input.ts: missing",
      "old_worker.output.ts: no schema file any more",
      "probe.output.ts: differs from the schema",
    ]);
  });

  it("cover every worker's input and output", async () => {
    const names = [...(await generateAll()).keys()].sort();
    for (const worker of ["probe", "health_check", "analyze_basic"]) {
      assert.ok(names.includes(`${worker}.input.ts`) && names.includes(`${worker}.output.ts`), worker);
    }
    assert.match(readFileSync(join(GENERATED_DIR, "probe.output.ts"), "utf8"), /export type ProbeOutput = ProbeSuccess \| WorkerFailure;/);
  });
});
