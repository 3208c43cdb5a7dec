"""value_backtest and customer_value for one week of a small shop."""

import json

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import hyp2f1

from rfm_pipeline.core.value import (
    BASELINE,
    FILES,
    LEARNED,
    MODEL,
    OUTCOME_COLUMNS,
    TIERS,
    VALUE_COLUMNS,
    alive_verdict,
    chosen_weights,
)
from rfm_pipeline_tests.defs.conftest import WEEK


def test_the_backtest_scores_every_forecast_at_each_cutoff_and_keeps_what_happened(graph):
    table = graph.table("value_backtest")
    meta = graph.metadata("value_backtest")
    assert meta["cutoffs"] == ["2011-08-01", "2011-09-01"]  # the last two months (cutoffs=2)
    assert sorted(table["cutoff"].unique()) == meta["cutoffs"]
    names = {MODEL, BASELINE, LEARNED, TIERS}  # no segmentation: they are scored at the choice
    assert set(table["model"]) == names
    assert table.groupby("cutoff").size().eq(len(names)).all()
    outcomes = graph.table("backtest_outcomes")
    assert list(outcomes.columns) == OUTCOME_COLUMNS
    counts = table[table["model"] == BASELINE].set_index("cutoff")["customers"]
    scored = outcomes[outcomes["future_spend"].notna()]
    assert scored.groupby("cutoff").size().to_dict() == counts.to_dict()
    buyers = table[table["model"] == BASELINE].set_index("cutoff")["buyers"]
    assert (scored["future_spend"] > 0).groupby(
        scored["cutoff"]
    ).sum().to_dict() == buyers.to_dict()
    assert table["auc"].between(0, 1).all()
    forecasts = table[table["model"].isin([MODEL, BASELINE, LEARNED])]
    assert forecasts["predicted_total"].notna().all()
    # the weights chosen, the same at every cut-off, and the two layers alone at 0 and 1
    weights = forecasts.groupby("model")[["buyer_weight", "spend_weight"]].agg(["min", "max"])
    assert weights.loc[BASELINE].tolist() == [0, 0, 0, 0]
    assert weights.loc[LEARNED].tolist() == [1, 1, 1, 1]
    chosen = weights.loc[MODEL]
    assert chosen.iloc[0] == chosen.iloc[1] and chosen.iloc[2] == chosen.iloc[3]
    choice = meta["learned_layer_weights"]
    assert {r.data["part"] for r in choice.records if r.data["chosen"]} == {"buyer", "spend"}
    assert (graph.warehouse / "plots" / "value_calibration" / f"{WEEK}.png").exists()
    assert meta["settings"]["horizon_days"] == 90


def bgnbd(parameters: dict, x, t_x, T):
    """BG/NBD's closed forms (Fader, Hardie and Lee, 2005) for customers with `x` repeat
    purchase days, the last `t_x` days after the first, `T` days before the as-of date: the
    probability of being alive, and the expected purchase days in the next `t` days."""
    r, alpha, a, b = (parameters[name] for name in ("r", "alpha", "a", "b"))
    odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)

    def purchases(t: float) -> np.ndarray:
        later = ((alpha + T) / (alpha + T + t)) ** (r + x)
        tail = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        return (a + b + x - 1) / (a - 1) * (1 - later * tail) / (1 + odds)

    return 1 / (1 + odds), purchases


def test_customer_value_is_what_the_saved_model_gives_every_customer(graph):
    table = graph.table("customer_value").set_index("customer_id")
    assert table.columns.tolist() == [*VALUE_COLUMNS[1:], "as_of"]
    assert sorted(table.index) == sorted(graph.table("rfm_table")["customer_id"])
    assert set(table["as_of"].astype(str)) == {"2011-12-05"}
    saved_folder = graph.warehouse / "value_model.forecast"  # the newest week's, at its stable path
    assert sorted(p.name for p in saved_folder.iterdir()) == sorted(FILES.values())
    assert (graph.warehouse / "value_model" / f"{WEEK}.forecast" / "card.json").exists()
    card = json.loads((saved_folder / "card.json").read_text())
    assert card["as_of"] == "2011-12-05" and card["settings"]["clv_months"] == 12
    assert {row["model"] for row in card["backtest"]} == {MODEL, BASELINE, LEARNED}
    backtest = graph.table("value_backtest")
    weights = chosen_weights(backtest)
    assert (card["choice"]["buyer_weight"], card["choice"]["spend_weight"]) == weights
    withheld = alive_verdict(card["parameters"], backtest)
    # the parameters in the saved model files, and on the card
    saved = {}
    for name in (FILES["transactions"], FILES["spend"]):
        with xr.open_dataset(saved_folder / name, group="posterior") as posterior:
            saved |= {v: float(posterior[v].mean()) for v in posterior.data_vars}
    assert set(saved) >= {"r", "alpha", "a", "b", "p", "q", "v"}
    assert card["parameters"] == {name: round(value, 6) for name, value in saved.items()}
    # each customer's purchase days before the as-of date, from the clean lines
    clean = graph.table("clean_transactions", week=None)
    clean = clean[clean["invoice_date"] < "2011-12-05"]
    days = clean.assign(day=clean["invoice_date"].dt.normalize()).groupby("customer_id")["day"]
    days = days.agg(["nunique", "min", "max"]).loc[table.index]
    x = (days["nunique"] - 1).to_numpy(dtype="float64")
    t_x = (days["max"] - days["min"]).dt.days.to_numpy(dtype="float64")
    T = (pd.Timestamp("2011-12-05") - days["min"]).dt.days.to_numpy(dtype="float64")
    # BG/NBD's figures from the saved parameters, and the value over twelve months of
    # 365.25 / 12 days (pymc-marketing's month), each purchase day worth the table's spend
    # per purchase day, at 10% a year
    alive, purchases = bgnbd(saved, x, t_x, T)
    assert (alive[x == 0] == 1).all() and (x == 0).sum() > 0  # no repeat, no drop-out yet
    if withheld:
        assert table["p_alive_bgnbd"].isna().all() and withheld in card["p_alive_bgnbd"]
    else:
        np.testing.assert_allclose(table["p_alive_bgnbd"], alive, rtol=1e-9)
    np.testing.assert_allclose(table["expected_purchases_90d"], purchases(90), rtol=1e-9)
    per_day = table["expected_spend_90d"] / table["expected_purchases_90d"]
    monthly = 1.10 ** (1 / 12) - 1
    month = 365.25 / 12
    clv = sum(
        (purchases(month * m) - purchases(month * (m - 1))) * per_day / (1 + monthly) ** m
        for m in range(1, 13)
    )
    np.testing.assert_allclose(table["clv_12m"], clv, rtol=1e-9)
    assert table["p_active"].between(0, 1).all()
    assert (table[["expected_spend_90d", "clv_12m"]] >= 0).all().all()
    infinite = card["parameters"]["q"] <= 1  # Gamma-Gamma's mean spend of a one-day customer
    assert ("infinite" in card["one_day_customers_spend"]) == infinite
