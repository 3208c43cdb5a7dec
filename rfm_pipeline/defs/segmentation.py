"""Group segmentation: customers clustered in PCA, UMAP and t-SNE spaces; the chosen segments,
named, with a strategy each; their profiles.

Each space is one multi-asset: `<space>_segmentation` (every customer's position and segment
per algorithm) and `<space>_sweep` (every (algorithm, k) solution's scores).
"""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from rfm_pipeline.core import choice, profiles, tracking
from rfm_pipeline.core.embedding import SPACE_NAMES
from rfm_pipeline.core.plots import embedding_scatter, radar_chart, silhouette_by_k, snake_plot
from rfm_pipeline.core.rfm import RFM_COLUMNS
from rfm_pipeline.core.segmentation import Segmentation, segment
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import compared_with, previous_week, weeks

STUDY_TSNE = pd.DataFrame(
    {
        "algorithm": ["kmeans", "gmm", "agglomerative"],
        "study_k": [7, 4, 7],
        "study_silhouette": [0.48, 0.47, None],
    }  # fmt: skip
)
"""The study's published t-SNE solutions (no silhouette was given for agglomerative)."""


class SweepConfig(dg.Config):
    """The clustering sweep in one space."""

    k_min: int = 3
    k_max: int = 8
    algorithms: list[str] = ["kmeans", "gmm", "agglomerative"]
    algorithm: str | None = None  # this space's segmentation; None = the best eligible silhouette
    min_share: float = 0.02  # smallest segment's share of customers for a solution to be chosen
    random_state: int = 42
    sample_size: int = 10_000  # above this many non-outliers, fit on a random sample of them
    stick_within: float = 0.02  # keep last week's k while its silhouette is this near the best


class PcaSegmentationConfig(SweepConfig):
    """The study's RFM I: PCA(2), KMeans and Gaussian mixtures for k = 2..10."""

    k_min: int = 2
    k_max: int = 10
    algorithms: list[str] = ["kmeans", "gmm"]


class UmapSegmentationConfig(SweepConfig):
    """UMAP(2), which places new customers with `transform`; HDBSCAN as the density option."""

    algorithms: list[str] = ["kmeans", "gmm", "agglomerative", "hdbscan"]
    n_neighbors: int = 15
    min_dist: float = 0.1


class TsneSegmentationConfig(SweepConfig):
    """The study's RFM II: t-SNE(2), perplexity 50, random_state 100."""

    perplexity: float = 50.0
    random_state: int = 100


def _sweep_outputs(
    context: dg.AssetExecutionContext,
    space: str,
    config: SweepConfig,
    features: pd.DataFrame,
    previous_sweep: dict[str, pd.DataFrame],
    warehouse: Warehouse,
    **options,
) -> Iterator[dg.Output]:
    """Run one space's segmentation; yield the sweep and the per-customer table, with metadata.

    Each algorithm's k of last week's sweep stays while its silhouette is nearly the best."""
    week = context.partition_key
    last_week = next(iter(previous_sweep.values()), pd.DataFrame())
    kept = last_week[last_week["kept"]] if "kept" in last_week else {}
    preferred = dict(zip(kept.get("algorithm", []), kept.get("k", []), strict=True))
    started = time.perf_counter()
    result: Segmentation = segment(
        features,
        space,
        ks=range(config.k_min, config.k_max + 1),
        algorithms=config.algorithms,
        algorithm=config.algorithm,
        min_share=config.min_share,
        random_state=config.random_state,
        sample_size=config.sample_size,
        preferred=preferred,
        tolerance=config.stick_within,
        **options,
    )
    seconds = round(time.perf_counter() - started, 2)
    kept = {a: {"k": b["k"], "silhouette": round(b["silhouette"], 3)}
            for a, b in result.sweep.best.items()}  # fmt: skip
    fitted = result.table.merge(features[["customer_id", *RFM_COLUMNS]])
    segments = (
        fitted[~fitted["is_outlier"]]
        .groupby("segment_id")
        .agg(customers=("customer_id", "size"), **{c: (c, "mean") for c in RFM_COLUMNS})
        .round(1)
        .reset_index()
    )
    metadata = {
        "dagster/row_count": len(result.table),
        "algorithm": result.algorithm,
        "k": int(result.table["k"].iloc[0]),
        # what refits before a cut-off embed with
        "options": dg.MetadataValue.json({"random_state": config.random_state, **options}),
        "kept_per_algorithm": dg.MetadataValue.json(kept),
        "segments_of_fitted_customers": table_metadata(segments),
        "seconds": seconds,
        **{key: _rounded(value) for key, value in result.info.items()},
    }
    sweep_metadata: dict = {
        "dagster/row_count": len(result.sweep.scores),
        "compared_with_week": compared_with(previous_sweep, week),
        "k_kept_from_last_week": dg.MetadataValue.json(preferred),
    }
    if not result.sweep.scores.empty:
        sweep_metadata["sweep"] = table_metadata(result.sweep.scores.round(3))
        plot = silhouette_by_k(result.sweep.scores, f"Silhouette by k ({SPACE_NAMES[space]} space)")
        sweep_metadata["silhouette_by_k"] = image_metadata(
            plot, warehouse, f"{space}_silhouette", week
        )
    if space == "tsne" and kept:
        ours = pd.DataFrame(
            [
                {"algorithm": a, "our_k": v["k"], "our_silhouette": v["silhouette"]}
                for a, v in kept.items()
            ]  # fmt: skip
        )
        metadata["beside_the_study"] = table_metadata(STUDY_TSNE.merge(ours, how="left"))
    # the sweep first: this week's table follows from last week's sweep
    yield dg.Output(
        result.sweep.scores, output_name=f"{space}_sweep", metadata=plain(sweep_metadata)
    )
    yield dg.Output(result.table, output_name=f"{space}_segmentation", metadata=plain(metadata))


