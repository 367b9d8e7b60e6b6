/* eslint-disable */
/* Generated from cloud/workers/schema/analyze_basic.output.schema.json by `npm run generate` (cloud/host): do not edit. */

/**
 * The one document cloud/workers/analyze_basic.py prints on stdout (contractVersion 2.0).
 */
export type AnalyzeBasicOutput = AnalyzeBasicSuccess | WorkerFailure;
/**
 * The closed set of warning codes; README lists what each one means.
 */
export type AnalysisWarningCode =
  | "NO_TRANSCRIPTS"
  | "UNSCORED_TRANSCRIPTS"
  | "NO_SCORED_TRANSCRIPTS"
  | "DUPLICATE_TRANSCRIPT_IDS"
  | "TOO_FEW_MODELS"
  | "PAIRS_WITHOUT_CORRELATION"
  | "OUTLIER_DETECTION_LIMITED"
  | "NO_DIMENSIONS"
  | "PARTIAL_DIMENSIONS"
  | "CONFLICTING_DIMENSIONS"
  | "DIMENSION_NOT_TESTED"
  | "NO_REPEATS"
  | "NO_CONTESTED_SCENARIOS"
  | "LOW_REPEAT_COVERAGE"
  | "HIGH_DRIFT";
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
  preferenceSummary: PreferenceSummary | null;
  reliabilitySummary: ReliabilitySummary | null;
  aggregateSemantics: AggregateSemanticsResult | null;
  modelAgreement: ModelAgreement;
  dimensionAnalysis: DimensionAnalysis;
  varianceAnalysis: VarianceAnalysis;
  mostContestedScenarios: ContestedScenario[];
  visualizationData: VisualizationData;
  methodsUsed: MethodsUsed;
  warnings: AnalysisWarning[];
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
  overall?: ScoreSummary | null;
}
/**
 * `winRate` is the mean over scenarios of prioritized / all outcomes in that scenario.
 *
 * `count` is condition-weighted (the host adds these up across runs); `rawCount` holds
 * the transcripts' outcomes as counted.
 */
export interface ValueWinRate {
  winRate: number;
  scenarioCount: number;
  count: WeightedOutcomeCounts;
  rawCount: OutcomeCounts;
}
/**
 * Condition-weighted counts: each scenario adds its outcome shares, summing to 1.
 */
