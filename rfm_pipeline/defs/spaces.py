"""Group segmentation, the spaces: customers clustered in PCA, UMAP and t-SNE spaces.

Each space is one multi-asset: `<space>_segmentation` (every customer's position and segment
per algorithm) and `<space>_sweep` (every (algorithm, k) solution's scores).
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import spaces
from rfm_pipeline.core.plots import silhouette_by_k
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import compared_with, previous_week, weeks


class SweepConfig(dg.Config):
    """The clustering sweep in one space."""

    k_min: int = Field(
        default=3,
        description="Fewest segments each algorithm tries. 3 to 8 (with k_max), the study's range"
        " for its non-linear spaces.",
    )
    k_max: int = Field(
        default=8,
        description="Most segments each algorithm tries. 8, the top of the study's range for its"
        " non-linear spaces.",
    )
    algorithms: list[str] = Field(
        default=["kmeans", "gmm", "agglomerative"],
        description="Clusterings swept, of kmeans, gmm (Gaussian mixture), agglomerative and"
        " hdbscan. The first three, the study's for its non-linear spaces.",
    )
    algorithm: str | None = Field(
        default=None,
        description="The algorithm whose kept solution is this space's segmentation. None: the"
        " best eligible silhouette, so the space offers its best.",
    )
    min_share: float = Field(
        default=0.02,
        description="Smallest segment's share of customers (0-1) for a solution to be kept. 0.02"
        " (2%): a smaller segment is too small to act on.",
    )
    random_state: int = Field(
        default=42,
        description="Seed of the embedding, the sample and the clusterings, fixed so the same"
        " input gives the same segments.",
    )
    sample_size: int = Field(
        default=10_000,
        description="Above this many non-outlier customers, fit and score on a random sample of"
        " this size and place everyone else. 10,000: above the bundled data's 4,044, so the"
        " study's figures use everyone, while a large shop's silhouettes stay within memory.",
    )
    stick_within: float = Field(
        default=0.02,
        description="Silhouette margin: each algorithm keeps last week's k while its silhouette is"
        " within this of the best, so segments do not change for a hair's difference. 0.02, as"
        " tie_within.",
    )
    tie_within: float = Field(
        default=0.02,
        description="Silhouette margin: solutions within this of the best are tied, and the tie"
        " goes to fewer segments. 0.02: the same features embedded with other seeds (or on another"
        " CPU) moved UMAP's silhouettes by up to 0.015.",
    )

    def options(self) -> dict[str, float]:
        """The embedding's own options (PCA has none)."""
        return {}


class PcaConfig(SweepConfig):
    """The study's RFM I: PCA(2), KMeans and Gaussian mixtures for k = 2..10."""

    k_min: int = Field(
        default=2,
        description="Fewest segments each algorithm tries. 2 to 10 (with k_max), the study's range"
        " for PCA.",
    )
    k_max: int = Field(
        default=10,
        description="Most segments each algorithm tries. 10, the top of the study's range for PCA.",
    )
    algorithms: list[str] = Field(
        default=["kmeans", "gmm"],
        description="Clusterings swept, of kmeans, gmm (Gaussian mixture), agglomerative and"
        " hdbscan. KMeans and Gaussian mixtures, the study's two for PCA.",
    )


class UmapConfig(SweepConfig):
    """UMAP(2) fitted on the non-outliers, which places new customers with `transform`; KMeans,
    Gaussian mixtures, agglomerative and HDBSCAN over k = 3..8."""

    algorithms: list[str] = Field(
        default=["kmeans", "gmm", "agglomerative", "hdbscan"],
        description="Clusterings swept, of kmeans, gmm (Gaussian mixture), agglomerative and"
        " hdbscan. All four: the study had no UMAP space to follow, so every algorithm is"
        " compared.",
    )
    n_neighbors: int = Field(
        default=15,
        description="UMAP's neighbourhood size (customers): larger keeps more of the global shape."
        " 15, the UMAP library's default.",
    )
    min_dist: float = Field(
        default=0.1,
        description="UMAP's smallest distance between embedded points: smaller packs groups"
        " tighter. 0.1, the UMAP library's default.",
    )

    def options(self) -> dict[str, float]:
        return {"n_neighbors": self.n_neighbors, "min_dist": self.min_dist}


class TsneConfig(SweepConfig):
    """The study's RFM II: t-SNE(2) of the scaled features (perplexity 50, random_state 100);
    KMeans, Gaussian mixtures and agglomerative over k = 3..8, each k kept by the study's rule
    (the best silhouette)."""

    perplexity: float = Field(
        default=50.0,
        description="t-SNE's effective number of neighbours per customer. 50, the study's value.",
    )
    random_state: int = Field(
        default=100,
        description="Seed of the embedding, the sample and the clusterings. 100, the study's t-SNE"
        " seed, so this space reproduces its figures.",
    )
    tie_within: float = Field(
        default=0.0,
        description="Silhouette margin: solutions within this of the best are tied, and the tie"
        " goes to fewer segments. 0: the study kept the best silhouette (KMeans k = 7, though k ="
        " 4..8 lie within 0.006), and this space reproduces it.",
    )

    def options(self) -> dict[str, float]:
        return {"perplexity": self.perplexity}


