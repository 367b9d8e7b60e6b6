/**
 * spawnPython: run one worker script for one job and turn whatever happens into a typed result.
 *
 * The worker contract: one JSON job on stdin, one JSON document on stdout, JSON log lines
 * on stderr (`type: "progress"` lines among them), exit 0 for every handled outcome. A
 * worker stopped with SIGTERM still prints its document (probe: CANCELLED with the turns
 * already paid for), so a timeout or an abort sends SIGTERM first and SIGKILL only after a
 * grace period, and the result is what the worker printed whenever it printed something.
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { StringDecoder } from "node:string_decoder";

import { defaultPython } from "./paths.ts";

/** What every worker document has; the generated output types all satisfy it. */
export interface WorkerDocument {
  success: boolean;
  contractVersion: string;
}

/** The error object of a failure document (the generated `ErrorInfo`). */
export interface WorkerErrorInfo {
  message: string;
  code: string;
  retryable: boolean;
  details: { [key: string]: unknown };
  statusCode?: number | null;
  retryAfterMs?: number | null;
}

export type SuccessDocument<TOut> = Extract<TOut, { success: true }>;
export type FailureDocument<TOut> = Extract<TOut, { success: false }>;

/** One JSON log line of the worker (structlog: `level`, `time`, `event`, then fields). */
export interface WorkerLogEntry {
  level?: string;
  event?: string;
  time?: string;
  [field: string]: unknown;
}

/** A `{"type": "progress"}` line: the probe worker prints one after each turn. */
export interface WorkerProgress {
  type: "progress";
  turn: number;
  of: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  [field: string]: unknown;
}

/** Why the host stopped the worker, if it did. */
export type StopReason = "timeout" | "aborted";

export interface SpawnOptions {
  /** The interpreter; default: PROBE_PYTHON, else the repo's .venv python, else python3. */
  python?: string;
  /** Arguments after the script path. */
  args?: string[];
  cwd?: string;
  /** The worker's whole environment (default: this process's). Provider keys live here. */
  env?: NodeJS.ProcessEnv;
  /** Stop the worker after this long (SIGTERM, then SIGKILL after `killGraceMs`). Default: never. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL. Default 5000 ms (a worker answers SIGTERM well within a second). */
  killGraceMs?: number;
  /** Aborting stops the worker like a timeout does. */
  signal?: AbortSignal;
  /** Every stderr line that is not progress: JSON lines parsed, other lines as `{level: "stderr", event}`. */
  logger?: (entry: WorkerLogEntry) => void;
  onProgress?: (progress: WorkerProgress) => void;
  /** How much of the end of stderr a process failure carries. Default 8192 characters. */
  stderrTailChars?: number;
}

export interface Outcome {
  durationMs: number;
  /** Set when the host stopped the worker (timeout or abort); the worker may still have answered. */
  stopped: StopReason | null;
}

export interface SpawnSuccess<TOut> extends Outcome {
  kind: "success";
  success: true;
  data: SuccessDocument<TOut>;
}

/** The worker ran and reported a failure: its document, with `retryable` and `retryAfterMs` lifted up. */
export interface SpawnWorkerError<TOut> extends Outcome {
  kind: "worker_error";
  success: false;
  document: FailureDocument<TOut>;
  error: FailureDocument<TOut> extends { error: infer E } ? E : WorkerErrorInfo;
  retryable: boolean;
  retryAfterMs: number | null;
}

export type ProcessFailureReason =
  | "spawn_error" // the interpreter could not be started
  | "crash" // exited non-zero or was killed, with no document on stdout
  | "invalid_output" // stdout is not one worker JSON document
  | "timeout" // stopped at timeoutMs before it printed a document
  | "aborted"; // stopped by the AbortSignal before it printed a document

