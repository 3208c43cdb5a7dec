"""Choosing the segmentation, and profiling its segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfm_pipeline.core.plots import minmax
from rfm_pipeline.core.rfm import rfm_features
from rfm_pipeline.core.segments import (
    by_rule,
    choose,
    comparison,
    customer_segments,
    horizon_days,
    margin,
    passed_over,
    profile_means,
    profile_segments,
    tied,
)
from rfm_pipeline.core.spaces import segment
from rfm_pipeline_tests.core.test_spaces import blobs


def sweep_rows(rows) -> pd.DataFrame:
    columns = [
        "algorithm",
        "k",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "min_share",
        "eligible",
        "kept",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_the_best_eligible_kept_solution_wins_and_config_can_override():
    sweeps = {
        "pca": sweep_rows(
            [
                ("kmeans", 3, 0.52, 1, 1, 0.2, True, True),
                ("kmeans", 4, 0.70, 1, 1, 0.2, True, False),
            ]
        ),  # not kept
        "umap": sweep_rows(
            [
                ("kmeans", 7, 0.55, 1, 1, 0.1, True, True),
                ("hdbscan", 2, 0.90, 1, 1, 0.01, False, True),
            ]
        ),  # too small
        "tsne": sweep_rows([("gmm", 4, 0.47, 1, 1, 0.15, True, True)]),
    }
    kept = comparison(sweeps)
    assert kept[["embedding", "algorithm"]].values.tolist() == [
        ["umap", "kmeans"],
        ["pca", "kmeans"],
        ["tsne", "gmm"],
        ["umap", "hdbscan"],
    ]
    assert choose(kept) == ("umap", "kmeans")
    assert choose(kept, embedding="tsne") == ("tsne", "gmm")
    assert choose(kept, algorithm="hdbscan") == ("umap", "hdbscan")
    with pytest.raises(ValueError, match="no kept segmentation for pca/gmm"):
        choose(kept, "pca", "gmm")
    # last week's choice stays while it is within the tolerance of the best, and eligible
    assert choose(kept, previous=("pca", "kmeans"), tolerance=0.05) == ("pca", "kmeans")
    assert choose(kept, previous=("pca", "kmeans"), tolerance=0.02) == ("umap", "kmeans")
    assert choose(kept, previous=("umap", "hdbscan"), tolerance=0.5) == ("umap", "kmeans")


def test_the_choice_weighs_the_backtest_against_the_rfm_grid():
    sweeps = {
        "pca": sweep_rows([("kmeans", 3, 0.52, 1, 1, 0.2, True, True)]),
        "umap": sweep_rows(
            [("kmeans", 7, 0.55, 1, 1, 0.1, True, True), ("gmm", 6, 0.54, 1, 1, 0.1, True, True)]
        ),
    }
    backtest = pd.DataFrame(
        [
            (c, model, auc, r2)
            for c in ("2011-08-01", "2011-09-01")
            for model, auc, r2 in (
                ("RFM grid (11 cells)", 0.72, 0.036),
                ("pca/kmeans", 0.73, 0.05),
                ("umap/kmeans", 0.74, 0.03),
                ("umap/gmm", 0.72, 0.04),
            )
        ],
        columns=["cutoff", "model", "auc", "r2"],
    )
    kept = comparison(sweeps, backtest)
    # umap/kmeans has the best silhouette but explains less spend than the grid
    assert kept[["embedding", "algorithm"]].values.tolist() == [
        ["umap", "gmm"],
        ["pca", "kmeans"],
        ["umap", "kmeans"],
    ]
    assert kept["predictive"].tolist() == [True, True, False]
    assert kept["auc"].tolist() == pytest.approx([0.72, 0.73, 0.74])
    assert choose(kept) == ("umap", "gmm")
    assert passed_over(kept, 0.54) == [
        "umap/kmeans k=7 (silhouette 0.550): AUC 0.740, explained spend 0.030"
    ]
    # last week's choice is not kept once it is less predictive than the grid
    assert choose(kept, previous=("umap", "kmeans"), tolerance=0.5) == ("umap", "gmm")
    assert comparison(sweeps)["preferred"].all()  # no backtest: nothing to weigh


def test_solutions_within_the_tie_go_to_the_fewest_segments_and_the_margin_is_recorded():
    sweeps = {
        "pca": sweep_rows([("kmeans", 3, 0.50, 1, 1, 0.2, True, True)]),
        "umap": sweep_rows(
            [
                ("kmeans", 7, 0.554, 1, 1, 0.1, True, True),
                ("agglomerative", 5, 0.545, 1, 1, 0.1, True, True),
            ]
        ),
        "tsne": sweep_rows([("kmeans", 7, 0.486, 1, 1, 0.1, True, True)]),
    }
    kept = comparison(sweeps)
    assert choose(kept) == ("umap", "kmeans")  # no tolerance: the best silhouette, by 0.009
    assert choose(kept, tie_within=0.02) == ("umap", "agglomerative")
    assert tied(kept, 0.02)[["algorithm", "k"]].values.tolist() == [
        ["agglomerative", 5],
        ["kmeans", 7],
    ]
    assert margin(kept, 0.02) == pytest.approx(0.554 - 0.02 - 0.50)
    assert np.isnan(margin(kept.head(2), 0.02))  # nothing outside the tie
    # last week's stays within the tie even when the tie would go elsewhere
    assert choose(kept, previous=("umap", "kmeans"), tie_within=0.02) == ("umap", "kmeans")


def test_a_difference_from_the_grid_within_its_noise_is_as_predictive():
    sweeps = {
        "umap": sweep_rows(
            [("kmeans", 5, 0.55, 1, 1, 0.1, True, True), ("gmm", 5, 0.50, 1, 1, 0.1, True, True)]
        )
    }
    backtest = pd.DataFrame(
        [
            ("2011-09-01", "RFM grid (11 cells)", 0.737, 0.046),
            ("2011-09-01", "umap/kmeans", 0.734, 0.081),  # 0.003 below: noise
            ("2011-09-01", "umap/gmm", 0.730, 0.090),
        ],  # 0.007 below: less predictive
        columns=["cutoff", "model", "auc", "r2"],
    )
    assert comparison(sweeps, backtest)["predictive"].tolist() == [True, False]


def test_where_no_clustering_predicts_as_well_as_the_grid_the_tiers_or_the_grid_are_chosen():
    sweeps = {"umap": sweep_rows([("kmeans", 5, 0.55, 1, 1, 0.1, True, True)])}
    rows = [
        ("RFM grid (11 cells)", 0.717, 0.048, 11),
        ("value tiers", 0.722, 0.122, 12),
        ("umap/kmeans", 0.702, 0.056, 5),
        ("frequency deciles", 0.71, 0.08, 10),
    ]
    backtest = pd.DataFrame(
        [("2011-09-01", *row) for row in rows], columns=["cutoff", "model", "auc", "r2", "segments"]
    )
    kept = comparison(sweeps, backtest)
    assert kept[["embedding", "algorithm", "k"]].values.tolist() == [
        ["value", "tiers", 12],
        ["rfm", "grid", 11],
        ["umap", "kmeans", 5],
    ]
    assert kept["preferred"].tolist() == [True, True, False]
    assert choose(kept, tie_within=0.02) == ("value", "tiers")
    assert tied(kept, 0.02)["algorithm"].tolist() == ["tiers"]
    assert passed_over(kept, float("nan")) == [
        "umap/kmeans k=5 (silhouette 0.550): AUC 0.702, explained spend 0.056"
    ]
    # tiers that do not match the grid either: the grid itself
    worse = backtest.assign(auc=backtest["auc"].where(backtest["model"] != "value tiers", 0.70))
    assert choose(comparison(sweeps, worse)) == ("rfm", "grid")
    # a clustering that matches the grid comes first, whatever the tiers
    better = backtest.assign(auc=backtest["auc"].where(backtest["model"] != "umap/kmeans", 0.72))
    assert choose(comparison(sweeps, better)) == ("umap", "kmeans")


def test_a_segmentation_by_rule_names_every_customer():
    features = rfm_features(blobs()).table
    rfm_table = blobs()
    p_active = np.where(rfm_table["recency"] < 100, 0.8, 0.05)
    value = pd.DataFrame(
        {
            "customer_id": rfm_table["customer_id"],
            "p_active": p_active,
            "expected_spend_90d": rfm_table["monetary"] * p_active,
            "clv_12m": rfm_table["monetary"],
        }
    )
    tables = by_rule(rfm_table, value)
    for embedding, algorithm in (("value", "tiers"), ("rfm", "grid")):
        table = customer_segments(features, tables[embedding], embedding, algorithm, 30, value)
        assert len(table) == len(features) == table["customer_id"].nunique()
        assert table["segment_name"].notna().all() and table["strategy"].notna().all()
        assert (table["embedding"] == embedding).all() and table["k"].iloc[0] > 1
    tiers = tables["value"].set_index("customer_id")["tiers_segment"]
    lapsed = rfm_table.set_index("customer_id")["recency"] >= 100
    assert (tiers[lapsed] // 3 == 0).all() and (tiers[~lapsed] // 3 == 4).all()


def test_the_horizon_is_read_from_the_forecasts_columns():
    assert horizon_days(pd.DataFrame(columns=["customer_id", "expected_spend_30d"])) == 30
    assert horizon_days(None) == 90


def test_every_customer_gets_exactly_one_named_segment_and_it_is_repeatable():
    features = rfm_features(blobs()).table
    segmentation = segment(features, "pca", ks=range(2, 6)).table
    first = customer_segments(features, segmentation, "pca", "kmeans", gap_days=30)
    second = customer_segments(features, segmentation, "pca", "kmeans", gap_days=30)
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == len(features) == first["customer_id"].nunique()
    assert first["segment_name"].notna().all() and first["strategy"].notna().all()
    assert sorted(first["segment_name"].unique()) == ["Intermediate", "Lost", "Loyal"]
    assert set(first.columns) >= {"recency", "frequency", "monetary", "embedding", "algorithm"}


def segmented() -> pd.DataFrame:
    # segment 7 is recent and big, 3 is lapsed and small, 5 in between: ids say nothing
    rows = [
        (7, 5, 20, 5_000.0),
        (7, 10, 30, 7_000.0),
        (3, 300, 1, 100.0),
        (3, 280, 1, 50.0),
        (5, 60, 3, 600.0),
        (5, 80, 2, 500.0),
    ]
    frame = pd.DataFrame(rows, columns=["segment_id", "recency", "frequency", "monetary"])
    return frame.assign(customer_id=[str(i) for i in range(6)], is_outlier=[True] + [False] * 5)


def test_profile_has_sizes_shares_means_and_medians():
    profile = profile_segments(segmented()).set_index("segment_id")
    assert profile.loc[7, "customers"] == 2
    assert profile.loc[7, "outliers"] == 1
    assert profile.loc[7, "monetary_mean"] == 6_000.0
    assert profile.loc[3, "recency_median"] == 290
    assert profile["customer_share"].sum() == pytest.approx(1.0)
    assert profile.loc[7, "revenue_share"] == pytest.approx(12_000 / 13_250)


def test_radar_values_are_scaled_to_the_unit_interval():
    scaled = minmax(profile_means(profile_segments(segmented())))
    assert scaled.min().min() == 0.0 and scaled.max().max() == 1.0
    assert list(scaled.columns) == ["recency", "frequency", "monetary"]
