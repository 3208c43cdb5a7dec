"""Customer value: histories on the engine, the forecast, its backtest and its saved files."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.core import cleaning, value
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.ingest import read_transactions
from rfm_pipeline.core.simulation import BgNbdShop, simulate
from rfm_pipeline.settings import BUNDLED_INPUT
from rfm_pipeline_tests.conftest import line, raw_table

D = dt.date.fromisoformat


def days_of(con, lines):
    return value.purchase_days(cleaning.clean_transactions(raw_table(con, lines)).table)


def test_history_counts_purchase_days_and_spend_before_the_date_only(con):
    lines = [
        line(invoice="1", date="2011-01-03 09:00", quantity=2, price=5.0),  # 10 on day 1
        line(invoice="2", date="2011-01-03 15:00", quantity=1, price=4.0),  # same day: 14
        line(invoice="3", date="2011-02-02 10:00", quantity=3, price=2.0),  # 6
        line(invoice="4", date="2011-03-01 10:00", quantity=1, price=100.0),  # on the date
        line(invoice="5", date="2011-02-20 10:00", customer="2", price=1.0, quantity=7),
    ]
    table = value.history(days_of(con, lines), D("2011-03-01"), horizon_days=30)
    first = table.set_index("customer_id").loc["17850"]
    assert first[["purchase_days", "recency", "T", "span"]].tolist() == [2, 27, 57, 30]
    assert first["spend"] == pytest.approx(20.0) and first["repeat_spend"] == pytest.approx(6.0)
    assert (first["spend_30"], first["days_30"]) == (pytest.approx(6.0), 1)
    assert (first["spend_90"], first["days_90"]) == (pytest.approx(20.0), 2)
    assert first["future_spend"] == pytest.approx(100.0)  # the line on the date is the future
    assert first[["lines_per_day", "mean_quantity", "mean_unit_price"]].tolist() == [
        1.5,
        2.0,
        pytest.approx(11 / 3),
    ]
    second = table.set_index("customer_id").loc["2"]
    assert second[["purchase_days", "span", "repeat_spend", "future_spend"]].tolist() == [
        1,
        0,
        0.0,
        0.0,
    ]


def test_default_cutoffs_are_month_starts_whose_horizon_ends_by_the_as_of_date():
    assert value.default_cutoffs(D("2011-12-10"), 90, 4) == [
        D("2011-06-01"),
        D("2011-07-01"),
        D("2011-08-01"),
        D("2011-09-01"),
    ]
    assert value.default_cutoffs(D("2011-03-31"), 90, 2) == [D("2010-11-01"), D("2010-12-01")]


def test_training_dates_leave_the_whole_horizon_before_the_as_of_date():
    dates = value.training_dates(D("2011-09-01"), D("2011-01-01"), 90, 14, 30)
    assert dates[0] == D("2011-06-03") and dates[-1] >= D("2011-01-31")
    assert all(a - b == dt.timedelta(days=14) for a, b in zip(dates, dates[1:], strict=False))


def test_scores_and_grouped_scores_are_the_textbook_figures():
    actual = np.array([0.0, 0.0, 10.0, 30.0])
    perfect = value.scores(actual, np.array([0.1, 0.2, 0.8, 0.9]), actual.copy())
    assert (perfect["auc"], perfect["r2"], perfect["mae"], perfect["total_error"]) == (
        1.0,
        1.0,
        0.0,
        0.0,
    )
    grouped = value.grouped_scores(actual, pd.Series(["a", "a", "b", "b"]))
    between = 2 * (0 - 10) ** 2 + 2 * (20 - 10) ** 2  # group means 0 and 20, mean 10
    total = ((actual - 10) ** 2).sum()
    assert grouped["r2"] == pytest.approx(between / total)
    assert grouped["auc"] == 1.0 and grouped["segments"] == 2
    assert np.isnan(grouped["predicted_total"])  # in-sample means forecast nothing


def test_calibration_has_one_row_per_decile_of_the_prediction():
    predicted = np.arange(100, dtype="float64")
    curve = value.calibration(predicted * 2, predicted)
    assert curve["decile"].tolist() == list(range(1, 11))
    assert curve["actual"].tolist() == pytest.approx((curve["predicted"] * 2).tolist())


def test_too_few_customers_cannot_fit_the_probabilistic_models(con):
    lines = [line(invoice=str(i), customer=str(i), date="2011-01-03 10:00") for i in range(5)]
    with pytest.raises(NotEnoughData, match="5 customers"):
        value.fit_probabilistic(value.history(days_of(con, lines), D("2011-02-01")))


@pytest.fixture(scope="module")
def bundled():
    con = connect(threads=2)
    raw = read_transactions(con, BUNDLED_INPUT)
    return raw, cleaning.clean_transactions(raw).table


@pytest.fixture(scope="module")
def at_september(bundled):
    raw, clean = bundled
    return value.backtest(
        raw, clean, [D("2011-09-01")], cleaning.CleaningRules(), value.ValueSettings()
    )


def test_training_windows_draw_the_customers_a_sample_of_each_whole_window_draws(bundled):
    """Drawing first and working out only the drawn customers' histories gives the rows, in
    the order, that the sample of each window's whole history gives."""
    days = value.purchase_days(bundled[1])
    dates = [D("2011-09-11"), D("2011-06-01"), D("2011-01-10")]
    settings = value.ValueSettings(max_training_rows=3_000, random_state=7)
    drawn = value.training_windows(days, dates, settings)
    whole = [value.history(days, day, settings.horizon_days) for day in dates]
    assert [len(w) for w in whole] == [3368, 2716, 975]  # the last is kept whole
    expected = pd.concat(
        [w.sample(1_000, random_state=7) if len(w) > 1_000 else w for w in whole],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(drawn, expected)


def test_backtest_at_september_reproduces_bgnbd_and_beats_it(at_september):
    scores = at_september.scores.set_index("model")
    baseline, ours = scores.loc[value.BASELINE], scores.loc[value.MODEL]
    assert (baseline["customers"], baseline["buyers"]) == (3314, 1856)
    assert baseline["auc"] == pytest.approx(0.736, abs=0.002)
    assert baseline["r2"] == pytest.approx(0.494, abs=0.02)
    assert baseline["actual_total"] == pytest.approx(2_445_467.49, abs=1)
    assert ours["auc"] > baseline["auc"] + 0.005 and ours["r2"] >= 0.55
    assert abs(ours["total_error"]) < abs(baseline["total_error"])
    deciles = at_september.calibration
    assert set(deciles["model"]) == {value.MODEL, value.BASELINE} and len(deciles) == 20


def test_the_forecast_ignores_lines_on_and_after_the_as_of_date(bundled):
    _, clean = bundled
    days = value.purchase_days(clean)
    early = days.filter(days.day < np.datetime64("2011-06-01"))
    one, two = (value.fit_value(d, D("2011-06-01")) for d in (early, days))
    known = value.history(early, D("2011-06-01"))
    pd.testing.assert_frame_equal(one.predict(known), two.predict(known))


def test_a_saved_forecast_loads_and_predicts_the_same(tmp_path, bundled):
    _, clean = bundled
    days = value.purchase_days(clean)
    model = value.fit_value(days, D("2011-12-10"))
    model.card = value.model_card(model, pd.DataFrame(columns=["model"]), None)
    folder = tmp_path / "value_model.forecast"
    value.save_value_model(model, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(value.FILES.values())
    known = value.history(days, D("2011-12-10")).head(200)
    loaded = value.load_value_model(UPath(folder))
    pd.testing.assert_frame_equal(loaded.predict(known), model.predict(known))
    assert loaded.settings == model.settings and loaded.as_of == D("2011-12-10")
    versions = json.loads((folder / "card.json").read_text())["library_versions"]
    assert versions["pymc-marketing"].split(".")[0] == "1" and {"pymc", "pytensor"} <= set(versions)


def test_a_backtest_without_enough_history_at_any_cutoff_says_why_for_each(con):
    lines = [line(invoice=str(i), customer=str(i), date="2011-07-03 10:00") for i in range(5)]
    raw = raw_table(con, lines)
    clean = cleaning.clean_transactions(raw).table
    cutoffs = [D("2011-06-01"), D("2011-08-01")]
    with pytest.raises(
        NotEnoughData, match="2011-06-01: 0 customers.*2011-08-01: 5 customers \\(at least 20"
    ):
        value.backtest(raw, clean, cutoffs, cleaning.CleaningRules(), value.ValueSettings())


def test_without_a_whole_earlier_window_the_forecast_is_bgnbd_alone(bundled):
    _, clean = bundled
    days = value.purchase_days(clean)
    model = value.fit_value(days, D("2011-03-01"))  # 90 days of history: no training window
    assert model.buyer is None and model.windows == []
    assert model.name == "BG/NBD + Gamma-Gamma (pymc-marketing, MAP)"
    known = value.history(days, D("2011-03-01"))
    table = model.predict(known)
    figures = value.probabilistic_figures(model.probabilistic, known, 90)
    assert table["expected_spend_90d"].tolist() == pytest.approx(figures["bg_value"].tolist())
    assert table["p_active"].between(0, 1).all()
    rank = table["p_active"].corr(table["expected_purchases_90d"], method="spearman")
    assert rank > 0.9  # BG/NBD's chance of a purchase in the horizon follows its expectation


def cut(cutoff: str, actual, p_bgnbd, p_learned, spend, correction) -> value.Cutoff:
    parts = {
        "p_bgnbd": np.array(p_bgnbd),
        "p_learned": np.array(p_learned),
        "spend_bgnbd": np.array(spend, dtype="float64"),
        "correction": np.array(correction),
    }
    return value.Cutoff(D(cutoff), np.array(actual, dtype="float64"), parts, [])


def chosen(table: pd.DataFrame) -> tuple[float, float]:
    weights = table[table["chosen"]].set_index("part")["weight"]
    return weights["buyer"], weights["spend"]


def test_the_learned_layer_weighs_only_as_much_as_it_holds_at_every_cutoff():
    actual = [0, 0, 10, 20, 30, 0, 40, 0]
    spend = [1, 2, 10, 18, 33, 2, 35, 1]  # BG/NBD + Gamma-Gamma: ranks and totals well
    ranked = [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.9, 0.1]
    muddled = [0.5, 0.6, 0.4, 0.7, 0.5, 0.3, 0.6, 0.2]
    good = cut("2011-06-01", actual, muddled, ranked, spend, [1.0] * 8)
    # the correction doubles every spend at the second cut-off: a total 95% over
    bad = cut("2011-07-01", actual, muddled, ranked, spend, [1.0] * 4 + [2.0] * 4)
    table = value.choose_weights([good, bad])
    buyer = table[table["part"] == "buyer"].set_index("weight")["auc"]
    assert buyer[1.0] == 1.0 and buyer[0.25] < buyer[0.5] == buyer[1.0]
    assert chosen(table) == (0.5, 0.0)  # the smallest that ranks as well as 1
    spend_rows = table[table["part"] == "spend"].set_index("weight")
    assert spend_rows.loc[0.0, "admissible"] and not spend_rows.loc[1.0, "admissible"]
    assert spend_rows.loc[1.0, "short_of_baseline"].startswith("2011-07-01: R²")
    # learned probabilities worse than BG/NBD's: weight 0
    worse = cut("2011-08-01", actual, ranked, muddled, spend, [1.0] * 8)
    assert chosen(value.choose_weights([worse])) == (0.0, 0.0)


def test_a_choice_never_turns_on_a_difference_within_the_noise():
    actual = [0, 0, 10, 20, 30, 0, 40, 0]
    spend = [1, 2, 10, 18, 33, 2, 35, 1]
    ranked = [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.9, 0.1]
    # the learned probabilities rank the same (equal AUC): no reason to weigh them
    same = cut("2011-06-01", actual, ranked, np.array(ranked) / 2, spend, [1.01] * 8)
    assert chosen(value.choose_weights([same])) == (0.0, 0.0)


def test_the_business_tiers_band_the_probability_and_rank_the_spend():
    p_active = np.array([0.05, 0.3, 0.6, 0.9, 0.8, 0.2, 0.5, 0.75, np.nan, 0.95])
    spend = np.arange(10, 0, -1, dtype="float64")  # the first customer spends most
    spend[8] = np.nan
    tiers = value.value_tiers(p_active, spend)
    assert (tiers // 3).tolist() == [0, 2, 3, 5, 4, 1, 3, 4, 0, 5]
    assert (tiers % 3).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]


def test_bgnbds_probability_alive_is_withheld_where_it_says_nothing():
    fine = {"r": 0.8, "alpha": 50.0, "a": 0.7, "b": 3.0}
    scores = pd.DataFrame({"model": [value.BASELINE] * 2, "alive_auc": [0.61, 0.58]})
    assert value.alive_verdict(fine, scores) is None
    at_bound = {**fine, "a": 1e-4, "b": 5.0}
    assert "dropout parameter is at its bound" in value.alive_verdict(at_bound, scores)
    coin = scores.assign(alive_auc=[0.42, 0.38])
    assert "0.400, below chance" in value.alive_verdict(fine, coin)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A shop whose 3,000 customers follow BG/NBD and Gamma-Gamma exactly, backtested at its
    last two monthly cut-offs."""
    path = tmp_path_factory.mktemp("simulated") / "shop.parquet"
    simulate(BgNbdShop()).to_parquet(path)
    con = connect(threads=2)
    raw = read_transactions(con, path)
    clean = cleaning.clean_transactions(raw).table
    cutoffs = value.default_cutoffs(D("2012-01-01"), 90, 2)
    result = value.backtest(raw, clean, cutoffs, cleaning.CleaningRules(), value.ValueSettings())
    return clean, result


def test_a_fit_on_a_simulated_shop_recovers_the_parameters_it_was_simulated_from(simulated):
    clean, _ = simulated
    shop = BgNbdShop()
    fitted = value.fit_probabilistic(value.history(value.purchase_days(clean), D("2012-01-01")))
    found = fitted.parameters
    assert found["r"] / found["alpha"] == pytest.approx(shop.r / shop.alpha, rel=0.1)
    dropout = found["a"] / (found["a"] + found["b"])
    assert dropout == pytest.approx(shop.a / (shop.a + shop.b), rel=0.2)
    mean_spend = found["p"] * found["v"] / (found["q"] - 1)
    assert mean_spend == pytest.approx(shop.p_spend * shop.v / (shop.q - 1), rel=0.1)


def test_where_gamma_gammas_mean_spend_is_infinite_the_shops_mean_is_used(simulated):
    clean, _ = simulated
    table = value.history(value.purchase_days(clean), D("2012-01-01"))
    fitted = value.fit_probabilistic(table)
    fitted.spend.idata.posterior["q"][:] = 0.9  # q <= 1: one-day customers' mean is infinite
    figures = value.probabilistic_figures(fitted, table, 90)
    once = (table["purchase_days"] == 1).to_numpy()
    shop_mean = table["spend"].sum() / table["purchase_days"].sum()
    assert once.any() and (figures.loc[once, "gg_spend"] == shop_mean).all()
    assert (figures.loc[~once, "gg_spend"] > 0).all() and (figures["bg_value"] >= 0).all()


def test_where_the_learned_layer_cannot_help_the_forecast_is_as_good_as_bgnbd(simulated):
    _, result = simulated
    rows = result.scores.set_index(["cutoff", "model"])
    cutoffs = ["2011-09-01", "2011-10-01"]
    assert sorted(rows.index.unique("cutoff")) == cutoffs
    for cutoff in rows.index.unique("cutoff"):
        ours, base = rows.loc[(cutoff, value.MODEL)], rows.loc[(cutoff, value.BASELINE)]
        assert ours["auc"] >= base["auc"] - value.AUC_NOISE
        assert ours["r2"] >= base["r2"] - value.R2_NOISE
        assert abs(ours["total_error"]) <= max(0.15, abs(base["total_error"]))
    weights = value.chosen_weights(result.scores)
    learned = result.weights.set_index(["part", "weight"])
    for part, weight in zip(("buyer", "spend"), weights, strict=True):
        assert learned.loc[(part, weight), "admissible"]


def test_a_shop_where_nobody_leaves_gets_no_probability_alive(tmp_path):
    path = tmp_path / "shop.parquet"
    simulate(BgNbdShop(a=0.01, b=100.0, customers=500)).to_parquet(path)
    clean = cleaning.clean_transactions(read_transactions(connect(threads=2), path)).table
    fitted = value.fit_probabilistic(value.history(value.purchase_days(clean), D("2012-01-01")))
    verdict = value.alive_verdict(fitted.parameters, pd.DataFrame(columns=["model"]))
    assert "dropout parameter is at its bound" in verdict