/** No usable document: the process itself failed. */
export interface SpawnProcessFailure extends Outcome {
  kind: "process_error";
  success: false;
  reason: ProcessFailureReason;
  message: string;
  /** timeout and aborted are worth retrying; a crash, bad output or a missing interpreter is not. */
  retryable: boolean;
  retryAfterMs: null;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The start of what stdout held (for invalid_output). */
  stdout: string;
  stderrTail: string;
}

export type SpawnResult<TOut> = SpawnSuccess<TOut> | SpawnWorkerError<TOut> | SpawnProcessFailure;

const DEFAULT_KILL_GRACE_MS = 5_000;
const DEFAULT_STDERR_TAIL_CHARS = 8_192;
const STDOUT_EXCERPT_CHARS = 2_000;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isErrorInfo(value: unknown): value is WorkerErrorInfo {
  return (
    isRecord(value) &&
    typeof value.message === "string" &&
    typeof value.code === "string" &&
    typeof value.retryable === "boolean"
  );
}

/** Reads stdout as one worker document, or says why it is not one. */
export function parseWorkerDocument(stdout: string): { document: WorkerDocument } | { problem: string } {
  const text = stdout.trim();
  if (text === "") return { problem: "stdout is empty" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { problem: `stdout is not one JSON document (${(error as Error).message})` };
  }
  return checkWorkerDocument(parsed, "stdout");
}

/** Checks that an already parsed value is a worker document; `where` names it in the problem. */
export function checkWorkerDocument(value: unknown, where: string): { document: WorkerDocument } | { problem: string } {
  if (!isRecord(value) || typeof value.success !== "boolean") {
    return { problem: `${where} is JSON but not a worker document (no boolean \`success\`)` };
  }
  if (value.success === false && !isErrorInfo(value.error)) {
    return { problem: `${where} is a failure document without a valid \`error\` (message, code, retryable)` };
  }
  return { document: value as unknown as WorkerDocument };
}

/** The typed result for a worker document: `success` with its data, or `worker_error` with its error lifted up. */
export function documentResult<TOut extends WorkerDocument>(
  document: WorkerDocument,
  outcome: Outcome,
): SpawnSuccess<TOut> | SpawnWorkerError<TOut> {
  if (document.success) {
    return { kind: "success", success: true, data: document as SuccessDocument<TOut>, ...outcome };
  }
  const failure = document as FailureDocument<TOut> & { error: WorkerErrorInfo };
  return {
    kind: "worker_error",
    success: false,
    document: failure,
    error: failure.error as SpawnWorkerError<TOut>["error"],
    retryable: failure.error.retryable,
    retryAfterMs: failure.error.retryAfterMs ?? null,
    ...outcome,
  };
}

export type ProcessFailureFields = Partial<
  Pick<SpawnProcessFailure, "exitCode" | "signal" | "stdout" | "stderrTail" | "stopped" | "retryable">
>;

/** A process failure; retryable by default only for timeout and aborted. */
export function processFailure(
  reason: ProcessFailureReason,
  message: string,
  durationMs: number,
  fields: ProcessFailureFields = {},
): SpawnProcessFailure {
  return {
    kind: "process_error",
    success: false,
    reason,
    message,
    retryable: fields.retryable ?? (reason === "timeout" || reason === "aborted"),
    retryAfterMs: null,
    exitCode: fields.exitCode ?? null,
    signal: fields.signal ?? null,
    stdout: fields.stdout ?? "",
    stderrTail: fields.stderrTail ?? "",
    durationMs,
    stopped: fields.stopped ?? null,
  };
}

/** One stderr line as a log entry: a JSON object as is, anything else as `{level: "stderr", event: line}`. */
export function parseLogLine(line: string): WorkerLogEntry {
  try {
    const parsed: unknown = JSON.parse(line);
    if (isRecord(parsed)) return parsed;
  } catch {
    // not JSON: kept as text below
  }
  return { level: "stderr", event: line };
}

export function isProgress(entry: WorkerLogEntry): entry is WorkerProgress {
  return entry.type === "progress" && typeof entry.turn === "number" && typeof entry.of === "number";
}

