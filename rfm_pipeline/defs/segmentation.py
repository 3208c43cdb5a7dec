"""Group segmentation: customers clustered in low-dimensional RFM spaces, profiled and named."""

import dagster as dg
import pandas as pd

from rfm_pipeline.core import profiles
from rfm_pipeline.core.plots import radar_chart, silhouette_by_k, snake_plot
from rfm_pipeline.core.rfm import RFM_COLUMNS
from rfm_pipeline.core.segmentation import pca_segmentation as segment_in_pca_space
from rfm_pipeline.defs.metadata import image_metadata, table_metadata
from rfm_pipeline.defs.resources import Warehouse


class PcaSegmentationConfig(dg.Config):
    """The study's RFM I sweep; the defaults reproduce its figures."""

    k_min: int = 2
    k_max: int = 10
    algorithm: str | None = None  # kmeans or gmm; None = the higher silhouette
    random_state: int = 42


@dg.asset(group_name="segmentation", kinds={"pandas", "sklearn"}, code_version="1")
def pca_segmentation(
    config: PcaSegmentationConfig, warehouse: Warehouse, rfm_features: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Every customer's position on the first two principal components of the scaled RFM
    features and its KMeans and Gaussian-mixture segment (k chosen by silhouette);
    `segment_id` is the chosen algorithm's. Ids ascend with mean monetary value.
    """
    result = segment_in_pca_space(
        rfm_features,
        ks=range(config.k_min, config.k_max + 1),
        algorithm=config.algorithm,
        random_state=config.random_state,
    )
    fitted = result.table.merge(rfm_features[["customer_id", *RFM_COLUMNS]])
    fitted = fitted[~fitted["is_outlier"]]
    clusters = (
        fitted.groupby("segment_id")
        .agg(customers=("customer_id", "size"), **{c: (c, "mean") for c in RFM_COLUMNS})
        .round(1)
        .reset_index()
    )
    chosen = {name: {"k": b["k"], "silhouette": round(b["silhouette"], 3)}
              for name, b in result.sweep.best.items()}  # fmt: skip
    metadata = {
        "dagster/row_count": len(result.table),
        "explained_variance_ratio": [round(v, 3) for v in result.explained_variance],
        "algorithm": result.algorithm,
        "k": int(result.table["k"].iloc[0]),
        "best_per_algorithm": dg.MetadataValue.json(chosen),
        "clusters_of_fitted_customers": table_metadata(clusters),
    }
    if not result.sweep.scores.empty:
        plot = silhouette_by_k(result.sweep.scores, "Silhouette by k (PCA space)")
        metadata["sweep"] = table_metadata(result.sweep.scores.round(3))
        metadata["silhouette_by_k"] = image_metadata(plot, warehouse, "pca_segmentation_silhouette")
    return dg.Output(result.table, metadata=metadata)


@dg.asset(group_name="segmentation", kinds={"pandas"}, code_version="1")
def segment_profiles(
    warehouse: Warehouse, pca_segmentation: pd.DataFrame, rfm_features: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Per segment: name, strategy, size and share, mean and median recency, frequency and
    monetary, revenue share; names come from documented rules on the profile, not from ids.
    """
    segmented = pca_segmentation[["customer_id", "segment_id"]].merge(rfm_features)
    profile = profiles.profile_segments(segmented)
    named = profiles.name_segments(profiles.standardised_means(segmented))
    table = named.merge(profile, on="segment_id")
    names = dict(zip(table["segment_id"], table["segment_name"], strict=True))
    radar = radar_chart(profiles.minmax_means(profile), names, "Segment profiles (min-max scaled)")
    snake = snake_plot(profiles.standardised_means(segmented), names, "Snake plot")
    shown = table.drop(columns="strategy").round(3)
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "profiles": table_metadata(shown),
            "strategies": dg.MetadataValue.json(
                dict(zip(table["segment_name"], table["strategy"], strict=True))
            ),
            "radar_chart": image_metadata(radar, warehouse, "segment_profiles_radar"),
            "snake_plot": image_metadata(snake, warehouse, "segment_profiles_snake"),
        },
    )
