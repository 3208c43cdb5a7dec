"""rfm_table, rfm_scores, rfm_features for one week."""

import numpy as np
import pandas as pd

from rfm_pipeline_tests.defs.conftest import WEEK


def rfm_from_the_clean_lines(graph) -> pd.DataFrame:
    """Recency, frequency and monetary worked out in pandas from the clean lines before the
    as-of date 2011-12-05: whole days since the last invoice, invoices, spend to the cent."""
    clean = graph.table("clean_transactions", week=None)
    before = clean[clean["invoice_date"] < "2011-12-05"]
    per_customer = before.groupby("customer_id").agg(
        last=("invoice_date", "max"),
        frequency=("invoice_no", "nunique"),
        monetary=("total_price", "sum"),
    )
    return pd.DataFrame(
        {
            "recency": (pd.Timestamp("2011-12-05") - per_customer["last"]).dt.days,
            "frequency": per_customer["frequency"],
            "monetary": per_customer["monetary"].round(2),
        }
    )


def test_rfm_table_is_as_of_the_weeks_end_and_counts_every_customer(graph):
    table = graph.table("rfm_table").set_index("customer_id").sort_index()
    expected = rfm_from_the_clean_lines(graph).sort_index()
    assert set(table["as_of"].astype(str)) == {"2011-12-05"}
    assert table.index.tolist() == expected.index.tolist()
    assert table["recency"].tolist() == expected["recency"].tolist()
    assert table["frequency"].tolist() == expected["frequency"].tolist()
    np.testing.assert_allclose(table["monetary"], expected["monetary"], rtol=0, atol=0.005)
    meta = graph.metadata("rfm_table")
    assert meta["as_of"] == "2011-12-05" and meta["dagster/row_count"] == len(expected)
    assert meta["monetary_mean"] == round(expected["monetary"].mean(), 2)


def test_scores_and_features_cover_the_same_customers(graph):
    table, scores, features = (graph.table(a) for a in ("rfm_table", "rfm_scores", "rfm_features"))
    assert len(scores) == len(features) == len(table)
    assert scores[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    meta = graph.metadata("rfm_features")
    assert meta["settings"] == {"outlier_quantile": 0.95, "log_transform": False}
    # outliers: above the 95th percentile of frequency or monetary; the scaler fitted on the rest
    expected = rfm_from_the_clean_lines(graph).loc[features["customer_id"]]
    frequency, monetary = expected["frequency"].quantile(0.95), expected["monetary"].quantile(0.95)
    outlier = (expected["frequency"] > frequency) | (expected["monetary"] > monetary)
    assert features["is_outlier"].tolist() == outlier.tolist()
    assert meta["outliers"] == outlier.sum() > 0
    assert meta["frequency_threshold"] == round(frequency, 2)
    assert meta["monetary_threshold"] == round(monetary, 2)
    values = expected[["recency", "frequency", "monetary"]].to_numpy(dtype="float64")
    rest = values[~outlier.to_numpy()]
    scaled = (values - rest.mean(axis=0)) / rest.std(axis=0)
    got = features[["recency_scaled", "frequency_scaled", "monetary_scaled"]].to_numpy()
    np.testing.assert_allclose(got, scaled, rtol=1e-9, atol=1e-12)
    assert (graph.warehouse / "plots" / "rfm_scores_segments" / f"{WEEK}.png").exists()
