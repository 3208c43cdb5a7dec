"""customer_interests: spend shares per category and an interest group per customer; and
interest_classifier, refitting them before a cut-off with the settings their tables carry."""

import datetime as dt
import json

import numpy as np

from rfm_pipeline.core.categories import categorise, names_by_id, products
from rfm_pipeline.core.cleaning import CleaningRules, cleaned_before
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.interests import customer_features, interest_groups


def test_every_customer_has_its_spend_shares_and_a_named_group(graph):
    interests = graph.table("customer_interests", week=None).set_index("customer_id")
    meta = graph.metadata("customer_interests")
    assert "skipped" not in meta  # the graph's shop has descriptions: categories and groups
    assert meta["settings"] == {"ks": list(range(4, 13)), "random_state": 42}
    # shares, invoices and baskets worked out from the clean lines and each product's category
    clean = graph.table("clean_transactions", week=None)
    products = graph.table("product_categories", week=None)
    lines = clean.merge(products[["stock_code", "category_id"]], on="stock_code")
    assert sorted(interests.index) == sorted(lines["customer_id"].unique())
    spend = lines.pivot_table(
        index="customer_id",
        columns="category_id",
        values="total_price",
        aggfunc="sum",
        fill_value=0.0,
    )
    total = spend.sum(axis=1)
    shares = spend.div(total.where(total != 0), axis=0).fillna(0.0)
    shares.columns = [f"share_{c}" for c in shares.columns]
    got = interests.loc[shares.index, shares.columns]
    np.testing.assert_allclose(got.to_numpy(), shares.to_numpy(), rtol=0, atol=1e-9)
    baskets = lines.groupby(["customer_id", "invoice_no"])["total_price"].sum()
    per_customer = baskets.groupby("customer_id").agg(["size", "mean"])
    assert interests.loc[per_customer.index, "invoices"].tolist() == per_customer["size"].tolist()
    np.testing.assert_allclose(
        interests.loc[per_customer.index, "basket_mean"], per_customer["mean"], rtol=1e-9
    )
    # one group per customer, k of them, each with one name
    assert sorted(interests["group_id"].unique()) == list(range(meta["k"]))
    names = interests.groupby("group_id")["group_name"].nunique()
    assert names.eq(1).all() and interests["group_name"].nunique() == meta["k"]
    assert interests["group_name"].str.contains(" buyers, ").all()


def test_the_interest_classifier_says_why_it_skipped_and_saves_nothing(graph):
    """On the graph's shop the refit before 2011-10-01 leaves an interest group of one
    customer, too few to split; the later-period test itself is checked on the bundled data
    (test_end_to_end.py) and in core/test_evaluation.py."""
    assert graph.metadata("interest_classifier") == {
        "skipped": "skipped: an interest group has a single customer: too few to split"
    }
    assert not list(graph.warehouse.glob("interest_classifier*"))
    # the refit the asset made, with the settings its stored inputs carry: one group of one
    rules = json.loads((graph.warehouse / "cleaning_summary.json").read_text())["rules"]
    stored = {
        name: graph.table(name, week=None) for name in ("product_categories", "customer_interests")
    }
    con = connect(threads=1)
    before, _ = cleaned_before(
        con.read_parquet(graph.warehouse / "raw_transactions.parquet"),
        dt.date(2011, 10, 1),
        CleaningRules(**rules),
    )
    categorised = categorise(products(before), **stored["product_categories"].attrs["settings"])
    names = names_by_id(categorised.table)
    features = customer_features(before, categorised.table, len(names))
    groups = interest_groups(features, names, **stored["customer_interests"].attrs["settings"])
    assert groups.table["group_id"].value_counts().min() == 1
