"""rfm_table, rfm_scores, rfm_features for one week."""

from rfm_pipeline_tests.defs.conftest import WEEK


def test_rfm_table_is_as_of_the_weeks_end_and_counts_every_customer(graph):
    table = graph.table("rfm_table")
    clean = graph.table("clean_transactions", week=None)
    assert set(table["as_of"].astype(str)) == {"2011-12-05"}
    assert set(table["customer_id"]) == set(clean.loc[clean["invoice_date"] < "2011-12-05",
                                                      "customer_id"])  # fmt: skip
    meta = graph.metadata("rfm_table")
    assert meta["as_of"] == "2011-12-05" and meta["dagster/row_count"] == len(table)
    assert meta["monetary_mean"] == round(table["monetary"].mean(), 2)


def test_scores_and_features_cover_the_same_customers(graph):
    table, scores, features = (graph.table(a) for a in ("rfm_table", "rfm_scores", "rfm_features"))
    assert len(scores) == len(features) == len(table)
    assert scores[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    meta = graph.metadata("rfm_features")
    assert meta["settings"] == {"outlier_quantile": 0.95, "log_transform": False}
    assert meta["outliers"] == int(features["is_outlier"].sum())
    assert (graph.warehouse / "plots" / "rfm_scores_segments" / f"{WEEK}.png").exists()