def _rounded(value: float | list[float] | str) -> float | list[float] | str:
    if isinstance(value, list):
        return [round(v, 3) for v in value]
    return round(value, 3) if isinstance(value, float) else value


def _space_asset(space: str, what: str):
    """The weekly multi-asset of one space: `<space>_segmentation` and `<space>_sweep`, reading
    last week's sweep."""
    return dg.multi_asset(
        outs=_outs(space, what),
        ins={"previous_sweep": previous_week(f"{space}_sweep")},
        group_name="segmentation",
        partitions_def=weeks,
    )


def _outs(space: str, what: str) -> dict[str, dg.AssetOut]:
    return {
        f"{space}_segmentation": dg.AssetOut(
            description=f"Every customer's position in the {what} and segment per algorithm"
            " (`<algorithm>_segment`, ids ascending with mean monetary); `segment_id` is this"
            " space's chosen one. Outliers are placed too.",
            kinds={"pandas", "sklearn"},
            code_version="2",
        ),
        f"{space}_sweep": dg.AssetOut(
            description=f"Scores of every (algorithm, k) clustering of the {what}: silhouette,"
            " Calinski-Harabasz, Davies-Bouldin, smallest segment's share; `kept` marks each"
            " algorithm's chosen k.",
            kinds={"pandas", "sklearn"},
            code_version="2",
        ),
    }


@_space_asset("pca", "first two principal components")
def pca_segmentation(
    context: dg.AssetExecutionContext,
    config: PcaSegmentationConfig,
    warehouse: Warehouse,
    rfm_features: pd.DataFrame,
    previous_sweep: dict[str, pd.DataFrame],
) -> Iterator[dg.Output]:
    """The study's RFM I: PCA(2) of the scaled features, KMeans and Gaussian mixtures."""
    yield from _sweep_outputs(context, "pca", config, rfm_features, previous_sweep, warehouse)


@_space_asset("umap", "UMAP embedding")
def umap_segmentation(
    context: dg.AssetExecutionContext,
    config: UmapSegmentationConfig,
    warehouse: Warehouse,
    rfm_features: pd.DataFrame,
    previous_sweep: dict[str, pd.DataFrame],
) -> Iterator[dg.Output]:
    """UMAP(2) fitted on the non-outliers; four clusterers over k = 3..8."""
    yield from _sweep_outputs(
        context, "umap", config, rfm_features, previous_sweep, warehouse,
        n_neighbors=config.n_neighbors, min_dist=config.min_dist,
    )  # fmt: skip


@_space_asset("tsne", "t-SNE embedding")
def tsne_segmentation(
    context: dg.AssetExecutionContext,
    config: TsneSegmentationConfig,
    warehouse: Warehouse,
    rfm_features: pd.DataFrame,
    previous_sweep: dict[str, pd.DataFrame],
) -> Iterator[dg.Output]:
    """The study's RFM II: t-SNE(2) of the scaled features, three clusterers over k = 3..8."""
    yield from _sweep_outputs(
        context, "tsne", config, rfm_features, previous_sweep, warehouse,
        perplexity=config.perplexity,
    )  # fmt: skip


class CustomerSegmentsConfig(dg.Config):
    """Which segmentation the business uses; None = the documented rule's choice."""

    embedding: str | None = None  # pca, umap or tsne
    algorithm: str | None = None  # kmeans, gmm, agglomerative or hdbscan
    max_match_distance: float = tracking.MAX_DISTANCE  # a segment's largest move in a week
    stick_within: float = 0.02  # keep last week's choice while its silhouette is this near