/** Splits a byte stream into lines, keeping only the last `tailChars` characters as a tail. */
export class LineReader {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  tail = "";

  constructor(
    private readonly tailChars: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    this.take(this.decoder.write(chunk));
  }

  end(): void {
    this.take(this.decoder.end());
    if (this.pending !== "") this.onLine(this.pending);
    this.pending = "";
  }

  private take(text: string): void {
    if (text === "") return;
    this.tail = this.tailChars > 0 ? (this.tail + text).slice(-this.tailChars) : "";
    const lines = (this.pending + text).split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.onLine(line);
  }
}

export function safely(callback: () => void): void {
  try {
    callback();
  } catch {
    // A host callback that throws must not break reading the worker's output.
  }
}

/**
 * Runs `python script` with `input` as the JSON job on stdin; never rejects.
 *
 * `TOut` is the worker's output document union (e.g. `ProbeOutput`): `success: true`
 * documents come back as `data`, `success: false` ones as `document` and `error`.
 */
export function spawnPython<TIn, TOut extends WorkerDocument>(
  script: string,
  input: TIn,
  options: SpawnOptions = {},
): Promise<SpawnResult<TOut>> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const tailChars = options.stderrTailChars ?? DEFAULT_STDERR_TAIL_CHARS;

  const failed = (reason: ProcessFailureReason, message: string, fields: ProcessFailureFields = {}): SpawnProcessFailure =>
    processFailure(reason, message, elapsed(), fields);

  if (options.signal?.aborted) {
    return Promise.resolve(failed("aborted", "aborted before the worker was started", { stopped: "aborted" }));
  }

  return new Promise((resolvePromise) => {
    const python = options.python ?? defaultPython(options.env ?? process.env);
    const child = spawn(python, [script, ...(options.args ?? [])], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });

    let settled = false;
    let stopped: StopReason | null = null;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stdoutChunks: Buffer[] = [];

    const stderr = new LineReader(tailChars, (line) => {
      if (line.trim() === "") return;
      const entry = parseLogLine(line);
      if (isProgress(entry)) {
        if (options.onProgress) safely(() => options.onProgress?.(entry as WorkerProgress));
      } else if (options.logger) {
        safely(() => options.logger?.(entry));
      }
    });

    const stop = (why: StopReason): void => {
      if (stopped !== null || settled) return;
      stopped = why;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    };
    const onAbort = (): void => stop("aborted");

    const finish = (result: SpawnResult<TOut>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", onAbort);
      resolvePromise(result);
    };

    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill of a running worker: 'close' still comes
      finish(failed("spawn_error", `could not start ${python}: ${error.message}`, { stopped }));
    });

    child.stdout.on("data", (chunk: Buffer) => stdoutChunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => {
      // EPIPE: the worker exited without reading its job; 'close' reports what happened.
    });

    child.on("close", (exitCode, signal) => {
      stderr.end();
      const stdout = Buffer.concat(stdoutChunks).toString("utf8");
      const parsed = parseWorkerDocument(stdout);
      const outcome: Outcome = { durationMs: elapsed(), stopped };
      if ("document" in parsed) {
        finish(documentResult<TOut>(parsed.document, outcome));
        return;
      }
      const fields = { exitCode, signal, stdout: stdout.slice(0, STDOUT_EXCERPT_CHARS), stderrTail: stderr.tail, stopped };
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
      if (stopped === "timeout") {
        finish(failed("timeout", `no document within ${options.timeoutMs} ms; the worker ${how}`, fields));
      } else if (stopped === "aborted") {
        finish(failed("aborted", `aborted; the worker ${how} without a document`, fields));
      } else if (exitCode !== 0) {
        finish(failed("crash", `the worker ${how} (${parsed.problem})`, fields));
      } else {
        finish(failed("invalid_output", parsed.problem, fields));
      }
    });

    if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
      timeoutTimer = setTimeout(() => stop("timeout"), options.timeoutMs);
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdin.end(JSON.stringify(input));
  });
}
