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
    chosen = graph.table("customer_segments").iloc[0]
    backtest = graph.table("value_backtest").groupby("model")[["auc", "r2"]].mean()
    name = f"{chosen['embedding']}/{chosen['algorithm']}"
    assert graph.metadata("customer_segments")["rule"].startswith("highest silhouette among")
    assert backtest.loc[name, "auc"] >= backtest.loc["RFM grid (11 cells)", "auc"]
    assert backtest.loc[name, "r2"] >= backtest.loc["RFM grid (11 cells)", "r2"]
    names = graph.table("customer_segments")["segment_name"]
    assert not names.str.contains(r"\d").any()  # told apart in words, never numbered
