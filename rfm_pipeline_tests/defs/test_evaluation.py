"""new_customer_evaluation: refits before a cut-off, with the settings its inputs carry."""


def test_the_new_customer_test_refits_with_the_recorded_settings(graph):
    meta = graph.metadata("new_customer_evaluation")
    assert meta["cutoff"] == "2011-09-26"  # 70 days before the as-of date, 2011-12-05
    clean = graph.table("clean_transactions", week=None)
    fitted = clean.loc[clean["invoice_date"] < "2011-09-26", "customer_id"].nunique()
    assert meta["fitted_customers"] == fitted
    assert meta["embedding"] == graph.metadata("customer_segments")["embedding"].replace(
        "tsne", "umap"
    )
