"""Clustering sweeps on synthetic customers whose groups are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfm_pipeline.core.rfm import rfm_features
from rfm_pipeline.core.segmentation import order_by_monetary, pca_segmentation, relabel, sweep


def blobs(seed: int = 0) -> pd.DataFrame:
    """Three well-separated groups of 60 customers: lapsed, regular, big spenders."""
    rng = np.random.default_rng(seed)
    centres = [(300, 1, 200), (60, 4, 1_000), (10, 12, 5_000)]
    rows = []
    for g, (r, f, m) in enumerate(centres):
        for i in range(60):
            rows.append(
                {
                    "customer_id": f"{g}{i:03d}",
                    "recency": max(0.0, rng.normal(r, r * 0.05 + 1)),
                    "frequency": max(1.0, rng.normal(f, 0.3)),
                    "monetary": rng.normal(m, m * 0.05),
                }
            )
    return pd.DataFrame(rows)


def test_sweep_finds_the_three_groups():
    points = np.vstack([np.random.default_rng(1).normal(c, 0.1, (30, 2)) for c in (0, 3, 6)])
    result = sweep(points, ks=range(2, 6))
    assert result.best["kmeans"]["k"] == 3
    assert result.best["gmm"]["k"] == 3
    assert set(result.scores.columns) >= {"silhouette", "calinski_harabasz", "davies_bouldin"}
    assert len(result.scores) == 8


def test_ids_ascend_with_mean_monetary_and_unknown_labels_come_last():
    labels = np.array([7, 7, 3, 3, 5])
    order = order_by_monetary(labels, np.array([100.0, 120.0, 1.0, 2.0, 50.0]))
    assert order == {3: 0, 5: 1, 7: 2}
    assert relabel(np.array([7, 9, 3]), order).tolist() == [2, 3, 0]


def test_pca_segmentation_labels_every_customer_deterministically():
    features = rfm_features(blobs()).table
    first = pca_segmentation(features, ks=range(2, 6))
    second = pca_segmentation(features.sample(frac=1, random_state=3), ks=range(2, 6))
    pd.testing.assert_frame_equal(first.table, second.table)
    table = first.table
    assert len(table) == 180
    assert table["segment_id"].notna().all()
    assert first.sweep.best["kmeans"]["k"] == 3
    groups = table.assign(group=table["customer_id"].str[0])
    # each true group is one segment, and ids follow monetary: big spenders are 2
    assert groups.groupby("group")["kmeans_segment"].nunique().max() == 1
    assert groups.groupby("group")["kmeans_segment"].first().to_dict() == {"0": 0, "1": 1, "2": 2}
    assert sum(first.explained_variance) == pytest.approx(1.0, abs=0.1)


def test_too_few_customers_is_a_clear_error():
    with pytest.raises(ValueError, match="too few customers"):
        sweep(np.zeros((2, 2)), ks=[3, 4])


def test_too_few_customers_for_the_sweep_make_one_segment():
    features = rfm_features(blobs().iloc[:3]).table
    result = pca_segmentation(features, ks=range(3, 6))
    assert result.algorithm == "single"
    assert result.table["segment_id"].tolist() == [0, 0, 0]
