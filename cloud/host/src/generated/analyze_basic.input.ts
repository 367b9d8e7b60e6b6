/* eslint-disable */
/* Generated from cloud/workers/schema/analyze_basic.input.schema.json by `npm run generate` (cloud/host): do not edit. */

/**
 * The job cloud/workers/analyze_basic.py reads on stdin.
 */
export interface AnalyzeBasicJob {
  emitVignetteSemantics?: boolean;
  aggregateSemantics?: AggregateSemanticsInput | null;
  valuePair?: ValuePair | null;
  targetCompanionRunId?: string | null;
  runId: string;
  transcripts: AnalysisTranscript[];
}
/**
 * Aggregate mode: transcripts of several runs of one signature, pooled.
 */
export interface AggregateSemanticsInput {
  mode: "same_signature_v1";
  plannedScenarioIds: string[];
  minRepeatCoverageCount: number;
  minRepeatCoverageShare: number;
  lowCoverageCautionThreshold: number;
  driftWarningThreshold: number;
}
export interface ValuePair {
  valueA?: string | null;
  valueB?: string | null;
}
export interface AnalysisTranscript {
  id: string;
  modelId: string;
  scenarioId: string;
  sampleIndex?: number | null;
  runId?: string | null;
  orientationFlipped?: boolean | null;
  decisionModelV2?: DecisionModelV2 | null;
  summary?: TranscriptSummary | null;
  scenario?: ScenarioInfo | null;
}
export interface DecisionModelV2 {
  raw?: {
    [k: string]: unknown | undefined;
  };
  canonical?: CanonicalDecision | null;
}
export interface CanonicalDecision {
  direction: "favor_first" | "favor_second" | "neutral" | "refusal" | "unknown";
  strength: "strong" | "lean" | "neutral" | "unknown";
}
export interface TranscriptSummary {
  values?: {
    [k: string]: "prioritized" | "deprioritized" | "neutral" | undefined;
  } | null;
}
export interface ScenarioInfo {
  name?: string | null;
  dimensions?: {
    [k: string]: string | number | null | undefined;
  } | null;
}
