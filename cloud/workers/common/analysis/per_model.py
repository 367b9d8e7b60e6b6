"""`perModel`: sample counts, value win rates and the overall score of each model."""

from __future__ import annotations

import math

import numpy as np

from common.analysis.cells import Cells
from common.analysis.distributions import t_interval
from common.analysis.extract import Columns
from common.analysis.methods import CONFIDENCE_LEVEL
from common.analysis.scoring import FIRST_UNSCORED, PRIORITIZED, VALUE_OUTCOMES
from common.contract.analysis import (
    ConfidenceInterval,
    ModelStats,
    OutcomeCounts,
    ScoreSummary,
    UnscoredCounts,
    ValueWinRate,
    WeightedOutcomeCounts,
)

_UNSCORED_REASONS = 3  # refusal, unknown, missing: bucket codes FIRST_UNSCORED..


def unscored_counts(columns: Columns) -> np.ndarray:
    """models x (refusal, unknown, missing) counts."""
    unscored = columns.bucket >= FIRST_UNSCORED
    key = columns.model[unscored] * _UNSCORED_REASONS + (columns.bucket[unscored] - FIRST_UNSCORED)
    counts = np.bincount(key, minlength=len(columns.models) * _UNSCORED_REASONS)
    return counts.reshape(len(columns.models), _UNSCORED_REASONS)


def score_summary(scenario_means: np.ndarray) -> ScoreSummary | None:
    """Mean, sample SD, range and t interval of one model's per-scenario mean scores."""
    n = int(scenario_means.shape[0])
    if n == 0:
        return None
    mean = float(scenario_means.mean())
    std = float(scenario_means.std(ddof=1)) if n > 1 else 0.0
    interval = None
    if n > 1:
        # scipy answers NaN for a zero scale; identical scenario means have a zero-width interval
        lower, upper = (
            t_interval(CONFIDENCE_LEVEL, n - 1, loc=mean, scale=std / math.sqrt(n)) if std > 0 else (mean, mean)
        )
        interval = ConfidenceInterval(level=CONFIDENCE_LEVEL, lower=float(lower), upper=float(upper))
    return ScoreSummary(
        scenario_count=n,
        mean=mean,
        std_dev=std,
        min=float(scenario_means.min()),
        max=float(scenario_means.max()),
        confidence_interval=interval,
    )


def _distinct(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(keys, return_inverse=True)` for keys in [0, bound), by counting when that is cheaper than sorting."""
    if bound > 4 * keys.shape[0] + 1024:
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse
    distinct = np.flatnonzero(np.bincount(keys, minlength=bound))
    position = np.zeros(bound, dtype=np.int64)
    position[distinct] = np.arange(distinct.shape[0], dtype=np.int64)
    return distinct, position[keys]


def win_rates(columns: Columns) -> list[dict[str, ValueWinRate]]:
    """Per model: value -> win rate averaged over scenarios, condition-weighted and raw outcome counts."""
    model_count, value_count = len(columns.models), len(columns.value_names)
    result: list[dict[str, ValueWinRate]] = [{} for _ in range(model_count)]
    if columns.value_row.shape[0] == 0:
        return result
    scenario_count = len(columns.scenarios)
    model = columns.model[columns.value_row]
    scenario = columns.scenario[columns.value_row]
    value = columns.value_code
    outcome = columns.value_outcome

    # rate of each (model, scenario, value), then its mean over scenarios per (model, value)
    group = (model * scenario_count + scenario) * value_count + value
    keys, inverse = _distinct(group, model_count * scenario_count * value_count)
    group_size = np.bincount(inverse)
    rate = np.bincount(inverse, weights=outcome == PRIORITIZED) / group_size
    model_value_of_group = (keys // (scenario_count * value_count)) * value_count + keys % value_count
    pairs, pair_of_group = np.unique(model_value_of_group, return_inverse=True)
    scenarios_per_pair = np.bincount(pair_of_group)
    mean_rate = np.bincount(pair_of_group, weights=rate) / scenarios_per_pair

    outcomes = len(VALUE_OUTCOMES)
    counts = np.bincount(
        (model * value_count + value) * outcomes + outcome, minlength=model_count * value_count * outcomes
    )
    counts = counts.reshape(model_count, value_count, outcomes)
    # condition-weighted: each outcome counts 1 / (outcomes of its value in its scenario)
    weighted = np.bincount(
        (model * value_count + value) * outcomes + outcome,
        weights=1.0 / group_size[inverse],
        minlength=model_count * value_count * outcomes,
    ).reshape(model_count, value_count, outcomes)
    for pair, rate_value, scenarios in zip(
        pairs.tolist(), mean_rate.tolist(), scenarios_per_pair.tolist(), strict=True
    ):
        m, v = divmod(pair, value_count)
        prioritized, deprioritized, neutral = (int(c) for c in counts[m, v])
        share_p, share_d, share_n = (float(c) for c in weighted[m, v])
        result[m][columns.value_names[v]] = ValueWinRate(
            win_rate=rate_value,
            scenario_count=scenarios,
            count=WeightedOutcomeCounts(prioritized=share_p, deprioritized=share_d, neutral=share_n),
            raw_count=OutcomeCounts(prioritized=prioritized, deprioritized=deprioritized, neutral=neutral),
        )
    return result


def per_model_stats(columns: Columns, cells: Cells) -> dict[str, ModelStats]:
    model_count = len(columns.models)
    samples = np.bincount(columns.model, minlength=model_count)
    unscored = unscored_counts(columns)
    conditions = np.bincount(cells.model, minlength=model_count)
    values = win_rates(columns)
    result: dict[str, ModelStats] = {}
    for m, name in enumerate(columns.models):
        row = cells.matrix[m]
        refusal, unknown, missing = (int(c) for c in unscored[m])
        result[name] = ModelStats(
            sample_size=int(samples[m]),
            scored_count=int(samples[m]) - refusal - unknown - missing,
            unscored_count=refusal + unknown + missing,
            unscored_reasons=UnscoredCounts(refusal=refusal, unknown=unknown, missing=missing),
            condition_count=int(conditions[m]),
            values=values[m],
            overall=score_summary(row[~np.isnan(row)]),
        )
    return result
