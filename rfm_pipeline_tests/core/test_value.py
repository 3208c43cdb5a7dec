"""Customer value: histories on the engine, the forecast, its backtest and its saved files."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.core import cleaning, value
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.ingest import read_transactions
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
        1.5, 2.0, pytest.approx(11 / 3)]  # fmt: skip
    second = table.set_index("customer_id").loc["2"]
    assert second[["purchase_days", "span", "repeat_spend", "future_spend"]].tolist() == [
        1, 0, 0.0, 0.0]  # fmt: skip


def test_default_cutoffs_are_month_starts_whose_horizon_ends_by_the_as_of_date():
    assert value.default_cutoffs(D("2011-12-10"), 90, 4) == [
        D("2011-06-01"), D("2011-07-01"), D("2011-08-01"), D("2011-09-01")]  # fmt: skip
    assert value.default_cutoffs(D("2011-03-31"), 90, 2) == [D("2010-11-01"), D("2010-12-01")]


def test_training_dates_leave_the_whole_horizon_before_the_as_of_date():
    dates = value.training_dates(D("2011-09-01"), D("2011-01-01"), 90, 14, 30)
    assert dates[0] == D("2011-06-03") and dates[-1] >= D("2011-01-31")
    assert all(a - b == dt.timedelta(days=14) for a, b in zip(dates, dates[1:], strict=False))


def test_scores_and_grouped_scores_are_the_textbook_figures():
    actual = np.array([0.0, 0.0, 10.0, 30.0])
    perfect = value.scores(actual, np.array([0.1, 0.2, 0.8, 0.9]), actual.copy())
    assert (perfect["auc"], perfect["r2"], perfect["mae"], perfect["total_error"]) == (
        1.0, 1.0, 0.0, 0.0)  # fmt: skip
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
    return value.backtest(raw, clean, [D("2011-09-01")], cleaning.CleaningRules(),
                          value.ValueSettings())  # fmt: skip


def test_backtest_at_september_reproduces_bgnbd_and_beats_it(at_september):
    scores = at_september.scores.set_index("model")
    baseline, ours = scores.loc[value.BASELINE], scores.loc[value.MODEL]
    assert (baseline["customers"], baseline["buyers"]) == (3314, 1856)
    assert baseline["auc"] == pytest.approx(0.731, abs=0.005)
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
    written = []

    def publish(name, suffix, write):
        path = UPath(tmp_path) / f"{name}{suffix}"
        write(path)
        written.append(path.name)

    card = value.model_card(model, pd.DataFrame(columns=["model"]))
    value.save_value_model(model, card, publish)
    assert sorted(written) == [
        "customer_value_bgnbd.nc", "customer_value_gamma_gamma.nc",
        "customer_value_model.json", "customer_value_model.skops",
    ]  # fmt: skip
    known = value.history(days, D("2011-12-10")).head(200)
    loaded = value.load_value_model(UPath(tmp_path))
    pd.testing.assert_frame_equal(loaded.predict(known), model.predict(known))
    assert loaded.settings == model.settings and loaded.as_of == D("2011-12-10")


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
