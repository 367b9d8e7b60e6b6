/* eslint-disable */
/* Generated from cloud/workers/schema/health_check.output.schema.json by `npm run generate` (cloud/host): do not edit. */

/**
 * The one document cloud/workers/health_check.py prints on stdout (contractVersion 2.0).
 */
export type HealthCheckOutput = HealthSuccess | HealthFailure | WorkerFailure;
export type ErrorCode =
  | "RATE_LIMIT"
  | "QUOTA_EXCEEDED"
  | "AUTH_ERROR"
  | "MISSING_API_KEY"
  | "VALIDATION_ERROR"
  | "BAD_REQUEST"
  | "CONTEXT_LENGTH"
  | "CONTENT_FILTERED"
  | "NOT_FOUND"
  | "UNSUPPORTED_PROVIDER"
  | "INVALID_RESPONSE"
  | "TIMEOUT"
  | "NETWORK_ERROR"
  | "SERVER_ERROR"
  | "OVERLOADED"
  | "CANCELLED"
  | "ENVIRONMENT_ERROR"
  | "UNKNOWN";
/**
 * The closed set of transcript warning codes; README lists what each one means.
 */
export type TranscriptWarningCode =
  | "TRUNCATED"
  | "ANSWER_CUT"
  | "MODEL_VERSION_CHANGED"
  | "FOLLOWUP_SKIPPED"
  | "MAX_TURNS_DEFAULTED"
  | "MAX_TOKENS_DEFAULTED"
  | "TOKEN_LIMIT_REQUIRED"
  | "PARAM_UNUSABLE"
  | "PARAM_CONVERTED"
  | "PARAM_OUT_OF_RANGE"
  | "MAX_TOKENS_PARAM_UNKNOWN"
  | "REASONING_UNSUPPORTED"
  | "RESUME_RESPONSE_UNUSABLE";

export interface HealthSuccess {
  success: true;
  contractVersion: string;
  health: Health;
}
export interface Health {
  pythonVersion: string;
  pythonRequired: string;
  packages: {
    [k: string]: string | null | undefined;
  };
  packageChecks: {
    [k: string]: PackageHealth | undefined;
  };
  apiKeys: {
    [k: string]: boolean | undefined;
  };
  providers: {
    [k: string]: ProviderHealth | undefined;
  };
  warnings: string[];
  warningDetails: HealthWarning[];
  workers: WorkersReadiness;
  checkedBy: "metadata" | "import";
}
export interface PackageHealth {
  version: string | null;
  required: boolean;
  checkedBy: "import" | "metadata" | "missing";
  error: string | null;
  neededBy: ("probe" | "analyze_basic" | "batch" | "serve")[];
  providers: string[];
}
export interface ProviderHealth {
  status:
    | "ok"
    | "auth_error"
    | "quota_exceeded"
    | "rate_limited"
    | "unreachable"
    | "timeout"
    | "not_found"
    | "server_error"
    | "misconfigured"
    | "error";
  latencyMs: number | null;
  baseUrl: string | null;
  modelCount: number | null;
  errorCode: string | null;
  message: string | null;
}
export interface HealthWarning {
  code:
    | "NO_API_KEY"
    | "PROVIDER_SDK_UNUSABLE"
    | "WORKER_NOT_READY"
    | "FEATURE_DEGRADED"
    | "LIVE_CHECK_NO_PROVIDER"
    | "PROVIDER_UNHEALTHY"
    | "IMPORT_CHECK_INCOMPLETE";
  message: string;
  recommendation: string;
}
/**
 * One entry per worker, keyed by the script's name (`probe.py --serve` is `serve`).
 */
export interface WorkersReadiness {
  probe: WorkerReadiness;
  analyze_basic: WorkerReadiness;
  batch: WorkerReadiness;
  serve: WorkerReadiness;
}
/**
 * Can this worker run here? `ready` false only for what stops it; the rest are warnings.
 */
export interface WorkerReadiness {
  ready: boolean;
  problems: string[];
  missing: string[];
  degraded: string[];
  unavailableProviders: string[];
}
/**
 * A deployment that cannot run probes: the error says why, `health` says what was found.
 */
