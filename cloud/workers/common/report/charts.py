"""The analysis as Vega-Lite specifications, each with its data inline.

The page renders these specs with vega-embed and `--figures` renders the very same specs
to SVG and PNG with vl-convert, so a figure in a paper is the chart on the page. A chart
with nothing to draw is not made; `MissingChart` says why instead.
"""

from __future__ import annotations

from typing import Any

from common.contract.analysis import Analysis
from common.report.data import Chart, MissingChart

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier only: nothing is fetched
WIDTH = 560
ROW = 18  # pixels per model or scenario row
# The contested chart tells models apart by colour, and its legend names them (a figure in a
# paper has no tooltip): Vega's category10, or category20 for 11-20 models; beyond 20 colours
# would repeat, so there is no legend and each point's tooltip names its model.
LEGEND_MODELS = 20

BUCKETS = [  # analyze_basic's own bucket names, strongest first, then the unscored reasons
    ("strong_first", "favor first, strong", "#1f5fa8"),
    ("lean_first", "favor first, lean", "#7fb0dc"),
    ("neutral", "neutral", "#c9c9c9"),
    ("lean_second", "favor second, lean", "#f0a47a"),
    ("strong_second", "favor second, strong", "#c2410c"),
    ("refusal", "refusal", "#6b4c9a"),
    ("unknown", "unknown", "#8c8c5a"),
    ("missing", "missing decision", "#444444"),
]


def _base(values: list[dict[str, Any]]) -> dict[str, Any]:
    """The page shows each chart's title above it; `figures` adds it to the spec for a file."""
    return {
        "$schema": SCHEMA,
        "data": {"values": values},
        "config": {"font": "sans-serif", "view": {"stroke": None}},
    }


def decision_distribution(analysis: Analysis) -> Chart | MissingChart:
    title = "Decision distribution per model"
    values = [
        {"model": model, "bucket": label, "order": order, "count": count}
        for model, buckets in sorted(analysis.visualization_data.decision_distribution.items())
        for order, (field, label, _) in enumerate(BUCKETS)
        if (count := getattr(buckets, field)) > 0
    ]
    if not values:
        return MissingChart(name="decisions", title=title, reason="no model has a transcript")
    spec = _base(values) | {
        "width": WIDTH,
        "height": {"step": ROW},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "model", "type": "nominal", "title": None, "sort": None},
            "x": {"field": "count", "type": "quantitative", "stack": "normalize", "title": "share of transcripts"},
            "color": {
                "field": "bucket",
                "type": "nominal",
                "title": "decision",
                "scale": {"domain": [b[1] for b in BUCKETS], "range": [b[2] for b in BUCKETS]},
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": [{"field": "model"}, {"field": "bucket"}, {"field": "count", "type": "quantitative"}],
        },
    }
    return Chart(
        name="decisions",
        title=title,
        description="Each model's transcripts by canonical decision (share of the model's transcripts).",
        spec=spec,
    )


def agreement_matrix(analysis: Analysis) -> Chart | MissingChart:
    title = "Model agreement (Spearman rho over shared scenarios)"
    agreement = analysis.model_agreement
    defined = [pair for pair in agreement.pairs if pair.spearman_rho is not None]
    if not defined:
        return MissingChart(
            name="agreement", title=title, reason="no pair of models has a rank correlation (3+ shared scenarios)"
        )
    models = sorted({p.model_a for p in defined} | {p.model_b for p in defined})
    values: list[dict[str, Any]] = [
        {"a": m, "b": m, "rho": 1.0, "scenarios": None, "significant": None} for m in models
    ]
    for pair in defined:
        for a, b in ((pair.model_a, pair.model_b), (pair.model_b, pair.model_a)):
            values.append(
                {
                    "a": a,
                    "b": b,
                    "rho": pair.spearman_rho,
                    "scenarios": pair.scenario_count,
                    "significant": pair.significant,
                }
            )
    side = max(ROW * len(models), 120)
    encoding = {
        "x": {"field": "a", "type": "nominal", "title": None, "sort": models},
        "y": {"field": "b", "type": "nominal", "title": None, "sort": models},
    }
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "rect", "tooltip": True},
            "encoding": {
                "color": {
                    "field": "rho",
                    "type": "quantitative",
                    "title": "rho",
                    "scale": {"domain": [-1, 1], "scheme": "redblue"},
                },
                "tooltip": [
                    {"field": "a", "title": "model"},
                    {"field": "b", "title": "with"},
                    {"field": "rho", "type": "quantitative", "format": ".2f"},
                    {"field": "scenarios", "type": "quantitative"},
                    {"field": "significant"},
                ],
            },
        }
    ]
    if len(models) <= 12:
        layers.append(
            {
                "mark": {"type": "text", "fontSize": 10},
                "encoding": {"text": {"field": "rho", "type": "quantitative", "format": ".2f"}},
            }
        )
    spec = _base(values) | {"width": side, "height": side, "encoding": encoding, "layer": layers}
    return Chart(
        name="agreement",
        title=title,
        description=(
            "Spearman rank correlation of per-scenario mean scores for every pair with 3+ shared scenarios"
            f" (overall agreement {_fmt(agreement.overall_agreement)}); the diagonal is 1."
        ),
        spec=spec,
    )


