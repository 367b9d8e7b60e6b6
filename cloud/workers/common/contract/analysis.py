"""Wire shapes of the analyze_basic worker: the run it reads and the statistics it prints.

The input models describe the contract (and generate its JSON Schema); the worker does
not build them for every transcript of a large run, it checks the same rules column by
column (common/analysis/extract.py) and a test keeps the two in agreement. The output
models are built for every result, with NaN and infinity refused, so a host never
receives a non-JSON number.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from common.contract.probe import CONTRACT_VERSION, WireModel

# ---------------------------------------------------------------- input

Direction = Literal["favor_first", "favor_second", "neutral", "refusal", "unknown"]
Strength = Literal["strong", "lean", "neutral", "unknown"]
ValueOutcome = Literal["prioritized", "deprioritized", "neutral"]
TextId = Annotated[StrictStr, Field(min_length=1)]
# A scenario dimension's level: a label ("high") or a number (3); null means "not set".
DimensionLevel = StrictStr | StrictInt | StrictFloat


class StrictInput(WireModel):
    model_config = ConfigDict(strict=True)


class CanonicalDecision(StrictInput):
    direction: Direction
    strength: Strength


class DecisionModelV2(StrictInput):
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
    sample_index: Annotated[StrictInt, Field(ge=0)] | None = None
    decision_model_v2: DecisionModelV2 | None = None
    summary: TranscriptSummary | None = None
    scenario: ScenarioInfo | None = None


class AnalyzeBasicJob(StrictInput):
    run_id: TextId
    transcripts: list[AnalysisTranscript]


# ---------------------------------------------------------------- output


class ResultModel(WireModel):
    model_config = ConfigDict(allow_inf_nan=False)


EffectSizeLabel = Literal["negligible", "small", "medium", "large"]


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


class ValueWinRate(ResultModel):
    """`winRate` is the mean over scenarios of prioritized / all outcomes in that scenario."""

    win_rate: float
    scenario_count: int
    count: OutcomeCounts


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
    overall: ScoreSummary | None


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
    pairs: list[PairAgreement]
    overall_agreement: OverallAgreement | None
    per_model: dict[str, ModelAgreementScore]
    outlier_models: list[OutlierModel]


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


class ModelConsistency(ResultModel):
    consistency_score: float | None
    avg_within_scenario_variance: float | None
    groups_with_repeats: int


class ScenarioVariability(ResultModel):
    scenario_id: str
    scenario_name: str | None
    avg_within_variance: float
    group_count: int


class VarianceAnalysis(ResultModel):
    repeat_groups: dict[str, dict[str, RepeatGroup]]  # model -> scenario -> its repeats
    per_model: dict[str, ModelConsistency]
    most_variable_scenarios: list[ScenarioVariability]
    least_variable_scenarios: list[ScenarioVariability]


class ContestedScenario(ResultModel):
    scenario_id: str
    scenario_name: str | None
    variance: float
    std_dev: float
    mean: float
    min: float
    max: float
    model_count: int
    model_scores: dict[str, float]


class DecisionBuckets(ResultModel):
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


class MethodsUsed(ResultModel):
    alpha: float
    scoring: str
    win_rate: str
    overall_score: str
    confidence_interval: str
    correlation: str
    multiple_comparison: str
    effect_size: str
    outlier_detection: str
    dimension_test: str
    dimension_effect_size: str
    variance: str
    contested_scenarios: str


class Analysis(ResultModel):
    run_id: str
    totals: RunTotals
    per_model: dict[str, ModelStats]
    model_agreement: ModelAgreement
    dimension_analysis: dict[str, DimensionResult]
    variance_analysis: VarianceAnalysis
    most_contested_scenarios: list[ContestedScenario]
    visualization_data: VisualizationData
    methods_used: MethodsUsed
    warnings: list[str]
    computed_at: str
    duration_ms: int


class AnalyzeBasicSuccess(ResultModel):
    success: Literal[True] = True
    contract_version: str = CONTRACT_VERSION
    analysis: Analysis
