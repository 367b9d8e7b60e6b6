"""`modelAgreement`: how alike two models rank the scenarios, for every pair of models.

All pairs are computed together on the models x scenarios matrix of mean scores: each
pair is ranked over only the scenarios both models scored (rankdata with NaN omitted),
then Pearson on those ranks is Spearman's rho and its p-value comes from the t
distribution with n - 2 degrees of freedom, the same computation as scipy.stats.spearmanr
but without a Python call per pair (1,225 pairs for 50 models).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from common.analysis.distributions import median, rank_rows, t_sf, zscore
from common.analysis.extract import FloatArray
from common.analysis.json_numbers import finite
from common.analysis.methods import ALPHA, MIN_MODELS_FOR_OUTLIERS, MIN_SHARED_SCENARIOS, OUTLIER_Z
from common.contract.analysis import (
    AnalysisWarning,
    AnalysisWarningCode,
    EffectSizeLabel,
    ModelAgreement,
    ModelAgreementScore,
    OutlierModel,
    OverallAgreement,
    PairAgreement,
    PairwiseAgreement,
)

# pairs x scenarios per vectorised block: ~400 KB per array, so a block's temporaries come from
# memory the allocator reuses (16 MB blocks were mapped and faulted in afresh: 3x slower)
_CHUNK_CELLS = 50_000


@dataclass(frozen=True)
class PairStats:
    """Aligned arrays, one entry per model pair (first < second)."""

    first: np.ndarray
    second: np.ndarray
    shared: np.ndarray  # scenarios both scored
    rho: FloatArray  # NaN when undefined
    p_value: FloatArray
    cohens_d: FloatArray
    constant: np.ndarray  # a model's scores do not vary over the shared scenarios


def holm_adjust(p_values: FloatArray) -> FloatArray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order."""
    m = p_values.shape[0]
    if m == 0:
        return p_values.copy()
    order = np.argsort(p_values, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p_values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def effect_size_label(d: float) -> EffectSizeLabel:
    size = abs(d)
    if size < 0.2:
        return "negligible"
    if size < 0.5:
        return "small"
    if size < 0.8:
        return "medium"
    return "large"


def _shared_ranks(x: FloatArray, ranks: FloatArray, whole: np.ndarray) -> FloatArray:
    """`rank_rows(x)`, taking the rows that are `whole` (every scenario shared) from the models' own ranks."""
    if whole.all():
        return ranks
    result = ranks.copy()
    part = ~whole
    result[part] = rank_rows(x[part])
    return result


def _pair_block(
    a: FloatArray, b: FloatArray, rank_a: FloatArray, rank_b: FloatArray
) -> tuple[np.ndarray, FloatArray, FloatArray, np.ndarray]:
    """Shared count, Spearman rho, Cohen's d and constancy for aligned rows of two matrices.

    `rank_a`, `rank_b`: each row's ranks over all scenarios. A pair that shares every
    scenario ranks over exactly those, the same numbers `rank_rows` would give it; only
    the other pairs are ranked again over their shared scenarios.
    """
    common = ~np.isnan(a) & ~np.isnan(b)
    shared = common.sum(axis=1)
    x = np.where(common, a, np.nan)
    y = np.where(common, b, np.nan)
    whole = shared == a.shape[1]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        rx = _shared_ranks(x, rank_a, whole)
        ry = _shared_ranks(y, rank_b, whole)
        # without a NaN in the block, numpy's plain reductions are its NaN-skipping ones (the
        # same sums of the same numbers in the same order) without their masked copies
        mean, total, var = (np.mean, np.sum, np.var) if whole.all() else (np.nanmean, np.nansum, np.nanvar)
        dx = rx - mean(rx, axis=1, keepdims=True)
        dy = ry - mean(ry, axis=1, keepdims=True)
        sxx = total(dx * dx, axis=1)
        syy = total(dy * dy, axis=1)
        rho = total(dx * dy, axis=1) / np.sqrt(sxx * syy)
        # rank sums of squares are exact multiples of 1/4, so zero means constant scores
        constant = (sxx < 1e-9) | (syy < 1e-9)
        var_x = var(x, axis=1, ddof=1)
        var_y = var(y, axis=1, ddof=1)
        difference = mean(x, axis=1) - mean(y, axis=1)
        pooled = np.sqrt((var_x + var_y) / 2)
        d = difference / pooled
    d = np.where((pooled == 0) & (difference == 0), 0.0, d)
    rho = np.where(constant | (shared < MIN_SHARED_SCENARIOS), np.nan, np.clip(rho, -1.0, 1.0))
    return shared, rho, d, constant


def pair_stats(matrix: FloatArray) -> PairStats:
    model_count, scenario_count = matrix.shape
    first, second = np.triu_indices(model_count, k=1)
    pair_count = first.shape[0]
    shared = np.zeros(pair_count, dtype=np.int64)
    rho = np.full(pair_count, np.nan)
    d = np.full(pair_count, np.nan)
    constant = np.zeros(pair_count, dtype=bool)
    step = max(1, _CHUNK_CELLS // max(scenario_count, 1))
    ranks = rank_rows(matrix)  # each model's ranks over all scenarios (NaN where it scored none)
    for start in range(0, pair_count, step):
        block = slice(start, start + step)
        one, other = first[block], second[block]
        shared[block], rho[block], d[block], constant[block] = _pair_block(
            matrix[one], matrix[other], ranks[one], ranks[other]
        )
    dof = shared - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = rho * np.sqrt((dof / ((rho + 1.0) * (1.0 - rho))).clip(0))
        p_value = np.where(np.isnan(rho), np.nan, 2 * t_sf(np.abs(t), np.maximum(dof, 1)))
    return PairStats(first, second, shared, rho, np.minimum(p_value, 1.0), d, constant)


def _reason(shared: int, rho: float, constant: bool) -> str | None:
    if shared < MIN_SHARED_SCENARIOS:
        return f"the models share {shared} scored scenario(s); a rank correlation needs at least {MIN_SHARED_SCENARIOS}"
    if constant:
        return "one model's scores do not vary over the shared scenarios: rank correlation undefined"
    return None if np.isfinite(rho) else "rank correlation undefined"


def empty_agreement() -> ModelAgreement:
    return ModelAgreement(
        pairwise={},
        overall_agreement=None,
        outlier_models=[],
        pairs=[],
        agreement_summary=None,
        per_model={},
        outlier_model_details=[],
    )


def model_agreement(models: list[str], matrix: FloatArray) -> tuple[ModelAgreement, list[AnalysisWarning]]:
    warnings_out: list[AnalysisWarning] = []
    if len(models) < 2:
        warnings_out.append(
            AnalysisWarning(
                code=AnalysisWarningCode.TOO_FEW_MODELS,
                message=f"modelAgreement needs at least 2 models; the run has {len(models)}",
                recommendation="Add a second model to the run to compare how models rank the scenarios",
            )
        )
        return empty_agreement(), warnings_out
    pairs = pair_stats(matrix)
    defined = ~np.isnan(pairs.rho)
    adjusted = np.full(pairs.rho.shape[0], np.nan)
    adjusted[defined] = holm_adjust(pairs.p_value[defined])
    significant = defined & (adjusted < ALPHA)

    rows: list[PairAgreement] = []
    pairwise: dict[str, PairwiseAgreement] = {}
    for a, b, shared, rho, p, p_adj, d, sig, const in zip(
        pairs.first.tolist(),
        pairs.second.tolist(),
        pairs.shared.tolist(),
        pairs.rho.tolist(),
        pairs.p_value.tolist(),
        adjusted.tolist(),
        pairs.cohens_d.tolist(),
        significant.tolist(),
        pairs.constant.tolist(),
        strict=True,
    ):
        d_value = finite(d)
        label = effect_size_label(d_value) if d_value is not None else None
        rho_value, p_raw, p_corrected = finite(rho), finite(p), finite(p_adj)
        if rho_value is not None and p_raw is not None and p_corrected is not None and d_value is not None:
            pairwise[f"{models[a]}:{models[b]}"] = PairwiseAgreement(
                spearman_rho=rho_value,
                p_value=p_raw,
                p_value_corrected=p_corrected,
                significant=sig,
                effect_size=d_value,
                effect_interpretation=effect_size_label(d_value),
                scenario_count=shared,
            )
        rows.append(
            PairAgreement(
                model_a=models[a],
                model_b=models[b],
                scenario_count=shared,
                spearman_rho=rho_value,
                p_value=p_raw,
                p_value_adjusted=p_corrected,
                significant=sig,
                cohens_d=d_value,
                effect_size=label,
                reason=_reason(shared, rho, const),
            )
        )
    undefined = int((~defined).sum())
    if undefined:
        warnings_out.append(
            AnalysisWarning(
                code=AnalysisWarningCode.PAIRS_WITHOUT_CORRELATION,
                message=(
                    f"{undefined} of {len(rows)} model pair(s) have no rank correlation (fewer than "
                    f"{MIN_SHARED_SCENARIOS} shared scored scenarios, or constant scores); see each pair's reason"
                ),
                recommendation=(
                    "Those pairs are left out of modelAgreement.pairwise and overallAgreement; score more "
                    "shared scenarios for them"
                ),
            )
        )
    summary = _overall(pairs.rho[defined], int(significant.sum()))
    per_model, outliers, outlier_warnings = _model_scores(models, pairs, defined)
    warnings_out.extend(outlier_warnings)
    agreement = ModelAgreement(
        pairwise=pairwise,
        overall_agreement=summary.mean_rho if summary is not None else None,
        outlier_models=[outlier.model_id for outlier in outliers],
        pairs=rows,
        agreement_summary=summary,
        per_model=per_model,
        outlier_model_details=outliers,
    )
    return agreement, warnings_out


def _overall(rho: FloatArray, significant_count: int) -> OverallAgreement | None:
    if rho.shape[0] == 0:
        return None
    return OverallAgreement(
        mean_rho=float(rho.mean()),
        median_rho=median(rho),
        min_rho=float(rho.min()),
        max_rho=float(rho.max()),
        pair_count=int(rho.shape[0]),
        significant_pair_count=significant_count,
    )


def _model_scores(
    models: list[str], pairs: PairStats, defined: np.ndarray
) -> tuple[dict[str, ModelAgreementScore], list[OutlierModel], list[AnalysisWarning]]:
    """Each model's mean rho with the others, its z-score among models, and the |z| > 2 outliers."""
    count = len(models)
    rho = pairs.rho[defined]
    totals = np.bincount(pairs.first[defined], weights=rho, minlength=count) + np.bincount(
        pairs.second[defined], weights=rho, minlength=count
    )
    partners = np.bincount(pairs.first[defined], minlength=count) + np.bincount(pairs.second[defined], minlength=count)
    has_rho = partners > 0
    mean_rho = np.divide(totals, partners, out=np.full(count, np.nan), where=has_rho)
    z = np.full(count, np.nan)
    notes: list[AnalysisWarning] = []
    rated = int(has_rho.sum())
    if rated < MIN_MODELS_FOR_OUTLIERS:
        notes.append(
            AnalysisWarning(
                code=AnalysisWarningCode.OUTLIER_DETECTION_LIMITED,
                message=(
                    f"outlier detection needs at least {MIN_MODELS_FOR_OUTLIERS} models with a rank correlation; "
                    f"the run has {rated}"
                ),
                recommendation="outlierModels is empty; run 3 or more models to detect an outlier",
            )
        )
    else:
        spread = mean_rho[has_rho]
        if np.ptp(spread) > 0:
            z[has_rho] = zscore(spread)
        if rated <= 5:
            notes.append(
                AnalysisWarning(
                    code=AnalysisWarningCode.OUTLIER_DETECTION_LIMITED,
                    message=(
                        f"with {rated} models no |z| can exceed {OUTLIER_Z:g} (the largest possible is "
                        f"sqrt({rated - 1})), so no model can be flagged as an outlier"
                    ),
                    recommendation="outlierModels is empty by construction; run 6 or more models to detect one",
                )
            )
    per_model = {
        models[m]: ModelAgreementScore(mean_rho=float(mean_rho[m]), z_score=finite(z[m]))
        for m in range(count)
        if has_rho[m]
    }
    outliers = [
        OutlierModel(model_id=models[m], mean_rho=float(mean_rho[m]), z_score=float(z[m]))
        for m in range(count)
        if has_rho[m] and np.isfinite(z[m]) and abs(z[m]) > OUTLIER_Z
    ]
    return per_model, outliers, notes
