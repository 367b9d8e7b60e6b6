/** spawnPython against processes that break the contract: crashes, bad stdout, SIGTERM ignored. */
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { defaultPython, PYTHON_ENV_VAR, spawnPython } from "../src/index.ts";
import { FIXTURES, recorder, workerEnv } from "./helpers.ts";

const fixture = (name: string): string => join(FIXTURES, name);

/** What test/fixtures/echo_env.py prints. */
interface EchoDocument {
  success: true;
  contractVersion: string;
  job: unknown;
  args: string[];
}

describe("spawnPython", () => {
  it("writes the job to stdin, parses stdout, routes stderr lines to logger and onProgress", async () => {
    const seen = recorder();
    const result = await spawnPython<{ hello: string }, EchoDocument>(
      fixture("echo_env.py"),
      { hello: "world" },
      { env: workerEnv(), args: ["--flag"], logger: seen.logger, onProgress: seen.onProgress },
    );
    assert.equal(result.kind, "success");
    assert.ok(result.success);
    assert.deepEqual(result.data.job, { hello: "world" });
    assert.deepEqual(result.data.args, ["--flag"]);
    assert.equal(result.stopped, null);
    assert.deepEqual(seen.logs, [{ level: "stderr", event: "a plain stderr line" }]);
    assert.deepEqual(seen.progress, [{ type: "progress", turn: 1, of: 1, totalInputTokens: 3, totalOutputTokens: 4 }]);
  });

  it("reports a crash with its exit code and the stderr tail", async () => {
    const seen = recorder();
    const result = await spawnPython(fixture("crash.py"), {}, { env: workerEnv(), logger: seen.logger });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "crash");
    assert.equal(result.exitCode, 1);
    assert.equal(result.retryable, false);
    assert.match(result.stderrTail, /RuntimeError: boom/);
    assert.match(result.message, /exited with code 1/);
    assert.deepEqual(seen.logs[0], { level: "info", event: "starting" });
    assert.ok(seen.logs.some((entry) => entry.level === "stderr" && /Traceback/.test(String(entry.event))));
  });

  it("reports a script that does not exist as a crash, not a hang", async () => {
    const result = await spawnPython(fixture("no_such_worker.py"), {}, { env: workerEnv() });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "crash");
    assert.equal(result.exitCode, 2);
    assert.match(result.stderrTail, /no_such_worker\.py/);
  });

  it("reports an interpreter that cannot be started", async () => {
    const result = await spawnPython(fixture("echo_env.py"), {}, { python: "/nonexistent/python3", env: workerEnv() });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "spawn_error");
    assert.match(result.message, /ENOENT/);
  });

  it("refuses stdout that is not one JSON document, keeping what it held", async () => {
    const result = await spawnPython(fixture("not_json.py"), {}, { env: workerEnv() });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "invalid_output");
    assert.equal(result.exitCode, 0);
    assert.match(result.message, /not one JSON document/);
    assert.match(result.stdout, /hello from a stray print/);
  });

  it("refuses JSON that is not a worker document", async () => {
    const result = await spawnPython(fixture("wrong_document.py"), {}, { env: workerEnv() });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "invalid_output");
    assert.match(result.message, /no boolean `success`/);
  });

  it("kills a worker that ignores SIGTERM once the grace period is over", async () => {
    const seen = recorder();
    const result = await spawnPython(fixture("ignores_sigterm.py"), {}, {
      env: workerEnv(),
      timeoutMs: 1_500,
      killGraceMs: 300,
      logger: seen.logger,
    });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "timeout");
    assert.equal(result.stopped, "timeout");
    assert.equal(result.signal, "SIGKILL");
    assert.equal(result.retryable, true);
    assert.match(result.stderrTail, /ignoring SIGTERM/);
    assert.deepEqual(seen.logs, [{ level: "info", event: "ignoring SIGTERM" }]);
  });

  it("does not start a worker for an already aborted signal", async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await spawnPython(fixture("echo_env.py"), {}, { env: workerEnv(), signal: controller.signal });
    assert.equal(result.kind, "process_error");
    if (result.kind !== "process_error") return;
    assert.equal(result.reason, "aborted");
    assert.equal(result.exitCode, null);
  });

  it("keeps reading when a host callback throws", async () => {
    const result = await spawnPython(fixture("echo_env.py"), {}, {
      env: workerEnv(),
      logger: () => {
        throw new Error("a broken logger");
      },
      onProgress: () => {
        throw new Error("a broken progress bar");
      },
    });
    assert.equal(result.kind, "success");
  });
});

describe("defaultPython", () => {
  it(`prefers ${PYTHON_ENV_VAR}, then the repo's .venv, then python3`, () => {
    const repo = mkdtempSync(join(tmpdir(), "host-python-"));
    assert.equal(defaultPython({}, repo), "python3");
    mkdirSync(join(repo, ".venv", "bin"), { recursive: true });
    writeFileSync(join(repo, ".venv", "bin", "python"), "");
    assert.equal(defaultPython({}, repo), join(repo, ".venv", "bin", "python"));
    assert.equal(defaultPython({ [PYTHON_ENV_VAR]: "/opt/py/bin/python3.11" }, repo), "/opt/py/bin/python3.11");
  });
});