export interface HealthFailure {
  success: false;
  contractVersion: string;
  error: ErrorInfo;
  partialTranscript?: Transcript | null;
  health: Health;
}
export interface ErrorInfo {
  message: string;
  code: ErrorCode;
  retryable: boolean;
  details: {
    [k: string]: unknown | undefined;
  };
  statusCode?: number | null;
  retryAfterMs?: number | null;
}
export interface Transcript {
  turns: Turn[];
  totalInputTokens: number;
  totalOutputTokens: number;
  totalReasoningTokens: number;
  modelVersion: string | null;
  provider: string;
  requestedModel: string;
  startedAt: string;
  completedAt: string;
  costSnapshot?: CostSnapshot | null;
  warnings: string[];
  warningDetails: TranscriptWarning[];
}
export interface Turn {
  turnNumber: number;
  promptLabel: string;
  probePrompt: string;
  targetResponse: string;
  inputTokens: number;
  outputTokens: number;
  providerMetadata: ProviderMetadata;
  reasoning?: TurnReasoning | null;
}
export interface ProviderMetadata {
  provider: string;
  requestedModel: string;
  modelVersion: string | null;
  responseId: string | null;
  systemFingerprint?: string | null;
  finishReason: "stop" | "length" | "content_filter" | "tool_calls" | "refusal" | "other";
  rawFinishReason: string | null;
  truncated: boolean;
  reasoningTokens: number;
  cachedInputTokens: number;
  tokensEstimated: boolean;
  attempts: number;
  retries: RetryRecord[];
  timing: Timing;
  paramsSent: {
    [k: string]: unknown | undefined;
  };
  paramNotes: ParamNote[];
  rawUsage: {
    [k: string]: unknown | undefined;
  } | null;
  api?: string | null;
  reattached?: boolean | null;
  reasoning?: TurnReasoningSetting | null;
  via?: "batch" | null;
  batchId?: string | null;
  batchRequestId?: string | null;
  batchCustomId?: string | null;
}
export interface RetryRecord {
  attempt: number;
  code: ErrorCode;
  statusCode?: number | null;
  waitedMs: number;
}
export interface Timing {
  requestMs: number;
  totalMs: number;
}
/**
 * A parameter the worker did not send as asked, and why.
 *
 * Actions: `dropped` (not sent: the provider has no such parameter, the model ignores
 * it, or the value is unusable), `renamed` (sent under the provider's name), `clamped`
 * (moved into the provider's documented range, or a list cut to its documented length),
 * `converted` (a value of another shape made usable, e.g. one stop string -> a list),
 * `defaulted` (an unusable or absent value replaced by the documented default),
 * `retried_without` / `lowered` (the provider rejected it; the turn was retried),
 * `raised` (a token limit raised to leave room for a thinking budget inside it).
 */
export interface ParamNote {
  param: string;
  action: "dropped" | "renamed" | "retried_without" | "lowered" | "clamped" | "converted" | "defaulted" | "raised";
  reason: string;
}
/**
 * The reasoning setting of one turn: what the job asked (`config` + `modelConfig`, merged)
 * and the provider-native fields sent for it (also in `paramsSent`); null and null when
 * the job set none, so the provider's own default applied.
 */
export interface TurnReasoningSetting {
  requested: ReasoningConfig | null;
  sent: {
    [k: string]: unknown | undefined;
  } | null;
}
/**
 * How much a reasoning model may think: `config.reasoning`, overridden field by field
 * by `modelConfig.reasoning`, mapped per provider (common.providers.reasoning).
 *
 * `effort` is a level; `budgetTokens` a thinking budget in tokens (`0`: off, `"dynamic"`:
 * the model decides), which wins over `effort` where the provider takes a budget.
 * `summary` asks for a reasoning summary where the provider offers one; `capture`
 * (default on) records the reasoning text a provider returns in each turn. A value the
 * job cannot mean (an unknown effort, a negative budget) is a VALIDATION_ERROR, in
 * `config` and in `modelConfig` alike.
 */
export interface ReasoningConfig {
  effort: ("none" | "minimal" | "low" | "medium" | "high" | "max") | null;
  budgetTokens: number | "dynamic" | null;
  summary: ("auto" | "concise" | "detailed") | null;
  capture: boolean | null;
}
/**
 * The reasoning a provider returned with the answer (recorded when `capture` is on).
 *
 * `text`: the reasoning as returned (Anthropic thinking blocks, DeepSeek and xAI
 * `reasoning_content`, Mistral thinking chunks); `summary`: a reasoning summary
 * (Gemini thought summaries); `redactedBlocks`: Anthropic `redacted_thinking` blocks,
 * counted, never decoded.
 */
export interface TurnReasoning {
  text: string | null;
  summary: string | null;
  redactedBlocks: number;
}
export interface CostSnapshot {
  costInputPerMillion: number;
  costOutputPerMillion: number;
  inputTokens: number;
  outputTokens: number;
  estimatedCost: number;
  batchPriceFactor?: number | null;
  onlineEstimatedCost?: number | null;
}
/**
 * One transcript warning, in the shape the host's other warnings have.
 */
export interface TranscriptWarning {
  code: TranscriptWarningCode;
  message: string;
  recommendation: string;
}
/**
 * The failure document every worker prints; probe adds the turns that completed.
 */
export interface WorkerFailure {
  success: false;
  contractVersion: string;
  error: ErrorInfo;
  partialTranscript?: Transcript | null;
}
