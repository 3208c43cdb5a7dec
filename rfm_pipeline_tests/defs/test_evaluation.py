"""new_customer_evaluation and interest_classifier: refits before a cut-off, with the settings
the main path recorded."""

import datetime as dt

from rfm_pipeline.core.categories import categorise, names_by_id, products
from rfm_pipeline.core.cleaning import CleaningRules, cleaned_before
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.interests import customer_features, interest_groups


def test_the_new_customer_test_refits_with_the_recorded_settings(graph):
    meta = graph.metadata("new_customer_evaluation")
    assert meta["cutoff"] == "2011-09-26"  # 70 days before the as-of date, 2011-12-05
    clean = graph.table("clean_transactions", week=None)
    fitted = clean.loc[clean["invoice_date"] < "2011-09-26", "customer_id"].nunique()
    assert meta["fitted_customers"] == fitted
    assert meta["embedding"] == graph.metadata("customer_segments")["embedding"].replace(
        "tsne", "umap"
    )


def test_the_interest_classifier_says_why_it_skipped_and_saves_nothing(graph):
    """On the graph's shop the refit before 2011-10-01 leaves an interest group of one
    customer, too few to split; the later-period test itself is checked on the bundled data
    (test_end_to_end.py) and in core/test_evaluation.py."""
    assert graph.metadata("interest_classifier") == {
        "skipped": "skipped: an interest group has a single customer: too few to split"
    }
    assert not list(graph.warehouse.glob("interest_classifier*"))
    # the refit the asset made, with the settings the main path recorded: one group of one
    recorded = {
        name: graph.metadata(name)
        for name in ("clean_transactions", "product_categories", "customer_interests")
    }
    con = connect(threads=1)
    before, _ = cleaned_before(
        con.read_parquet(graph.warehouse / "raw_transactions.parquet"),
        dt.date(2011, 10, 1),
        CleaningRules(**recorded["clean_transactions"]["rules"]),
    )
    categorised = categorise(products(before), **recorded["product_categories"]["settings"])
    names = names_by_id(categorised.table)
    features = customer_features(before, categorised.table, len(names))
    groups = interest_groups(features, names, **recorded["customer_interests"]["settings"])
    assert groups.table["group_id"].value_counts().min() == 1
