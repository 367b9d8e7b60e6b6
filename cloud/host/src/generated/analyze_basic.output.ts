/* eslint-disable */
/* Generated from cloud/workers/schema/analyze_basic.output.schema.json by `npm run generate` (cloud/host): do not edit. */

/**
 * The one document cloud/workers/analyze_basic.py prints on stdout (contractVersion 1.0).
 */
export type AnalyzeBasicOutput = AnalyzeBasicSuccess | WorkerFailure;
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

export interface AnalyzeBasicSuccess {
  success: true;
  contractVersion: string;
  analysis: Analysis;
}
export interface Analysis {
  runId: string;
  totals: RunTotals;
  perModel: {
    [k: string]: ModelStats | undefined;
  };
  modelAgreement: ModelAgreement;
  dimensionAnalysis: {
    [k: string]: DimensionResult | undefined;
  };
  varianceAnalysis: VarianceAnalysis;
  mostContestedScenarios: ContestedScenario[];
  visualizationData: VisualizationData;
  methodsUsed: MethodsUsed;
  warnings: string[];
  computedAt: string;
  durationMs: number;
}
export interface RunTotals {
  transcripts: number;
  scored: number;
  unscored: UnscoredCounts;
  models: number;
  scenarios: number;
}
export interface UnscoredCounts {
  refusal: number;
  unknown: number;
  missing: number;
}
export interface ModelStats {
  sampleSize: number;
  scoredCount: number;
  unscoredCount: number;
  unscoredReasons: UnscoredCounts;
  conditionCount: number;
  values: {
    [k: string]: ValueWinRate | undefined;
  };
  overall: ScoreSummary | null;
}
/**
 * `winRate` is the mean over scenarios of prioritized / all outcomes in that scenario.
 */
export interface ValueWinRate {
  winRate: number;
  scenarioCount: number;
  count: OutcomeCounts;
}
export interface OutcomeCounts {
  prioritized: number;
  deprioritized: number;
  neutral: number;
}
/**
 * Over the model's per-scenario mean scores (one number per scenario it scored).
 */
export interface ScoreSummary {
  scenarioCount: number;
  mean: number;
  stdDev: number;
  min: number;
  max: number;
  confidenceInterval: ConfidenceInterval | null;
}
export interface ConfidenceInterval {
  level: number;
  lower: number;
  upper: number;
  method: "t";
}
export interface ModelAgreement {
  pairs: PairAgreement[];
  overallAgreement: OverallAgreement | null;
  perModel: {
    [k: string]: ModelAgreementScore | undefined;
  };
  outlierModels: OutlierModel[];
}
export interface PairAgreement {
  modelA: string;
  modelB: string;
  scenarioCount: number;
  spearmanRho: number | null;
  pValue: number | null;
  pValueAdjusted: number | null;
  significant: boolean;
  cohensD: number | null;
  effectSize: ("negligible" | "small" | "medium" | "large") | null;
  reason: string | null;
}
export interface OverallAgreement {
  meanRho: number;
  medianRho: number;
  minRho: number;
  maxRho: number;
  pairCount: number;
  significantPairCount: number;
}
export interface ModelAgreementScore {
  meanRho: number;
  zScore: number | null;
}
export interface OutlierModel {
  modelId: string;
  meanRho: number;
  zScore: number;
}
export interface DimensionResult {
  test: "kruskal-wallis";
  statistic: number | null;
  pValue: number;
  significant: boolean;
  effectSize: number;
  rank: number;
  n: number;
  groupCount: number;
  scenarioCount: number;
  scenariosWithoutLevel: number;
  levels: {
    [k: string]: LevelStats | undefined;
  };
  reason: string | null;
}
export interface LevelStats {
  count: number;
  mean: number;
  median: number;
}
export interface VarianceAnalysis {
  repeatGroups: {
    [k: string]:
      | {
          [k: string]: RepeatGroup | undefined;
        }
      | undefined;
  };
  perModel: {
    [k: string]: ModelConsistency | undefined;
  };
  mostVariableScenarios: ScenarioVariability[];
  leastVariableScenarios: ScenarioVariability[];
}
/**
 * One model's repeated samples of one scenario; statistics over its scored samples.
 */
export interface RepeatGroup {
  transcriptCount: number;
  sampleCount: number;
  mean: number | null;
  stdDev: number | null;
  variance: number | null;
  min: number | null;
  max: number | null;
  range: number | null;
  directionalAgreement: number | null;
  neutralShare: number | null;
}
export interface ModelConsistency {
  consistencyScore: number | null;
  avgWithinScenarioVariance: number | null;
  groupsWithRepeats: number;
}
export interface ScenarioVariability {
  scenarioId: string;
  scenarioName: string | null;
  avgWithinVariance: number;
  groupCount: number;
}
export interface ContestedScenario {
  scenarioId: string;
  scenarioName: string | null;
  variance: number;
  stdDev: number;
  mean: number;
  min: number;
  max: number;
  modelCount: number;
  modelScores: {
    [k: string]: number | undefined;
  };
}
export interface VisualizationData {
  decisionDistribution: {
    [k: string]: DecisionBuckets | undefined;
  };
  modelScenarioMatrix: {
    [k: string]:
      | {
          [k: string]: number | undefined;
        }
      | undefined;
  };
}
export interface DecisionBuckets {
  strongFirst: number;
  leanFirst: number;
  neutral: number;
  leanSecond: number;
  strongSecond: number;
  refusal: number;
  unknown: number;
  missing: number;
}
export interface MethodsUsed {
  alpha: number;
  scoring: string;
  winRate: string;
  overallScore: string;
  confidenceInterval: string;
  correlation: string;
  multipleComparison: string;
  effectSize: string;
  outlierDetection: string;
  dimensionTest: string;
  dimensionEffectSize: string;
  variance: string;
  contestedScenarios: string;
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
export interface CostSnapshot {
  costInputPerMillion: number;
  costOutputPerMillion: number;
  inputTokens: number;
  outputTokens: number;
  estimatedCost: number;
}
