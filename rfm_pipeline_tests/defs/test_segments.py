"""customer_segments with segment_registry, and segment_profiles."""

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


def test_the_choice_is_at_least_as_predictive_as_the_rfm_grid(graph):
    """Or, where no kept solution is (on 150 customers, UMAP's layout and so this depend on the
    CPU numba compiles for), the highest silhouette, and the rule says why."""
    chosen = graph.table("customer_segments").iloc[0]
    backtest = graph.table("value_backtest").groupby("model")[["auc", "r2"]].mean()
    grid = backtest.loc["RFM grid (11 cells)"]
    metadata = graph.metadata("customer_segments")
    kept = [r.data for r in metadata["comparison"].records]
    first = kept[0]
    assert (first["embedding"], first["algorithm"]) == (chosen["embedding"], chosen["algorithm"])
    for row in kept:
        name = f"{row['embedding']}/{row['algorithm']}"
        as_good = (
            backtest.loc[name, "auc"] >= grid["auc"] and backtest.loc[name, "r2"] >= grid["r2"]
        )
        assert row["preferred"] == (row["eligible"] and bool(as_good))
    preferred = [r for r in kept if r["preferred"]]
    if preferred:
        assert metadata["rule"].startswith("highest silhouette among")
        assert first["silhouette"] == max(r["silhouette"] for r in preferred)
    else:
        assert metadata["rule"].startswith("highest silhouette: no kept solution is eligible")
        assert first["silhouette"] == max(r["silhouette"] for r in kept if r["eligible"])
    names = graph.table("customer_segments")["segment_name"]
    assert not names.str.contains(r"\d").any()  # told apart in words, never numbered