def _sweep_outputs(
    context: dg.AssetExecutionContext,
    space: str,
    config: SweepConfig,
    features: pd.DataFrame,
    previous_sweep: dict[str, pd.DataFrame],
    warehouse: Warehouse,
) -> Iterator[dg.Output]:
    """Run one space's segmentation; yield the sweep and the per-customer table, with metadata.

    Each algorithm's k of last week's sweep stays while its silhouette is nearly the best."""
    week = context.partition_key
    preferred = spaces.kept_ks(next(iter(previous_sweep.values()), None))
    result: spaces.Segmentation = spaces.segment(
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
        tie_within=config.tie_within,
        **config.options(),
    )
    sweep = result.sweep.scores
    sweep_metadata: dict = {
        "dagster/row_count": len(sweep),
        "compared_with_week": compared_with(previous_sweep, week),
        "k_kept_from_last_week": dg.MetadataValue.json(preferred),
    }
    if not sweep.empty:
        sweep_metadata["sweep"] = table_metadata(sweep.round(3))
        plot = silhouette_by_k(sweep, f"Silhouette by k ({spaces.SPACE_NAMES[space]} space)")
        sweep_metadata["silhouette_by_k"] = image_metadata(
            plot, warehouse, f"{space}_silhouette", week
        )
    # the sweep first: this week's table follows from last week's sweep
    yield dg.Output(sweep, output_name=f"{space}_sweep", metadata=plain(sweep_metadata))
    options = {"random_state": config.random_state, **config.options()}
    result.table.attrs["options"] = options  # what refits before a cut-off embed with
    metadata = _segmentation_metadata(result, features, options)
    yield dg.Output(result.table, output_name=f"{space}_segmentation", metadata=plain(metadata))


def _segmentation_metadata(
    result: spaces.Segmentation, features: pd.DataFrame, options: dict
) -> dict:
    kept = spaces.kept_solutions(result.sweep)
    metadata = {
        "dagster/row_count": len(result.table),
        "algorithm": result.algorithm,
        "k": int(result.table["k"].iloc[0]),
        "options": dg.MetadataValue.json(options),
        "kept_per_algorithm": dg.MetadataValue.json(kept),
        "segments_of_fitted_customers": table_metadata(
            spaces.fitted_segment_sizes(result.table, features)
        ),
        **{key: _rounded(value) for key, value in result.info.items()},
    }
    if result.space == "tsne" and kept:
        metadata["beside_the_study"] = table_metadata(spaces.beside_the_study(kept))
    return metadata


def _rounded(value: float | list[float] | str) -> float | list[float] | str:
    if isinstance(value, list):
        return [round(v, 3) for v in value]
    return round(value, 3) if isinstance(value, float) else value


def space_segmentation(space: str, what: str, config_class: type[SweepConfig]):
    """The weekly multi-asset of one space: `<space>_segmentation` and `<space>_sweep`, reading
    last week's sweep; its description is its config's."""

    @dg.multi_asset(
        name=f"{space}_segmentation",
        outs=_outs(space, what),
        ins={"previous_sweep": previous_week(f"{space}_sweep")},
        group_name="segmentation",
        partitions_def=weeks,
        description=config_class.__doc__,
    )
    def segmentation(
        context: dg.AssetExecutionContext,
        config: config_class,
        warehouse: Warehouse,
        rfm_features: pd.DataFrame,
        previous_sweep: dict[str, pd.DataFrame],
    ) -> Iterator[dg.Output]:
        yield from _sweep_outputs(context, space, config, rfm_features, previous_sweep, warehouse)

    return segmentation


def _outs(space: str, what: str) -> dict[str, dg.AssetOut]:
    descriptions = {
        f"{space}_segmentation": f"Every customer's position in the {what} and segment per"
        " algorithm (`<algorithm>_segment`, ids ascending with mean monetary); `segment_id` is"
        " this space's chosen one. Outliers are placed too.",
        f"{space}_sweep": f"Scores of every (algorithm, k) clustering of the {what}: silhouette,"
        " Calinski-Harabasz, Davies-Bouldin, smallest segment's share; `kept` marks each"
        " algorithm's chosen k.",
    }
    kinds = {"pandas", "sklearn", "umap"} if space == "umap" else {"pandas", "sklearn"}
    return {
        name: dg.AssetOut(description=text, kinds=kinds, code_version="3")
        for name, text in descriptions.items()
    }


pca_segmentation = space_segmentation("pca", "first two principal components", PcaConfig)
umap_segmentation = space_segmentation("umap", "UMAP embedding", UmapConfig)
tsne_segmentation = space_segmentation("tsne", "t-SNE embedding", TsneConfig)
