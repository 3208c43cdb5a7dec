"""Group segmentation, the segments: the one segmentation the business uses, its segments
carried over from last week and named, with a strategy each; their profiles."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import naming, segments, value
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import FRESHNESS, compared_with, previous_week, weeks


class CustomerSegmentsConfig(dg.Config):
    """Which segmentation the business uses; None = the documented rule's choice."""

    embedding: str | None = Field(
        default=None,
        description="Space whose segmentation the business uses: pca, umap or tsne (or value /"
        " rfm: the forecast's tiers, the RFM grid). None: the documented rule chooses.",
    )
    algorithm: str | None = Field(
        default=None,
        description="Clustering within that space: kmeans, gmm, agglomerative or hdbscan (tiers or"
        " grid for value and rfm). None: the documented rule chooses.",
    )
    max_match_distance: float = Field(
        default=naming.MAX_DISTANCE,
        description="Farthest a segment's centre may move in a week (standard deviations of R, F"
        " and M) and keep last week's id, name and strategy. 1.0: within one standard deviation it"
        " is the same group in the same place.",
    )
    stick_within: float = Field(
        default=0.02,
        description="Silhouette margin: last week's segmentation stays while its silhouette is"
        " within this of the best, so segments do not change for a hair's difference. 0.02, as"
        " tie_within.",
    )
    tie_within: float = Field(
        default=0.02,
        description="Silhouette margin: kept solutions within this of the best are tied, and the"
        " tie goes to fewer segments. 0.02: other seeds moved UMAP's silhouettes by up to 0.015,"
        " so less decides nothing.",
    )


@dg.multi_asset(
    outs={
        "segment_registry": dg.AssetOut(
            description="Every segment id ever used: name, strategy, first and last week seen,"
            " customers this week (0 once gone), mean recency, frequency and monetary of its"
            " last week, and the embedding and algorithm behind it. Next week's segments are"
            " matched with it, so ids, names and strategies carry over and no id is reused.",
            kinds={"pandas"},
            code_version="2",
        ),
        "customer_segments": dg.AssetOut(
            description="The segmentation the business uses: every customer (outliers"
            " included) with segment id, name, strategy, recency, frequency, monetary and the"
            " embedding and algorithm behind it. A segment that is last week's group in the"
            " same place keeps last week's id and name.",
            kinds={"pandas"},
            code_version="6",
            freshness_policy=FRESHNESS,
        ),
    },
    ins={"previous_registry": previous_week("segment_registry")},
    group_name="segmentation",
    partitions_def=weeks,
)
def customer_segments(
    context: dg.AssetExecutionContext,
    config: CustomerSegmentsConfig,
    rfm_features: pd.DataFrame,
    pca_segmentation: pd.DataFrame,
    umap_segmentation: pd.DataFrame,
    tsne_segmentation: pd.DataFrame,
    pca_sweep: pd.DataFrame,
    umap_sweep: pd.DataFrame,
    tsne_sweep: pd.DataFrame,
    value_backtest: pd.DataFrame,
    backtest_outcomes: pd.DataFrame,
    rfm_table: pd.DataFrame,
    customer_value: pd.DataFrame,
    previous_registry: dict[str, pd.DataFrame],
) -> Iterator[dg.Output]:
    """Choose the segmentation (last week's while nearly the best), name its segments by what
    their customers did (against the shop's usual gap between purchases, and the forecast),
    carry last week's segment identities over, and update the registry of every segment ever
    used."""
    week = context.partition_key
    registry = next(iter(previous_registry.values()), None)
    tables = {
        "pca": pca_segmentation,
        "umap": umap_segmentation,
        "tsne": tsne_segmentation,
        **segments.by_rule(rfm_table, customer_value),
    }
    sweeps = {"pca": pca_sweep, "umap": umap_sweep, "tsne": tsne_sweep}
    labelled = value.kept_labels(segments.comparison(sweeps), tables)
    scored = value.grouping_scores(backtest_outcomes, rfm_table, labelled)
    kept = segments.comparison(sweeps, pd.concat([value_backtest, scored], ignore_index=True))
    embedding, algorithm = segments.choose(
        kept,
        config.embedding,
        config.algorithm,
        naming.last_choice(registry),
        config.stick_within,
        config.tie_within,
    )
    gap = naming.usual_gap(rfm_table, segments.horizon_days(customer_value))
    fitted = segments.customer_segments(
        rfm_features, tables[embedding], embedding, algorithm, gap, customer_value
    )
    facts = segments.facts_of(fitted, gap, customer_value)
    carried = naming.carry_over(fitted, registry, week, config.max_match_distance, facts)
    yield dg.Output(
        carried.registry,
        output_name="segment_registry",
        metadata=plain(
            {
                "dagster/row_count": len(carried.registry),
                "segments_this_week": int((carried.registry["customers"] > 0).sum()),
            }
        ),
    )
    rule = _rule(config, kept, (embedding, algorithm))
    comparison = kept.round(3).to_dict("records")  # for the report, with the segments
    carried.table.attrs["choice"] = plain({"rule": rule, "comparison": comparison})
    metadata = {
        "compared_with_week": compared_with(previous_registry, week),
        "rule": rule,
        **_choice_metadata(config, kept, (embedding, algorithm), tables[embedding]),
        "usual_gap_days": round(gap, 1),
        **_segments_metadata(carried, kept),
        "segmentation_backtest": table_metadata(scored.round(4)),  # per cut-off
    }
    yield dg.Output(carried.table, output_name="customer_segments", metadata=plain(metadata))


