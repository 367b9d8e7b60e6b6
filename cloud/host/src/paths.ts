/**
 * Where the worker scripts and the Python interpreter that runs them are found.
 *
 * Interpreter, first found wins: the `python` option of a call, the PROBE_PYTHON
 * environment variable, the repository's virtualenv (`.venv/bin/python`, which `make
 * install` creates with every dependency), then `python3` from PATH.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

export const REPO_ROOT = resolve(HERE, "../../..");
export const WORKERS_DIR = join(REPO_ROOT, "cloud", "workers");
export const PYTHON_ENV_VAR = "PROBE_PYTHON";

/** The interpreter used when a call does not name one. */
export function defaultPython(env: NodeJS.ProcessEnv = process.env, repoRoot: string = REPO_ROOT): string {
  const fromEnv = env[PYTHON_ENV_VAR]?.trim();
  if (fromEnv) return fromEnv;
  const venv =
    process.platform === "win32"
      ? join(repoRoot, ".venv", "Scripts", "python.exe")
      : join(repoRoot, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

/** The path of a worker script, e.g. `workerScript("probe")` -> .../cloud/workers/probe.py */
export function workerScript(worker: string, workersDir: string = WORKERS_DIR): string {
  return join(workersDir, `${worker}.py`);
}
