"""Wire shapes of the analyze_basic worker: the run it reads and the statistics it prints.

The input models describe the contract (and generate its JSON Schema); the worker does
not build them for every transcript of a large run, it checks the same rules column by
column (common/analysis/extract.py) and a test keeps the two in agreement. The output
models are built for every result, with NaN and infinity refused, so a host never
receives a non-JSON number.

The output carries every field the ValueRank host stores, validates (its zod
`zAnalysisOutput`), serves over GraphQL and draws, with the host's names, types and
meaning; this worker's own richer fields sit beside them. Where a name is the host's,
the host's shape is the one printed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from common.contract.probe import CONTRACT_VERSION, WireModel

# ---------------------------------------------------------------- input

Direction = Literal["favor_first", "favor_second", "neutral", "refusal", "unknown"]
Strength = Literal["strong", "lean", "neutral", "unknown"]
ValueOutcome = Literal["prioritized", "deprioritized", "neutral"]
TextId = Annotated[StrictStr, Field(min_length=1)]
# A scenario dimension's level: a label ("high") or a number (3); null means "not set".
DimensionLevel = StrictStr | StrictInt | StrictFloat
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


def _omit_if_none(value: Any) -> bool:
    return value is None


class StrictInput(WireModel):
    model_config = ConfigDict(strict=True)


class CanonicalDecision(StrictInput):
    direction: Direction
    strength: Strength


class DecisionModelV2(StrictInput):
    raw: Any = None  # what the host's decision parser saw; read by no statistic
    canonical: CanonicalDecision | None = None


class TranscriptSummary(StrictInput):
    values: dict[StrictStr, ValueOutcome] | None = None


class ScenarioInfo(StrictInput):
    name: StrictStr | None = None
    dimensions: dict[StrictStr, DimensionLevel | None] | None = None


class AnalysisTranscript(StrictInput):
    id: TextId
    model_id: TextId
    scenario_id: TextId
    sample_index: NonNegativeInt | None = None
    # Which source run the transcript came from; required in aggregate mode.
    run_id: TextId | None = None
    # The host already flipped the canonical decision back; counted in orientationCorrected*.
    orientation_flipped: StrictBool | None = None
    decision_model_v2: DecisionModelV2 | None = None
    summary: TranscriptSummary | None = None
    scenario: ScenarioInfo | None = None


class AggregateSemanticsInput(StrictInput):
    """Aggregate mode: transcripts of several runs of one signature, pooled."""

    mode: Literal["same_signature_v1"]
    planned_scenario_ids: list[StrictStr]
    min_repeat_coverage_count: NonNegativeInt
    min_repeat_coverage_share: FiniteNumber
    low_coverage_caution_threshold: NonNegativeInt
    drift_warning_threshold: FiniteNumber


class ValuePair(StrictInput):
    value_a: StrictStr | None = None
    value_b: StrictStr | None = None


class AnalysisOptions(StrictInput):
    """The job's fields other than runId and transcripts (validated once, not per transcript)."""

    emit_vignette_semantics: StrictBool = True
    aggregate_semantics: AggregateSemanticsInput | None = None
    value_pair: ValuePair | None = None
    target_companion_run_id: StrictStr | None = None


class AnalyzeBasicJob(AnalysisOptions):
    run_id: TextId
    transcripts: list[AnalysisTranscript]


# ---------------------------------------------------------------- output


class ResultModel(WireModel):
    model_config = ConfigDict(allow_inf_nan=False)


EffectSizeLabel = Literal["negligible", "small", "medium", "large"]
Lean = Literal["A", "B", "NEUTRAL"]  # A: favours the first option; B: the second