export interface WeightedOutcomeCounts {
  prioritized: number;
  deprioritized: number;
  neutral: number;
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
export interface PreferenceSummary {
  perModel: {
    [k: string]: ModelPreference | undefined;
  };
}
export interface ModelPreference {
  preferenceDirection: PreferenceDirection;
  preferenceStrength: number | null;
}
export interface PreferenceDirection {
  byValue: {
    [k: string]: PreferenceValue | undefined;
  };
  overallLean: ("A" | "B" | "NEUTRAL") | null;
  overallSignedCenter: number | null;
}
export interface PreferenceValue {
  winRate: number;
  count: WeightedOutcomeCounts;
}
export interface ReliabilitySummary {
  perModel: {
    [k: string]: ModelReliability | undefined;
  };
}
export interface ModelReliability {
  baselineNoise: number | null;
  baselineReliability: number | null;
  directionalAgreement: number | null;
  neutralShare: number | null;
  coverageCount: number;
  uniqueScenarios: number;
  perScenario: {
    [k: string]: BernoulliAgreement | undefined;
  };
  perPair?: {
    [k: string]: PairCoverage | undefined;
  } | null;
}
/**
 * Pairs of repeats of one scenario (`trials`) and pairs in the same bucket (`matches`).
 */
export interface BernoulliAgreement {
  matches: number;
  trials: number;
}
export interface PairCoverage {
  targetAnalysisRunId: string;
  targetCompanionRunId: string | null;
  primaryConditionIds: string[];
  companionConditionIds: string[];
  perCondition: ConditionPressure[];
}
export interface ConditionPressure {
  scenarioId: string;
  netPressureRank: number | null;
  winRate: number | null;
  matches: number;
  trials: number;
}
export interface AggregateSemanticsResult {
  mode: "same_signature_v1";
  perModelRepeatCoverage: {
    [k: string]: RepeatCoverage | undefined;
  };
  perModelDrift: {
    [k: string]: ModelDrift | undefined;
  };
}
export interface RepeatCoverage {
  repeatCoverageCount: number;
  repeatCoverageShare: number;
  contributingRunCount: number;
}
export interface ModelDrift {
  weightedOverallSignedCenterSd: number | null;
  exceedsWarningThreshold: boolean;
  runCount: number;
}
export interface ModelAgreement {
  pairwise: {
    [k: string]: PairwiseAgreement | undefined;
  };
  overallAgreement: number | null;
  outlierModels: string[];
  pairs: PairAgreement[];
  agreementSummary: OverallAgreement | null;
  perModel: {
    [k: string]: ModelAgreementScore | undefined;
  };
  outlierModelDetails: OutlierModel[];
}
/**
 * The host's pair entry (`modelAgreement.pairwise["modelA:modelB"]`).
 */
export interface PairwiseAgreement {
  spearmanRho: number;
  pValue: number;
  pValueCorrected: number;
  significant: boolean;
  effectSize: number;
  effectInterpretation: "negligible" | "small" | "medium" | "large";
  scenarioCount: number;
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
export interface DimensionAnalysis {
  dimensions: {
    [k: string]: DimensionResult | undefined;
  };
  varianceExplained: number | null;
  method: "kruskal_wallis";
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
  isMultiSample: boolean;
  samplesPerScenario: number;
  orientationCorrectedCount: number;
  perModel: {
    [k: string]: ModelVariance | undefined;
  };
  mostVariableScenarios: VariableCell[];
  leastVariableScenarios: VariableCell[];
  repeatGroups: {
    [k: string]:
      | {
          [k: string]: RepeatGroup | undefined;
        }
      | undefined;
  };
  mostVariableScenariosAcrossModels: ScenarioVariability[];
  leastVariableScenariosAcrossModels: ScenarioVariability[];
}
/**
 * The host's `ModelVarianceStats`, plus `groupsWithRepeats`.
 */
export interface ModelVariance {
  totalSamples: number;
  uniqueScenarios: number;
  samplesPerScenario: number;
  avgWithinScenarioVariance: number;
  maxWithinScenarioVariance: number;
  consistencyScore: number;
  groupsWithRepeats: number;
  perScenario: {
    [k: string]: SampleVarianceStats | undefined;
  };
}
/**
 * The host's per-scenario `VarianceStats` of one model (sample variance, ddof=1).
 */
export interface SampleVarianceStats {
  sampleCount: number;
  mean: number;
  stdDev: number;
  variance: number;
  min: number;
  max: number;
  range: number;
  directionCounts: DirectionCounts;
  direction: "A" | "B" | "NEUTRAL";
  directionalAgreement: number;
  medianSignedDistance: number;
  iqr: number | null;
  neutralShare: number;
  orientationCorrected: boolean;
}
/**
 * Scored samples per canonical bucket, keyed as the original worker keyed them.
 */
export interface DirectionCounts {
  "favor_first.strong": number;
  "favor_first.lean": number;
  "neutral.neutral": number;
  "favor_second.lean": number;
  "favor_second.strong": number;
}
/**
 * The host's `ScenarioVarianceStats`: one model's repeats of one scenario.
 */
export interface VariableCell {
  scenarioId: string;
  scenarioName: string;
  modelId: string;
  mean: number;
  stdDev: number;
  variance: number;
  range: number;
  sampleCount: number;
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
export interface ScenarioVariability {
  scenarioId: string;
  scenarioName: string | null;
  avgWithinVariance: number;
  groupCount: number;
}
export interface ContestedScenario {
  scenarioId: string;
  scenarioName: string;
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
/**
 * Transcripts per decision bucket of one model, under three vocabularies.
 *
 * `favor_first.strong` .. `neutral.neutral` are the original worker's keys (scored only);
 * `strongly`, `somewhat`, `neutral`, `opponentSomewhat`, `opponentStrongly` are the ones
 * the host's decision chart and aggregate read; `strongFirst` .. `missing` are this
 * worker's, with the unscored reasons.
 */
export interface DecisionBuckets {
  "favor_first.strong": number;
  "favor_first.lean": number;
  "neutral.neutral": number;
  "favor_second.lean": number;
  "favor_second.strong": number;
  strongly: number;
  somewhat: number;
  opponentSomewhat: number;
  opponentStrongly: number;
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
  modelComparison: "spearman_rho";
  pValueCorrection: "holm_bonferroni";
  effectSize: "cohens_d";
  dimensionTest: "kruskal_wallis";
  varianceMetrics: "sample_variance";
  alpha: number;
  codeVersion: string;
  summaryContractVersion: "vignette-semantics-v1";
  scoring: string;
  winRate: string;
  overallScore: string;
  confidenceInterval: string;
  correlation: string;
  multipleComparison: string;
  effectSizeDetail: string;
  outlierDetection: string;
  dimensionTestDetail: string;
  dimensionEffectSize: string;
  varianceExplained: string;
  variance: string;
  contestedScenarios: string;
  preferenceSummary: string;
  reliabilitySummary: string;
  aggregateSemantics: string;
  differencesFromOriginal: string[];
}
/**
 * The host's `AnalysisWarning`: all three fields are non-null strings.
 */
export interface AnalysisWarning {
  code: AnalysisWarningCode;
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