def _segments_metadata(carried: naming.CarriedOver, kept: pd.DataFrame) -> dict:
    """What the UI shows of a week's segments: the choice, continuity, sizes."""
    table, status = carried.table, carried.segments["status"]
    single = table["algorithm"].iloc[0] == "single"
    sizes = table.groupby(["segment_id", "segment_name"]).size().rename("customers")
    return {
        "segments_kept": int((status == "kept").sum()),
        "segments_new": int((status == "new").sum()),
        "segments_vanished": int((status == "vanished").sum()),
        "continuity": table_metadata(carried.segments.round(3)),
        "dagster/row_count": len(table),
        "embedding": table["embedding"].iloc[0],
        "algorithm": table["algorithm"].iloc[0],
        "k": int(table["k"].iloc[0]),
        "note": f"one segment: {len(table):,} customers" if single else "",
        "comparison": table_metadata(kept.round(3)),  # with each one's backtest figures
        "segments": table_metadata(sizes.reset_index()),
    }


def _choice_metadata(
    config: CustomerSegmentsConfig,
    kept: pd.DataFrame,
    chosen: tuple[str, str],
    segmentation: pd.DataFrame,
) -> dict:
    """How firmly the choice holds: the solutions tied with the best silhouette, how far the
    next one is from the tie, how stable the chosen segments are across resamples, and which
    solutions with a higher silhouette were passed over as less predictive than the grid."""
    if kept.empty or chosen[1] == "single":
        return {}
    ties = segments.tied(kept, config.tie_within)
    row = kept[(kept["embedding"] == chosen[0]) & (kept["algorithm"] == chosen[1])].iloc[0]
    return {
        "passed_over": segments.passed_over(kept, float(row["silhouette"])),
        "tie_within": config.tie_within,
        "tied": [
            f"{e}/{a} k={k} ({s:.3f})"
            for e, a, k, s in ties[["embedding", "algorithm", "k", "silhouette"]].itertuples(
                index=False
            )
        ],
        "margin": round(segments.margin(kept, config.tie_within), 4),
        "stability_ari": round(segments.chosen_stability(segmentation, chosen[1]), 3),
    }


def _rule(config: CustomerSegmentsConfig, kept: pd.DataFrame, chosen: tuple[str, str]) -> str:
    """Why this segmentation: configured, the stated rule, or last week's kept as nearly best."""
    if config.embedding or config.algorithm:
        return "configured"
    first = segments.tied(kept, config.tie_within) if len(kept) else kept
    best = tuple(first[["embedding", "algorithm"]].iloc[0]) if len(kept) else chosen
    if chosen != best:
        return f"last week's, within {config.stick_within} of the best silhouette"
    if chosen[0] in segments.RULED_NAMES:
        return (
            "fallback: no kept solution of the spaces predicts the next quarter as well as the"
            " RFM grid:"
            f" {segments.RULED_NAMES[chosen[0]]}, "
            + ("which do" if chosen[0] == "value" else "as neither do the forecast's value tiers")
        )
    if len(kept) and not kept["preferred"].iloc[0]:
        return (
            "fewest segments near the highest silhouette: no kept solution is eligible and as"
            " predictive as the RFM grid"
        )
    return segments.RULE


@dg.asset(group_name="segmentation", kinds={"pandas"}, code_version="3", partitions_def=weeks)
def segment_profiles(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    customer_segments: pd.DataFrame,
    pca_segmentation: pd.DataFrame,
    umap_segmentation: pd.DataFrame,
    tsne_segmentation: pd.DataFrame,
    pca_sweep: pd.DataFrame,
    umap_sweep: pd.DataFrame,
    tsne_sweep: pd.DataFrame,
    customer_value: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per segment of `customer_segments`: name, strategy, size and share, mean and median
    recency, frequency and monetary, revenue share, expected spend over the forecast's horizon
    and its share, the share likely to buy and the discounted value; radar chart, snake plot,
    the customers in each embedding coloured by segment, every (embedding, algorithm, k).
    """
    week = context.partition_key
    table = segments.with_value(
        segments.named_profiles(customer_segments), customer_segments, customer_value
    )
    points = {"pca": pca_segmentation, "umap": umap_segmentation, "tsne": tsne_segmentation}
    figures = segments.profile_figures(table, customer_segments, points)
    shown = {"segment_profiles_radar": "radar_chart", "segment_profiles_snake": "snake_plot"}
    metadata = {
        "dagster/row_count": len(table),
        "profiles": table_metadata(table.drop(columns="strategy").round(3)),
        "strategies": dg.MetadataValue.json(
            dict(zip(table["segment_name"], table["strategy"], strict=True))
        ),
        **{
            shown.get(name, name): image_metadata(figure, warehouse, name, week)
            for name, figure in figures.items()
        },
    }
    every = segments.every_solution({"pca": pca_sweep, "umap": umap_sweep, "tsne": tsne_sweep})
    if len(every):
        metadata["every_solution"] = table_metadata(every.round(3))
    return dg.Output(table, metadata=plain(metadata))
