"""product_categories: one category per stock code, with the settings it used."""

import numpy as np


def test_every_product_has_a_category_and_the_settings_are_recorded(graph):
    products = graph.table("product_categories", week=None).set_index("stock_code")
    clean = graph.table("clean_transactions", week=None)
    meta = graph.metadata("product_categories")
    assert "skipped" not in meta  # the graph's shop has descriptions
    assert meta["settings"] == {
        "ks": list(range(3, 11)),
        "min_count": 13,
        "tolerance": 0.005,
        "random_state": 42,
    }
    # each stock code once, with its mean unit price and most common description
    assert sorted(products.index) == sorted(clean["stock_code"].unique())
    prices = clean.groupby("stock_code")["unit_price"].mean()
    np.testing.assert_allclose(products.loc[prices.index, "unit_price"], prices, rtol=1e-9)
    counts = clean.groupby(["stock_code", "description"]).size().rename("lines").reset_index()
    order = ["stock_code", "lines", "description"]  # ties: the first description in sort order
    common = counts.sort_values(order, ascending=[True, False, True]).drop_duplicates("stock_code")
    common = common.set_index("stock_code")["description"]
    assert products.loc[common.index, "description"].tolist() == common.tolist()
    # k: the fewest categories whose silhouette (3 decimals in the metadata) is within the
    # tolerance of the best
    sweep = {r.data["k"]: r.data["silhouette"] for r in meta["sweep"].records}
    assert sorted(sweep) == list(range(3, 11))
    best = max(sweep.values())
    k = min(k for k, silhouette in sweep.items() if silhouette >= best - 0.005)
    assert meta["k"] == k
    assert sorted(products["category_id"].unique()) == list(range(k))
    assert products.groupby("category_id")["category_name"].nunique().eq(1).all()
    assert products["category_name"].nunique() == k
