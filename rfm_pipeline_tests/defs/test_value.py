"""value_backtest and customer_value for one week of a small shop."""

import json

import pytest

from rfm_pipeline.core.value import BASELINE, MODEL, VALUE_COLUMNS
from rfm_pipeline_tests.defs.conftest import WEEK


def test_the_backtest_scores_every_forecast_and_segmentation_at_each_cutoff(graph):
    table = graph.table("value_backtest")
    meta = graph.metadata("value_backtest")
    assert meta["cutoffs"] == ["2011-06-01", "2011-07-01", "2011-08-01", "2011-09-01"]
    assert sorted(table["cutoff"].unique()) == meta["cutoffs"]
    kept = {f"{s}/{a}" for s in ("pca", "umap", "tsne")
            for a in graph.table(f"{s}_sweep").query("kept")["algorithm"]}  # fmt: skip
    names = {MODEL, BASELINE, "RFM grid (11 cells)", "frequency deciles", *kept}
    assert set(table["model"]) == names
    assert table.groupby("cutoff").size().eq(len(names)).all()
    assert table["auc"].between(0, 1).all()
    forecasts = table[table["model"].isin([MODEL, BASELINE])]
    assert forecasts["predicted_total"].notna().all()
    assert (graph.warehouse / "plots" / "value_calibration" / f"{WEEK}.png").exists()
    assert meta["settings"]["horizon_days"] == 90


def test_customer_value_forecasts_every_customer_with_its_card(graph):
    table = graph.table("customer_value")
    assert table.columns.tolist() == [*VALUE_COLUMNS, "as_of"]
    assert len(table) == len(graph.table("rfm_table"))
    assert table["p_active"].between(0, 1).all() and table["p_alive_bgnbd"].between(0, 1).all()
    assert (table["expected_spend_90d"] >= 0).all()
    assert (table["clv_12m"] >= table["expected_spend_90d"] * 0.5).all()  # a year vs a quarter
    assert str(table["as_of"].iloc[0]) == "2011-12-05"
    card = json.loads((graph.warehouse / "customer_value_model" / f"{WEEK}.json").read_text())
    assert card["as_of"] == "2011-12-05" and card["settings"]["clv_months"] == 12
    assert set(card["parameters"]) >= {"r", "alpha", "a", "b", "p", "q", "v"}
    assert {row["model"] for row in card["backtest"]} == {MODEL, BASELINE}
    meta = graph.metadata("customer_value")
    assert meta["expected_spend_90d_total"] == pytest.approx(
        table["expected_spend_90d"].sum(), abs=0.01
    )
    for name in ("customer_value_bgnbd.nc", "customer_value_gamma_gamma.nc",
                 "customer_value_model.skops"):  # fmt: skip
        assert (graph.warehouse / name).exists()
