"""customer_segments with segment_registry, and segment_profiles."""

import math

import pandas as pd
import pytest


def test_every_customer_has_a_named_segment_registered(graph):
    segments, registry = graph.table("customer_segments"), graph.table("segment_registry")
    assert len(segments) == len(graph.table("rfm_features"))
    assert set(segments["segment_id"]) == set(registry.loc[registry["customers"] > 0, "segment_id"])
    assert (registry["first_week"] == "2011-11-28").all()
    meta = graph.metadata("customer_segments")
    assert meta["compared_with_week"] == "none: 2011-11-21 has not been materialised"
    assert meta["segments_new"] == segments["segment_id"].nunique()
    assert meta["k"] == segments["segment_id"].nunique()


def test_profiles_add_up_to_every_customer(graph):
    profiles = graph.table("segment_profiles")
    assert profiles["customers"].sum() == len(graph.table("customer_segments"))
    assert abs(profiles["revenue_share"].sum() - 1) < 1e-9
    value = graph.table("customer_value")
    assert profiles["expected_spend_90d"].sum() == pytest.approx(value["expected_spend_90d"].sum())
    assert abs(profiles["expected_revenue_share"].sum() - 1) < 1e-9
    assert profiles["likely_active_share"].between(0, 1).all()
    assert set(graph.metadata("segment_profiles")["strategies"]) == set(profiles["segment_name"])


def test_the_choice_is_the_fewest_segments_of_the_tie_among_those_as_predictive_as_the_grid(graph):
    """Preferred: eligible and as predictive as the RFM grid up to its noise; the kept
    solutions within 0.02 of the best silhouette are tied and the tie goes to the fewest
    segments; where no clustering is preferred, the value tiers if they match the grid, else
    the grid."""
    chosen = graph.table("customer_segments").iloc[0]
    metadata = graph.metadata("customer_segments")
    # the segmentations scored here, from the backtest's outcomes, at each of its cut-offs
    scored = pd.DataFrame([r.data for r in metadata["segmentation_backtest"].records])
    kept_now = {
        f"{s}/{a}"
        for s in ("pca", "umap", "tsne")
        for a in graph.table(f"{s}_sweep").query("kept")["algorithm"]
    }
    assert set(scored["model"]) == {"RFM grid (11 cells)", "frequency deciles", *kept_now}
    forecasts = graph.table("value_backtest")
    assert set(scored["cutoff"]) == set(forecasts["cutoff"])
    backtest = pd.concat([forecasts, scored]).groupby("model")[["auc", "r2"]].mean()
    grid = backtest.loc["RFM grid (11 cells)"]
    kept = [r.data for r in metadata["comparison"].records]
    ruled = {"value": "value tiers", "rfm": "RFM grid (11 cells)"}
    for row in kept:
        name = ruled.get(row["embedding"], f"{row['embedding']}/{row['algorithm']}")
        as_good = (
            backtest.loc[name, "auc"] >= grid["auc"] - 0.005
            and backtest.loc[name, "r2"] >= grid["r2"] - 0.005
        )
        assert row["preferred"] == (row["eligible"] and (as_good or row["embedding"] == "rfm"))
    assert {r["embedding"] for r in kept} >= {"value", "rfm"}
    names = graph.table("customer_segments")["segment_name"]
    assert not names.str.contains(r"\d").any()  # told apart in words, never numbered
    pool = [r for r in kept if r["preferred"] and r["embedding"] not in ruled]
    if not pool:
        fallback = (
            "value" if any(r["preferred"] for r in kept if r["embedding"] == "value") else "rfm"
        )
        assert chosen["embedding"] == fallback and metadata["rule"].startswith("fallback: no kept")
        return
    top = kept[0]
    assert top["silhouette"] == max(r["silhouette"] for r in pool)
    tie = [r for r in pool if r["silhouette"] >= top["silhouette"] - 0.02]
    expected = min(tie, key=lambda r: (r["k"], -r["silhouette"]))
    assert (expected["embedding"], expected["algorithm"]) == (
        chosen["embedding"],
        chosen["algorithm"],
    )
    assert len(metadata["tied"]) == len(tie)
    assert metadata["tie_within"] == 0.02
    if chosen["algorithm"] == "hdbscan":  # not set by k: no resampled refit to compare
        assert math.isnan(metadata["stability_ari"])
    else:
        assert 0.5 < metadata["stability_ari"] <= 1
    assert metadata["rule"].startswith("the fewest segments among")


def test_no_segment_is_called_lapsed_that_bought_within_the_shops_usual_gap(graph):
    segments = graph.table("customer_segments")
    gap = graph.metadata("customer_segments")["usual_gap_days"]
    rfm = graph.table("rfm_table")
    span = rfm["tenure_days"] - rfm["recency"]
    repeat = (rfm["frequency"] >= 2) & (span > 0)
    assert gap == round(float((span[repeat] / (rfm.loc[repeat, "frequency"] - 1)).median()), 1)
    for name, group in segments.groupby("segment_name"):
        base = name.split(",")[0]
        if base in ("Lost", "At risk", "Dormant", "Stalled"):
            assert group["recency"].median() > gap, name
        if base in ("Loyal", "Promising"):
            assert group["recency"].median() <= gap and group["frequency"].median() >= 2, name
