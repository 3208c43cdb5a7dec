"""The RFM table on a hand-made log with known answers, and the clustering features."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from rfm_pipeline.core.rfm import default_as_of, rfm_features, rfm_table


@pytest.fixture
def clean(con):
    rows = [
        # customer, invoice, date, total_price
        ("A", "1", "2011-01-01 09:00", 10.0),
        ("A", "1", "2011-01-01 09:00", 5.0),
        ("A", "2", "2011-01-20 18:30", 20.0),
        ("B", "3", "2011-01-30 23:59", 7.5),
        ("B", "4", "2011-02-01 00:00", 100.0),  # on the as-of day: does not count
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "invoice_no", "invoice_date", "total_price"])
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"])
    return con.create_table("clean", ibis.memtable(frame))


def test_rfm_counts_only_transactions_before_the_as_of_date(clean):
    table = rfm_table(clean, dt.date(2011, 2, 1)).execute().set_index("customer_id")
    assert table.loc["A", "recency"] == 11  # 2011-01-20 18:30 -> 2011-02-01: 11 whole days
    assert table.loc["A", "frequency"] == 2
    assert table.loc["A", "monetary"] == 35.0
    assert table.loc["A", "tenure_days"] == 30  # from 2011-01-01 09:00
    assert table.loc["A", "avg_order_value"] == 17.5
    assert table.loc["B", "recency"] == 1  # 2011-01-30 23:59: one day and a minute
    assert table.loc["B", "frequency"] == 1
    assert table.loc["B", "monetary"] == 7.5
    assert table.loc["B", "first_purchase"] == pd.Timestamp("2011-01-30 23:59")


def test_an_earlier_as_of_date_leaves_later_customers_out(clean):
    table = rfm_table(clean, dt.date(2011, 1, 15)).execute()
    assert table["customer_id"].tolist() == ["A"]
    assert table["frequency"].tolist() == [1]
    assert table["recency"].tolist() == [13]


def test_default_as_of_is_the_day_after_the_last_invoice(clean):
    assert default_as_of(clean) == dt.date(2011, 2, 2)


def rfm_frame(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(n)],
            "recency": list(range(n)),
            "frequency": [1 + i % 10 for i in range(n)],
            "monetary": [float(10 * i) for i in range(n)],
        }
    )


def test_outliers_above_the_95th_percentile_are_flagged_not_dropped():
    features = rfm_features(rfm_frame())
    assert features.thresholds == {"frequency": 10.0, "monetary": pytest.approx(940.5)}
    table = features.table
    assert len(table) == 100
    assert table["is_outlier"].sum() == 5  # monetary 950..990
    inliers = features.inliers
    assert inliers["monetary_scaled"].mean() == pytest.approx(0.0, abs=1e-12)
    assert inliers["monetary_scaled"].std(ddof=0) == pytest.approx(1.0)
    assert table.loc[table["is_outlier"], "monetary_scaled"].min() > 1.5


def test_log_transform_is_optional():
    plain = rfm_features(rfm_frame()).table
    logged = rfm_features(rfm_frame(), log_transform=True).table
    assert not plain["monetary_scaled"].equals(logged["monetary_scaled"])
    assert logged["monetary"].equals(plain["monetary"])


def test_features_of_no_customers_is_an_error():
    with pytest.raises(ValueError, match="no customers"):
        rfm_features(rfm_frame().iloc[:0])


def test_when_every_customer_is_above_a_threshold_no_one_is_held_out():
    two = pd.DataFrame(
        {"customer_id": ["a", "b"], "recency": [1, 2], "frequency": [2, 1], "monetary": [1.0, 9.0]}
    )
    assert not rfm_features(two).table["is_outlier"].any()