def dimension_effects(analysis: Analysis) -> Chart | MissingChart:
    title = "Dimension effects (Kruskal-Wallis, eta squared)"
    dimensions = analysis.dimension_analysis.dimensions
    if not dimensions:
        return MissingChart(name="dimensions", title=title, reason="the scenarios carry no dimensions")
    values = [
        {
            "dimension": name,
            "effect": result.effect_size,
            "p": result.p_value,
            "rank": result.rank,
            "levels": len(result.levels),
            "result": "significant (alpha 0.05)" if result.significant else "not significant",
        }
        for name, result in sorted(dimensions.items(), key=lambda kv: kv[1].rank)
    ]
    spec = _base(values) | {
        "width": WIDTH,
        "height": {"step": ROW + 4},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "dimension", "type": "nominal", "sort": {"field": "rank"}, "title": None},
            "x": {"field": "effect", "type": "quantitative", "title": "effect size (eta squared)"},
            "color": {
                "field": "result",
                "type": "nominal",
                "title": None,
                "scale": {"domain": ["significant (alpha 0.05)", "not significant"], "range": ["#1f5fa8", "#b0b0b0"]},
            },
            "tooltip": [
                {"field": "dimension"},
                {"field": "effect", "type": "quantitative", "format": ".3f"},
                {"field": "p", "type": "quantitative", "format": ".3g"},
                {"field": "levels", "type": "quantitative"},
            ],
        },
    }
    explained = analysis.dimension_analysis.variance_explained
    return Chart(
        name="dimensions",
        title=title,
        description=f"How much each scenario dimension moves the scores; all together explain R² {_fmt(explained)}.",
        spec=spec,
    )


def contested_scenarios(analysis: Analysis) -> Chart | MissingChart:
    title = "Most contested scenarios (each model's mean score)"
    contested = analysis.most_contested_scenarios
    if not contested:
        return MissingChart(name="contested", title=title, reason="no scenario was scored by two or more models")
    names = [c.scenario_name for c in contested]
    labels = [
        name if names.count(name) == 1 else f"{name} ({c.scenario_id})"
        for name, c in zip(names, contested, strict=True)
    ]
    values = [
        {"scenario": label, "model": model, "score": score, "variance": c.variance}
        for label, c in zip(labels, contested, strict=True)
        for model, score in sorted(c.model_scores.items())
    ]
    models = sorted({model for c in contested for model in c.model_scores})
    color: dict[str, Any] = {"field": "model", "type": "nominal", "title": "model", "sort": models}
    if len(models) > LEGEND_MODELS:
        color["legend"] = None
    else:
        color["scale"] = {"domain": models, "scheme": "category10" if len(models) <= 10 else "category20"}
    spec = _base(values) | {
        "width": WIDTH,
        "height": {"step": ROW * 2},
        "mark": {"type": "point", "filled": True, "size": 70, "opacity": 0.8, "tooltip": True},
        "encoding": {
            "y": {"field": "scenario", "type": "nominal", "sort": labels, "title": None},
            "x": {
                "field": "score",
                "type": "quantitative",
                "scale": {"domain": [-2, 2]},
                "title": "mean score (-2 favor second .. +2 favor first)",
            },
            "color": color,
            "tooltip": [
                {"field": "scenario"},
                {"field": "model"},
                {"field": "score", "type": "quantitative", "format": ".2f"},
            ],
        },
    }
    return Chart(
        name="contested",
        title=title,
        description=(
            "The scenarios whose mean scores vary most across models, one point per model"
            + (" (hover a point for its model)." if len(models) > LEGEND_MODELS else ".")
        ),
        spec=spec,
    )


def consistency(analysis: Analysis) -> Chart | MissingChart:
    title = "Per-model consistency across repeated samples"
    values = [
        {
            "model": model,
            "consistency": stats.consistency_score,
            "variance": stats.avg_within_scenario_variance,
            "groups": stats.groups_with_repeats,
        }
        for model, stats in sorted(analysis.variance_analysis.per_model.items())
        if stats.groups_with_repeats > 0
    ]
    if not values:
        return MissingChart(
            name="consistency", title=title, reason="no model answered a scenario more than once (no repeats)"
        )
    spec = _base(values) | {
        "width": WIDTH,
        "height": {"step": ROW},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "model", "type": "nominal", "title": None},
            "x": {
                "field": "consistency",
                "type": "quantitative",
                "scale": {"domain": [0, 1]},
                "title": "consistency (1 - mean within-scenario variance / 4)",
            },
            "tooltip": [
                {"field": "model"},
                {"field": "consistency", "type": "quantitative", "format": ".3f"},
                {"field": "variance", "type": "quantitative", "format": ".3f", "title": "mean variance"},
                {"field": "groups", "type": "quantitative", "title": "scenarios with repeats"},
            ],
        },
    }
    return Chart(
        name="consistency",
        title=title,
        description="How alike a model's answers to the same scenario are (models with repeated samples).",
        spec=spec,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


BUILDERS = (decision_distribution, agreement_matrix, dimension_effects, contested_scenarios, consistency)


def charts(analysis: Analysis) -> tuple[list[Chart], list[MissingChart]]:
    made: list[Chart] = []
    missing: list[MissingChart] = []
    for build in BUILDERS:
        chart = build(analysis)
        if isinstance(chart, Chart):
            made.append(chart)
        else:
            missing.append(chart)
    return made, missing