class AnalysisWarningCode(StrEnum):
    """The closed set of warning codes; README lists what each one means."""

    NO_TRANSCRIPTS = "NO_TRANSCRIPTS"
    UNSCORED_TRANSCRIPTS = "UNSCORED_TRANSCRIPTS"
    NO_SCORED_TRANSCRIPTS = "NO_SCORED_TRANSCRIPTS"
    DUPLICATE_TRANSCRIPT_IDS = "DUPLICATE_TRANSCRIPT_IDS"
    TOO_FEW_MODELS = "TOO_FEW_MODELS"
    PAIRS_WITHOUT_CORRELATION = "PAIRS_WITHOUT_CORRELATION"
    OUTLIER_DETECTION_LIMITED = "OUTLIER_DETECTION_LIMITED"
    NO_DIMENSIONS = "NO_DIMENSIONS"
    PARTIAL_DIMENSIONS = "PARTIAL_DIMENSIONS"
    CONFLICTING_DIMENSIONS = "CONFLICTING_DIMENSIONS"
    DIMENSION_NOT_TESTED = "DIMENSION_NOT_TESTED"
    NO_REPEATS = "NO_REPEATS"
    NO_CONTESTED_SCENARIOS = "NO_CONTESTED_SCENARIOS"
    LOW_REPEAT_COVERAGE = "LOW_REPEAT_COVERAGE"
    HIGH_DRIFT = "HIGH_DRIFT"


class AnalysisWarning(ResultModel):
    """The host's `AnalysisWarning`: all three fields are non-null strings."""

    code: AnalysisWarningCode
    message: str
    recommendation: str


class UnscoredCounts(ResultModel):
    refusal: int
    unknown: int
    missing: int


class RunTotals(ResultModel):
    transcripts: int
    scored: int
    unscored: UnscoredCounts
    models: int
    scenarios: int


class OutcomeCounts(ResultModel):
    prioritized: int
    deprioritized: int
    neutral: int


class WeightedOutcomeCounts(ResultModel):
    """Condition-weighted counts: each scenario adds its outcome shares, summing to 1."""

    prioritized: float
    deprioritized: float
    neutral: float


class ValueWinRate(ResultModel):
    """`winRate` is the mean over scenarios of prioritized / all outcomes in that scenario.

    `count` is condition-weighted (the host adds these up across runs); `rawCount` holds
    the transcripts' outcomes as counted.
    """

    win_rate: float
    scenario_count: int
    count: WeightedOutcomeCounts
    raw_count: OutcomeCounts


class ConfidenceInterval(ResultModel):
    level: float
    lower: float
    upper: float
    method: Literal["t"] = "t"


class ScoreSummary(ResultModel):
    """Over the model's per-scenario mean scores (one number per scenario it scored)."""

    scenario_count: int
    mean: float
    std_dev: float
    min: float
    max: float
    confidence_interval: ConfidenceInterval | None


class ModelStats(ResultModel):
    sample_size: int
    scored_count: int
    unscored_count: int
    unscored_reasons: UnscoredCounts
    condition_count: int
    values: dict[str, ValueWinRate]
    # Left out for a model with no scored transcript (the host reads `overall.mean`).
    overall: ScoreSummary | None = Field(default=None, exclude_if=_omit_if_none)


class PairwiseAgreement(ResultModel):
    """The host's pair entry (`modelAgreement.pairwise["modelA:modelB"]`)."""

    spearman_rho: float
    p_value: float
    p_value_corrected: float  # Holm-Bonferroni
    significant: bool
    effect_size: float  # Cohen's d
    effect_interpretation: EffectSizeLabel
    scenario_count: int


class PairAgreement(ResultModel):
    model_a: str
    model_b: str
    scenario_count: int
    spearman_rho: float | None
    p_value: float | None
    p_value_adjusted: float | None
    significant: bool
    cohens_d: float | None
    effect_size: EffectSizeLabel | None
    reason: str | None = None


class OverallAgreement(ResultModel):
    mean_rho: float
    median_rho: float
    min_rho: float
    max_rho: float
    pair_count: int
    significant_pair_count: int


class ModelAgreementScore(ResultModel):
    mean_rho: float
    z_score: float | None


class OutlierModel(ResultModel):
    model_id: str
    mean_rho: float
    z_score: float


class ModelAgreement(ResultModel):
    # the host's fields
    pairwise: dict[str, PairwiseAgreement]  # "modelA:modelB" (A < B), pairs with a rank correlation
    overall_agreement: float | None  # mean rho over those pairs; null when there is none
    outlier_models: list[str]
    # this worker's
    pairs: list[PairAgreement]
    agreement_summary: OverallAgreement | None
    per_model: dict[str, ModelAgreementScore]
    outlier_model_details: list[OutlierModel]


class LevelStats(ResultModel):
    count: int
    mean: float
    median: float


