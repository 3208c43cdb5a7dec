"""The RFM table on a hand-made log with known answers, and the clustering features."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import pandas as pd
import pytest

from rfm_pipeline.core.rfm import (
    ACTIONS,
    SEGMENTS,
    default_as_of,
    rfm_features,
    rfm_scores,
    rfm_table,
    score,
    segment_of,
    segment_summary,
)


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


def test_every_one_of_the_125_combinations_has_exactly_one_of_the_11_names():
    names = {(r, f, m): segment_of(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert len(names) == 125
    assert set(names.values()) == set(SEGMENTS)
    assert len(SEGMENTS) == 11
    assert names[5, 5, 5] == "Champions"
    assert names[1, 1, 1] == "Lost"
    assert names[1, 5, 5] == "Can't Lose Them"
    assert names[5, 1, 1] == "New Customers"
    assert all(ACTIONS[name] for name in SEGMENTS)


def test_scores_count_the_edges_a_value_exceeds_and_ties_score_alike():
    values = pd.Series([1, 1, 1, 2, 3, 5, 6, 40])
    assert score(values, [1, 2, 3, 5]).tolist() == [1, 1, 1, 2, 3, 4, 5, 5]
    assert score(values, [1, 2, 3, 5], reverse=True).tolist() == [5, 5, 5, 4, 3, 2, 1, 1]


def test_bad_edges_are_refused():
    with pytest.raises(ValueError, match="4 increasing numbers"):
        score(pd.Series([1]), [3, 2, 1, 0])


def rfm(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "recency": [i * 3 for i in range(n)],
            "frequency": [1 + i // 10 for i in range(n)],
            "monetary": [float(i * i) for i in range(n)],
        }
    )


def test_quintile_edges_are_returned_and_fixed_edges_reused():
    scores, edges = rfm_scores(rfm())
    assert edges["recency"] == pytest.approx([29.4, 58.8, 88.2, 117.6])
    assert scores["r_score"].value_counts().to_dict() == {5: 10, 4: 10, 3: 10, 2: 10, 1: 10}
    again, used = rfm_scores(rfm().iloc[:10], edges)
    assert used == edges
    assert set(again["r_score"]) == {5}  # the ten most recent stay recent under fixed edges
    assert scores.loc[49, "rfm_cell"] == "155"
    assert scores.loc[49, "segment"] == "Can't Lose Them"
    assert scores.loc[0, "segment"] == "New Customers"


def test_summary_lists_all_segments_with_shares():
    scores, _ = rfm_scores(rfm())
    summary = segment_summary(scores, rfm())
    assert summary["segment"].tolist() == list(SEGMENTS)
    assert summary["customers"].sum() == 50
    assert summary["revenue_share"].sum() == pytest.approx(1.0, abs=1e-3)
