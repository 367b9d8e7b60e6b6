/* eslint-disable */
/* Generated from cloud/workers/schema/probe.input.schema.json by `npm run generate` (cloud/host): do not edit. */

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
 * The job cloud/workers/probe.py reads on stdin.
 */
export interface ProbeJob {
  runId: string;
  scenarioId: string;
  modelId: string;
  scenario: Scenario;
  config?: ProbeConfig | null;
  modelCost?: ModelCost | null;
  modelConfig?: ModelSettings | null;
  priorTurns?: Turn[] | null;
}
export interface Scenario {
  preamble?: string | null;
  prompt: string;
  followups?: Followup[] | null;
}
export interface Followup {
  label?: string | null;
  prompt: string;
}
export interface ProbeConfig {
  temperature?: number | null;
  seed?: number | null;
  maxTokens?: number | null;
  maxTurns?: number | null;
  preambleMode?: ("prepend" | "system") | null;
  deadlineMs?: number | null;
}
export interface ModelCost {
  costInputPerMillion: number;
  costOutputPerMillion: number;
}
/**
 * The host's `modelConfig`: per-model API settings that override `config`.
 */
export interface ModelSettings {
  maxTokensParam?: string | null;
  maxTokens?: number | null;
  temperature?: number | null;
  topP?: number | null;
  frequencyPenalty?: number | null;
  presencePenalty?: number | null;
  stopSequences?: string[] | null;
}
export interface Turn {
  turnNumber: number;
  promptLabel: string;
  probePrompt: string;
  targetResponse: string;
  inputTokens: number;
  outputTokens: number;
  providerMetadata: ProviderMetadata;
}
export interface ProviderMetadata {
  provider: string;
  requestedModel: string;
  modelVersion: string | null;
  responseId: string | null;
  systemFingerprint?: string | null;
  finishReason: "stop" | "length" | "content_filter" | "tool_calls" | "refusal" | "other";
  rawFinishReason: string | null;
  truncated?: boolean;
  reasoningTokens: number;
  cachedInputTokens: number;
  tokensEstimated?: boolean;
  attempts: number;
  retries?: RetryRecord[];
  timing: Timing;
  paramsSent: {
    [k: string]: unknown | undefined;
  };
  paramNotes?: ParamNote[];
  rawUsage?: {
    [k: string]: unknown | undefined;
  } | null;
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
 */
export interface ParamNote {
  param: string;
  action: "dropped" | "renamed" | "retried_without" | "lowered";
  reason: string;
}