@dg.multi_asset(
    outs={
        "segment_registry": dg.AssetOut(
            description="Every segment id ever used: name, strategy, first and last week seen,"
            " customers this week (0 once gone), mean recency, frequency and monetary of its"
            " last week, and the embedding and algorithm behind it. Next week's segments are"
            " matched with it, so ids, names and strategies carry over and no id is reused.",
            kinds={"pandas"},
            code_version="1",
        ),
        "customer_segments": dg.AssetOut(
            description="The segmentation the business uses: every customer (outliers"
            " included) with segment id, name, strategy, recency, frequency, monetary and the"
            " embedding and algorithm behind it. A segment that is last week's group in the"
            " same place keeps last week's id and name.",
            kinds={"pandas"},
            code_version="3",
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
    previous_registry: dict[str, pd.DataFrame],
) -> Iterator[dg.Output]:
    """Choose the segmentation (last week's while nearly the best), carry last week's segment
    identities over, and update the registry of every segment ever used."""
    week = context.partition_key
    registry = next(iter(previous_registry.values()), None)
    tables = {"pca": pca_segmentation, "umap": umap_segmentation, "tsne": tsne_segmentation}
    kept = choice.comparison({"pca": pca_sweep, "umap": umap_sweep, "tsne": tsne_sweep})
    if kept.empty:  # too few customers: every space made one segment
        embedding, algorithm = config.embedding or "pca", "single"
    else:
        embedding, algorithm = choice.choose(
            kept, config.embedding, config.algorithm, tracking.last_choice(registry),
            config.stick_within,
        )  # fmt: skip
    fitted = choice.customer_segments(rfm_features, tables[embedding], embedding, algorithm)
    carried = tracking.carry_over(fitted, registry, week, config.max_match_distance)
    table = carried.table
    sizes = table.groupby(["segment_id", "segment_name"]).size().rename("customers").reset_index()
    status = carried.segments["status"]
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
    yield dg.Output(
        table,
        output_name="customer_segments",
        metadata=plain(
            {
                "compared_with_week": compared_with(previous_registry, week),
                "segments_kept": int((status == "kept").sum()),
                "segments_new": int((status == "new").sum()),
                "segments_vanished": int((status == "vanished").sum()),
                "continuity": table_metadata(carried.segments.round(3)),
                "dagster/row_count": len(table),
                "embedding": embedding,
                "algorithm": algorithm,
                "k": int(table["k"].iloc[0]),
                "rule": _rule(config, kept, (embedding, algorithm)),
                "note": f"one segment: {len(table):,} customers" if algorithm == "single" else "",
                "comparison": table_metadata(kept.round(3)),
                "segments": table_metadata(sizes),
            }
        ),
    )


def _rule(config: CustomerSegmentsConfig, kept: pd.DataFrame, chosen: tuple[str, str]) -> str:
    """Why this segmentation: configured, the stated rule, or last week's kept as nearly best."""
    if config.embedding or config.algorithm:
        return "configured"
    best = tuple(kept[["embedding", "algorithm"]].iloc[0]) if len(kept) else chosen
    if chosen != best:
        return f"last week's, within {config.stick_within} of the best silhouette"
    return choice.RULE


@dg.asset(group_name="segmentation", kinds={"pandas"}, code_version="2", partitions_def=weeks)
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
) -> dg.Output[pd.DataFrame]:
    """Per segment of `customer_segments`: name, strategy, size and share, mean and median
    recency, frequency and monetary, revenue share; radar chart, snake plot, the customers in
    each embedding coloured by segment, and every (embedding, algorithm, k) compared.
    """
    week = context.partition_key
    profile = profiles.profile_segments(customer_segments)
    named = customer_segments[["segment_id", "segment_name", "strategy"]].drop_duplicates()
    table = named.merge(profile, on="segment_id").sort_values("segment_id", ignore_index=True)
    names = dict(zip(table["segment_id"], table["segment_name"], strict=True))
    radar = radar_chart(profiles.minmax_means(profile), names, "Segment profiles (min-max scaled)")
    snake = snake_plot(profiles.standardised_means(customer_segments), names, "Snake plot")
    metadata = {
        "dagster/row_count": len(table),
        "profiles": table_metadata(table.drop(columns="strategy").round(3)),
        "strategies": dg.MetadataValue.json(
            dict(zip(table["segment_name"], table["strategy"], strict=True))
        ),
        "radar_chart": image_metadata(radar, warehouse, "segment_profiles_radar", week),
        "snake_plot": image_metadata(snake, warehouse, "segment_profiles_snake", week),
    }
    spaces = {"pca": pca_segmentation, "umap": umap_segmentation, "tsne": tsne_segmentation}
    named_points = customer_segments[["customer_id", "segment_name"]]
    for space, points in spaces.items():
        if points["x"].notna().any():
            plot = embedding_scatter(
                points.merge(named_points), f"{SPACE_NAMES[space]} embedding, by segment"
            )
            metadata[f"{space}_scatter"] = image_metadata(plot, warehouse, f"{space}_scatter", week)
    sweeps = {"pca": pca_sweep, "umap": umap_sweep, "tsne": tsne_sweep}
    solved = [sweep.assign(embedding=space) for space, sweep in sweeps.items() if not sweep.empty]
    if solved:
        every = pd.concat(solved, ignore_index=True)
        columns = ["embedding", *[c for c in every.columns if c != "embedding"]]
        metadata["every_solution"] = table_metadata(every[columns].round(3))
    return dg.Output(table, metadata=plain(metadata))