class DimensionResult(ResultModel):
    test: Literal["kruskal-wallis"] = "kruskal-wallis"
    statistic: float | None
    p_value: float
    significant: bool
    effect_size: float
    rank: int
    n: int
    group_count: int
    scenario_count: int
    scenarios_without_level: int
    levels: dict[str, LevelStats]
    reason: str | None = None


class DimensionAnalysis(ResultModel):
    dimensions: dict[str, DimensionResult]
    variance_explained: float | None  # R-squared of all dimensions together; null when undefined
    method: Literal["kruskal_wallis"] = "kruskal_wallis"


class RepeatGroup(ResultModel):
    """One model's repeated samples of one scenario; statistics over its scored samples."""

    transcript_count: int
    sample_count: int
    mean: float | None
    std_dev: float | None
    variance: float | None
    min: float | None
    max: float | None
    range: float | None
    directional_agreement: float | None
    neutral_share: float | None


class DirectionCounts(ResultModel):
    """Scored samples per canonical bucket, keyed as the original worker keyed them."""

    favor_first_strong: int = Field(alias="favor_first.strong")
    favor_first_lean: int = Field(alias="favor_first.lean")
    neutral_neutral: int = Field(alias="neutral.neutral")
    favor_second_lean: int = Field(alias="favor_second.lean")
    favor_second_strong: int = Field(alias="favor_second.strong")


class SampleVarianceStats(ResultModel):
    """The host's per-scenario `VarianceStats` of one model (sample variance, ddof=1)."""

    sample_count: int
    mean: float
    std_dev: float
    variance: float
    min: float
    max: float
    range: float
    direction_counts: DirectionCounts
    direction: Lean
    directional_agreement: float
    median_signed_distance: float
    iqr: float | None
    neutral_share: float
    orientation_corrected: bool


class ModelVariance(ResultModel):
    """The host's `ModelVarianceStats`, plus `groupsWithRepeats`."""

    total_samples: int
    unique_scenarios: int
    samples_per_scenario: int
    avg_within_scenario_variance: float
    max_within_scenario_variance: float
    consistency_score: float
    groups_with_repeats: int
    per_scenario: dict[str, SampleVarianceStats]


class VariableCell(ResultModel):
    """The host's `ScenarioVarianceStats`: one model's repeats of one scenario."""

    scenario_id: str
    scenario_name: str
    model_id: str
    mean: float
    std_dev: float
    variance: float
    range: float
    sample_count: int


class ScenarioVariability(ResultModel):
    scenario_id: str
    scenario_name: str | None
    avg_within_variance: float
    group_count: int


class VarianceAnalysis(ResultModel):
    # the host's fields
    is_multi_sample: bool
    samples_per_scenario: int
    orientation_corrected_count: int
    per_model: dict[str, ModelVariance]
    most_variable_scenarios: list[VariableCell]
    least_variable_scenarios: list[VariableCell]
    # this worker's
    repeat_groups: dict[str, dict[str, RepeatGroup]]  # model -> scenario -> its repeats
    most_variable_scenarios_across_models: list[ScenarioVariability]
    least_variable_scenarios_across_models: list[ScenarioVariability]


class ContestedScenario(ResultModel):
    scenario_id: str
    scenario_name: str  # the scenario id when the run gives no name
    variance: float
    std_dev: float
    mean: float
    min: float
    max: float
    model_count: int
    model_scores: dict[str, float]


class DecisionBuckets(ResultModel):
    """Transcripts per decision bucket of one model, under three vocabularies.

    `favor_first.strong` .. `neutral.neutral` are the original worker's keys (scored only);
    `strongly`, `somewhat`, `neutral`, `opponentSomewhat`, `opponentStrongly` are the ones
    the host's decision chart and aggregate read; `strongFirst` .. `missing` are this
    worker's, with the unscored reasons.
    """

    favor_first_strong: int = Field(alias="favor_first.strong")
    favor_first_lean: int = Field(alias="favor_first.lean")
    neutral_neutral: int = Field(alias="neutral.neutral")
    favor_second_lean: int = Field(alias="favor_second.lean")
    favor_second_strong: int = Field(alias="favor_second.strong")
    strongly: int
    somewhat: int
    opponent_somewhat: int
    opponent_strongly: int
    strong_first: int
    lean_first: int
    neutral: int
    lean_second: int
    strong_second: int
    refusal: int
    unknown: int
    missing: int


