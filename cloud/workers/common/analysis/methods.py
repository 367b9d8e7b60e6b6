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

METHODS_USED: Final = MethodsUsed(
    alpha=ALPHA,
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
    effect_size=(
        "Cohen's d of the two models' per-scenario mean scores on shared scenarios, pooled sample SD; "
        "|d| < 0.2 negligible, < 0.5 small, < 0.8 medium, otherwise large"
    ),
    outlier_detection=(
        f"z-score (population SD, scipy.stats.zscore) of each model's mean Spearman rho with the other models; "
        f"|z| > {OUTLIER_Z:g} is an outlier; needs at least {MIN_MODELS_FOR_OUTLIERS} models"
    ),
    dimension_test=(
        "Kruskal-Wallis H test (scipy.stats.kruskal, tie-corrected) of the (model, scenario) mean scores grouped "
        f"by the scenario's level of the dimension; significant when p < {ALPHA} (no correction across dimensions)"
    ),
    dimension_effect_size=(
        "eta-squared = (H - k + 1) / (n - k), clamped to [0, 1]; dimensions ranked by it. Fewer than 2 levels, "
        "fewer than 3 scores, one score per level or zero variance: effect 0, p 1 and a reason"
    ),
    variance=(
        "per (model, scenario): population variance (ddof=0) of the scored repeats, directionalAgreement = share "
        "of the modal direction (favour first / favour second / neutral), neutralShare = share of score 0; "
        f"consistencyScore = clamp(1 - mean variance over groups with >= 2 scored samples / {MAX_VARIANCE:g}, 0, 1)"
    ),
    contested_scenarios=(
        f"top {TOP_SCENARIOS} scenarios by population variance (ddof=0) across models of the models' "
        "per-scenario mean scores; at least 2 models"
    ),
)
