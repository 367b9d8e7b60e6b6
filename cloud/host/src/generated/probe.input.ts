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
  resumeResponseId?: string | null;
}
export interface Scenario {
  preamble?: string | null;
  prompt: string;
  followups?: Followup[] | null;
}
/**
 * One followup turn. An empty or absent prompt is skipped with a transcript warning
 * (as the original worker skipped it), not refused: admins edit scenarios freely.
 */
export interface Followup {
  label?: string | null;
  prompt?: string | null;
}
/**
 * The run's settings. Ranges are the provider's (applied per provider, with a
 * `paramNote`); `maxTokens`/`maxTurns` below 1 fall back to the default with a warning.
 */
export interface ProbeConfig {
  temperature?: number | null;
  seed?: number | null;
  maxTokens?: number | null;
  maxTurns?: number | null;
  preambleMode?: ("prepend" | "system") | null;
  deadlineMs?: number | null;
  reasoning?: ReasoningConfig | null;
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
  effort?: ("none" | "minimal" | "low" | "medium" | "high" | "max") | null;
  budgetTokens?: number | "dynamic" | null;
  summary?: ("auto" | "concise" | "detailed") | null;
  capture?: boolean | null;
}
export interface ModelCost {
  costInputPerMillion: number;
  costOutputPerMillion: number;
}
/**
 * The host's `modelConfig`: per-model API settings that override `config`.
 *
 * Admins edit it freely, so it is read as leniently as the original worker read it: a
 * value of the wrong type (or a `maxTokens` below 1) is dropped with a note and the job
 * goes on (`config`'s value, or the default, applies); one stop string is a one-element
 * list. Only a non-finite number is refused. `maxTokens: null` is not the same as an
 * absent `maxTokens`: null means "no explicit limit" (see `common.probe.job_params`).
 */
export interface ModelSettings {
  maxTokensParam?: string | null;
  maxTokens?: number | null;
  temperature?: number | null;
  topP?: number | null;
  frequencyPenalty?: number | null;
  presencePenalty?: number | null;
  stopSequences?: string[] | null;
  reasoning?: ReasoningConfig | null;
  api?: ("chat" | "responses") | null;
  background?: boolean | null;
  backgroundOnStop?: ("cancel" | "detach") | null;
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
  requested?: ReasoningConfig | null;
  sent?: {
    [k: string]: unknown | undefined;
  } | null;
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
  text?: string | null;
  summary?: string | null;
  redactedBlocks?: number;
}
