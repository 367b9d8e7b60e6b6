"""The methods and thresholds behind every number, stated once and echoed in `methodsUsed`."""

from __future__ import annotations

from typing import Final

from common.contract.analysis import MethodsUsed

ALPHA: Final = 0.05
CONFIDENCE_LEVEL: Final = 0.95
MIN_SHARED_SCENARIOS: Final = 3  # below this a rank correlation has no degrees of freedom
OUTLIER_Z: Final = 2.0
MIN_MODELS_FOR_OUTLIERS: Final = 3
MAX_VARIANCE: Final = 4.0  # the largest population variance of scores in [-2, 2]
TOP_SCENARIOS: Final = 5
# The version of these statistics (the host stores it beside each result); bump it when a number changes.
CODE_VERSION: Final = "2.0.0"

METHODS_USED: Final = MethodsUsed(
    alpha=ALPHA,
    code_version=CODE_VERSION,
    scoring=(
        "decisionModelV2.canonical (direction, strength) -> signed score: favor_first/strong +2, "
        "favor_first/lean +1, neutral 0, favor_second/lean -1, favor_second/strong -2; refusal, unknown, "
        "a favour without strong/lean strength, or no decision -> unscored (counted by reason)"
    ),
    win_rate=(
        "per value: prioritized / (prioritized + deprioritized + neutral) within each scenario, "
        "then the unweighted mean over the scenarios where the model reported that value"
    ),
    overall_score=(
        "mean, sample standard deviation (ddof=1), min and max of the model's per-scenario mean scores "
        "(repeats of a scenario averaged first)"
    ),
    confidence_interval=(
        f"{CONFIDENCE_LEVEL:.0%} Student t interval for that mean (scipy.stats.t), n >= 2 scenarios; "
        "zero width when every scenario mean is the same"
    ),
    correlation=(
        "Spearman rank correlation of two models' per-scenario mean scores over the scenarios both scored "
        f"(at least {MIN_SHARED_SCENARIOS}); two-sided p from the t distribution with n - 2 df, "
        "as scipy.stats.spearmanr"
    ),
    multiple_comparison=(
        "Holm-Bonferroni step-down adjustment over all model pairs with a p-value; "
        f"significant when adjusted p < {ALPHA}"
    ),
    effect_size_detail=(
        "Cohen's d of the two models' per-scenario mean scores on shared scenarios, pooled sample SD; "
        "|d| < 0.2 negligible, < 0.5 small, < 0.8 medium, otherwise large"
    ),
    outlier_detection=(
        f"z-score (population SD, scipy.stats.zscore) of each model's mean Spearman rho with the other models; "
        f"|z| > {OUTLIER_Z:g} is an outlier; needs at least {MIN_MODELS_FOR_OUTLIERS} models"
    ),
    dimension_test_detail=(
        "Kruskal-Wallis H test (scipy.stats.kruskal, tie-corrected) of the (model, scenario) mean scores grouped "
        f"by the scenario's level of the dimension; significant when p < {ALPHA} (no correction across dimensions)"
    ),
    dimension_effect_size=(
        "eta-squared = (H - k + 1) / (n - k), clamped to [0, 1]; dimensions ranked by it. Fewer than 2 levels, "
        "fewer than 3 scores, one score per level or zero variance: effect 0, p 1 and a reason"
    ),
    variance_explained=(
        "R-squared of an additive least-squares fit of the (model, scenario) mean scores on every dimension's "
        "levels (one-hot), over the cells whose scenario sets every dimension; null when they do not vary or "
        "there are no more cells than parameters"
    ),
    variance=(
        "perModel, perScenario, mostVariableScenarios, leastVariableScenarios: sample variance (ddof=1, 0 for one "
        "sample) of a model's scored repeats of a scenario; direction = sign of their median (A first, B second), "
        "directionalAgreement = share on the median's side, neutralShare = share of score 0, iqr = numpy "
        "percentile 75 - 25; consistencyScore = clamp(1 - mean sample variance over scenarios with >= 2 scored "
        f"samples / {MAX_VARIANCE:g}, 0, 1), 1 with no such scenario (see groupsWithRepeats and isMultiSample). "
        "repeatGroups: population variance (ddof=0), directionalAgreement = share of the modal direction. "
        "*AcrossModels: scenarios by mean population variance over the models' repeat groups"
    ),
    contested_scenarios=(
        f"top {TOP_SCENARIOS} scenarios by population variance (ddof=0) across models of the models' "
        "per-scenario mean scores; at least 2 models; scenarioName falls back to the scenario id"
    ),
    preference_summary=(
        "overallSignedCenter = mean of the model's per-scenario mean scores, overallLean its sign (A first, "
        "B second), preferenceStrength = mean of their absolute values; byValue = perModel values' winRate and "
        "condition-weighted count. Null when the job sets emitVignetteSemantics false"
    ),
    reliability_summary=(
        "over a model's scenarios with >= 2 scored samples (coverageCount): baselineNoise = sqrt(mean sample "
        "variance), baselineReliability = consistencyScore, directionalAgreement and neutralShare weighted by "
        "samples; null without such a scenario. perScenario: trials = n(n-1)/2 pairs of repeats, matches = pairs "
        "in the same bucket. Aggregate mode: metrics null below minRepeatCoverageCount covered scenarios or "
        "minRepeatCoverageShare of the planned ones; perPair per scenario: trials = non-neutral samples, "
        "matches = those favouring the first option, netPressureRank = rank(valueA level) - rank(valueB level)"
    ),
    aggregate_semantics=(
        "aggregate mode: transcripts of every source run pooled (a scenario answered in two runs is a repeat); "
        "repeatCoverageCount = scenarios with >= 2 scored samples, share of plannedScenarioIds; "
        "contributingRunCount = runs with a transcript of the model; weightedOverallSignedCenterSd = SD of the "
        "runs' overallSignedCenter weighted by their scored scenarios (>= 2 runs), compared with "
        "driftWarningThreshold"
    ),
    differences_from_original=[
        "modelAgreement pairs two models' per-scenario mean scores by scenario id over the scenarios both scored; "
        "the original paired score lists by position, so one unscored transcript shifted every later pair",
        "modelAgreement.pairwise leaves out pairs without a defined rank correlation (fewer than "
        f"{MIN_SHARED_SCENARIOS} shared scenarios or constant scores) instead of printing rho 0 and p 1; "
        "overallAgreement is null, not 1, when no pair has one",
        "outlier z-scores use the population SD of the models' mean rho (scipy.stats.zscore)",
        "dimension effect size is eta-squared from the Kruskal-Wallis H over (model, scenario) means, not the ANOVA "
        "ratio over transcripts; varianceExplained is the R-squared of all dimensions together, not the capped sum "
        "of per-dimension effects",
        "a model without a scored transcript has no perModel overall (the original printed zeros)",
        "mostContestedScenarios weighs each model once (variance of the models' scenario means), not each transcript",
        "perPair trials leave out neutral samples (0 when all are neutral, with winRate null; the original used 1)",
        "reliabilitySummary uniqueScenarios is the model's scored scenarios in aggregate mode too",
    ],
)
