"""Choosing among the spaces' kept solutions, and the customer segments table."""

from __future__ import annotations

import pandas as pd
import pytest

from rfm_pipeline.core.choice import choose, comparison, customer_segments
from rfm_pipeline.core.rfm import rfm_features
from rfm_pipeline.core.segmentation import segment
from rfm_pipeline_tests.core.test_segmentation import blobs


def sweep_rows(rows) -> pd.DataFrame:
    columns = ["algorithm", "k", "silhouette", "calinski_harabasz", "davies_bouldin",
               "min_share", "eligible", "kept"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def test_the_best_eligible_kept_solution_wins_and_config_can_override():
    sweeps = {
        "pca": sweep_rows([("kmeans", 3, 0.52, 1, 1, 0.2, True, True),
                           ("kmeans", 4, 0.70, 1, 1, 0.2, True, False)]),  # not kept
        "umap": sweep_rows([("kmeans", 7, 0.55, 1, 1, 0.1, True, True),
                            ("hdbscan", 2, 0.90, 1, 1, 0.01, False, True)]),  # too small
        "tsne": sweep_rows([("gmm", 4, 0.47, 1, 1, 0.15, True, True)]),
    }  # fmt: skip
    kept = comparison(sweeps)
    assert kept[["embedding", "algorithm"]].values.tolist() == [
        ["umap", "kmeans"], ["pca", "kmeans"], ["tsne", "gmm"], ["umap", "hdbscan"]
    ]  # fmt: skip
    assert choose(kept) == ("umap", "kmeans")
    assert choose(kept, embedding="tsne") == ("tsne", "gmm")
    assert choose(kept, algorithm="hdbscan") == ("umap", "hdbscan")
    with pytest.raises(ValueError, match="no kept segmentation for pca/gmm"):
        choose(kept, "pca", "gmm")
    # last week's choice stays while it is within the tolerance of the best, and eligible
    assert choose(kept, previous=("pca", "kmeans"), tolerance=0.05) == ("pca", "kmeans")
    assert choose(kept, previous=("pca", "kmeans"), tolerance=0.02) == ("umap", "kmeans")
    assert choose(kept, previous=("umap", "hdbscan"), tolerance=0.5) == ("umap", "kmeans")


def test_every_customer_gets_exactly_one_named_segment_and_it_is_repeatable():
    features = rfm_features(blobs()).table
    segmentation = segment(features, "pca", ks=range(2, 6)).table
    first = customer_segments(features, segmentation, "pca", "kmeans")
    second = customer_segments(features, segmentation, "pca", "kmeans")
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == len(features) == first["customer_id"].nunique()
    assert first["segment_name"].notna().all() and first["strategy"].notna().all()
    assert sorted(first["segment_name"].unique()) == ["Intermediate", "Lost", "Loyal"]
    assert set(first.columns) >= {"recency", "frequency", "monetary", "embedding", "algorithm"}