class VisualizationData(ResultModel):
    decision_distribution: dict[str, DecisionBuckets]
    model_scenario_matrix: dict[str, dict[str, float]]


class PreferenceValue(ResultModel):
    win_rate: float
    count: WeightedOutcomeCounts


class PreferenceDirection(ResultModel):
    by_value: dict[str, PreferenceValue]
    overall_lean: Lean | None
    overall_signed_center: float | None


class ModelPreference(ResultModel):
    preference_direction: PreferenceDirection
    preference_strength: float | None


class PreferenceSummary(ResultModel):
    per_model: dict[str, ModelPreference]


class BernoulliAgreement(ResultModel):
    """Pairs of repeats of one scenario (`trials`) and pairs in the same bucket (`matches`)."""

    matches: int
    trials: int


class ConditionPressure(ResultModel):
    scenario_id: str
    net_pressure_rank: int | None
    win_rate: float | None  # null when every sample was neutral
    matches: int
    trials: int


class PairCoverage(ResultModel):
    target_analysis_run_id: str
    target_companion_run_id: str | None
    primary_condition_ids: list[str]
    companion_condition_ids: list[str]
    per_condition: list[ConditionPressure]


class ModelReliability(ResultModel):
    baseline_noise: float | None
    baseline_reliability: float | None
    directional_agreement: float | None
    neutral_share: float | None
    coverage_count: int
    unique_scenarios: int
    per_scenario: dict[str, BernoulliAgreement]
    per_pair: dict[str, PairCoverage] | None = Field(default=None, exclude_if=_omit_if_none)


class ReliabilitySummary(ResultModel):
    per_model: dict[str, ModelReliability]


class RepeatCoverage(ResultModel):
    repeat_coverage_count: int
    repeat_coverage_share: float
    contributing_run_count: int


class ModelDrift(ResultModel):
    weighted_overall_signed_center_sd: float | None
    exceeds_warning_threshold: bool
    run_count: int  # source runs with a scored transcript of the model


class AggregateSemanticsResult(ResultModel):
    mode: Literal["same_signature_v1"] = "same_signature_v1"
    per_model_repeat_coverage: dict[str, RepeatCoverage]
    per_model_drift: dict[str, ModelDrift]


class MethodsUsed(ResultModel):
    # the host's identifiers
    model_comparison: Literal["spearman_rho"] = "spearman_rho"
    p_value_correction: Literal["holm_bonferroni"] = "holm_bonferroni"
    effect_size: Literal["cohens_d"] = "cohens_d"
    dimension_test: Literal["kruskal_wallis"] = "kruskal_wallis"
    variance_metrics: Literal["sample_variance"] = "sample_variance"
    alpha: float
    code_version: str
    summary_contract_version: Literal["vignette-semantics-v1"] = "vignette-semantics-v1"
    # every method in words
    scoring: str
    win_rate: str
    overall_score: str
    confidence_interval: str
    correlation: str
    multiple_comparison: str
    effect_size_detail: str
    outlier_detection: str
    dimension_test_detail: str
    dimension_effect_size: str
    variance_explained: str
    variance: str
    contested_scenarios: str
    preference_summary: str
    reliability_summary: str
    aggregate_semantics: str
    differences_from_original: list[str]


class Analysis(ResultModel):
    run_id: str
    totals: RunTotals
    per_model: dict[str, ModelStats]
    preference_summary: PreferenceSummary | None
    reliability_summary: ReliabilitySummary | None
    aggregate_semantics: AggregateSemanticsResult | None
    model_agreement: ModelAgreement
    dimension_analysis: DimensionAnalysis
    variance_analysis: VarianceAnalysis
    most_contested_scenarios: list[ContestedScenario]
    visualization_data: VisualizationData
    methods_used: MethodsUsed
    warnings: list[AnalysisWarning]
    computed_at: str
    duration_ms: int


class AnalyzeBasicSuccess(ResultModel):
    success: Literal[True] = True
    contract_version: str = CONTRACT_VERSION
    analysis: Analysis
